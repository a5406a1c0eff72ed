#!/usr/bin/env bash
# run.sh - operations (`make check-ops`): the configuration file as an operator meets
# it (--check-config, bad files, duplicate VMs), the daemon's signals (SIGHUP reload
# that keeps queued work, a bad reload that keeps the running configuration, SIGUSR1,
# SIGTERM with its log line), journald-style log lines, `vgpu-mediator status`, the
# metrics file read by the Prometheus client library's own parser, and
# `make install DESTDIR=…`: man pages, release binaries (no libfiu, no test ops),
# libvgpu-client.so with its soname and symbol versions, the docs/CLIENT.md example
# compiled with `pkg-config --cflags --libs vgpu-client` and run against the installed
# mediator, the unit file (systemd-analyze verify, where there is one), uninstall; and
# what a new operator hit (vgpu-doctor's findings, the mediator's start-up order).
# Each check prints "ok" or "FAIL" with what it saw; the last line counts them.
#
# usage: BUILD=build tests/ops/run.sh      (make check-ops builds what it needs)
set -u
# top, BUILD, B, T (scratch), pass/fail, pids, ok, bad, wait_for: tests/cli/lib.sh
. "$(dirname "$0")/../cli/lib.sh" ops
# the client library's soname number (2 since struct vgpu_request grew for the kernel op)
ABI=$(sed -n 's/^#define VGPU_CLIENT_ABI \([0-9]*\)$/\1/p' "$top/src/lib/version.h")
# check NAME COMMAND...: ok when COMMAND succeeds
check() { local n=$1; shift; if "$@" >"$T/out" 2>&1; then ok "$n"; else bad "$n" "$(cat "$T/out")"; fi; }

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
	lib/libvgpu-client.so.$ABI lib/libvgpu-client.so lib/libvgpu-client.a lib/pkgconfig/vgpu-client.pc \
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
for f in "$U"/bin/* "$U/lib/libvgpu-client.so.$ABI"; do
	readelf -d "$f" 2>/dev/null | grep -q 'NEEDED.*libfiu' && leaked="$leaked ${f##*/}"
done
[ -z "$leaked" ] && ok "release builds: no libfiu (fault injection) in any installed file" || bad "libfiu in release" "$leaked"
out=$("$U/bin/vgpu-mediator" --root "$T/root" --state "$T/state" --test-ops 2>&1); rc=$?
[ $rc = 2 ] && grep -q 'release build has no test ops' <<<"$out" && ok "release vgpu-mediator refuses --test-ops (exit 2)" ||
	bad "release test ops" "exit $rc: $out"
out=$(readelf -d "$U/lib/libvgpu-client.so.$ABI" | grep SONAME; nm -D --defined-only "$U/lib/libvgpu-client.so.$ABI" | awk '{print $3}')
# (VGPU_CLIENT_<ABI> and the nodes VGPU_CLIENT_<ABI>.N that later releases add: the .map)
if [ "${ABI:-0}" -ge 2 ] && grep -q "Library soname: \[libvgpu-client.so.$ABI\]" <<<"$out" && ! grep -v "^VGPU_CLIENT_$ABI\(\.[0-9]*\)\?\$\|SONAME" <<<"$out" | grep -qv "^vgpu_.*@@VGPU_CLIENT_$ABI\(\.[0-9]*\)\?\$"; then
	ok "libvgpu-client.so.$ABI: soname, only vgpu_* symbols, all versioned VGPU_CLIENT_$ABI(.N)"
else bad "shared library symbols" "$out"; fi
# exported = declared in the installed headers (functions not static inline, and data)
declared=$(cat "$U"/include/vgpu/client/*.h "$U"/include/vgpu/lib/*.h | grep -v '^static' |
	grep -oE '^(extern )?[a-z][a-z0-9_ ]*[ *]vgpu_[a-z0-9_]+(\(|\[)' |
	sed -E 's/.*[ *](vgpu_[a-z0-9_]+)[(\[]$/\1/' | sort -u)
exported=$(nm -D --defined-only "$U/lib/libvgpu-client.so.$ABI" | awk '$3 ~ /^vgpu_/ {sub(/@.*/, "", $3); print $3}' | sort -u)
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
LD_LIBRARY_PATH=$U/lib ldd "$T/vadd" | grep -q "$U/lib/libvgpu-client.so.$ABI"; linked=$?
if [ $rc = 0 ] && [ $linked = 0 ] && grep -q '^seq 1: OK count=1024' <<<"$out"; then
	ok "the example, linked to the installed libvgpu-client.so.$ABI, gets its answer from the installed mediator"
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

