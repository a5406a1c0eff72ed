#!/bin/bash
# xen-dom0.sh - runs in Xen's Dom0 under QEMU (tests/vm/run-xen.sh; make check-xen),
# chrooted into the host's root (read-only 9p) with the unpacked Xen tools layered
# above it, under a tmpfs overlay, as root. Brings up the Xen tool stack (xenfs,
# xenstored, xen-init-dom0, xenconsoled), a bridge xenbr0, knfsd with one export per VM,
# vgpu-mediator --executor mock, and PV DomUs (tests/vm/xen-domu-init) that mount their
# own export over Xen's network; then the tests (tests/vm/xen_tests.sh). Results go to
# $VGPU_OUT (writable 9p): dom0.log (everything), summary.txt, scenarios/*.json,
# console-domuN.log; guest.rc is the exit marker. Progress lines ("dom0: ...") go to
# the console, which run-xen.sh prints.
[ -n "${BASH_VERSION:-}" ] || exec /bin/bash "$0" "$@"   # tests/vm/init runs it with sh
set -u
: "${VGPU_OUT:?}" "${VGPU_BUILD:?}"
here=$(cd "$(dirname "$0")" && pwd)
B=$VGPU_BUILD
[ -f "$VGPU_OUT/guest.env" ] && . "$VGPU_OUT/guest.env"
: "${XEN_DOMU_KERNEL:?}" "${XEN_DOMU_INITRD:?}" "${XEN_VERSION:?}"
LOG=$VGPU_OUT/dom0.log
SUM=$VGPU_OUT/summary.txt
mkdir -p "$VGPU_OUT/scenarios"
: > "$SUM"
exec 3>&1 >>"$LOG" 2>&1
say() { echo "dom0: $*" >&3; echo "dom0: $*"; }
up() { cut -d' ' -f1 /proc/uptime; }
pass=0 fail=0
result() {  # result NAME RC [DETAIL]
	if [ "$2" = 0 ]; then pass=$((pass + 1)); v=PASS; else fail=$((fail + 1)); v="FAIL (exit $2)"; fi
	echo "$1: $v${3:+ - $3}" >> "$SUM"; say "$1: $v${3:+ - $3} [$(up) s]"
}
T() { t=$1; shift; timeout -k 5 "$t" "$@"; }
XL=/usr/lib/xen-$XEN_VERSION/bin
export PATH=$XL:$PATH
NDOMU=${VGPU_XEN_DOMUS:-3}
DOMU_MEM=${VGPU_XEN_DOMU_MEM:-160}
NET=10.99.0 DOM0_IP=10.99.0.1
domu_ip() { echo "$NET.$((10 + $1))"; }
vm_uid() { echo $((60000 + $1)); }      # the uid each VM's root is squashed to (all_squash; docs/XEN.md)
CTL=/var/vgpu-ctl ROOT=/var/vgpu NAIVE=/var/vgpu-naive STATE=/var/lib/vgpu-state
JOURNAL=/var/lib/vgpu-journal MLOG=$VGPU_OUT/mediator.log
# xenconsoled writes the DomUs' consoles straight into the out share: they survive a hang
CONLOG=$VGPU_OUT/consoles

collect() {
	[ -f "$JOURNAL" ] && cp "$JOURNAL" "$VGPU_OUT/journal"
	dmesg > "$VGPU_OUT/dmesg-dom0.txt" 2>&1
}
finish() {
	kill $HBPID 2>/dev/null
	collect
	say "$pass passed, $fail failed"; echo "$pass passed, $fail failed" >> "$SUM"
	[ "$fail" = 0 ] && echo 0 > "$VGPU_OUT/guest.rc" || echo 1 > "$VGPU_OUT/guest.rc"
	exit 0
}
# a script error (set -u, a bug) still leaves the logs and a failing marker
trap '[ -f "$VGPU_OUT/guest.rc" ] || { result "xen-dom0.sh ended early (script error near line $LINENO)" 1; collect; echo 1 > "$VGPU_OUT/guest.rc"; }' EXIT

