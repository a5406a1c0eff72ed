#!/bin/bash
# run-tests.sh: shell tests of nfssim and of the loopback ganesha server (check-nfssim).
# Each test shows that an option changes what a reader sees: the option on gives the
# NFS symptom, a control with it off does not. Each test runs with a private directory
# and a timeout; every mount and daemon is recorded and removed on exit, also on
# failure, timeout or a signal.
#   NFSSIM_BIN=... NFSSIM_PROBE=... run-tests.sh [TEST...]     (default: all)
# Env: NFSSIM_TEST_TIMEOUT (s, default 60), GANESHA_VERSION (3|4, default 3),
#      VGPU_KNFS_MOUNT + VGPU_KNFS_EXPORT (a kernel NFS mount and its server-side path).
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${NFSSIM_BIN:?set NFSSIM_BIN}" "${NFSSIM_PROBE:?set NFSSIM_PROBE}"
PROBE=$NFSSIM_PROBE

# ---- helpers (also used by the child that runs one test) -----------------------------
fail() { echo "FAIL: $*"; return 1; }
expect() {  # expect WHAT GOT WANT
  if [ "$2" = "$3" ]; then echo "  ok: $1 = $2"; else echo "  FAIL: $1: got '$2', want '$3'"; return 1; fi
}
mnt() {  # mnt NAME BACKING OPTS -> prints the mountpoint
  local m=$T/$1
  echo "$m" >> "$NFSSIM_TEST_ROOT/mounts.list"
  "$here/mount.sh" "$2" "$m" "$3" >/dev/null || return 1
  echo "$m"
}
unmnt() { "$here/umount.sh" "$1"; }
stat_num() {  # stat_num MOUNT KEY -> the number after "KEY": in the stats
  grep -o "\"$2\": [0-9]*" "$1/.nfssim/stats" | head -1 | awk '{print $2}'
}
ms_of() {  # ms_of CMD... -> runs CMD, prints its output, then "ms=N" on a line
  local t0 t1; t0=$(date +%s%N); "$@"; t1=$(date +%s%N); echo "ms=$(( (t1 - t0) / 1000000 ))"
}
ganesha() {  # ganesha MODE DIR -> eval-able GANESHA_* lines
  local st; st=$(mktemp -d /tmp/nfssim-ganesha.XXXXXX)
  echo "$st" >> "$NFSSIM_TEST_ROOT/ganesha.list"
  "$here/ganesha-up.sh" "$1" "$2" "$st"
}

# ---- tests ---------------------------------------------------------------------------
t_attrcache() {  # actimeo: stale size from the cache; open revalidates; actimeo=0 fresh
  mkdir -p "$T/b"; printf hello > "$T/b/f"
  local m; m=$(mnt on "$T/b" actimeo=30) || return 1
  expect "first stat" "$($PROBE size "$m/f")" "ok 5" || return 1
  printf ' world' >> "$T/b/f"
  expect "stat after server-side append, actimeo=30 (stale)" "$($PROBE size "$m/f")" "ok 5" || return 1
  expect "attr cache hits > 0" "$([ "$(stat_num "$m" hits)" -gt 0 ] && echo yes)" yes || return 1
  expect "open+read (close-to-open revalidation)" "$($PROBE read "$m/f")" "ok 11" || return 1
  expect "stat after open" "$($PROBE size "$m/f")" "ok 11" || return 1
  local c; c=$(mnt off "$T/b" actimeo=0) || return 1
  $PROBE size "$c/f" >/dev/null
  printf '!!' >> "$T/b/f"
  expect "stat after append, actimeo=0 (control)" "$($PROBE size "$c/f")" "ok 13" || return 1
  expect "other mount still stale (separate cache)" "$($PROBE size "$m/f")" "ok 11"
}

