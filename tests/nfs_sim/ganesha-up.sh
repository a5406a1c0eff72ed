#!/bin/bash
# ganesha-up.sh: start a private loopback NFS server (nfs-ganesha, VFS FSAL) on 127.0.0.1
# exporting DIR, in one of four modes, and wait until it answers.
#
#   ganesha-up.sh MODE DIR [STATEDIR]
#     MODE: root_squash | no_root_squash | deny   (deny: the client list excludes 127.0.0.1)
#           | per_vm: not DIR itself but one export per DIR/vmN, all_squash to that VM's
#             uid (GANESHA_VMS="N:UID ...", ganesha-exports.sh); the URL is vm N1's (the
#             first), STATEDIR/url.vmN each VM's
#   prints shell assignments on stdout (eval them):
#     GANESHA_STATE=...  GANESHA_URL=nfs://127.0.0.1/DIR?...  GANESHA_PID=...
#   Tear down with: ganesha-down.sh "$GANESHA_STATE"   (kills by recorded pid).
# Env: GANESHA_VERSION=3|4 (default 3), GANESHA_TIMEOUT=seconds to wait (default 20).
set -u
. "$(dirname "$0")/proc.sh"
mode=${1:?usage: ganesha-up.sh root_squash|no_root_squash|deny|per_vm DIR [STATEDIR]}
dir=${2:?usage: ganesha-up.sh MODE DIR [STATEDIR]}
here=$(cd "$(dirname "$0")" && pwd)
ver=${GANESHA_VERSION:-3}
timeout=${GANESHA_TIMEOUT:-20}

die() { echo "ganesha-up: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (ganesha binds privileged ports and serves any uid)"
command -v ganesha.nfsd >/dev/null || die "ganesha.nfsd not installed (nfs-ganesha, nfs-ganesha-vfs)"
# ganesha's VFS export finds the file system of its Path in /etc/mtab: without it (a bare
# root without systemd, e.g. a fresh mmdebstrap root) every MOUNT is refused (MNT3ERR_ACCES).
# What a Debian system normally has: the link to the kernel's mount table.
if [ ! -e /etc/mtab ]; then
  ln -sfn ../proc/self/mounts /etc/mtab || die "/etc/mtab missing and could not be linked"
  echo "ganesha-up: /etc/mtab was missing (ganesha's VFS export needs it): linked it to /proc/self/mounts" >&2
fi
[ -d "$dir" ] || die "$dir: not a directory"
dir=$(cd "$dir" && pwd)

case $mode in
  root_squash)    squash=Root_Squash; clients=127.0.0.1 ;;
  no_root_squash) squash=No_Root_Squash; clients=127.0.0.1 ;;
  deny)           squash=Root_Squash; clients=192.0.2.1 ;;   # TEST-NET-1: never us
  per_vm)         squash=; clients=127.0.0.1
                  [ -n "${GANESHA_VMS:-}" ] || die "per_vm needs GANESHA_VMS=\"N:UID ...\""
                  for vu in $GANESHA_VMS; do [ -d "$dir/vm${vu%%:*}" ] || die "$dir/vm${vu%%:*}: not a directory"; done ;;
  *) die "unknown mode $mode" ;;
esac

state=${3:-$(mktemp -d /tmp/nfssim-ganesha.XXXXXX)} || die "mktemp failed"
mkdir -p "$state/recov" || die "mkdir $state"

# Unique ports per run so that parallel servers do not collide (the client passes them
# in the URL, so no portmapper lookup is needed for v3 either).
pick_port() {
  local p
  for _ in $(seq 1 50); do
    p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 30000 ))
    if ! ss -Hltn "sport = :$p" 2>/dev/null | grep -q .; then echo "$p"; return 0; fi
  done
  return 1
}
nfsport=$(pick_port) || die "no free port"
mntport=$(pick_port) || die "no free port"
[ "$nfsport" != "$mntport" ] || mntport=$((nfsport + 1))

if [ "$ver" = 3 ]; then protos="3, 4"; else protos="4"; fi
if [ "$mode" = per_vm ]; then
  # shellcheck disable=SC2086  # one word per VM
  exports=$("$here/ganesha-exports.sh" "$dir" "$protos" "$clients" $GANESHA_VMS) || die "ganesha-exports.sh failed"