# what Dom0 is doing, every 15 s, in the out share (read it when a run hangs)
( while sleep 15; do { cat /proc/uptime /proc/loadavg; ps -eo pid,stat,etime,time,args | cut -c1-150; } \
	> "$VGPU_OUT/heartbeat.tmp" 2>&1; mv "$VGPU_OUT/heartbeat.tmp" "$VGPU_OUT/heartbeat.txt"; done ) &
HBPID=$!

# ---- the Xen tool stack ---------------------------------------------------------------
say "Xen $(cat /sys/hypervisor/version/major 2>/dev/null).$(cat /sys/hypervisor/version/minor 2>/dev/null), Dom0 kernel $(uname -r) up [$(up) s]"
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd   # devtmpfs has no /dev/fd (process substitution)
mkdir -p /proc/xen /var/run/xen /run/xenstored /var/lib/xen /var/log/xen "$CONLOG" /var/lib/xenstored

rc=0
mount -t xenfs xenfs /proc/xen || rc=1
if [ $rc = 0 ]; then
	XENSTORED_ROOTDIR=/run/xenstored T 10 "$XL/xenstored" --pid-file /run/xenstore.pid || rc=2
	i=0; until xenstore-read -s / >/dev/null 2>&1; do i=$((i + 1)); [ $i -gt 100 ] && { rc=3; break; }; sleep 0.2; done
fi
[ $rc = 0 ] && { T 30 "$XL/xen-init-dom0" || rc=4; }
[ $rc = 0 ] && { T 10 "$XL/xenconsoled" --log=guest --log-dir="$CONLOG" --pid-file=/run/xenconsoled.pid || rc=5; }
result "xen tool stack: xenfs, xenstored, xen-init-dom0, xenconsoled" $rc
[ $rc = 0 ] || finish
T 60 xl info > "$VGPU_OUT/xl-info.txt" 2>&1; rc=$?
result "xl info" $rc "$(grep -E '^(xen_version|nr_cpus|total_memory|free_memory) ' "$VGPU_OUT/xl-info.txt" | tr -s ' ' | tr '\n' ' ')"
[ $rc = 0 ] || finish

# ---- Dom0's side of the network: a bridge for the DomUs' vifs ----------------------------
ip link add xenbr0 type bridge && ip addr add "$DOM0_IP/24" dev xenbr0 && ip link set xenbr0 up
result "bridge xenbr0 $DOM0_IP/24" $?

# ---- knfsd: one export per VM (docs/XEN.md), the test's control export, the naive one -----
mkdir -p "$ROOT" "$CTL" "$NAIVE" /proc/fs/nfsd /run/rpcbind /var/lib/nfs "$STATE"
mount -t tmpfs -o mode=0755 tmpfs "$ROOT"
mount -t tmpfs -o mode=0755 tmpfs "$CTL"
mount -t tmpfs -o mode=0755 tmpfs "$NAIVE"
mount -t nfsd nfsd /proc/fs/nfsd
echo 10 > /proc/fs/nfsd/nfsv4gracetime; echo 10 > /proc/fs/nfsd/nfsv4leasetime
: > /etc/exports
for n in $(seq 1 "$NDOMU"); do
	u=$(vm_uid "$n")
	mkdir -p "$ROOT/vm$n" "$CTL/vm$n" "$NAIVE/vm$n"
	chown "$u:$u" "$ROOT/vm$n"; chmod 0700 "$ROOT/vm$n"
	chown 65534:65534 "$NAIVE/vm$n"; chmod 0755 "$NAIVE/vm$n"
	echo "$ROOT/vm$n $(domu_ip "$n")(rw,sync,all_squash,anonuid=$u,anongid=$u,no_subtree_check,fsid=$((100 + n)))" >> /etc/exports