t_lookupcache() {  # lookupcache=all caches ENOENT; positive does not
  mkdir -p "$T/b"
  local m; m=$(mnt all "$T/b" lookupcache=all,actimeo=30) || return 1
  local p; p=$(mnt pos "$T/b" lookupcache=positive,actimeo=30) || return 1
  expect "all: missing" "$($PROBE size "$m/g")" "stat: ENOENT" || return 1
  expect "positive: missing" "$($PROBE size "$p/g")" "stat: ENOENT" || return 1
  printf x > "$T/b/g"
  expect "all: after server-side create (negative entry)" "$($PROBE size "$m/g")" "stat: ENOENT" || return 1
  expect "neg_hits > 0" "$([ "$(stat_num "$m" neg_hits)" -gt 0 ] && echo yes)" yes || return 1
  expect "positive: after create (control)" "$($PROBE size "$p/g")" "ok 1"
}

t_close_to_open_write() {  # data reaches the server at close; wsync=1 at write
  mkdir -p "$T/b"
  local m; m=$(mnt buf "$T/b" squash=none) || return 1
  $PROBE write "$m/f" 1000 1000 1500 > "$T/w.out" &
  local w=$!; sleep 0.7
  expect "server-side size while the writer holds it open" "$(stat -c %s "$T/b/f")" 0 || { wait $w; return 1; }
  wait $w
  expect "writer" "$(cat "$T/w.out")" "ok 1000" || return 1
  expect "server-side size after close" "$(stat -c %s "$T/b/f")" 1000 || return 1
  local c; c=$(mnt sync "$T/b" squash=none,wsync=1) || return 1
  $PROBE write "$c/g" 1000 1000 1500 > /dev/null &
  w=$!; sleep 0.7
  expect "wsync=1: server-side size before close (control)" "$(stat -c %s "$T/b/g")" 1000 || { wait $w; return 1; }
  wait $w
}

t_partial_write() {  # wsize+wdelay: a server-side reader sees a partial file
  mkdir -p "$T/b"
  local m; m=$(mnt chunked "$T/b" squash=none,wsize=4096,wdelay_ms=20) || return 1
  $PROBE watch "$T/b/p" 65536 2000 > "$T/watch1" &
  local wt=$!; sleep 0.2
  expect "writer (wsize=4096)" "$($PROBE write "$m/p" 65536 65536)" "ok 65536" || { wait $wt; return 1; }
  wait $wt
  echo "  watch: $(cat "$T/watch1")"
  local partial; partial=$(sed 's/.*partial=\([0-9]*\).*/\1/' "$T/watch1")
  expect "partial views seen with wsize=4096,wdelay_ms=20" "$([ "$partial" -gt 0 ] && echo yes)" yes || return 1
  expect "chunks pushed >= 16" "$([ "$(stat_num "$m" chunks)" -ge 16 ] && echo yes)" yes || return 1
  local c; c=$(mnt whole "$T/b" squash=none) || return 1
  $PROBE watch "$T/b/q" 65536 1500 > "$T/watch2" &
  wt=$!; sleep 0.2
  expect "writer (default wsize)" "$($PROBE write "$c/q" 65536 65536)" "ok 65536" || { wait $wt; return 1; }
  wait $wt
  echo "  watch: $(cat "$T/watch2")"
  expect "control: partial views" "$(sed 's/.*partial=\([0-9]*\).*/\1/' "$T/watch2")" 0
}

t_squash() {  # squash=root: root is uid 65534 on the "server"; squash=none: root
  mkdir -p "$T/b/pub"; chmod 755 "$T/b"; chmod 1777 "$T/b/pub"
  local m; m=$(mnt root "$T/b" squash=root) || return 1
  expect "squash=root: create in root-owned 0755 dir" "$($PROBE create "$m/x")" "open: EACCES" || return 1
  expect "squash=root: create in 1777 dir" "$($PROBE create "$m/pub/y")" "ok" || return 1
  expect "owner on the server" "$(stat -c %u:%g "$T/b/pub/y")" "65534:65534" || return 1
  local c; c=$(mnt none "$T/b" squash=none) || return 1
  expect "squash=none: create in root-owned 0755 dir (control)" "$($PROBE create "$c/x")" "ok" || return 1
  expect "owner on the server" "$(stat -c %u "$T/b/x")" 0 || return 1
  local a; a=$(mnt anon "$T/b" squash=all,anonuid=4242,anongid=4243) || return 1
  $PROBE create "$a/pub/z" >/dev/null
  expect "squash=all,anonuid=4242" "$(stat -c %u:%g "$T/b/pub/z")" "4242:4243"
}

