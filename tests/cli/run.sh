#!/usr/bin/env bash
# run.sh - the command lines (`make check-cli`): vgpu-client, vgpu-doctor, vgpu-worker and
# vgpu-mediator as a user meets them: --help, --version, each option's validation (exit
# status and the message it prints), then vgpu-client against a running mock mediator
# (--in/--out with the values checked, --quiet, an error status, the timeout, a missing
# VM directory) and the mediator's own signals and `status` corner cases. Each check
# prints "ok" or "FAIL" with what it saw; the last line counts them.
#
# usage: BUILD=build tests/cli/run.sh      (make check-cli builds what it needs)
set -u
. "$(dirname "$0")/lib.sh" cli
VERSION=$(sed -n 's/^#define VGPU_VERSION "\(.*\)"/\1/p' src/lib/version.h)

M0=$B/vgpu-mediator
mkdir -p "$T/root/vm1" "$T/root/vm2" "$T/state" "$T/plain" "$T/locks"
TRY="Try 'vgpu-client --help'"

# --- 1. vgpu-client: arguments (no mediator needed) ----------------------------------------
expect "client --version" 0 "^vgpu-client $VERSION\$" "" -- "$C" --version
expect "client --help: usage, every op with its parameters, exit codes" 0 \
	'^  sgemm M N K +C\[MxN\]' "" -- "$C" --help
grep -q '^  saxpy N ALPHA ' "$T/o" && grep -q '^  8 ELOCK ' "$T/o" && grep -q '^usage: vgpu-client --dir' "$T/o" &&
	ok "client --help lists saxpy's parameters and the exit codes" || bad "client --help text" "$(cat "$T/o")"
expect "client -h is --help" 0 '^usage: vgpu-client' "" -- "$C" -h
expect "client: no --dir" 2 "" "^vgpu-client: --dir DIR/vmN is required\$" -- "$C" ping
grep -q "^$TRY" "$T/e" && ok "client: usage errors point at --help" || bad "client: Try line" "$(cat "$T/e")"
expect "client: no operation" 2 "" "no operation given \(ping, vadd" -- "$C" --dir "$T/root/vm1"
expect "client: unknown operation" 2 "" "unknown operation 'frob'" -- "$C" --dir "$T/root/vm1" frob
expect "client: unknown option" 2 "" "unknown option or missing value: --frob" -- "$C" --dir "$T/root/vm1" --frob ping
expect "client: option without its value" 2 "" "unknown option or missing value: --timeout" -- "$C" --dir "$T/root/vm1" ping --timeout
expect "client: too many operands" 2 "" "too many arguments at 'i'" -- "$C" --dir x a b c d e f g h i
expect "client: --priority urgent" 2 "" "--priority: 'urgent' is not low, medium or high" -- \
	"$C" --dir "$T/root/vm1" --priority urgent ping
for t in abc 0 -1 86401 inf; do
	expect "client: --timeout $t" 2 "" "--timeout: '$t' is not a number of seconds \(0 < S <= 86400\)" -- \
		"$C" --dir "$T/root/vm1" --timeout "$t" ping
done
for v in 0 65536 01 x 99999999999999999999999; do
	expect "client: --vm $v" 2 "" "--vm: '$v' is not a VM number 1..65535" -- "$C" --dir "$T/root/vm1" --vm "$v" ping
done
expect "client: vadd without N" 2 "" "vadd: wrong number of arguments \(vadd N\)" -- "$C" --dir "$T/root/vm1" vadd --seed 1
expect "client: ping with an operand" 2 "" "ping: wrong number of arguments \(ping \)" -- "$C" --dir "$T/root/vm1" ping 3
expect "client: vadd N not a number" 2 "" "vadd: n: 'x' is not a positive whole number" -- "$C" --dir "$T/root/vm1" vadd x --seed 1
expect "client: saxpy ALPHA not finite" 2 "" "saxpy: alpha: 'nan' is not a finite number" -- \
	"$C" --dir "$T/root/vm1" saxpy 3 nan --seed 1