done
# vm9: a Dom0-local client's directory (keeps the executor busy in the priority test)
mkdir -p "$ROOT/vm9"
cat >> /etc/exports <<EOT
$CTL $NET.0/24(ro,sync,all_squash,no_subtree_check,fsid=200)
$NAIVE $NET.0/24(rw,sync,root_squash,no_subtree_check,fsid=300)
EOT
T 20 rpcbind -w && T 20 rpc.mountd && T 30 rpc.nfsd 4 && T 20 exportfs -ra
rc=$?; exportfs -v
[ -w /proc/fs/nfsd/v4_end_grace ] && echo Y > /proc/fs/nfsd/v4_end_grace
result "knfsd: $(exportfs | wc -l) exports (one per VM, restricted to its address)" $rc
[ $rc = 0 ] || finish

# the deployment check of docs/XEN.md on the VMs' exports (the test's two extra ones left out)
grep "^$ROOT/vm" /etc/exports > /tmp/exports.vgpu
# shellcheck disable=SC2046
T 60 "$B/vgpu-doctor" --root "$ROOT" --state "$STATE" --exports /tmp/exports.vgpu \
	$(for n in $(seq 1 "$NDOMU"); do echo "--vm-uid $n:$(vm_uid "$n")"; done) > /tmp/doctor.out 2>&1; rc=$?
cat /tmp/doctor.out
# what this rig does on purpose is no deployment: /var/vgpu is a tmpfs, vm9 is Dom0's own
others=$(grep -E '^ERROR' /tmp/doctor.out | grep -v 'is on tmpfs' | grep -v "$ROOT/vm9 ")
oks=$(grep -cE "^ok +$ROOT/vm[0-9]+: (exported on its own, all_squash to its own uid|owned by the VM's uid, mode 0700)" /tmp/doctor.out)
[ -z "$others" ] && [ "$oks" = $((2 * NDOMU)) ]
result "vgpu-doctor --exports: each VM's export and directory right ($oks ok lines; errors only for the rig's tmpfs and vm9)" $? "${others:-exit $rc}"

# ---- the mediator ----------------------------------------------------------------------------
# each VM's cap and the uid its export squashes it to: the mediator refuses a record,
# payload or directory of vmN not owned by that uid (WRONG_OWNER); vm9 is Dom0's own
caps="--vm 1:high:$(vm_uid 1) --vm 2:medium:$(vm_uid 2) --vm 3:low:$(vm_uid 3) --vm 9:high"
# shellcheck disable=SC2086
# (no aging within the tests' time: ERR09 waits behind a long busy job; aging has its own test)
"$B/vgpu-mediator" --root "$ROOT" --state "$STATE" --executor mock --test-ops $caps \
	--aging-ms 600000 --rescan-ms 500 --journal "$JOURNAL" > "$MLOG" 2>&1 &
MPID=$!
i=0; while kill -0 $MPID 2>/dev/null && ! grep -q . "$MLOG" && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
kill -0 $MPID 2>/dev/null; result "vgpu-mediator --executor mock ($caps)" $? "$(head -c 200 "$MLOG" | head -1)"