t_fault_nth_write() {  # EIO on the 3rd write(2), counted once
  mkdir -p "$T/b"
  local m; m=$(mnt f "$T/b" squash=none,fault=write:EIO:nth=3) || return 1
  expect "writer" "$($PROBE write "$m/f" 5000 1000)" "write#3: EIO" || return 1
  expect "faults_total" "$(stat_num "$m" faults_total)" 1 || return 1
  expect "write:EIO" "$(stat_num "$m" write:EIO)" 1 || return 1
  expect "next writer (transient)" "$($PROBE write "$m/g" 5000 1000)" "ok 5000" || return 1
  local c; c=$(mnt nf "$T/b" squash=none) || return 1
  expect "control writer" "$($PROBE write "$c/h" 5000 1000)" "ok 5000" || return 1
  expect "control faults_total" "$(stat_num "$c" faults_total)" 0
}

t_fault_estale() {  # ESTALE: the VFS retries a path lookup/open once, as on NFS
  mkdir -p "$T/b"; printf data > "$T/b/f"
  local m; m=$(mnt s "$T/b" fault=open:ESTALE:nth=1) || return 1
  expect "open fails once (kernel retries it)" "$($PROBE read "$m/f")" "ok 4" || return 1
  expect "open:ESTALE injected" "$(stat_num "$m" open:ESTALE)" 1 || return 1
  expect "open calls (original + retry)" "$(stat_num "$m" open)" 2 || return 1
  local p; p=$(mnt p "$T/b" fault=open:ESTALE:from=1) || return 1
  expect "persistent ESTALE on open reaches the caller" "$($PROBE read "$p/f")" "open: ESTALE" || return 1
  local r; r=$(mnt r "$T/b" fault=read:ESTALE:nth=1) || return 1
  expect "ESTALE on read(2) reaches the caller" "$($PROBE read "$r/f")" "read: ESTALE" || return 1
  expect "retry with a fresh open" "$($PROBE read "$r/f")" "ok 4" || return 1
  local c; c=$(mnt c "$T/b" "") || return 1
  expect "control" "$($PROBE read "$c/f")" "ok 4"
}

t_fault_close_enospc() {  # the write-back error arrives at close; the data is lost
  mkdir -p "$T/b"
  local m; m=$(mnt c "$T/b" squash=none,fault=close:ENOSPC:nth=1) || return 1
  expect "writer" "$($PROBE write "$m/f" 100 100)" "close: ENOSPC" || return 1
  expect "server-side size" "$(stat -c %s "$T/b/f")" 0 || return 1
  expect "flush:ENOSPC" "$(stat_num "$m" flush:ENOSPC)" 1
}

t_fault_prob_seeded() {  # same seed, same failures; both some and not all
  mkdir -p "$T/b"; printf data > "$T/b/f"
  local a b sa="" sb=""
  a=$(mnt a "$T/b" fault=read:EIO:prob=0.5:seed=42) || return 1
  b=$(mnt b "$T/b" fault=read:EIO:prob=0.5:seed=42) || return 1
  for _ in $(seq 1 20); do
    sa+=$($PROBE read "$a/f" | cut -c1-2); sb+=$($PROBE read "$b/f" | cut -c1-2)
  done
  echo "  a: $sa"; echo "  b: $sb"
  expect "same schedule on both mounts" "$sa" "$sb" || return 1
  local n; n=$(stat_num "$a" faults_total)
  expect "0 < faults < 20" "$([ "$n" -gt 0 ] && [ "$n" -lt 20 ] && echo yes)" yes
}