expect "client: sgemm K negative (after --, still an operand)" 2 "" "sgemm: k: '-3' is not a positive whole number" -- \
	"$C" --dir "$T/root/vm1" --seed 1 -- sgemm 1 2 -3
expect "client: ping takes no --seed" 2 "" "ping takes no --seed, --in or --out" -- "$C" --dir "$T/root/vm1" --seed 1 ping
expect "client: vadd with neither --seed nor --in" 2 "" "vadd: give exactly one of --seed S and --in FILE" -- \
	"$C" --dir "$T/root/vm1" vadd 4
: > "$T/empty.bin"
expect "client: vadd with both --seed and --in" 2 "" "vadd: give exactly one of --seed S and --in FILE" -- \
	"$C" --dir "$T/root/vm1" vadd 4 --seed 1 --in "$T/empty.bin"
for s in x 01 -1 18446744073709551616; do
	expect "client: --seed $s" 2 "" "--seed: '$s' is not a whole number" -- "$C" --dir "$T/root/vm1" vadd 4 --seed "$s"
done
expect "client: --in missing" 2 "" "--in $T/nope.bin: .*(No such file|not found)" -- \
	"$C" --dir "$T/root/vm1" vadd 4 --in "$T/nope.bin"
expect "client: --in a directory" 2 "" "--in $T/plain: " -- "$C" --dir "$T/root/vm1" vadd 4 --in "$T/plain"
printf 'abc' > "$T/short.bin"
expect "client: --in of the wrong size" 2 "" "--in $T/short.bin: 3 bytes, but vadd with these sizes needs 32" -- \
	"$C" --dir "$T/root/vm1" vadd 4 --in "$T/short.bin"

# --- 2. vgpu-client: the VM directory, without a mediator -----------------------------------
expect "client: missing VM directory -> ENODIR (5)" 5 "" "VM directory $T/nowhere/vm1 .*(missing|does not exist)" -- \
	"$C" --dir "$T/nowhere/vm1" --lock-dir "$T/locks" ping
expect "client: --dir is a file -> ENODIR (5)" 5 "" "not a directory|Not a directory" -- \
	"$C" --dir "$T/short.bin" --lock-dir "$T/locks" ping
expect "client: a directory not named vmN needs --vm" 2 "" "vmN|--vm" -- "$C" --dir "$T/plain" --lock-dir "$T/locks" ping
expect "client: no mediator -> ETIMEOUT (3) within --timeout, no status.txt" 3 "" "no answer for seq 1 within 0.3 s: vgpu-mediator has not written .*/status.txt" -- \
	"$C" --dir "$T/plain" --vm 7 --lock-dir "$T/locks" --timeout 0.3 ping
expect "client: --lock-dir=D form, a lock dir that is a file -> ELOCK (8)" 8 "" "lock directory $T/short.bin is not a directory" -- \
	"$C" --dir "$T/root/vm1" --lock-dir="$T/short.bin" ping

# --- 3. vgpu-client against a running mock mediator ----------------------------------------
start_mediator mediator "$T/m.log" "$B/vgpu-mediator" --root "$T/root" --state "$T/state" --executor mock \
	--test-ops --rescan-ms 50 --max-payload 4096 --vm 2:low --metrics "$T/m.prom" --status-interval-ms 100
CL=("$C" --lock-dir "$T/locks" --timeout 20)
expect "client ping: one line with status OK and pong" 0 '^seq=1 status=OK op=ping prio=medium .*result=pong' "" -- \
	"${CL[@]}" --dir "$T/root/vm1" ping
