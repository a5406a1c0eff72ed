#!/bin/bash
# guest.sh OUT - the checks of make check-systemd, run inside the guest by vgpu-check.service
# under systemd as PID 1 (tests/systemd/run.sh). The daemon is the installed one: the unit
# /usr/local/lib/systemd/system/vgpu-mediator.service and the binaries that
# `make install DESTDIR=…` put there, with /etc/vgpu-mediator.conf as installed, changed
# only where a guest has no GPU (fallback = mock) and to name two VMs. Each check prints
# "ok - …" or "FAIL - …" with what it saw (to the console and OUT/result.txt); OUT/guest.rc
# holds the number of failures. systemd powers the guest off when this unit ends.
set -u
OUT=$1
R=$OUT/result.txt
: > "$R"
pass=0 fail=0
log() { echo "$*" | tee -a "$R"; }
ok() { pass=$((pass + 1)); log "ok   - $1"; }
bad() { fail=$((fail + 1)); log "FAIL - $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | head -30 | sed 's/^/       | /' | tee -a "$R"; }
# wait_for SECONDS COMMAND...: until COMMAND succeeds (polled), 1 on timeout
wait_for() {
	local end=$((SECONDS + $1)); shift
	until "$@" >/dev/null 2>&1; do [ $SECONDS -ge $end ] && return 1; sleep 0.2; done
}
prop() { systemctl show -p "$1" --value vgpu-mediator.service; }
U=vgpu-mediator.service
CONF=/etc/vgpu-mediator.conf
finish() {
	journalctl -b --no-pager -o short-monotonic > "$OUT/journal.txt" 2>&1
	log "vgpu-systemd: $pass passed, $fail failed"
	echo "$fail" > "$OUT/guest.rc"
}
trap finish EXIT

log "vgpu-systemd: $(systemctl --version | head -1), PID 1 is $(cat /proc/1/comm); $(/usr/local/bin/vgpu-mediator --version)"
# systemd logs each notification it gets at debug level: READY=1, STOPPING=1 are seen there
systemd-analyze log-level debug

# --- the installed files, as an operator would set them up -------------------------------
mkdir -p /var/vgpu/vm1 /var/vgpu/vm2
chmod 0777 /var/vgpu/vm1 /var/vgpu/vm2
sed -i 's/^fallback = none$/fallback = mock/' "$CONF"
printf '\n[vm1]\ncap = high\n\n[vm2]\ncap = low\n' >> "$CONF"
out=$(/usr/local/bin/vgpu-mediator --config "$CONF" --check-config 2>&1) ||
	bad "the installed configuration, changed, passes --check-config" "$out"
path=$(systemctl show -p FragmentPath --value $U)
[ "$path" = /usr/local/lib/systemd/system/vgpu-mediator.service ] && ok "systemd finds the installed unit: $path" ||
	bad "the installed unit" "FragmentPath=$path"

# --- start: READY ------------------------------------------------------------------------
t0=$(date +%s.%N)
out=$(systemctl start $U 2>&1); rc=$?
t1=$(date +%s.%N)
state="ActiveState=$(prop ActiveState) SubState=$(prop SubState) Type=$(prop Type)"
if [ $rc = 0 ] && [ "$state" = "ActiveState=active SubState=running Type=notify" ]; then
	ok "systemctl start: exit 0 after $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}') s, $state"
else bad "systemctl start" "exit $rc: $out; $state; $(journalctl -b -u $U --no-pager | tail -20)"; fi
pid=$(prop MainPID)
if journalctl -b --no-pager -u $U | grep -q "Got notification message from PID $pid (READY=1"; then
	ok "systemd got READY=1 from the daemon (pid $pid)"
else bad "READY=1 seen by systemd" "$(journalctl -b --no-pager -u $U | grep -i notif | head)"; fi
st=$(prop StatusText)
grep -q '^serving; queue 0 high, 0 medium, 0 low; 0 running; answered 0$' <<<"$st" &&
	ok "StatusText=$st" || bad "StatusText after the start" "StatusText=$st"
w=$(prop WatchdogUSec)
if [ "$w" = 30s ] && wait_for 20 bash -c "journalctl -b --no-pager -u $U | grep -q 'Got notification message from PID $pid (WATCHDOG=1)'"; then
	ok "WatchdogUSec=$w, and systemd got WATCHDOG=1 from the daemon's event loop"
else bad "watchdog" "WatchdogUSec=$w; $(journalctl -b --no-pager -u $U | grep -c WATCHDOG) WATCHDOG lines"; fi
bnd=$(sed -n 's/^CapBnd:\t*//p' /proc/"$pid"/status)
[ "$bnd" = 000000000000000f ] && ok "the daemon's capability bounding set is CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER (CapBnd $bnd)" ||
	bad "capability bounding set" "CapBnd $bnd"
nnp=$(sed -n 's/^NoNewPrivs:\t*//p' /proc/"$pid"/status)
[ "$nnp" = 1 ] && ok "NoNewPrivs: 1" || bad "NoNewPrivileges" "NoNewPrivs: $nnp"
if touch /usr/local/vgpu-probe 2>/dev/null; then rm -f /usr/local/vgpu-probe; fi
out=$(nsenter -t "$pid" -m sh -c 'touch /usr/vgpu-probe 2>&1; touch /var/vgpu/vm1/probe && rm /var/vgpu/vm1/probe && echo export-writable' 2>&1)
grep -q 'Read-only file system' <<<"$out" && grep -q export-writable <<<"$out" &&
	ok "in the daemon's mount namespace /usr is read-only, the export writable (ProtectSystem=strict, ReadWritePaths)" ||
	bad "ProtectSystem" "$out"

# --- requests and `vgpu-mediator status` -------------------------------------------------
o1=$(vgpu-client --dir /var/vgpu/vm1 --priority high --timeout 30 ping 2>&1)
o2=$(vgpu-client --dir /var/vgpu/vm2 --priority high --timeout 30 vadd 1000 --seed 2 2>&1)
grep -q 'status=OK op=ping prio=high' <<<"$o1" && grep -q 'status=OK op=vadd prio=low' <<<"$o2" &&
	ok "vm1 ping at high, vm2 capped to low: $o2" || bad "requests" "$o1 / $o2"
out=$(vgpu-mediator status 2>&1); rc=$?
if [ $rc = 0 ] && grep -q "^vgpu-mediator .*, pid $pid, running, up " <<<"$out" &&
   grep -q '^config:   /etc/vgpu-mediator.conf' <<<"$out" && grep -Eq '^  vm2 +low +idle +1 +1 ' <<<"$out"; then
	ok "vgpu-mediator status (exit 0): running, pid $pid, vm2 low with its request"
else bad "vgpu-mediator status" "exit $rc: $out"; fi
wait_for 20 bash -c "systemctl show -p StatusText --value $U | grep -q 'answered 2\$'" &&
	ok "StatusText follows: $(prop StatusText)" || bad "StatusText after two answers" "$(prop StatusText)"

# --- reload: a changed configuration -----------------------------------------------------
sed -i '/^\[vm2\]/,$ s/^cap = low$/cap = medium/' "$CONF"
out=$(systemctl reload $U 2>&1); rc=$?
[ $rc = 0 ] && ok "systemctl reload: exit 0" || bad "systemctl reload" "exit $rc: $out"
if wait_for 20 bash -c "vgpu-mediator status | grep -Eq '^  vm2 +medium '"; then
	ok "after the reload vgpu-mediator status shows vm2 at cap medium"
else bad "reload applied" "$(vgpu-mediator status 2>&1; journalctl -b -u $U --no-pager | tail)"; fi
o2=$(vgpu-client --dir /var/vgpu/vm2 --priority high --timeout 30 ping 2>&1)
grep -q 'status=OK op=ping prio=medium' <<<"$o2" && ok "vm2's next request runs at medium: $o2" || bad "new cap" "$o2"
j=$(journalctl -b --no-pager -u $U -o cat)
if grep -q 'SIGHUP received: reloading /etc/vgpu-mediator.conf' <<<"$j" &&
   grep -q 'vm2: priority cap medium (was low)' <<<"$j" &&
   [ "$(grep -c 'SIGHUP received' <<<"$j")" = 1 ] &&
   journalctl -b --no-pager -u $U | grep -q "Got notification message from PID $pid (RELOADING=1"; then
	ok "the journal: one 'SIGHUP received' line, 'vm2: priority cap medium (was low)', RELOADING=1 notified"
else bad "reload in the journal" "$(grep -i 'sighup\|cap\|RELOAD' <<<"$j")"; fi
p=$(journalctl -b --no-pager -u $U -o verbose --grep 'vm2: priority cap medium' | sed -n 's/^ *PRIORITY=//p' | head -1)
[ "$p" = 6 ] && ok "its journal entry has PRIORITY=6 (info), from the line's <6> prefix" || bad "journal priority" "PRIORITY=$p"
[ "$(prop MainPID)" = "$pid" ] && [ "$(prop NRestarts)" = 0 ] && ok "same process after the reload, NRestarts=0" ||
	bad "reload restarted it" "MainPID $(prop MainPID) NRestarts $(prop NRestarts)"

# --- stop: STOPPING, exit 0 --------------------------------------------------------------
out=$(systemctl stop $U 2>&1); rc=$?
# once stopped the unit is unloaded (ExecMainStatus reads 0 whatever happened): the exit
# status is in systemd's own journal line
j=$(journalctl -b --no-pager -u $U)
st="ActiveState=$(prop ActiveState)"
if [ $rc = 0 ] && [ "$st" = ActiveState=inactive ] &&
   grep -q 'vgpu-mediator.service: Main process exited, code=exited, status=0/SUCCESS' <<<"$j" &&
   grep -q 'vgpu-mediator.service: Deactivated successfully' <<<"$j"; then
	ok "systemctl stop: exit 0, $st, 'Main process exited, code=exited, status=0/SUCCESS'"
else bad "systemctl stop" "exit $rc: $out; $st; $(grep -i 'exited\|deactivated\|failed' <<<"$j" | tail -5)"; fi
if grep -q "Got notification message from PID $pid (STOPPING=1" <<<"$j" &&
   grep -q 'SIGTERM received: answering the 0 jobs in hand, then exiting' <<<"$j" &&
   grep -q 'mediator info: stopped: answered 3' <<<"$j"; then
	ok "STOPPING=1 notified, 'SIGTERM received' and 'stopped: answered 3' logged"
else bad "the stop in the journal" "$(tail -15 <<<"$j")"; fi
out=$(vgpu-mediator status 2>&1); rc=$?
[ $rc = 3 ] && grep -q '^vgpu-mediator is not running' <<<"$out" && ok "vgpu-mediator status after the stop: exit 3, not running" ||
	bad "status after the stop" "exit $rc: $out"
systemd-analyze log-level info
exit 0
