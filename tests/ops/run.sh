#!/usr/bin/env bash
# run.sh - operations (`make check-ops`): the configuration file as an operator meets
# it (--check-config, bad files, duplicate VMs), the daemon's signals (SIGHUP reload
# that keeps queued work, a bad reload that keeps the running configuration, SIGUSR1,
# SIGTERM with its log line), journald-style log lines, `vgpu-mediator status`, the
# metrics file read by the Prometheus client library's own parser, and
# `make install DESTDIR=…`: man pages, release binaries (no libfiu, no test ops),
# libvgpu-client.so with its soname and symbol versions, the docs/CLIENT.md example
# compiled with `pkg-config --cflags --libs vgpu-client` and run against the installed
# mediator, the unit file (systemd-analyze verify, where there is one), uninstall.
# Each check prints "ok" or "FAIL" with what it saw; the last line counts them.
#
# usage: BUILD=build tests/ops/run.sh      (make check-ops builds what it needs)
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 2
BUILD=${BUILD:-build}
B=$top/$BUILD
T=$(mktemp -d /tmp/vgpu-ops-XXXXXX)
pass=0 fail=0
pids=()

cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

ok() { pass=$((pass + 1)); echo "ok   - $1"; }
bad() { fail=$((fail + 1)); echo "FAIL - $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/       | /' | head -40; }
# check NAME COMMAND...: ok when COMMAND succeeds
check() { local n=$1; shift; if "$@" >"$T/out" 2>&1; then ok "$n"; else bad "$n" "$(cat "$T/out")"; fi; }
# wait_for SECONDS COMMAND...: until COMMAND succeeds (polled), 1 on timeout
wait_for() {
	local end=$((SECONDS + $1)); shift
	until "$@" >/dev/null 2>&1; do [ $SECONDS -ge $end ] && return 1; sleep 0.05; done
}

# --- 1. the configuration file ----------------------------------------------------------
mkdir -p "$T/root/vm1" "$T/root/vm2" "$T/root/vm3" "$T/state"
cat > "$T/m.conf" <<EOF
# ops test
[mediator]
root = $T/root
state = $T/state
executor = mock
test_ops = yes
metrics = $T/node-exporter/vgpu-mediator.prom
status_interval_ms = 300

[limits]
rescan_ms = 100

[vm1]
cap = high
uid = 65534

[vm2]
cap = high
EOF
# the VMs' uid: this test's own, since it writes their records (the ownership check)
ME=$(id -u)
sed -i "s/^uid = 65534$/uid = $ME/" "$T/m.conf"
mkdir -p "$T/node-exporter"
out=$("$B/vgpu-mediator" --config "$T/m.conf" --check-config 2>&1); rc=$?
if [ $rc = 0 ] && grep -q '^# vgpu-mediator .*: configuration OK' <<<"$out" && grep -q '^\[vm2\]' <<<"$out" &&
   grep -q "^uid = $ME\$" <<<"$out"; then ok "--check-config: a good file (exit 0, the result printed)"
else bad "--check-config: a good file" "exit $rc: $out"; fi
"$B/vgpu-mediator" --config "$T/m.conf" --check-config | grep -v '^#' > "$T/printed.conf"
out=$("$B/vgpu-mediator" --config "$T/printed.conf" --check-config 2>&1 | grep -v '^#')
check "--check-config: what it prints reads back the same" diff <(echo "$out") "$T/printed.conf"
out=$("$B/vgpu-mediator" --config "$T/m.conf" --check-config --rescan-ms 50 --vm 2:low 2>&1)
if grep -q '^rescan_ms = 50' <<<"$out" && grep -A1 '^\[vm2\]' <<<"$out" | grep -q 'cap = low'; then
	ok "options override the file (--rescan-ms 50, --vm 2:low)"
else bad "options override the file" "$out"; fi
printf '[vm1]\ncap = high\n[vm2]\ncap = low\n[vm1]\nuid = 3\n' > "$T/dup.conf"
out=$("$B/vgpu-mediator" --config "$T/dup.conf" --check-config 2>&1); rc=$?
if [ $rc = 2 ] && grep -q "dup.conf:5: \[vm1\] given twice" <<<"$out"; then ok "a VM given twice is an error with its line (exit 2)"
else bad "a VM given twice" "exit $rc: $out"; fi
printf '[limits]\nrescan_ms = soon\n' > "$T/bad.conf"
out=$("$B/vgpu-mediator" --config "$T/bad.conf" --check-config 2>&1); rc=$?
if [ $rc = 2 ] && grep -q "bad.conf:2: rescan_ms = soon: expected a whole number" <<<"$out"; then ok "a bad value: exit 2 naming line and key"
else bad "a bad value" "exit $rc: $out"; fi
out=$("$B/vgpu-mediator" --root "$T/root" --state "$T/state" --vm 1:high --vm 1:low 2>&1); rc=$?
if [ $rc = 2 ] && grep -q "VM 1 given twice" <<<"$out"; then ok "--vm N twice: exit 2"
else bad "--vm N twice" "exit $rc: $out"; fi
for b in vgpu-mediator vgpu-client vgpu-worker vgpu-doctor; do
	"$B/$b" --no-such-option >/dev/null 2>&1; rc=$?
	[ $rc = 2 ] && ok "$b: a usage error exits 2" || bad "$b: a usage error exits 2" "exit $rc"
done

# --- 2. the daemon: journald lines, status, metrics, reload, signals -------------------
: > "$T/d.log"
# stderr is "journald's stream": JOURNAL_STREAM names its device and inode
JOURNAL_STREAM=$(stat -c '%d:%i' "$T/d.log") "$B/vgpu-mediator" --config "$T/m.conf" 2>>"$T/d.log" &
dpid=$!; pids+=("$dpid")
wait_for 10 grep -q 'serving .* with executor' "$T/d.log"
if grep -q '^<6>mediator info: serving ' "$T/d.log" && ! grep -q '^20[0-9][0-9]-' "$T/d.log"; then
	ok "under journald: '<6>mediator info: ...' lines, no timestamps of our own"
else bad "under journald: native priorities" "$(head -5 "$T/d.log")"; fi
check "vm1 ping" "$B/vgpu-client" --dir "$T/root/vm1" --timeout 10 ping
check "vm2 vadd" "$B/vgpu-client" --dir "$T/root/vm2" --timeout 10 --out "$T/o.bin" vadd 1000 --seed 3
echo "not a record" > "$T/root/vm3/command.txt"
wait_for 10 grep -q 'vm3: seq 0 - BAD_REQUEST' "$T/d.log"
out=$("$B/vgpu-mediator" status --state "$T/state" 2>&1); rc=$?
if [ $rc = 0 ] && grep -q "^vgpu-mediator .*, pid $dpid, running, up " <<<"$out" &&
   grep -q '^queue:    0 high, 0 medium, 0 low; 0 running' <<<"$out" &&
   grep -Eq '^  mock +0 +ready +idle +2 +0$' <<<"$out" &&
   grep -Eq '^  vm1 +high +idle +1 +1 +0 +0 ' <<<"$out" &&
   grep -Eq '^  vm2 +high +idle +1 +1 +0 +0 +0 +4000 ' <<<"$out" &&
   grep -Eq '^  vm3 +medium +idle +0 +0 +1 +1 ' <<<"$out" && grep -q 'BAD_REQUEST: 1' <<<"$out"; then
	ok "vgpu-mediator status: slots, queue, per-VM counters, uptime"
else bad "vgpu-mediator status" "exit $rc: $out"; fi
cp "$T/state/status" "$T/status.txt"
# Debian's python3-prometheus-client is for the system's python3, which may not be the
# first python3 on PATH (pyenv)
PY=python3
for p in /usr/bin/python3 python3; do
	if "$p" -c 'import prometheus_client' 2>/dev/null; then PY=$p; break; fi
done
"$PY" - "$T/state/metrics.prom" "$T/node-exporter/vgpu-mediator.prom" > "$T/out" 2>&1 <<'EOF'
import sys
from prometheus_client.parser import text_string_to_metric_families
for path in sys.argv[1:]:
    fams = {f.name: f for f in text_string_to_metric_families(open(path).read())}
    def val(name, **labels):
        for f in fams.values():
            for s in f.samples:
                if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                    return s.value
        raise SystemExit("%s: no sample %s%s" % (path, name, labels))
    assert fams["vgpu_mediator_answers"].type == "counter", fams["vgpu_mediator_answers"].type
    assert val("vgpu_mediator_answers_total", vm="vm1", status="OK") == 1
    assert val("vgpu_mediator_answers_total", vm="vm3", status="BAD_REQUEST") == 1
    assert val("vgpu_mediator_requests_rejected_total", vm="vm3") == 1
    assert val("vgpu_mediator_requests_submitted_total", vm="vm2") == 1
    assert val("vgpu_mediator_output_bytes_total", vm="vm2") == 4000
    assert val("vgpu_mediator_queue_depth", priority="high") == 0
    assert val("vgpu_mediator_slot_jobs_total", slot="mock") == 2
    assert val("vgpu_mediator_worker_up", slot="mock") == 1
    assert val("vgpu_mediator_uptime_seconds") > 0
    assert val("vgpu_mediator_vm_last_seen_timestamp_seconds", vm="vm1") > 1e9
    for f in fams.values():
        assert f.name.startswith("vgpu_mediator_"), f.name
        if f.type == "counter":
            assert all(s.name.endswith("_total") for s in f.samples), f.name
    print(path, len(fams), "families")
EOF
[ $? = 0 ] && ok "metrics: the Prometheus parser reads both files (state dir and --metrics), values right" ||
	bad "metrics parsed by prometheus_client" "$(cat "$T/out")"
ls -A "$T/node-exporter" > "$T/out"
[ "$(cat "$T/out")" = "vgpu-mediator.prom" ] && ok "metrics written atomically: no temporary left beside it" ||
	bad "metrics directory holds only the .prom file" "$(cat "$T/out")"

# reload while a job runs and another waits: both are answered; caps change for later
"$B/vgpu-client" --dir "$T/root/vm1" --timeout 20 spin 1500 > "$T/spin.out" 2>&1 & c1=$!
wait_for 10 bash -c "'$B/vgpu-mediator' status --state '$T/state' | grep -q '; 1 running'"
"$B/vgpu-client" --dir "$T/root/vm2" --timeout 20 --priority high ping > "$T/ping.out" 2>&1 & c2=$!
wait_for 10 bash -c "'$B/vgpu-mediator' status --state '$T/state' | grep -q '^queue:    1 high'"
sed -i "s/^\[vm2\]/[vm2]\nuid = $ME/; /^\[vm2\]/,\$ s/^cap = high/cap = low/" "$T/m.conf"
kill -HUP "$dpid"
wait_for 10 grep -q 'reload: .* applied' "$T/d.log"
out=$("$B/vgpu-mediator" status --state "$T/state" 2>&1)
if grep -q '^queue:    1 high, 0 medium, 0 low; 1 running' <<<"$out" && grep -q 'vm2: priority cap low (was high)' "$T/d.log"
then ok "SIGHUP: applied while a job runs and one waits (both still there; vm2's cap now low)"
else bad "SIGHUP reload keeps work" "$out$(tail -5 "$T/d.log")"; fi
wait "$c1"; r1=$?; wait "$c2"; r2=$?
[ $r1 = 0 ] && [ $r2 = 0 ] && grep -q 'status=OK op=spin' "$T/spin.out" && grep -q 'status=OK op=ping' "$T/ping.out" &&
	ok "the running and the queued job are answered OK after the reload" ||
	bad "jobs answered after the reload" "$r1 $r2 $(cat "$T/spin.out" "$T/ping.out")"
out=$("$B/vgpu-client" --dir "$T/root/vm2" --timeout 10 --priority high ping 2>&1)
grep -q 'prio=low' <<<"$out" && ok "vm2's next request runs at its new cap (low)" || bad "new cap applied" "$out"
printf '[vm2]\ncap = low\n' >> "$T/m.conf"
kill -HUP "$dpid"
wait_for 10 grep -q 'keeping the running configuration' "$T/d.log"
out=$("$B/vgpu-mediator" status --state "$T/state" 2>&1)
if grep -q 'm.conf:[0-9]*: \[vm2\] given twice (one section per VM); keeping the running configuration' "$T/d.log" &&
   grep -q 'reloaded 1 time, 1 failed, last .* FAILED (old configuration kept)' <<<"$out" &&
   "$B/vgpu-client" --dir "$T/root/vm1" --timeout 10 --priority high ping | grep -q prio=high; then
	ok "SIGHUP with an invalid file: logged, the old configuration kept and serving"
else bad "bad reload" "$out$(tail -3 "$T/d.log")"; fi
before=$(sed -n 2p "$T/state/status")
sleep 1.1
kill -USR1 "$dpid"
wait_for 5 bash -c "[ \"\$(sed -n 2p '$T/state/status')\" != '$before' ]" &&
	ok "SIGUSR1 writes a fresh report" || bad "SIGUSR1" "$before"
kill -TERM "$dpid"; wait "$dpid"; rc=$?
if [ $rc = 0 ] && grep -q '<6>mediator info: SIGTERM received: answering the 0 jobs in hand, then exiting' "$T/d.log"; then
	ok "SIGTERM: one log line saying so, exit 0"
else bad "SIGTERM" "exit $rc: $(tail -3 "$T/d.log")"; fi
out=$("$B/vgpu-mediator" status --state "$T/state" 2>&1); rc=$?
[ $rc = 3 ] && grep -q "^vgpu-mediator is not running" <<<"$out" && grep -q ", stopped, " <<<"$out" &&
	ok "status after the stop: exit 3, 'not running', the last report" || bad "status when stopped" "exit $rc: $out"

# --- 3. make install DESTDIR=… / uninstall ----------------------------------------------
D=$T/dest
# NVCC= : the release build without the CUDA backend, for time; the install is the same
if make --no-print-directory install DESTDIR="$D" PREFIX=/usr/local NVCC= RELEASE_BUILD="$BUILD/ops-release" \
	> "$T/install.log" 2>&1; then ok "make install DESTDIR=… (release build)"
else bad "make install" "$(tail -20 "$T/install.log")"; fi
U=$D/usr/local
missing=""
for f in bin/vgpu-mediator bin/vgpu-client bin/vgpu-worker bin/cuda-sanity bin/vgpu-doctor \
	share/man/man8/vgpu-mediator.8 share/man/man5/vgpu-mediator.conf.5 share/man/man1/vgpu-client.1 \
	share/man/man8/vgpu-worker.8 share/man/man1/cuda-sanity.1 share/man/man8/vgpu-doctor.8 \
	lib/libvgpu-client.so.1 lib/libvgpu-client.so lib/libvgpu-client.a lib/pkgconfig/vgpu-client.pc \
	include/vgpu/client/client.h include/vgpu/lib/record.h lib/systemd/system/vgpu-mediator.service; do
	[ -e "$U/$f" ] || missing="$missing $f"
done
[ -e "$D/etc/vgpu-mediator.conf" ] || missing="$missing /etc/vgpu-mediator.conf"
[ -z "$missing" ] && ok "installed: 5 binaries, 6 man pages, library, pc, headers, unit, configuration" ||
	bad "installed files" "missing:$missing"
if command -v man >/dev/null 2>&1; then
	out=$(MANWIDTH=80 man -l "$U/share/man/man5/vgpu-mediator.conf.5" 2>&1 | head -3)
	grep -q 'vgpu-mediator.conf(5)' <<<"$out" && ok "man -l reads the installed vgpu-mediator.conf(5)" ||
		bad "man page renders" "$out"
else
	echo "skip - man -l (man is not installed)"
fi
vers=""
for b in vgpu-mediator vgpu-client vgpu-worker cuda-sanity vgpu-doctor; do vers="$vers$("$U/bin/$b" --version | head -1);"; done
[ "$(grep -o '0\.[0-9.]*\|[0-9]\+\.[0-9]\+\.[0-9]\+' <<<"$vers" | sort -u | wc -l)" = 1 ] &&
	ok "--version on every installed binary: $vers" || bad "--version" "$vers"
leaked=""
for f in "$U"/bin/* "$U/lib/libvgpu-client.so.1"; do
	readelf -d "$f" 2>/dev/null | grep -q 'NEEDED.*libfiu' && leaked="$leaked ${f##*/}"