# vadd 4 from a file: a = 1 2 3 4, b = 10 20 30 40
python3 -c 'import struct,sys; sys.stdout.buffer.write(struct.pack("<8f", 1,2,3,4,10,20,30,40))' > "$T/in.bin"
expect "client vadd --in/--out (= form): OK" 0 '^seq=2 status=OK op=vadd ' "" -- \
	"${CL[@]}" --dir="$T/root/vm1" --in="$T/in.bin" --out="$T/out.bin" vadd 4
got=$(python3 -c 'import struct,sys; print(*struct.unpack("<4f", open(sys.argv[1],"rb").read()))' "$T/out.bin" 2>&1)
[ "$got" = "11.0 22.0 33.0 44.0" ] && ok "client vadd --out: the file holds a + b" || bad "vadd output" "$got"
expect "client --quiet: nothing printed on success" 0 "" "" -- "${CL[@]}" --dir "$T/root/vm1" --quiet --seed 5 saxpy 8 2.5
expect "client -q --priority high, capped by --vm 2:low" 0 "" "" -- "${CL[@]}" --dir "$T/root/vm2" -q --priority high ping
expect "client: the answer's prio is the capped one" 0 'prio=low' "" -- "${CL[@]}" --dir "$T/root/vm2" --priority high ping
expect "client: an error status -> ESTATUS (1) with the status and why" 1 "" \
	"^vgpu-client: seq=[0-9]+ status=[A-Z_]+ op=vadd: .*" -- "${CL[@]}" --dir "$T/root/vm1" vadd 100000 --seed 1
expect "client: --out to an unwritable path -> EIO (6)" 6 "" "--out $T/nodir/o.bin: No such file or directory" -- \
	"${CL[@]}" --dir "$T/root/vm1" --out "$T/nodir/o.bin" vadd 4 --seed 9
expect "client: --vm overrides the directory's name" 0 '^seq=[0-9]+ status=OK op=ping prio=low' "" -- \
	"${CL[@]}" --dir "$T/root/vm1/../vm2/../vm1" --vm 1 --priority low ping

# --- 3b. vgpu-client says what is happening (vmN/status.txt, docs/CLIENT.md "Waiting") ----
mkdir -p "$T/root/vm3" "$T/root/vm4" "$T/root/vm5"
wait_for 20 grep -q '^state idle' "$T/root/vm5/status.txt" &&
	ok "mediator: a new VM directory gets status.txt before its first request" ||
	bad "status.txt of a new VM" "$(ls -la "$T/root/vm5"; tail -3 "$T/m.log")"
expect "client timeout while its job runs: 'running for S s on mock'" 3 "" \
	"no answer for seq 1 within 1.2 s: running for [0-9.]+ s on mock" -- \
	"$C" --lock-dir "$T/locks" --dir "$T/root/vm5" --timeout 1.2 spin 2000
wait_for 20 grep -q '^answered 1$' "$T/root/vm5/status.txt" || bad "vm5's spin did not end" "$(cat "$T/root/vm5/status.txt")"
"$C" --lock-dir "$T/locks" --dir "$T/root/vm3" --timeout 30 -q spin 5000 & spin_pid=$!
wait_for 20 grep -q '^state running' "$T/root/vm3/status.txt" || bad "vm3's spin never ran" "$(cat "$T/root/vm3/status.txt")"
expect "client timeout while queued: 'queued behind 1 job (0 ahead in the queue, 1 running)'" 3 "" \
	"no answer for seq 1 within 1 s: queued behind 1 job \(0 ahead in the queue, 1 running\) for [0-9.]+ s at priority medium" -- \
	"$C" --lock-dir "$T/locks" --dir "$T/root/vm4" --timeout 1 ping
# on a terminal, a wait past a second prints where the request is (script(1) gives a tty)
script -qec "'$C' --lock-dir '$T/locks' --dir '$T/root/vm4' --timeout 2.5 ping" /dev/null >"$T/tty" 2>&1
grep -Eq 'vgpu-client: seq 2, [0-9]+ s: waiting for this VM.s earlier seq 1, which is queued behind 1 job' "$T/tty" &&
	ok "client on a terminal: a progress line once a second" || bad "client progress on a tty" "$(cat -v "$T/tty")"