t_latency() {
  mkdir -p "$T/b"; printf x > "$T/b/f"
  local m c
  m=$(mnt slow "$T/b" latency_ms=300,actimeo=0) || return 1
  c=$(mnt fast "$T/b" actimeo=0) || return 1
  local ms; ms=$(ms_of $PROBE size "$m/f" | sed -n 's/^ms=//p')
  expect "stat with latency_ms=300 takes >= 300 ms ($ms)" "$([ "$ms" -ge 300 ] && echo yes)" yes || return 1
  ms=$(ms_of $PROBE size "$c/f" | sed -n 's/^ms=//p')
  expect "control stat < 250 ms ($ms)" "$([ "$ms" -lt 250 ] && echo yes)" yes || return 1
  expect "latency_injected > 0" "$([ "$(stat_num "$m" latency_injected)" -gt 0 ] && echo yes)" yes
}

t_unreachable() {  # ops wait unreach_ms then ETIMEDOUT; recover when the server returns
  mkdir -p "$T/b"; printf x > "$T/b/f"
  local m; m=$(mnt u "$T/b" unreachable=1,unreach_ms=400,actimeo=0) || return 1
  local out; out=$(ms_of $PROBE size "$m/f")
  echo "$out" | sed 's/^/  /'
  expect "stat while unreachable" "$(echo "$out" | head -1)" "stat: ETIMEDOUT" || return 1
  local ms; ms=$(echo "$out" | sed -n 's/^ms=//p')
  expect "waited >= 400 ms" "$([ "$ms" -ge 400 ] && echo yes)" yes || return 1
  expect "unreachable_timeouts > 0" "$([ "$(stat_num "$m" unreachable_timeouts)" -gt 0 ] && echo yes)" yes || return 1
  echo unreachable=0 > "$m/.nfssim/ctl" || return 1
  expect "stat after unreachable=0" "$($PROBE size "$m/f")" "ok 1"
}

t_ctl() {  # change the schedule at run time; bad commands are refused
  mkdir -p "$T/b"; printf abc > "$T/b/f"
  local m; m=$(mnt c "$T/b" "") || return 1
  expect "read before" "$($PROBE read "$m/f")" "ok 3" || return 1
  echo "fault=open:EACCES:nth=1" > "$m/.nfssim/ctl" || return 1
  expect "read after ctl fault" "$($PROBE read "$m/f")" "open: EACCES" || return 1
  expect "read again" "$($PROBE read "$m/f")" "ok 3" || return 1
  expect "bad ctl command refused" "$(echo bogus=1 > "$m/.nfssim/ctl" 2>/dev/null && echo accepted || echo refused)" refused || return 1
  echo reset > "$m/.nfssim/ctl"
  expect "faults_total after reset" "$(stat_num "$m" faults_total)" 0 || return 1
  expect ".nfssim hidden from readdir" "$(ls -a "$m" | grep -c nfssim)" 0
}

t_stats_file() {  # stats=FILE is rewritten on each change
  mkdir -p "$T/b"
  local m; m=$(mnt s "$T/b" "stats=$T/stats.json,fault=getattr:EIO:nth=1") || return 1
  expect "stat" "$($PROBE size "$m/nope")" "stat: EIO" || return 1
  sleep 0.2
  expect "faults_total in the stats file" "$(grep -o '"faults_total": [0-9]*' "$T/stats.json" | awk '{print $2}')" 1
}