done
[ -z "$leaked" ] && ok "release builds: no libfiu (fault injection) in any installed file" || bad "libfiu in release" "$leaked"
out=$("$U/bin/vgpu-mediator" --root "$T/root" --state "$T/state" --test-ops 2>&1); rc=$?
[ $rc = 2 ] && grep -q 'release build has no test ops' <<<"$out" && ok "release vgpu-mediator refuses --test-ops (exit 2)" ||
	bad "release test ops" "exit $rc: $out"
out=$(readelf -d "$U/lib/libvgpu-client.so.1" | grep SONAME; nm -D --defined-only "$U/lib/libvgpu-client.so.1" | awk '{print $3}')
# (VGPU_CLIENT_1 and the nodes VGPU_CLIENT_1.N that later releases add: the .map)
if grep -q 'Library soname: \[libvgpu-client.so.1\]' <<<"$out" && ! grep -v '^VGPU_CLIENT_1\(\.[0-9]*\)\?$\|SONAME' <<<"$out" | grep -qv '^vgpu_.*@@VGPU_CLIENT_1\(\.[0-9]*\)\?$'; then
	ok "libvgpu-client.so.1: soname, only vgpu_* symbols, all versioned VGPU_CLIENT_1(.N)"
else bad "shared library symbols" "$out"; fi
# exported = declared in the installed headers (functions not static inline, and data)
declared=$(cat "$U"/include/vgpu/client/*.h "$U"/include/vgpu/lib/*.h | grep -v '^static' |
	grep -oE '^(extern )?[a-z][a-z0-9_ ]*[ *]vgpu_[a-z0-9_]+(\(|\[)' |
	sed -E 's/.*[ *](vgpu_[a-z0-9_]+)[(\[]$/\1/' | sort -u)
exported=$(nm -D --defined-only "$U/lib/libvgpu-client.so.1" | awk '$3 ~ /^vgpu_/ {sub(/@.*/, "", $3); print $3}' | sort -u)
if [ -n "$declared" ] && [ "$declared" = "$exported" ]; then
	ok "libvgpu-client.so exports exactly the $(wc -l <<<"$exported") functions and data the installed headers declare"