wait "$spin_pid" && ok "client: the spin it queued behind was answered" || bad "vm3's spin" "exit $?"
# vm4's two pings were queued, not lost: they are answered once the slot is free
wait_for 20 grep -q '^answered 2$' "$T/root/vm4/status.txt" && ok "client: the timed-out queued requests still ran" ||
	bad "vm4's queued pings" "$(cat "$T/root/vm4/status.txt")"

# --- 4. vgpu-mediator: its signals and `status` while running ---------------------------------
wait_for 10 test -s "$T/m.prom" && grep -q '^vgpu_mediator_' "$T/m.prom" &&
	ok "mediator --metrics FILE: written" || bad "mediator --metrics" "$(ls -la "$T"; cat "$T/m.log")"
kill -HUP "$mpid"
wait_for 10 grep -q 'SIGHUP received: no --config file to reload; nothing changed' "$T/m.log" &&
	ok "mediator: SIGHUP without --config says nothing changed" || bad "SIGHUP without --config" "$(tail -5 "$T/m.log")"
expect "status --metrics: the Prometheus text" 0 '^vgpu_mediator_' "" -- "$B/vgpu-mediator" status --state "$T/state" --metrics
kill -INT "$mpid"; wait "$mpid"; rc=$?
if [ $rc = 0 ] && grep -q 'SIGINT received: answering the 0 jobs in hand, then exiting' "$T/m.log"; then
	ok "mediator: SIGINT stops it (exit 0, said why)"
else bad "mediator SIGINT" "exit $rc: $(tail -5 "$T/m.log")"; fi
pids=()
expect "client with the mediator stopped: 'vgpu-mediator is not running (no heartbeat ...)'" 3 "" \
	"within 6 s: vgpu-mediator is not running \(no heartbeat in status.txt for [0-9]+ s; it beats every 2 s\)" -- \
	"$C" --lock-dir "$T/locks" --dir "$T/root/vm1" --timeout 6 ping
expect "status after SIGINT: exit 3, not running, the last report" 3 \
	"^vgpu-mediator is not running \(pid $mpid is gone\); its last report:" "" -- "$B/vgpu-mediator" status --state "$T/state"
expect "status --metrics when stopped: exit 3, the last metrics" 3 "^vgpu_mediator_" "" -- \
	"$B/vgpu-mediator" status --state "$T/state" --metrics
rm -f "$T/state/metrics.prom"
expect "status --metrics, no metrics file: exit 3, says which" 3 "" "status: $T/state/metrics.prom: No such file" -- \
	"$B/vgpu-mediator" status --state "$T/state" --metrics

# --- 4b. a second daemon: --config reloads that change what only a restart applies, a
# metrics file it cannot write, --syslog, a soft descriptor limit raised to the hard one
mkdir -p "$T/root2/vm1" "$T/state3"
cat > "$T/r.conf" <<EOF
[mediator]
root = $T/root2
state = $T/state3
executor = mock
journal = $T/j1.log
[limits]
rescan_ms = 50
EOF
start_mediator "mediator --config --syslog" "$T/m2.log" bash -c 'ulimit -Sn 256; exec "$@"' _ \
	"$M0" --config "$T/r.conf" --syslog --metrics "$T/nodir/m.prom" --status-interval-ms 50
m2=$mpid
soft=$(awk '/Max open files/ {print $4}' /proc/$m2/limits); hard=$(awk '/Max open files/ {print $5}' /proc/$m2/limits)
[ "$soft" = "$hard" ] && ok "mediator: the soft descriptor limit raised to the hard one ($hard)" ||
	bad "RLIMIT_NOFILE" "soft $soft hard $hard"