# --- 4. what a new operator hit (issue 12, point 7) ------------------------------------
# vgpu-doctor: the state directory (missing, a file, on tmpfs), names the mediator ignores,
# a plain file named vmN, a --dir that is the export's root, a VM's NFS mount options
# (read from a mountinfo file: VGPU_DOCTOR_MOUNTINFO); the mediator: --root/--state and
# the state lock checked before the executor starts, an ignored name logged once.
DR=$B/vgpu-doctor
F=$T/first
mkdir -p "$F/root/vm1" "$F/state" && chmod 0777 "$F/root/vm1"
out=$("$DR" --root "$F/root" --state "$F/nostate" 2>&1); rc=$?
[ $rc = 1 ] && grep -q "^warn  --state $F/nostate does not exist: the mediator creates it" <<<"$out" &&
	ok "doctor: a missing state directory (parent there): warning, exit 1" || bad "doctor: missing state" "exit $rc: $out"
out=$("$DR" --root "$F/root" --state "$F/no/such/state" 2>&1); rc=$?
[ $rc = 3 ] && grep -q "^ERROR --state $F/no/such/state: No such file or directory: the mediator cannot create it" <<<"$out" &&
	ok "doctor: a state directory that cannot be created: error, exit 3" || bad "doctor: state without parent" "exit $rc: $out"
: > "$F/statefile"
out=$("$DR" --root "$F/root" --state "$F/statefile" 2>&1); rc=$?
[ $rc = 3 ] && grep -q "^ERROR --state $F/statefile is not a directory" <<<"$out" &&
	ok "doctor: a state that is a plain file: error, exit 3" || bad "doctor: state a file" "exit $rc: $out"
out=$("$DR" --root "$F/root" --state "$F/state" 2>&1); rc=$?
[ $rc = 0 ] && grep -q "^ok    $F/state: the state directory is a directory on a persistent file system" <<<"$out" &&
	ok "doctor: a good state directory: ok, exit 0" || bad "doctor: good state" "exit $rc: $out"
shm=""
if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ]; then shm=$(mktemp -d /dev/shm/vgpu-ops-XXXXXX)
elif mkdir -p "$F/tmpfs" && mount -t tmpfs tmpfs "$F/tmpfs" 2>/dev/null; then shm=$F/tmpfs; fi
if [ -n "$shm" ]; then
	out=$("$DR" --root "$F/root" --state "$shm" 2>&1); rc=$?
	[ $rc = 3 ] && grep -q "^ERROR --state $shm is on tmpfs: a reboot forgets which requests were answered" <<<"$out" &&
		ok "doctor: a state directory on tmpfs: error, exit 3" || bad "doctor: state on tmpfs" "exit $rc: $out"
	if [ "$shm" = "$F/tmpfs" ]; then umount "$shm"; else rm -rf "$shm"; fi
else bad "doctor: state on tmpfs" "no tmpfs: /dev/shm is not one and mount -t tmpfs failed"; fi
mkdir -p "$F/root/vm01" "$F/root/vm0"
out=$("$DR" --root "$F/root" 2>&1); rc=$?
[ $rc = 1 ] && grep -q "^warn  $F/root/vm01: the mediator ignores this name" <<<"$out" &&
	grep -q "fix: rename it: mv $F/root/vm01 $F/root/vm1" <<<"$out" && grep -q "^warn  $F/root/vm0: the mediator ignores" <<<"$out" &&
	ok "doctor: vm01 and vm0 named as ignored, with the rename" || bad "doctor: vm01" "exit $rc: $out"
mkdir -p "$F/fileroot" && : > "$F/fileroot/vm1"
out=$("$DR" --root "$F/fileroot" 2>&1); rc=$?
[ $rc = 3 ] && grep -q "^ERROR no vmN directories under the root" <<<"$out" &&
	ok "doctor: a plain file named vm1 is not counted as a VM directory" || bad "doctor: file vm1 counted" "exit $rc: $out"
