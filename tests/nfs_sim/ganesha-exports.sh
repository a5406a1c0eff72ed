#!/bin/bash
# ganesha-exports.sh: print nfs-ganesha EXPORT blocks, one per VM directory, as
# docs/SECURITY.md ("Identity") and docs/XEN.md prescribe for knfsd:
#   /var/vgpu/vmN  <vm>(rw,sync,all_squash,anonuid=U_N,anongid=U_N,no_subtree_check)
# Every user of a client of vmN's export (root included) reaches the server as U_N; the
# root itself is not exported, so a VM reaches no other VM's directory through NFS.
#
#   ganesha-exports.sh ROOT PROTOCOLS CLIENTS N:UID [N:UID...]
#     ROOT: the directory holding vmN/; PROTOCOLS: "3, 4" or "4"; CLIENTS: the client
#     list of every export (on loopback all VMs are 127.0.0.1: see docs/SECURITY.md).
# Used by ganesha-up.sh (mode per_vm).
set -u
root=${1:?usage: ganesha-exports.sh ROOT PROTOCOLS CLIENTS N:UID...}
protos=${2:?usage: ganesha-exports.sh ROOT PROTOCOLS CLIENTS N:UID...}
clients=${3:?usage: ganesha-exports.sh ROOT PROTOCOLS CLIENTS N:UID...}
shift 3
[ $# -gt 0 ] || { echo "ganesha-exports: no N:UID given" >&2; exit 1; }
for vu in "$@"; do
  n=${vu%%:*}; uid=${vu#*:}
  case "$n:$uid" in
    *[!0-9:]*|:*|*:) echo "ganesha-exports: bad VM:UID '$vu'" >&2; exit 1 ;;
  esac
  cat <<CONF
EXPORT {
    Export_Id = $((100 + n));
    Path = "$root/vm$n";
    Pseudo = "$root/vm$n";
    Protocols = $protos;
    Transports = TCP;
    SecType = sys;
    # every user of this export is vm$n's uid
    Squash = All_Squash;
    Anonymous_Uid = $uid;
    Anonymous_Gid = $uid;
    Attr_Expiration_Time = 0;
    Access_Type = None;
    FSAL { Name = VFS; }
    CLIENT { Clients = $clients; Access_Type = RW; }
}
CONF
done