wait_for 10 grep -q "writing $T/nodir/m.prom: No such file or directory; status and metrics may be stale (logged once)" "$T/m2.log" &&
	ok "mediator: an unwritable --metrics file is logged" || bad "metrics write failure" "$(tail -5 "$T/m2.log")"
# more reports (every 50 ms, and one per SIGUSR1): still logged once
s0=$(sed -n 2p "$T/state3/status")
kill -USR1 "$m2"
wait_for 5 bash -c "[ \"\$(sed -n 2p '$T/state3/status')\" != '$s0' ]"
s0=$(sed -n 2p "$T/state3/status")
wait_for 5 bash -c "[ \"\$(sed -n 2p '$T/state3/status')\" != '$s0' ]"
[ "$(grep -c 'status and metrics may be stale' "$T/m2.log")" = 1 ] && ok "mediator: ... and only once" ||
	bad "metrics failure logged more than once" "$(grep 'may be stale' "$T/m2.log")"
sed -i "s|^journal = .*|journal = $T/j2.log|; s|^rescan_ms = 50|rescan_ms = 60|" "$T/r.conf"
kill -HUP "$m2"
wait_for 10 grep -q 'reload: journal changed; only a restart applies it (the running value is kept)' "$T/m2.log" &&
	ok "SIGHUP: a changed journal is named as needing a restart" || bad "reload restart field" "$(tail -5 "$T/m2.log")"
sed -i "s|^executor = mock|executor = auto|" "$T/r.conf"
kill -HUP "$m2"
wait_for 10 grep -q 'reload: executor, journal changed; only a restart applies them (the running values are kept)' "$T/m2.log" &&
	ok "SIGHUP again: two fields named, the first reload's configuration replaced" || bad "second reload" "$(tail -5 "$T/m2.log")"
expect "client against the reloaded daemon" 0 '^seq=1 status=OK op=ping' "" -- "$C" --lock-dir "$T/locks" --timeout 20 --dir "$T/root2/vm1" ping
kill -TERM "$m2"; wait "$m2"; rc=$?
[ $rc = 0 ] && grep -q 'SIGTERM received' "$T/m2.log" && ok "mediator: SIGTERM after reloads, exit 0" ||
	bad "second mediator stop" "exit $rc: $(tail -3 "$T/m2.log")"
pids=()
printf 'not a report\n' > "$T/state3/status"
expect "status of an unreadable report: not running, pid unknown" 3 "^vgpu-mediator is not running \(pid 0 is gone\)" "" -- \
	"$M0" status --state "$T/state3"
expect "mediator: --executor remote: of a missing directory -> 4" 4 "" "executor remote:$T/nowhere/vm1: " -- \
	"$M0" --root "$T/root2" --state "$T/state4" --executor "remote:$T/nowhere/vm1"

# --- 5. vgpu-mediator: arguments ------------------------------------------------------------
M=$B/vgpu-mediator
expect "mediator --version names the notification backend" 0 "^vgpu-mediator $VERSION \(service manager notification: [a-z]+\)\$" "" -- "$M" --version
expect "mediator --help" 0 '^Usage: vgpu-mediator \[--config FILE\]' "" -- "$M" --help
grep -q 'SIGUSR1 writes the status' "$T/o" && ok "mediator --help names the signals" || bad "mediator --help" "$(cat "$T/o")"
expect "mediator -h" 0 '^Usage: vgpu-mediator' "" -- "$M" -h
expect "mediator: unknown option -> 2 and the usage" 2 "" "^Usage: vgpu-mediator" -- "$M" --frob
expect "mediator: an operand -> 2" 2 "" "^vgpu-mediator: unexpected argument: extra\$" -- "$M" --root "$T/root" extra
expect "mediator: no --root/--state -> 2 with usage" 2 "" "root and state required" -- "$M"
grep -q '^Usage: ' "$T/e" && ok "mediator: a bad command line prints the usage" || bad "usage after config error" "$(cat "$T/e")"
expect "mediator: --rescan-ms abc" 2 "" "^vgpu-mediator: --rescan-ms: rescan_ms = abc: expected a whole number" -- \
	"$M" --root "$T/root" --state "$T/state" --rescan-ms abc