else
  exports=$(cat <<EXP
EXPORT {
    Export_Id = 77;
    Path = "$dir";
    Pseudo = "$dir";
    Protocols = $protos;
    Transports = TCP;
    SecType = sys;
    Squash = $squash;
    Anonymous_Uid = 65534;
    Anonymous_Gid = 65534;
    # Dom0's mediator changes the exported directory locally; ganesha's cache must not
    # serve the old response.txt (with the default 60 s a client sees only its first answer).
    Attr_Expiration_Time = 0;
    Access_Type = None;
    FSAL { Name = VFS; }
    CLIENT { Clients = $clients; Access_Type = RW; }
}
EXP
)
fi
cat > "$state/ganesha.conf" <<CONF
NFS_CORE_PARAM {
    Protocols = $protos;
    NFS_Port = $nfsport;
    MNT_Port = $mntport;
    Bind_addr = 127.0.0.1;
    Enable_NLM = false;
    Enable_RQUOTA = false;
    Enable_UDP = false;
}
NFSV4 {
    Graceless = true;
    RecoveryBackend = fs;
    RecoveryRoot = "$state/recov";
}
NFS_KRB5 { Active_krb5 = false; }
EXPORT_DEFAULTS { Access_Type = None; }
$exports
LOG { Default_Log_Level = EVENT; }
CONF

# NFSv3 needs rpcbind running for ganesha to start; start one if none runs and
# remember that we did (ganesha-down.sh stops it when no ganesha is left).
if [ "$ver" = 3 ] && ! running rpcbind; then
  command -v rpcbind >/dev/null || die "rpcbind not installed"
  rpcbind -f -w >"$state/rpcbind.log" 2>&1 &
  echo $! > "$state/rpcbind.pid"
  for _ in $(seq 1 50); do rpcinfo -p 127.0.0.1 >/dev/null 2>&1 && break; sleep 0.1; done
fi

ganesha.nfsd -F -f "$state/ganesha.conf" -L "$state/ganesha.log" -p "$state/ganesha.pid.own" \
  -N NIV_EVENT </dev/null >"$state/ganesha.out" 2>&1 &
gpid=$!
echo "$gpid" > "$state/ganesha.pid"

url_of() {  # url_of PATH
  if [ "$ver" = 3 ]; then echo "nfs://127.0.0.1$1?version=3&nfsport=$nfsport&mountport=$mntport"
  else echo "nfs://127.0.0.1$1?version=4&nfsport=$nfsport"; fi
}
if [ "$mode" = per_vm ]; then
  for vu in $GANESHA_VMS; do url_of "$dir/vm${vu%%:*}" > "$state/url.vm${vu%%:*}"; done
  first=${GANESHA_VMS%% *}
  url=$(url_of "$dir/vm${first%%:*}")
else
  url=$(url_of "$dir")
fi
echo "$url" > "$state/url"
echo "$mode" > "$state/mode"

# Wait until it answers: the mount protocol (v3) or the NFS port (v4) accepts us, or
# for the deny mode until it refuses us (v3: MNT3ERR_ACCES; v4: the pseudo-fs hides the
# export, NFS4ERR_NOENT).
ok=0
deadline=$(( $(date +%s) + timeout ))
while [ "$(date +%s)" -lt "$deadline" ]; do
  alive "$gpid" || break
  out=$(timeout 5 nfs-ls "$url" 2>&1) && { ok=1; break; }
  if [ "$mode" = deny ] && ss -Hltn "sport = :$nfsport" | grep -q . \
     && printf '%s' "$out" | grep -qiE 'acces|denied|perm|NFS4ERR_NOENT'; then ok=1; break; fi
  sleep 0.2
done
if [ $ok != 1 ]; then
  echo "ganesha-up: server did not answer within ${timeout}s; last probe: ${out:-none}" >&2
  tail -n 20 "$state/ganesha.log" >&2 2>/dev/null
  [ -n "${GANESHA_KEEP:-}" ] || "$here/ganesha-down.sh" "$state" >&2
  exit 1
fi
echo "GANESHA_STATE=$state"
echo "GANESHA_URL='$url'"
echo "GANESHA_PID=$gpid"