out=$("$DR" --dir "$F/root" 2>&1); rc=$?
[ $rc = 3 ] && grep -q "^ERROR $F/root holds vm[0-9]*/: it is the export's root, not this VM's own directory" <<<"$out" &&
	[ ! -e "$F/root/vgpu-doctor.probe" ] &&
	ok "doctor --dir of the export's root: error, exit 3, nothing written there" || bad "doctor --dir root" "exit $rc: $out"
# a VM's mount, as the kernel shows it in /proc/self/mountinfo (fake: same layout)
mkdir -p "$F/mnt/vm1"
mi() { # OPTIONS: mountinfo with $F/mnt/vm1 on nfs4 with OPTIONS
	printf '22 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n'
	printf '91 22 0:52 /var/vgpu/vm1 %s rw,relatime shared:40 - nfs4 dom0:/var/vgpu/vm1 %s\n' \
		"$(sed 's/ /\\040/g' <<<"$F/mnt/vm1")" "$1"
}
mi "rw,vers=4.2,rsize=1048576,wsize=1048576,namlen=255,soft,proto=tcp,timeo=600,retrans=2,sec=sys,clientaddr=10.0.0.5,local_lock=none,addr=10.0.0.1" > "$F/mi.bad"
out=$(VGPU_DOCTOR_MOUNTINFO=$F/mi.bad "$DR" --dir "$F/mnt/vm1" 2>&1); rc=$?
if [ $rc = 3 ] && grep -q "^ok    $F/mnt/vm1 is on NFS" <<<"$out" && grep -q "^ERROR $F/mnt/vm1 is mounted soft" <<<"$out" &&
   grep -q "^warn  $F/mnt/vm1 is mounted without lookupcache=positive" <<<"$out" &&
   grep -q "^warn  $F/mnt/vm1 caches directory attributes up to 60 s" <<<"$out" &&
   [ "$(grep -c "^      the mount (docs/XEN.md): umount $F/mnt/vm1; mount -t nfs -o hard,lookupcache=positive,acdirmin=1,acdirmax=1 " <<<"$out")" = 1 ]; then
	ok "doctor --dir: soft, no lookupcache, default attribute cache: named, with the mount that fixes them"
else bad "doctor: NFS options (bad)" "exit $rc: $out"; fi
mi "rw,vers=3,rsize=1048576,wsize=1048576,namlen=255,actimeo=30,hard,proto=tcp,timeo=600,retrans=2,sec=sys,lookupcache=none" > "$F/mi.ac"
out=$(VGPU_DOCTOR_MOUNTINFO=$F/mi.ac "$DR" --dir "$F/mnt/vm1" 2>&1); rc=$?
[ $rc = 1 ] && grep -q "caches directory attributes up to 30 s" <<<"$out" && ! grep -q 'lookupcache=positive:' <<<"$out" &&
	ok "doctor --dir: actimeo=30 warned, lookupcache=none accepted" || bad "doctor: actimeo" "exit $rc: $out"
mi "rw,vers=4.2,rsize=1048576,wsize=1048576,namlen=255,acdirmin=1,acdirmax=1,hard,proto=tcp,timeo=600,retrans=2,sec=sys,lookupcache=pos,local_lock=none" > "$F/mi.good"
out=$(VGPU_DOCTOR_MOUNTINFO=$F/mi.good "$DR" --dir "$F/mnt/vm1" 2>&1); rc=$?
[ $rc = 0 ] && grep -q "^ok    $F/mnt/vm1: mounted hard, lookupcache=positive, directory attributes cached <= 3 s" <<<"$out" &&
	ok "doctor --dir: the documented mount options: ok, exit 0" || bad "doctor: NFS options (good)" "exit $rc: $out"
# the mediator: nothing starts before --root, --state and the state lock are checked
: > "$F/m1.log"
"$B/vgpu-mediator" --root "$F/root" --state "$F/state" --executor mock --rescan-ms 20 --status-interval-ms 200 \
	2>"$F/m1.log" & fpid=$!; pids+=("$fpid")