for v in 3 0:high 70000:low x:high 2:urgent 02:high; do
	expect "mediator: --vm $v" 2 "" "--vm $v: expected N:low\|medium\|high\[:UID\], N in 1..65535" -- "$M" --vm "$v"
done
expect "mediator: --vm twice" 2 "" "^vgpu-mediator: --vm 2:low: VM 2 given twice$" -- "$M" --vm 2:high --vm 2:low
expect "mediator: --config of a missing file" 2 "" "$T/none.conf" -- "$M" --config "$T/none.conf"
printf '[mediator]\nroot = %s\n' "$T/root" > "$T/nostate.conf"
expect "mediator: --config lacking state (no usage with a file)" 2 "" "^vgpu-mediator: $T/nostate.conf: .*state" -- \
	"$M" --config "$T/nostate.conf"
grep -q '^Usage' "$T/e" && bad "a file's error should not print the usage" "$(cat "$T/e")" || ok "a file's error: no usage text"
expect "mediator --check-config from the command line alone" 0 \
	"^# vgpu-mediator $VERSION: configuration OK \(the command line\)" "" -- \
	"$M" --root "$T/root" --state "$T/state" --syslog --check-config
expect "mediator --check-config: a file and the command line" 0 "configuration OK \($T/nostate.conf and the command line\)" "" -- \
	"$M" --config "$T/nostate.conf" --state "$T/state" --check-config
expect "mediator: --executor remote: (no directory) -> 2" 2 "" "--executor: executor = remote:: expected mock, cuda, auto or remote:DIR" -- \
	"$M" --root "$T/root" --state "$T/state2" --executor remote:
expect "mediator: --executor bogus -> 2" 2 "" "executor" -- "$M" --root "$T/root" --state "$T/state2" --executor bogus
expect "mediator: --state inside --root -> 3" 3 "" "state" -- "$M" --root "$T/root" --state "$T/root/st" --executor mock

# `status` arguments
expect "status --help" 0 "^Usage: vgpu-mediator status \[--config FILE\]" "" -- "$M" status --help
expect "status: an operand -> 2" 2 "" "^vgpu-mediator status: unexpected argument: x\$" -- "$M" status --state "$T/state" x
expect "status: unknown option -> 2" 2 "" "unrecognized option|invalid option" -- "$M" status --frob
expect "status: no status file -> 3 and where it looked" 3 "" \
	"status: $T/empty/status: No such file or directory \(is the daemon running with --state $T/empty\?\)" -- \
	"$M" status --state "$T/empty"
printf '[mediator]\nroot = %s\nstate = %s\n' "$T/root" "$T/state" > "$T/s.conf"
expect "status --config: the file's state" 3 "^vgpu-mediator is not running" "" -- "$M" status --config "$T/s.conf"
printf '[mediator]\nstate = %s\nbogus_key = 1\n' "$T/state" > "$T/broken.conf"
expect "status --config of a broken file: says so, still looks in its state" 3 "^vgpu-mediator is not running" \
	"status: .*broken.conf.*; looking in $T/state\$" -- "$M" status --config "$T/broken.conf"
# a live process that ignores SIGUSR1 stands in for a daemon that does not write a new
# report in time: the last one is shown, as running; once it says "stopped", as exiting
bash -c 'trap "" USR1; exec sleep 60' &
fpid=$!; pids+=("$fpid")
wait_for 5 bash -c "[ \"\$(readlink /proc/$fpid/exe)\" != \"\$(command -v bash)\" ]"
printf 'vgpu-mediator %s pid %d, running, up 1s\n' "$VERSION" "$fpid" > "$T/state/status"
expect "status of a live pid with no fresh report: the last report, running (0)" 0 \
	"^vgpu-mediator $VERSION pid $fpid, running" "" -- "$M" status --state "$T/state"