# ---- the DomUs -------------------------------------------------------------------------------
# ctl K: Dom0 -> DomU N commands (tests/vm/xen-domu-init), published by rename
declare -A NEXTK
cmd() {  # cmd N SCRIPT... -> K (the command's number) in $K
	local n=$1; shift
	K=$(( ${NEXTK[$n]:-0} + 1 )); NEXTK[$n]=$K
	printf '%s\n' "$@" > "$CTL/vm$n/.$K.tmp"; chmod 0644 "$CTL/vm$n/.$K.tmp"
	mv "$CTL/vm$n/.$K.tmp" "$CTL/vm$n/$K.cmd"
}
conlog() { tr -d '\r' < "$CONLOG/guest-domu$1.log" 2>/dev/null; }
# wait_done N K SECONDS: 0 and the output lines in $OUTPUT, $DRC the command's status;
# 1 when the DomU did not report within SECONDS
wait_done() {
	local n=$1 k=$2 end=$(( $(date +%s) + $3 ))
	OUTPUT= DRC=
	while [ "$(date +%s)" -lt "$end" ]; do
		if conlog "$n" | grep -q "^D $n $k rc="; then
			DRC=$(conlog "$n" | sed -n "s/^D $n $k rc=//p" | head -1)
			OUTPUT=$(conlog "$n" | sed -n "s/^R $n $k //p")
			return 0
		fi
		sleep 0.2
	done
	return 1
}
run_on() {  # run_on N SECONDS SCRIPT...: cmd + wait_done
	local n=$1 t=$2; shift 2
	cmd "$n" "$@"; wait_done "$n" "$K" "$t"
}
domu_cfg() {
	cat <<EOT
name = "domu$1"
type = "pv"
kernel = "$XEN_DOMU_KERNEL"
ramdisk = "$XEN_DOMU_INITRD"
cmdline = "console=hvc0 quiet loglevel=4 panic=-1 rdinit=/init vgpu_vm=$1 vgpu_ip=$(domu_ip "$1") vgpu_dom0=$DOM0_IP"
memory = $DOMU_MEM
vcpus = 1
vif = [ 'bridge=xenbr0,mac=00:16:3e:99:00:0$1' ]
on_poweroff = "destroy"
on_reboot = "destroy"
on_crash = "destroy"
EOT
}
mkdir -p /etc/xen/vgpu
for n in $(seq 1 "$NDOMU"); do   # one after the other (in parallel, Dom0 hung twice in three runs)
	domu_cfg "$n" > "/etc/xen/vgpu/domu$n.cfg"
	T 120 xl create "/etc/xen/vgpu/domu$n.cfg" > "/tmp/xl-create-$n.log" 2>&1; rc=$?
	result "xl create domu$n (PV, $DOMU_MEM MiB, vif on xenbr0, $(domu_ip "$n"))" $rc "$(grep -v '^Parsing' "/tmp/xl-create-$n.log" | head -2)"
done
xl list
ready=0 end=$(( $(date +%s) + ${VGPU_XEN_BOOT_TIMEOUT:-180} ))
while [ "$(date +%s)" -lt "$end" ]; do
	ready=0
	for n in $(seq 1 "$NDOMU"); do conlog "$n" | grep -q "^domu$n: ready" && ready=$((ready + 1)); done
	[ $ready = "$NDOMU" ] && break
	conlog 1 | grep -q FATAL && break
	sleep 1
	[ $(( ($(date +%s) - end) % 30 )) = 0 ] && say "waiting for the DomUs: $ready of $NDOMU ready [$(up) s]"
done
for n in $(seq 1 "$NDOMU"); do
	line=$(conlog "$n" | grep -E "^domu$n: (ready|FATAL)" | head -1)
	case $line in *"ready: /mnt"*) rc=0 ;; *) rc=1 ;; esac
	result "domu$n: netfront up, pinged Dom0, mounted its export" $rc "${line:-no ready line; last: $(conlog "$n" | tail -n 2 | tr '\n' ' ')}"
done

# ---- smoke: each DomU pings the mediator through its own export ------------------------------
for n in $(seq 1 "$NDOMU"); do
	if run_on "$n" 90 "vgpu-client --dir /mnt/vgpu/vm$n --lock-dir /tmp --timeout 60 ping"; then
		result "domu$n: vgpu-client ping over NFS" "$DRC" "$OUTPUT"
	else
		result "domu$n: vgpu-client ping over NFS" 124 "no report within 90 s"
	fi
done

if [ -f "$here/xen_tests.sh" ] && [ "${VGPU_XEN_ONLY:-}" != smoke ]; then
	. "$here/xen_tests.sh"
fi

for n in $(seq 1 "$NDOMU"); do cmd "$n" "poweroff -f"; done
end=$(( $(date +%s) + 30 ))
while [ "$(date +%s)" -lt "$end" ] && xl list | grep -q '^domu'; do sleep 0.5; done
for d in $(xl list | awk '/^domu/ { print $1 }'); do xl destroy "$d"; done
kill -TERM $MPID 2>/dev/null; wait $MPID; rc=$?
result "vgpu-mediator stopped by SIGTERM" $rc
T 30 exportfs -ua; T 30 rpc.nfsd 0
finish