wait_for 10 grep -q 'serving .* with executor' "$F/m1.log"
out=$("$B/vgpu-mediator" --root "$F/root" --state "$F/state" --executor mock 2>&1); rc=$?
if [ $rc = 3 ] && grep -q "is in use by another vgpu-mediator (pid $fpid)" <<<"$out" && ! grep -q 'worker\|executor' <<<"$out"; then
	ok "a second mediator on the same state: exit 3 naming pid $fpid, before any worker started"
else bad "second mediator" "exit $rc: $out"; fi
out=$("$B/vgpu-mediator" --root "$F/root" --state "$F/state2" --executor mock 2>&1); rc=$?
[ $rc = 3 ] && grep -q "is served by another vgpu-mediator (pid $fpid" <<<"$out" && ! grep -q 'worker\|executor' <<<"$out" &&
	ok "a second mediator on the same root: exit 3, no worker started" || bad "second mediator, root" "exit $rc: $out"
for bad_args in "--root $F/nowhere --state $F/s3" "--root $F/root --state $F/statefile" "--root $F/root --state $F/root/st"; do
	# shellcheck disable=SC2086
	out=$("$B/vgpu-mediator" $bad_args --executor mock 2>&1); rc=$?
	[ $rc = 3 ] && grep -q 'mediator err: --\(root\|state\) ' <<<"$out" && ! grep -q 'worker\|executor' <<<"$out" &&
		ok "vgpu-mediator $bad_args: exit 3 before the executor: $(sed 's/^[^ ]* //' <<<"$out")" ||
		bad "vgpu-mediator $bad_args" "exit $rc: $out"
done
# the ignored vm01 (and vm0) said once each, however many rescans (20 ms) pass: wait for
# three fresh status reports (200 ms apart), then count
r0=$(sed -n 2p "$F/state/status")
for _ in 1 2 3; do
	wait_for 10 bash -c "[ \"\$(sed -n 2p '$F/state/status')\" != '$r0' ]"; r0=$(sed -n 2p "$F/state/status")
done
n1=$(grep -c "$F/root/vm01: not a VM directory name" "$F/m1.log"); n0=$(grep -c "$F/root/vm0: not a VM directory name" "$F/m1.log")
[ "$n1" = 1 ] && [ "$n0" = 1 ] && grep -q 'mediator warn: .*vm01: not a VM directory name (vmN, N in 1..65535 without leading zeros); ignored' "$F/m1.log" &&
	ok "the mediator logs an ignored vm01 and vm0 once each over many rescans" || bad "ignored name logged once" "vm01 $n1 times, vm0 $n0 times: $(cat "$F/m1.log")"
kill -TERM "$fpid"; wait "$fpid"

# make demo (scripts/demo.sh) leaves nothing: not after a run, not when stopped half-way
# (SIGTERM while the clients wait): no directory under its TMPDIR, no process of it
DT=$T/demo-tmp
mkdir -p "$DT"
left() { echo "files: $(ls -A "$DT"); processes: $(pgrep -f -- "$DT" | wc -l)"; }
if TMPDIR=$DT BUILD=$BUILD scripts/demo.sh > "$T/demo.out" 2>&1 && [ "$(left)" = "files: ; processes: 0" ]; then
	ok "make demo: a run leaves nothing behind ($(left))"
else bad "make demo: a run leaves nothing" "$(left); $(tail -5 "$T/demo.out")"; fi
bash -c 'echo $$ > "$1"; exec env TMPDIR="$2" BUILD="$3" scripts/demo.sh' sh "$T/demo.pid" "$DT" "$BUILD" > "$T/demo.out" 2>&1 &
wait_for 20 bash -c "grep -q '^exec ' '$DT'/vgpu-demo-*/journal"
dp=$(cat "$T/demo.pid"); kill -TERM "$dp"
wait_for 20 bash -c "! kill -0 $dp"
if [ "$(left)" = "files: ; processes: 0" ]; then ok "make demo stopped half-way (SIGTERM): nothing left ($(left))"
else bad "make demo stopped half-way leaves nothing" "$(left): $(pgrep -af -- "$DT")"; fi
for p in $(pgrep -f -- "$DT"); do kill -TERM "$p" 2>/dev/null; done

echo "ops: $pass passed, $fail failed"
[ $fail = 0 ]