printf 'vgpu-mediator %s pid %d, stopped, up 1s\n' "$VERSION" "$fpid" > "$T/state/status"
expect "status of a pid whose report says stopped: exiting (3)" 3 \
	"^vgpu-mediator is not running \(pid $fpid is exiting\); its last report:" "" -- "$M" status --state "$T/state"
kill -TERM "$fpid" 2>/dev/null; wait "$fpid" 2>/dev/null; pids=()

# --- 6. vgpu-doctor -------------------------------------------------------------------------
D=$B/vgpu-doctor
expect "doctor --version" 0 "^vgpu-doctor $VERSION\$" "" -- "$D" --version
expect "doctor --help" 0 '^Usage: vgpu-doctor --root DIR' "" -- "$D" --help
expect "doctor: neither --root nor --dir -> 2" 2 "" "give exactly one of --root and --dir" -- "$D"
expect "doctor: both --root and --dir -> 2" 2 "" "give exactly one of --root and --dir" -- "$D" --root "$T/root" --dir "$T/root/vm1"
expect "doctor: unknown option -> 2 with usage" 2 "" "^Usage: vgpu-doctor" -- "$D" --frob
expect "doctor --root missing -> 3" 3 "^ERROR --root $T/nowhere: No such file or directory" "" -- "$D" --root "$T/nowhere"
grep -q '      fix: create it on a real file system' "$T/o" && ok "doctor: each problem comes with its fix" || bad "doctor fix line" "$(cat "$T/o")"
expect "doctor --root a file -> 3 not a directory" 3 "^ERROR --root $T/short.bin: (not a directory|Not a directory)" "" -- \
	"$D" --root "$T/short.bin"
mkdir -p "$T/r2/notvm" "$T/r2/vm0" "$T/r2/vm70000"
expect "doctor --root without vmN directories -> 3" 3 "^ERROR no vmN directories under the root" "" -- "$D" --root "$T/r2"
mkdir -p "$T/r3/vm1" && chmod 0777 "$T/r3/vm1" && ln -s "$T/r3/vm1" "$T/r3/vm2"
expect "doctor --root with a symlinked vmN -> 3" 3 "^ERROR $T/r3/vm2 is a symbolic link" "" -- "$D" --root "$T/r3"
grep -q "^ok    $T/r3/vm1 can be written" "$T/o" && grep -q '^1 error, 0 warnings$' "$T/o" &&
	ok "doctor: the good directory ok, the counts" || bad "doctor counts" "$(cat "$T/o")"
mkdir -p "$T/r4/vm1" && chmod 0755 "$T/r4/vm1"
expect "doctor: a VM directory the squashed user cannot write -> warning only, exit 1" 1 \
	"^warn  $T/r4/vm1 is owned by uid [0-9]+, mode 755: with root_squash" "" -- "$D" --root "$T/r4"
grep -q '^0 errors, 1 warning$' "$T/o" && ok "doctor: one warning counted" || bad "doctor warning count" "$(cat "$T/o")"
expect "doctor --dir on a local directory: not NFS (warning), the probe file works" 1 \
	"^ok    $T/root/vm1: create, write, fsync and rename work" "" -- "$D" --dir "$T/root/vm1"
grep -q '^warn  the directory is not on NFS' "$T/o" && [ ! -e "$T/root/vm1/vgpu-doctor.probe" ] &&
	ok "doctor --dir: says it is not NFS, leaves no probe file" || bad "doctor --dir local" "$(cat "$T/o"; ls "$T/root/vm1")"
expect "doctor --dir of a missing directory -> 3, the export not mounted" 3 \
	"^ERROR $T/nowhere/vm1: No such file or directory: the export is probably not mounted" "" -- "$D" --dir "$T/nowhere/vm1"