t_two_clients() {  # two mounts, two caches: B's write is stale in A until A opens
  mkdir -p "$T/b"; printf hello > "$T/b/f"
  local a b
  a=$(mnt a "$T/b" squash=none,actimeo=30) || return 1
  b=$(mnt b "$T/b" squash=none,actimeo=30) || return 1
  expect "A stat" "$($PROBE size "$a/f")" "ok 5" || return 1
  expect "B writes" "$($PROBE write "$b/f" 100 100)" "ok 100" || return 1
  expect "B sees its own write" "$($PROBE size "$b/f")" "ok 100" || return 1
  expect "A stale" "$($PROBE size "$a/f")" "ok 5" || return 1
  expect "A after open" "$($PROBE read "$a/f")" "ok 100"
}

t_kcache_mmap() {  # kcache=1: a mapping keeps stale pages; an open revalidates
  mkdir -p "$T/b"; printf AAAAAAAA > "$T/b/f"
  local m; m=$(mnt k "$T/b" kcache=1,actimeo=0) || return 1
  $PROBE mmap "$m/f" 1000 > "$T/map.out" &
  local p=$!; sleep 0.4
  printf BBBBBBBB | dd of="$T/b/f" conv=notrunc status=none   # in place, server side
  wait $p
  expect "mapped before" "$(sed -n 1p "$T/map.out")" AAAAAAAA || return 1
  expect "mapped after the server's change (stale)" "$(sed -n 2p "$T/map.out")" AAAAAAAA || return 1
  expect "read after a new open" "$(cat "$m/f")" BBBBBBBB || return 1
  expect "cto_invalidations" "$(stat_num "$m" cto_invalidations)" 1 || return 1
  local c; c=$(mnt d "$T/b" kcache=0,actimeo=0) || return 1
  printf CCCCCCCC > "$T/b/f"
  $PROBE mmap "$c/f" 800 > "$T/map2.out" &
  p=$!; sleep 0.4
  printf DDDDDDDD | dd of="$T/b/f" conv=notrunc status=none
  wait $p
  echo "  kcache=0 mmap: $(tr '\n' ' ' < "$T/map2.out")"
  expect "kcache=0: read sees the change (control)" "$(cat "$c/f")" DDDDDDDD
}

ganesha_setup() {  # ganesha_setup MODE: export $T/exp (root 0755, pub 1777)
  mkdir -p "$T/exp/pub"; chmod 755 "$T/exp"; chmod 1777 "$T/exp/pub"
  local env; env=$(ganesha "$1" "$T/exp") || return 1
  eval "$env"
  echo "  server: $GANESHA_URL (pid $GANESHA_PID)"
}

t_ganesha_root_squash() {  # the server's squash refuses root: EACCES from ganesha
  ganesha_setup root_squash || return 1
  local m; m=$(mnt g "$GANESHA_URL" squash=none,actimeo=0) || return 1
  expect "root create in root-owned 0755 dir" "$($PROBE create "$m/x")" "open: EACCES" || return 1
  expect "root create in 1777 dir" "$($PROBE write "$m/pub/y" 10000 4096)" "ok 10000" || return 1
  expect "server-side owner (squashed)" "$(stat -c %u "$T/exp/pub/y")" 65534 || return 1
  expect "server-side size" "$(stat -c %s "$T/exp/pub/y")" 10000 || return 1
  expect "read back through nfssim" "$($PROBE read "$m/pub/y")" "ok 10000"
}

t_ganesha_no_root_squash() {
  ganesha_setup no_root_squash || return 1
  local m; m=$(mnt g "$GANESHA_URL" squash=none,actimeo=0) || return 1
  expect "root create in root-owned 0755 dir" "$($PROBE create "$m/x")" "ok" || return 1
  expect "server-side owner" "$(stat -c %u "$T/exp/x")" 0
}

t_ganesha_deny() {  # the client list excludes 127.0.0.1: the server refuses the mount
  ganesha_setup deny || return 1
  if out=$(mnt g "$GANESHA_URL" squash=none 2>&1); then
    fail "nfssim mounted an export that refuses us"; return 1
  fi
  echo "$out" | sed 's/^/  /'
  expect "refusal named" "$(echo "$out" | grep -c 'access denied by server')" 1 || return 1
  expect "no mount left" "$(grep -c " $T/g " /proc/mounts)" 0
}