else bad "exports = declarations" "$(diff <(echo "$declared") <(echo "$exported"))"; fi
sed -n '/<!-- example: vadd.c -->/,/<!-- end of example -->/p' docs/CLIENT.md | sed -n 's/^    //p' > "$T/vadd.c"
flags=$(PKG_CONFIG_PATH=$U/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$D pkg-config --cflags --libs vgpu-client 2>&1)
if cc -std=c11 -Wall -Wextra -Werror -o "$T/vadd" "$T/vadd.c" $flags > "$T/out" 2>&1; then
	ok "docs/CLIENT.md's example compiles and links: cc vadd.c $(sed "s|$D||g" <<<"$flags")"
else bad "CLIENT.md example with pkg-config" "$flags $(cat "$T/out")"; fi
# the installed mediator (its own vgpu-worker beside it) answers the example
: > "$T/r.log"
"$U/bin/vgpu-mediator" --root "$T/root" --state "$T/state" --executor mock --rescan-ms 100 2>"$T/r.log" &
rpid=$!; pids+=("$rpid")
wait_for 10 grep -q 'serving .* with executor' "$T/r.log"
out=$(LD_LIBRARY_PATH=$U/lib "$T/vadd" "$T/root/vm3" 2>&1); rc=$?
LD_LIBRARY_PATH=$U/lib ldd "$T/vadd" | grep -q "$U/lib/libvgpu-client.so.1"; linked=$?
if [ $rc = 0 ] && [ $linked = 0 ] && grep -q '^seq 1: OK count=1024' <<<"$out"; then
	ok "the example, linked to the installed libvgpu-client.so.1, gets its answer from the installed mediator"
