#!/usr/bin/env bash
# kernel.sh - the `kernel` op on a GPU (make check-gpu runs it; docs/KERNELS.md, docs/GPU.md).
# Through a mediator with --executor cuda and vgpu-client, each against what it must be:
#   KERNEL-VADD     a hand-written PTX vadd, n = 1000003: equal to a + b on the CPU, bit for bit;
#                   run twice (the second from the module cache), the same
#   KERNEL-NVCC     saxpy from `nvcc -ptx -fmad=false` (built by make): y = a*x + y, bit for bit
#   KERNEL-JIT      a PTX with a syntax error: BAD_KERNEL with the JIT's log ("line 10"), and
#                   its whole log on stderr (the answer's out-SEQ.bin, PROTOCOL.md 5.1);
#                   an entry not in the module; a parameter list that is not the kernel's
#   KERNEL-FAULT    vm1's kernel writes 1 TiB past its buffer while vm2 runs vadd: vm1
#                   KERNEL_FAULT, vm2 OK and exact; vm1's next kernel OK (its context rebuilt)
#   KERNEL-ISOLATION  vm1's kernel faults again: its kernel worker ends; vm2's kernel worker
#                   and the GPU's worker keep their pids (no restart), vm2's next vadd exact
#   KERNEL-TIMEOUT  a kernel that never ends: TIMEOUT by the watchdog (--job-ms 3000);
#                   the next job OK
#   KERNEL-ZERO     vm1 fills 64 MiB with 0xdeadbeef (checked), then vm2's and vm1's kernels
#                   read their uninitialised out buffers: all zeros
# Standalone: BUILD=build tests/gpu/kernel.sh; from run.sh, ROWS and L name its rows file
# and log directory. Exit status: the number of failed checks (0: all passed).
set -u
B=${BUILD:-build}
L=${L:-$B/reports/gpu}
mkdir -p "$L"
ROWS=${ROWS:-$L/kernel-rows.jsonl}
T=$(mktemp -d /tmp/vgpu-kernel-XXXXXX)
K=tests/gpu/kernels
PIDS=()
FAILED=0