t_ganesha_per_vm() {  # one export per vmN, all_squash: any uid lands as the VM's; root not exported
  # the VM's users (setpriv) must reach the mount point: the runner's directory is 0700
  mkdir -p "$T/r/vm1" "$T/r/vm2"; chmod 711 "${T%/*}"; chmod 755 "$T" "$T/r"
  chown 5001:5001 "$T/r/vm1"; chown 5002:5002 "$T/r/vm2"; chmod 700 "$T/r/vm1" "$T/r/vm2"
  local st env; st=$(mktemp -d /tmp/nfssim-ganesha.XXXXXX)
  echo "$st" >> "$NFSSIM_TEST_ROOT/ganesha.list"
  env=$(GANESHA_VMS="1:5001 2:5002" "$here/ganesha-up.sh" per_vm "$T/r" "$st") || return 1
  eval "$env"
  local m u; m=$(mnt vm2 "$(cat "$st/url.vm2")" squash=none,actimeo=0) || return 1
  for u in 0 1234 5001; do
    expect "uid $u in VM2 creates" "$(setpriv --reuid=$u --regid=$u --clear-groups $PROBE create "$m/f$u")" "ok" || return 1
    expect "server-side owner of f$u" "$(stat -c %u:%g "$T/r/vm2/f$u")" "5002:5002" || return 1
  done
  expect "no vm1 in VM2's export" "$($PROBE size "$m/vm1")" "stat: ENOENT" || return 1
  if out=$(mnt root "$(sed 's|/vm1?|?|' "$st/url")" squash=none 2>&1); then fail "the root was mountable"; return 1; fi
  expect "mount of the root refused" "$(echo "$out" | grep -c 'access denied by server')" 1
}

t_knfs() {  # a real kernel NFS mount, if the machine has one (VGPU_KNFS_*)
  local d=$VGPU_KNFS_MOUNT/nfssim-knfs.$$ e=$VGPU_KNFS_EXPORT/nfssim-knfs.$$
  mkdir -p "$d" || return 1
  expect "write through the kernel client" "$($PROBE write "$d/f" 65536 4096)" "ok 65536" || { rm -rf "$d"; return 1; }
  expect "server-side size" "$(stat -c %s "$e/f")" 65536
  local r=$?; rm -rf "$d"; return $r
}

# power-loss mode: py_disk MOUNT WHAT -- the writer's side of the power-loss tests
py_disk() {
  python3 - "$@" <<'PY'
import os, sys
m, what = sys.argv[1], sys.argv[2]
def fsync_dir(d):
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY); os.fsync(fd); os.close(fd)
def publish(name, data, file_sync=True, dir_sync=True):
    tmp = m + '/.tmp-' + name
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    os.write(fd, data)
    if file_sync: os.fsync(fd)
    os.close(fd)
    os.rename(tmp, m + '/' + name)
    if dir_sync: fsync_dir(m)
if what == 'changes':
    publish('a', b'A synced\n')                                   # durable
    publish('c', b'C\n', file_sync=False)                         # name durable, data not
    publish('b', b'B\n', dir_sync=False)                          # name not durable
    with open(m + '/a', 'r+') as f: f.write('XX')                 # in place, not synced
    os.unlink(m + '/gone')                                        # unlink not synced
    os.mkdir(m + '/sub'); open(m + '/sub/x', 'w').write('x')      # mkdir not synced
elif what == 'writer':
    fd = os.open(m + '/w', os.O_CREAT | os.O_WRONLY, 0o644)
    os.write(fd, b'one\n'); os.write(fd, b'two\n'); os.fsync(fd); os.close(fd)
    print('writer finished')