if [ -d /sys/kernel ] && [ "$(stat -f -c %T /sys/kernel)" = sysfs ]; then
	expect "doctor --dir where files cannot be created (sysfs: EACCES) -> root_squash named" 3 \
		"^ERROR cannot create files in /sys/kernel \(Permission denied\): root_squash is the likely cause" "" -- \
		"$D" --dir /sys/kernel
else echo "skip - doctor --dir on sysfs (no sysfs)"; fi
if [ -d /proc/1 ]; then
	expect "doctor --dir where publishing fails otherwise (procfs) -> 3" 3 \
		"^ERROR publishing a file in /proc/1 failed: " "" -- "$D" --dir /proc/1
fi
: > "$T/r3/vm5"
ln -s response.txt "$T/r3/vm1/response.txt"
expect "doctor --root --state outside: a vmN that is a file is skipped" 3 "^1 error, 0 warnings\$" "" -- \
	"$D" --root "$T/r3" --state "$T/state"
grep -q "vm5" "$T/o" && bad "doctor: a file vm5 was reported" "$(cat "$T/o")" || ok "doctor: no line about the file vm5"
expect "doctor --root --state of a missing path: no inside check, no crash, the state named" 3 "^2 errors, 0 warnings\$" "" -- \
	"$D" --root "$T/r3" --state "$T/nowhere/a/b"
expect "doctor --dir where response.txt cannot be read (a symlink loop) -> 3" 3 \
	"^ERROR response.txt exists but cannot be read" "" -- "$D" --dir "$T/r3/vm1"
expect "doctor --dir of a file -> 3, open fails" 3 "^ERROR open $T/short.bin: Not a directory" "" -- "$D" --dir "$T/short.bin"
expect "doctor --sanity: cuda-sanity's verdict is reported" 3 \
	"^(ok    cuda-sanity: CUDA works here|warn  cuda-sanity failed \(its output is above\))" "*" -- "$D" --root "$T/r3" --sanity

# --- 7. vgpu-worker (run by the pool; by hand only --count) ---------------------------------
W=$B/vgpu-worker
expect "worker --version" 0 "^vgpu-worker $VERSION\$" "" -- "$W" --version
expect "worker --help names the built-in backends" 0 "^Backends built in: mock" "" -- "$W" --help
expect "worker: no arguments -> 2 with usage" 2 "" "^usage: vgpu-worker --backend" -- "$W"
expect "worker: unknown option -> 2" 2 "" "^usage: vgpu-worker" -- "$W" --frob
expect "worker: --backend without --fd -> 2" 2 "" "^usage: vgpu-worker" -- "$W" --backend mock --device 0
expect "worker: an operand -> 2" 2 "" "^usage: vgpu-worker" -- "$W" --backend mock --count extra
for d in x -1 1024; do
	expect "worker: --device $d" 2 "" "^vgpu-worker: --device: not a device number: $d\$" -- "$W" --backend mock --device "$d" --fd 3
done
for f in 2 x 99999999999; do
	expect "worker: --fd $f" 2 "" "^vgpu-worker: --fd: not a descriptor above 2: $f\$" -- "$W" --backend mock --device 0 --fd "$f"
done
expect "worker: --fd of a closed descriptor -> 2" 2 "" "^vgpu-worker: --fd 77: Bad file descriptor\$" -- \
	"$W" --backend mock --device 0 --fd 77
expect "worker --count: the mock's devices (VGPU_MOCK_DEVICES)" 0 "^3\$" "" -- env VGPU_MOCK_DEVICES=3 "$W" --backend mock --count
expect "worker --count of an unknown backend -> 1, said on stdout" 1 "^unknown backend 'nope'\$" "" -- "$W" --backend nope --count

echo "cli: $pass passed, $fail failed"
[ $fail = 0 ]