cleanup() {
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

record() {   # ID TITLE PASSED(0/1) EVIDENCE
	python3 - "$@" >> "$ROWS" <<'EOF'
import json, sys
a = sys.argv[1:]
print(json.dumps({"id": a[0], "title": a[1], "backend": "cuda", "passed": a[2] == "1", "evidence": a[3],
                  "reproduced": a[2] == "1", "handled": a[2] == "1", "injections": 0,
                  "requests": {"submitted": 0, "answered": 0, "lost": 0, "duplicated": 0, "misrouted": 0,
                               "corrupted": 0}, "seed": ""}))
EOF
	if [ "$3" = 1 ]; then echo "PASS  $1  $2"; else echo "FAIL  $1  $2"; FAILED=$((FAILED + 1)); fi
	echo "      $4"
}

kc() { timeout 150 "$B/vgpu-client" --lock-dir "$T/locks" --timeout 120 "$@"; }   # vgpu-client, bounded
st() { grep -o 'status=[A-Z_]*' "$1" | head -1 | cut -d= -f2; }                   # the status in an output
fa() {   # NAME COUNT EXPR...: write COUNT float32s of EXPR (python, i the index, r a seeded random) to NAME
	python3 - "$@" <<'EOF'
import array, random, sys
name, n, expr = sys.argv[1], int(sys.argv[2]), sys.argv[3]
r = random.Random(7)
array.array("f", (eval(expr, {"i": i, "r": r}) for i in range(n))).tofile(open(name, "wb"))
EOF
}
same() {   # GOT WANT-EXPR N FILE...: GOT (float32) equals, bit for bit, the float32 of WANT-EXPR over the files
	python3 - "$@" <<'EOF'
import array, struct, sys
got, expr, n, files = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
def f32(v): return struct.unpack("<f", struct.pack("<f", v))[0]
ins = []
for f in files:
    a = array.array("f"); a.frombytes(open(f, "rb").read()); ins.append(a)
g = array.array("f"); g.frombytes(open(got, "rb").read())
if len(g) != n:
    print("size %d, want %d" % (len(g), n)); sys.exit(1)
bad = 0
for i in range(n):
    w = eval(expr, {"x": [a[i] for a in ins], "f32": f32})
    if struct.pack("<f", g[i]) != struct.pack("<f", w):
        bad += 1
        if bad == 1: first = (i, g[i], w)
if bad:
    print("%d of %d differ; first at %d: %r, want %r" % ((bad, n) + first)); sys.exit(1)
print("%d floats equal" % n)
EOF
}
words() {   # FILE: "N words, M nonzero, first F" of a file of u32 words
	python3 - "$1" <<'EOF'
import array, sys
a = array.array("I"); a.frombytes(open(sys.argv[1], "rb").read())
nz = sum(1 for v in a if v)
print("%d words, %d nonzero, first %#x" % (len(a), nz, a[0] if a else 0))
EOF
}

for f in "$B/vgpu-mediator" "$B/vgpu-client" "$B/vgpu-worker" "$B/tests/gpu/kernels/saxpy.ptx"; do
	[ -e "$f" ] || { record KERNEL-BUILD "the kernel tests' programs" 0 "$f is missing (make all with CUDA)"; exit 1; }
done
mkdir -p "$T/root/vm1" "$T/root/vm2" "$T/root/vm3" "$T/state" "$T/locks"
"$B/vgpu-mediator" --root "$T/root" --state "$T/state" --executor cuda --job-ms 3000 --max-payload 268435456 \
	--max-vm-bytes 536870912 --log-level info > "$L/kernel-mediator.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 120); do kc --dir "$T/root/vm3" --timeout 2 ping > "$T/ping" 2>&1 && break; sleep 0.5; done
if ! grep -q 'status=OK' "$T/ping"; then
	record KERNEL-START "a mediator with --executor cuda answers" 0 "$(cat "$T/ping"; tail -5 "$L/kernel-mediator.log")"
	exit 1
fi

# --- KERNEL-VADD: hand-written PTX, twice (the second from the module cache) -------------------
N=1000003
fa "$T/a.bin" $N 'r.uniform(-1e3, 1e3)'
fa "$T/b.bin" $N 'r.uniform(-1, 1) * 2.0 ** r.randint(-20, 20)'
vadd() {   # DIR OUT: the hand-written vadd of a.bin and b.bin into OUT
	kc --dir "$1" kernel --ptx $K/vadd.ptx --entry vadd --grid $(( (N + 255) / 256 )) --block 256 \
		--arg "in:$T/a.bin" --arg "in:$T/b.bin" --arg "out:$((N * 4)):$2" --arg u32:$N
}
vadd "$T/root/vm1" "$T/c1.bin" > "$T/v1" 2>&1; r1=$?
vadd "$T/root/vm1" "$T/c2.bin" > "$T/v2" 2>&1; r2=$?
e1=$(same "$T/c1.bin" 'f32(x[0] + x[1])' $N "$T/a.bin" "$T/b.bin" 2>&1); s1=$?
cmp -s "$T/c1.bin" "$T/c2.bin"; s2=$?
ok=$([ $r1 = 0 ] && [ $r2 = 0 ] && [ $s1 = 0 ] && [ $s2 = 0 ] && echo 1 || echo 0)
record KERNEL-VADD "hand-written PTX vadd, n=$N, = the CPU's a + b; again from the module cache" $ok \
	"exit $r1/$r2; $e1; second run identical: $([ $s2 = 0 ] && echo yes || echo no); exec_us $(grep -o 'exec_us=[0-9]*' "$T/v1" | cut -d= -f2)/$(grep -o 'exec_us=[0-9]*' "$T/v2" | cut -d= -f2); $(tail -c 300 "$T/v1" | tr '\n' ' ')"

# --- KERNEL-NVCC: saxpy from nvcc -ptx -------------------------------------------------------
cp "$T/b.bin" "$T/y.bin"
kc --dir "$T/root/vm2" kernel --ptx "$B/tests/gpu/kernels/saxpy.ptx" --entry saxpy --grid $(( (N + 127) / 128 )) \
	--block 128 --arg f32:2.5 --arg "in:$T/a.bin" --arg "inout:$T/y.bin:$T/y2.bin" --arg u32:$N > "$T/s" 2>&1; r=$?
e=$(same "$T/y2.bin" 'f32(f32(2.5 * x[0]) + x[1])' $N "$T/a.bin" "$T/b.bin" 2>&1); s=$?
record KERNEL-NVCC "saxpy from nvcc -ptx (-fmad=false), inout y, = the CPU's 2.5*x + y" \
	$([ $r = 0 ] && [ $s = 0 ] && echo 1 || echo 0) "exit $r; $e; $(tail -c 200 "$T/s" | tr '\n' ' ')"

# --- KERNEL-JIT: the JIT's log, a missing entry, a wrong parameter list -------------------------
kc --dir "$T/root/vm1" kernel --ptx $K/bad.ptx --entry broken --grid 1 --block 1 --arg "out:4:$T/x.bin" > "$T/j1" 2>&1; r1=$?
kc --dir "$T/root/vm1" kernel --ptx $K/vadd.ptx --entry nosuch --grid 1 --block 1 > "$T/j2" 2>&1; r2=$?
kc --dir "$T/root/vm1" kernel --ptx $K/vadd.ptx --entry vadd --grid 1 --block 1 --arg "out:4:$T/x.bin" > "$T/j3" 2>&1; r3=$?
ok=0
[ $r1 = 1 ] && [ "$(st "$T/j1")" = BAD_KERNEL ] && grep -q 'JIT: .*line 10' "$T/j1" &&
	grep -q "^vgpu-client: the JIT's log ([0-9]* bytes):\$" "$T/j1" && grep -q '^ptxas fatal' "$T/j1" &&
	[ $r2 = 1 ] && [ "$(st "$T/j2")" = BAD_KERNEL ] && grep -q 'entry nosuch is not in the module' "$T/j2" &&
	[ $r3 = 1 ] && [ "$(st "$T/j3")" = BAD_KERNEL ] && ok=1
record KERNEL-JIT "a PTX syntax error -> BAD_KERNEL with the JIT log; missing entry; wrong parameter list" $ok \
	"$(cat "$T/j1" | cut -c1-300) // $(cat "$T/j2") // $(cat "$T/j3")"

# --- KERNEL-FAULT: vm1 out of bounds while vm2 computes -----------------------------------------
kc --dir "$T/root/vm1" kernel --ptx $K/oob.ptx --entry oob --grid 1 --block 1 --arg "out:4:$T/o.bin" > "$T/f1" 2>&1 &
p1=$!
vadd "$T/root/vm2" "$T/c3.bin" > "$T/f2" 2>&1 &
p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
e2=$(same "$T/c3.bin" 'f32(x[0] + x[1])' $N "$T/a.bin" "$T/b.bin" 2>&1); s2=$?
vadd "$T/root/vm1" "$T/c4.bin" > "$T/f3" 2>&1; r3=$?
cmp -s "$T/c1.bin" "$T/c4.bin"; s3=$?
ok=$([ $r1 = 1 ] && [ "$(st "$T/f1")" = KERNEL_FAULT ] && [ $r2 = 0 ] && [ $s2 = 0 ] && [ $r3 = 0 ] && [ $s3 = 0 ] &&
	echo 1 || echo 0)
record KERNEL-FAULT "vm1's kernel writes out of bounds -> KERNEL_FAULT; vm2's concurrent vadd exact; vm1's next kernel OK" \
	$ok "vm1: $(cat "$T/f1" | cut -c1-250) // vm2: exit $r2, $e2 // vm1 after: exit $r3, identical $([ $s3 = 0 ] && echo yes || echo no)"

# --- KERNEL-ISOLATION: a process per VM and GPU (docs/KERNELS.md section 4) ---------------------
kids() { ps -o pid=,args= --ppid "${PIDS[0]}" 2>/dev/null; }             # the mediator's workers
kw_pid() { kids | grep -E -- "--vm $1\$" | awk '{print $1}'; }            # VM $1's kernel worker
dev_pid() { kids | grep -E -- "--backend cuda --device 0 --fd [0-9]+\$" | awk '{print $1}'; }
vadd "$T/root/vm2" "$T/c6.bin" > /dev/null 2>&1
d0=$(dev_pid); k2=$(kw_pid 2); k1=$(kw_pid 1)
kc --dir "$T/root/vm1" kernel --ptx $K/oob.ptx --entry oob --grid 1 --block 1 --arg "out:4:$T/o2.bin" > "$T/i1" 2>&1; r1=$?
k1b=$(kw_pid 1); d1=$(dev_pid); k2b=$(kw_pid 2)
t0=$(date +%s.%N)
vadd "$T/root/vm2" "$T/c7.bin" > "$T/i2" 2>&1; r2=$?
t1=$(date +%s.%N)
cmp -s "$T/c1.bin" "$T/c7.bin"; s2=$?
d2=$(dev_pid); k2c=$(kw_pid 2)
ok=$([ $r1 = 1 ] && [ "$(st "$T/i1")" = KERNEL_FAULT ] && ! grep -q 'worker context unusable' "$T/i1" &&
	[ -n "$d0" ] && [ -n "$k2" ] && [ -n "$k1" ] && [ "$k1" != "$k2" ] && [ -z "$k1b" ] &&
	[ "$d1" = "$d0" ] && [ "$d2" = "$d0" ] && [ "$k2b" = "$k2" ] && [ "$k2c" = "$k2" ] &&
	[ $r2 = 0 ] && [ $s2 = 0 ] && echo 1 || echo 0)
record KERNEL-ISOLATION "vm1's fault ends only vm1's kernel worker: vm2's kernel worker and the GPU's worker keep their pids, vm2's next vadd exact" \
	$ok "pids before: gpu $d0, vm1 $k1, vm2 $k2; after vm1's fault: vm1 '${k1b}', gpu $d1/$d2, vm2 $k2b/$k2c; vm1: $(cut -c1-200 "$T/i1"); vm2: exit $r2, identical $([ $s2 = 0 ] && echo yes || echo no), $(python3 -c "print('%.3f s' % ($t1 - $t0))") wall"

# --- KERNEL-TIMEOUT: a kernel that never ends ---------------------------------------------------
t0=$(date +%s.%N)
kc --dir "$T/root/vm1" kernel --ptx $K/spin.ptx --entry spin --grid 1 --block 1 --arg "out:4:$T/sp.bin" > "$T/t1" 2>&1; r1=$?
t1=$(date +%s.%N)
vadd "$T/root/vm2" "$T/c5.bin" > "$T/t2" 2>&1; r2=$?
cmp -s "$T/c1.bin" "$T/c5.bin"; s2=$?
ok=$([ $r1 = 1 ] && [ "$(st "$T/t1")" = TIMEOUT ] && [ $r2 = 0 ] && [ $s2 = 0 ] && echo 1 || echo 0)
record KERNEL-TIMEOUT "a spinning kernel -> TIMEOUT by the watchdog (--job-ms 3000); the next job exact" $ok \
	"$(cat "$T/t1" | cut -c1-200) after $(python3 -c "print('%.1f s' % ($t1 - $t0))"); next: exit $r2, identical $([ $s2 = 0 ] && echo yes || echo no)"

# --- KERNEL-ZERO: what another VM's job left is never seen ---------------------------------------
W=$((16 * 1024 * 1024))     # 64 MiB of u32 words
kc --dir "$T/root/vm1" kernel --ptx $K/peek.ptx --entry fill --grid $((W / 256)) --block 256 \
	--arg "out:$((W * 4)):$T/fill.bin" --arg u32:$W --arg u32:3735928559 > "$T/z1" 2>&1; r1=$?
w1=$(words "$T/fill.bin" 2>&1)
kc --dir "$T/root/vm2" kernel --ptx $K/peek.ptx --entry peek --grid $((W / 256)) --block 256 \
	--arg "out:$((W * 4)):$T/pa.bin" --arg "out:$((W * 4)):$T/pb.bin" --arg u32:$W > "$T/z2" 2>&1; r2=$?
w2=$(words "$T/pb.bin" 2>&1)
kc --dir "$T/root/vm1" kernel --ptx $K/peek.ptx --entry peek --grid $((W / 256)) --block 256 \
	--arg "out:$((W * 4)):$T/pa3.bin" --arg "out:$((W * 4)):$T/pb3.bin" --arg u32:$W > "$T/z3" 2>&1; r3=$?
w3=$(words "$T/pb3.bin" 2>&1)
ok=$([ $r1 = 0 ] && [ $r2 = 0 ] && [ $r3 = 0 ] && [ "$w1" = "$W words, $W nonzero, first 0xdeadbeef" ] &&
	[ "$w2" = "$W words, 0 nonzero, first 0x0" ] && [ "$w3" = "$W words, 0 nonzero, first 0x0" ] && echo 1 || echo 0)
record KERNEL-ZERO "uninitialised out buffers read as zeros after another VM's (and the same VM's) job filled 64 MiB" $ok \
	"fill (vm1): $w1; peek vm2: $w2; peek vm1: $w3; exits $r1/$r2/$r3 $(cat "$T/z1" "$T/z2" "$T/z3" | grep -v '^seq=' | cut -c1-200)"

# The naive control of KERNEL-ZERO, for the record (not a pass condition: what a driver
# leaves in reused memory is its own business): a mediator whose workers do not zero
# (VGPU_KERNEL_TEST_NO_ZERO=1, test builds only); vm1 fills, then peeks in its own context.
kill -TERM "${PIDS[0]}" 2>/dev/null; wait "${PIDS[0]}" 2>/dev/null
mkdir -p "$T/state2"
VGPU_KERNEL_TEST_NO_ZERO=1 "$B/vgpu-mediator" --root "$T/root" --state "$T/state2" --executor cuda --job-ms 3000 \
	--max-payload 268435456 --max-vm-bytes 536870912 > "$L/kernel-naive.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 120); do kc --dir "$T/root/vm3" --timeout 2 ping > "$T/ping" 2>&1 && break; sleep 0.5; done
kc --dir "$T/root/vm1" kernel --ptx $K/peek.ptx --entry fill --grid $((W / 256)) --block 256 \
	--arg "out:$((W * 4)):$T/fill.bin" --arg u32:$W --arg u32:3735928559 > /dev/null 2>&1
kc --dir "$T/root/vm1" kernel --ptx $K/peek.ptx --entry peek --grid $((W / 256)) --block 256 \
	--arg "out:$((W * 4)):$T/pa4.bin" --arg "out:$((W * 4)):$T/pb4.bin" --arg u32:$W > "$T/z4" 2>&1
echo "KERNEL-ZERO control (no zeroing): vm1's peek after its own fill: $(words "$T/pb4.bin" 2>&1) $(head -c 200 "$T/z4")" |
	tee "$L/kernel-zero-control.txt"

grep -E 'kernel|restart|worker' "$L/kernel-mediator.log" | tail -20 > "$L/kernel-mediator-tail.log"
echo "== kernel: $FAILED failed; rows in $ROWS, logs in $L"
exit $FAILED