PY
}
show() { local f; for f in "$@"; do if [ -d "$f" ]; then printf '%s=dir ' "${f##*/}"; elif [ -e "$f" ]; then printf '%s=%s ' "${f##*/}" "$(tr -d '\n' < "$f")"; else printf '%s=- ' "${f##*/}"; fi; done; echo; }

t_powerloss() {  # a cut drops what was not fsynced: file data, then names per directory
  mkdir -p "$T/d" && echo gone > "$T/d/gone"
  local m; m=$(mnt p "$T/d" powerloss) || return 1
  py_disk "$m" changes || return 1
  expect "before the cut" "$(show "$m/a" "$m/b" "$m/c" "$m/gone" "$m/sub")" "a=XXsynced b=B c=C gone=- sub=dir " || return 1
  echo cut > "$m/.nfssim/ctl" || return 1
  expect "after the cut" "$(show "$m/a" "$m/b" "$m/c" "$m/gone" "$m/sub")" "a=A synced b=- c= gone=gone sub=- " || return 1
  expect "backing dir agrees" "$(show "$T/d/a" "$T/d/b" "$T/d/c")" "a=A synced b=- c= " || return 1
  expect "cuts" "$(stat_num "$m" cuts)" 1 || return 1
  expect "revert_errors" "$(stat_num "$m" revert_errors)" 0 || return 1
  # control: a full sync (a journal commit) before the cut keeps everything
  mkdir -p "$T/e" && echo gone > "$T/e/gone"
  local c; c=$(mnt q "$T/e" powerloss) || return 1
  py_disk "$c" changes && echo sync > "$c/.nfssim/ctl" && echo cut > "$c/.nfssim/ctl" || return 1
  expect "control: synced, then cut" "$(show "$c/a" "$c/b" "$c/c" "$c/gone")" "a=XXsynced b=B c=C gone=- "
}

t_powerloss_pause() {  # pause_after=N holds the writer at its Nth change; cut kills it
  mkdir -p "$T/d"
  local m; m=$(mnt p "$T/d" powerloss) || return 1
  echo pause_after=2 > "$m/.nfssim/ctl" || return 1
  py_disk "$m" writer > "$T/writer.out" 2>&1 &
  local w=$! i
  for i in $(seq 1 200); do [ "$(stat_num "$m" held)" = 1 ] && break; sleep 0.05; done
  expect "held at change" "$(stat_num "$m" held_at)" 2 || return 1
  expect "trace" "$(tr '\n' ';' < "$m/.nfssim/trace")" "1 create /w;2 write /w;" || return 1
  expect "file while held" "$(show "$m/w")" "w=one " || return 1
  echo cut > "$m/.nfssim/ctl" || return 1
  wait "$w"; local rc=$?
  expect "writer killed" "$rc" 137 || return 1
  expect "writer never finished" "$(grep -cx 'writer finished' "$T/writer.out")" 0 || return 1
  expect "file after the cut (create not durable)" "$(show "$m/w")" "w=- " || return 1
  expect "cuts" "$(stat_num "$m" cuts)" 1 || return 1
  # control: release lets the held writer go on
  echo pause_after=2 > "$m/.nfssim/ctl" || return 1
  py_disk "$m" writer > "$T/writer2.out" 2>&1 &
  w=$!
  for i in $(seq 1 200); do [ "$(stat_num "$m" held)" = 1 ] && break; sleep 0.05; done
  echo release > "$m/.nfssim/ctl" || return 1
  wait "$w"
  expect "control: released writer finished" "$(grep -cx 'writer finished' "$T/writer2.out")" 1
}

ALL="t_attrcache t_lookupcache t_close_to_open_write t_partial_write t_squash
     t_fault_nth_write t_fault_estale t_fault_close_enospc t_fault_prob_seeded t_latency
     t_unreachable t_ctl t_stats_file t_two_clients t_kcache_mmap
     t_ganesha_root_squash t_ganesha_no_root_squash t_ganesha_deny t_ganesha_per_vm t_powerloss t_powerloss_pause"