else bad "the example runs" "exit $rc linked=$linked: $out $(tail -3 "$T/r.log")"; fi
kill -TERM "$rpid"; wait "$rpid"
if command -v systemd-analyze >/dev/null 2>&1; then
	# the binary and the man pages are under DESTDIR: verify a copy that points there
	sed "s|/usr/local/bin/|$U/bin/|" "$U/lib/systemd/system/vgpu-mediator.service" > "$T/vgpu-mediator.service"
	out=$(MANPATH=$U/share/man systemd-analyze verify "$T/vgpu-mediator.service" 2>&1); rc=$?
	[ $rc = 0 ] && ok "systemd-analyze verify vgpu-mediator.service" || bad "systemd-analyze verify" "exit $rc: $out"
else
	echo "skip - systemd-analyze verify (systemd-analyze not installed)"
fi
out=$("$U/bin/vgpu-mediator" --config "$D/etc/vgpu-mediator.conf" --check-config 2>&1); rc=$?
[ $rc = 0 ] && ok "the installed /etc/vgpu-mediator.conf passes --check-config" || bad "installed configuration" "$out"
if make --no-print-directory uninstall DESTDIR="$D" PREFIX=/usr/local NVCC= > "$T/out" 2>&1; then
	left=$(cd "$D" && find . -type f -o -type l | sort)
	[ "$left" = "./etc/vgpu-mediator.conf" ] && ok "make uninstall removes everything but the configuration file" ||
		bad "make uninstall" "left: $left"
else bad "make uninstall" "$(cat "$T/out")"; fi

echo "ops: $pass passed, $fail failed"
[ $fail = 0 ]