# ---- one test, in a child with its own directory ------------------------------------
if [ "${1:-}" = --one ]; then
  T=$2/${3#t_}; mkdir -p "$T"
  "$3"; exit $?
fi

# ---- the runner --------------------------------------------------------------------
if [ ! -e /dev/fuse ]; then
  echo "nfs_sim: SKIP: /dev/fuse is missing (no FUSE on this machine)"
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "nfs_sim: must run as root (squash, ganesha)"; exit 1; }
NFSSIM_TEST_ROOT=$(mktemp -d /tmp/nfssim-test.XXXXXX)
export NFSSIM_TEST_ROOT NFSSIM_RUN_DIR=$NFSSIM_TEST_ROOT/run NFSSIM_BIN NFSSIM_PROBE
touch "$NFSSIM_TEST_ROOT/mounts.list" "$NFSSIM_TEST_ROOT/ganesha.list"
child=
cleanup() {
  local m s
  if [ -n "$child" ]; then kill -TERM "$child" 2>/dev/null; wait "$child" 2>/dev/null; fi
  while read -r m; do [ -n "$m" ] && "$here/umount.sh" "$m" >/dev/null 2>&1; done < "$NFSSIM_TEST_ROOT/mounts.list"
  while read -r s; do [ -n "$s" ] && "$here/ganesha-down.sh" "$s" >/dev/null 2>&1; done < "$NFSSIM_TEST_ROOT/ganesha.list"
  rm -rf "$NFSSIM_TEST_ROOT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# The declared list must hold every test defined here: one left out would never run.
for t in $(grep -o '^t_[a-z0-9_]*()' "$0" | tr -d '()'); do
  case " $(echo $ALL) t_knfs " in *" $t "*) ;; *) echo "nfs_sim: FAIL: $t is defined but not in ALL (it would never run)"; exit 1;; esac
done
tests=${*:-$ALL}
if [ -n "${VGPU_KNFS_MOUNT:-}" ] && [ -n "${VGPU_KNFS_EXPORT:-}" ]; then tests="$tests t_knfs"
else echo "nfs_sim: kernel NFS hook not configured (VGPU_KNFS_MOUNT/VGPU_KNFS_EXPORT); t_knfs not run"; fi
pass=0; failed=""; vgfail=""
for t in $tests; do
  echo "== $t"
  # In the background, so that a signal to this runner is handled at once (wait is
  # interruptible; a foreground child would delay the trap until it ends).
  timeout -k 5 "${NFSSIM_TEST_TIMEOUT:-60}" "$0" --one "$NFSSIM_TEST_ROOT" "$t" &
  child=$!
  wait "$child"; rc=$?; child=
  [ $rc = 124 ] && echo "FAIL: $t timed out"
  # Unmount what the test mounted and stop its servers, whatever happened in it.
  while read -r m; do [ -n "$m" ] && { "$here/umount.sh" "$m" || vgfail="$vgfail $t"; }; done < "$NFSSIM_TEST_ROOT/mounts.list"
  while read -r s; do [ -n "$s" ] && "$here/ganesha-down.sh" "$s"; done < "$NFSSIM_TEST_ROOT/ganesha.list"
  : > "$NFSSIM_TEST_ROOT/mounts.list"; : > "$NFSSIM_TEST_ROOT/ganesha.list"
  if [ $rc = 0 ]; then pass=$((pass + 1)); echo "PASS $t"; else failed="$failed $t"; echo "FAIL $t (rc $rc)"; fi
done
n=$(echo $tests | wc -w)
echo "nfs_sim: $pass/$n passed${failed:+; failed:$failed}${vgfail:+; umount/valgrind problems:$vgfail}"
[ -n "${NFSSIM_RESULTS:-}" ] && echo "$pass $n" > "$NFSSIM_RESULTS"
[ -z "$failed" ] && [ -z "$vgfail" ]
