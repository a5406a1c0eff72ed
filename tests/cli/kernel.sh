#!/usr/bin/env bash
# kernel.sh - `vgpu-client kernel` as a user meets it without a GPU (`make check-cli`):
# each option's validation (exit 2 and the message, nothing written into the VM
# directory), then against a running mock mediator: the request as published
# (command.txt's kernel fields, the payload's layout) and the answer UNSUPPORTED
# (exit 1, the status and why on stderr, no output file written); then, with kernel
# workers over the stand-in driver (built with CUDA), a kernel's output and the JIT's
# whole log on stderr, and cut at 64 KiB. docs/KERNELS.md.
#
# usage: BUILD=build tests/cli/kernel.sh
set -u
. "$(dirname "$0")/lib.sh" clik

mkdir -p "$T/root/vm1" "$T/state" "$T/locks"
D=(--dir "$T/root/vm1" --lock-dir "$T/locks")
printf '.version 7.0\n.target sm_70\n.address_size 64\n' > "$T/k.ptx"
head -c 16 /dev/zero > "$T/a.bin"
head -c 6 /dev/zero > "$T/six.bin"
printf 'abc\0def' > "$T/nul.ptx"
K=(kernel --ptx "$T/k.ptx" --entry vadd --grid 1 --block 4)

# --- 1. validation: exit 2, the reason, nothing published ----------------------------------
expect "kernel: --help lists the subcommand" 0 '^  kernel --ptx FILE --entry NAME --grid' "" -- "$C" --help
expect "kernel: no --dir" 2 "" "kernel: --dir DIR/vmN is required" -- "$C" "${K[@]}"
expect "kernel: --ptx missing" 2 "" "kernel: --ptx FILE, --entry NAME, --grid and --block are required" -- \
	"$C" "${D[@]}" kernel --entry vadd --grid 1 --block 1
expect "kernel: --ptx a missing file" 2 "" "kernel: --ptx $T/none.ptx: " -- \
	"$C" "${D[@]}" kernel --ptx "$T/none.ptx" --entry vadd --grid 1 --block 1
expect "kernel: --ptx with a NUL byte" 2 "" "holds a NUL byte; PTX is text" -- \
	"$C" "${D[@]}" kernel --ptx "$T/nul.ptx" --entry vadd --grid 1 --block 1
expect "kernel: --entry not an identifier" 2 "" "--entry '9x': not a PTX identifier" -- \
	"$C" "${D[@]}" kernel --ptx "$T/k.ptx" --entry 9x --grid 1 --block 1
expect "kernel: --grid Y over 65535" 2 "" "--grid '1,65536': X\[,Y\[,Z\]\]" -- \
	"$C" "${D[@]}" kernel --ptx "$T/k.ptx" --entry k --grid 1,65536 --block 1
expect "kernel: --grid with four numbers" 2 "" "--grid '1,1,1,1'" -- \
	"$C" "${D[@]}" kernel --ptx "$T/k.ptx" --entry k --grid 1,1,1,1 --block 1
expect "kernel: --block X over 1024" 2 "" "--block '1025': X\[,Y\[,Z\]\] with X and Y 1..1024, Z 1..64" -- \
	"$C" "${D[@]}" kernel --ptx "$T/k.ptx" --entry k --grid 1 --block 1025
expect "kernel: --block of 2048 threads" 2 "" "kernel: block 1024x2x1 has 2048 threads; at most 1024" -- \
	"$C" "${D[@]}" kernel --ptx "$T/k.ptx" --entry k --grid 1 --block 1024,2
expect "kernel: --shared over 48 KiB" 2 "" "--shared '49153': 0 to 49152 bytes" -- \
	"$C" "${D[@]}" "${K[@]}" --shared 49153
expect "kernel: --arg of an unknown kind" 2 "" "--arg 'x32:1': not in:FILE" -- "$C" "${D[@]}" "${K[@]}" --arg x32:1
expect "kernel: --arg i32 out of range" 2 "" "--arg 'i32:2147483648'" -- "$C" "${D[@]}" "${K[@]}" --arg i32:2147483648
expect "kernel: --arg f32 not finite" 2 "" "--arg 'f32:inf'" -- "$C" "${D[@]}" "${K[@]}" --arg f32:inf
expect "kernel: --arg in: a file of 6 bytes" 2 "" "holds 6 bytes; a buffer is 4 bytes to 1 GiB, a multiple of 4" -- \
	"$C" "${D[@]}" "${K[@]}" --arg "in:$T/six.bin"
expect "kernel: --arg in: a missing file" 2 "" "--arg in:$T/none.bin: $T/none.bin: " -- \
	"$C" "${D[@]}" "${K[@]}" --arg "in:$T/none.bin"
expect "kernel: --arg out: without a file" 2 "" "out takes out:BYTES:FILE" -- "$C" "${D[@]}" "${K[@]}" --arg out:16
expect "kernel: --arg out: BYTES not a multiple of 4" 2 "" "BYTES is 4 to 1073741824, a multiple of 4" -- \
	"$C" "${D[@]}" "${K[@]}" --arg "out:10:$T/o.bin"
expect "kernel: --arg inout: without its output file" 2 "" "inout takes inout:FILE:OUTFILE" -- \
	"$C" "${D[@]}" "${K[@]}" --arg "inout:$T/a.bin"
args=(); for i in $(seq 33); do args+=(--arg "i32:$i"); done
expect "kernel: 33 arguments" 2 "" "--arg i32:33: more than 32 arguments" -- "$C" "${D[@]}" "${K[@]}" "${args[@]}"
args=(); for i in $(seq 17); do args+=(--arg "out:4:$T/o$i.bin"); done
expect "kernel: 17 buffers" 2 "" "more than 16 buffers" -- "$C" "${D[@]}" "${K[@]}" "${args[@]}"
expect "kernel: an unknown option" 2 "" "kernel: unknown option or missing value: --bogus" -- \
	"$C" "${D[@]}" "${K[@]}" --bogus
left=$(ls -A "$T/root/vm1")
[ -z "$left" ] && ok "kernel: no usage error published anything" || bad "usage errors published files" "$left"

# --- 2. against a mock mediator: the request, and UNSUPPORTED -------------------------------
start_mediator mediator "$T/m.log" "$B/vgpu-mediator" --root "$T/root" --state "$T/state" --executor mock --rescan-ms 50
python3 -c 'import struct,sys; sys.stdout.buffer.write(struct.pack("<4f", 1,2,3,4))' > "$T/a.bin"
cp "$T/a.bin" "$T/io.bin"
expect "kernel on the mock executor -> ESTATUS (1), UNSUPPORTED and why" 1 "" \
	"^vgpu-client: seq=1 status=UNSUPPORTED op=kernel: op kernel is not supported by this executor \(mock: no GPU\)\$" -- \
	"$C" "${D[@]}" --timeout 20 kernel --ptx "$T/k.ptx" --entry vadd --grid 2,1 --block 4,1,1 --shared 64 \
	--arg "in:$T/a.bin" --arg "out:16:$T/c.bin" --arg "inout:$T/io.bin:$T/io2.bin" --arg f32:2.5 --arg i64:-3
[ ! -e "$T/c.bin" ] && [ ! -e "$T/io2.bin" ] && ok "kernel: no output file written for a failed answer" ||
	bad "output files written on UNSUPPORTED" "$(ls "$T")"
want='op kernel
ptx 48
entry vadd
grid 2,1,1
block 4,1,1
shared 64
args in:16 out:16 inout:16 f32:2.5 i64:-3
input in-1.bin 80 '
got=$(sed -n '/^op /,/^input /p' "$T/root/vm1/command.txt")
[ "${got%????????}" = "$want" ] && ok "kernel: command.txt holds the kernel fields (44 bytes of PTX padded to 48, input 48+16+16)" ||
	bad "command.txt" "$got"
grep -q '^output file$' "$T/root/vm1/command.txt" && ok "kernel: asks for the output file" ||
	bad "output file" "$(cat "$T/root/vm1/command.txt")"
grep -q 'status 15 UNSUPPORTED' "$T/root/vm1/response.txt" && ok "kernel: response.txt says 15 UNSUPPORTED" ||
	bad "response" "$(cat "$T/root/vm1/response.txt")"
# common options after the word, and no buffers at all: the same answer
expect "kernel: common options after the word, no arguments" 1 "" "status=UNSUPPORTED op=kernel" -- \
	"$C" kernel --dir "$T/root/vm1" --lock-dir "$T/locks" --timeout 20 --priority high \
	--ptx "$T/k.ptx" --entry k --grid 1 --block 1
grep -q '^args -$' "$T/root/vm1/command.txt" && ok "kernel: no arguments is 'args -'" ||
	bad "args -" "$(cat "$T/root/vm1/command.txt")"

# --- 3. kernel workers over the stand-in driver: a kernel runs; the JIT's whole log ---------------
# A test build's mock mediator given kernel workers (VGPU_TEST_KERNEL_BACKEND=cuda-kernel) that
# load tests/unit/fake_libcuda.c as libcuda.so.1: the answer path of a kernel job without a GPU.
FAKE=$B/tests/fakecuda
if [ ! -e "$FAKE/libcuda.so.1" ]; then
	echo "skip - kernel workers over the stand-in driver: $FAKE/libcuda.so.1 is not built (nvcc was not found)"
else
	kill -TERM "${pids[0]}"; wait "${pids[0]}" 2>/dev/null
	mkdir -p "$T/root2/vm1" "$T/state2"
	: > "$T/m2.log"
	VGPU_TEST_KERNEL_BACKEND=cuda-kernel VGPU_KERNEL_WORKER_IDLE_MS=1500 \
		LD_LIBRARY_PATH=$FAKE${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$B/vgpu-mediator" --root "$T/root2" \
		--state "$T/state2" --executor mock --rescan-ms 50 --log-level info 2>>"$T/m2.log" &
	pids+=($!)
	wait_for 20 grep -q 'serving .* with executor' "$T/m2.log" || bad "mediator with kernel workers did not start" "$(cat "$T/m2.log")"
	D2=(--dir "$T/root2/vm1" --lock-dir "$T/locks" --timeout 20)
	printf '.version 7.0\n.visible .entry vadd(\n)\n' > "$T/vadd.ptx"
	python3 -c 'import struct,sys; sys.stdout.buffer.write(struct.pack("<4f", 10,20,30,40))' > "$T/b.bin"
	expect "kernel through a kernel worker (stand-in driver): OK" 0 "^seq=1 status=OK op=kernel .*executor=mock " "" -- \
		"$C" "${D2[@]}" kernel --ptx "$T/vadd.ptx" --entry vadd --grid 1 --block 4 \
		--arg "in:$T/a.bin" --arg "in:$T/b.bin" --arg "out:16:$T/c.bin" --arg u32:4
	got=$(python3 -c 'import struct,sys; print(struct.unpack("<4f", open(sys.argv[1],"rb").read()))' "$T/c.bin" 2>&1)
	[ "$got" = "(11.0, 22.0, 33.0, 44.0)" ] && ok "kernel: the output file is a + b" || bad "kernel output" "$got"
	# two output buffers (inout, out): each written to its file; then the buffers kept in
	# vm1's context for its next job: fill leaves 0xdeadbeef in one, peek reuses it zeroed
	printf '.version 7.0\n.visible .entry fill(\n)\n.visible .entry peek(\n)\n' > "$T/peek.ptx"
	expect "kernel: inout and out buffers (two outputs): OK" 0 "^seq=[0-9]* status=OK op=kernel " "" -- \
		"$C" "${D2[@]}" kernel --ptx "$T/peek.ptx" --entry peek --grid 1 --block 4 \
		--arg "inout:$T/b.bin:$T/p1.bin" --arg "out:16:$T/p2.bin" --arg u32:4
	cmp -s "$T/b.bin" "$T/p1.bin" && cmp -s "$T/b.bin" "$T/p2.bin" && ok "kernel: inout and out files hold b (peek copies a to b)" ||
		bad "two outputs" "$(od -An -tx4 "$T/p1.bin" "$T/p2.bin" 2>&1)"
	expect "kernel: fill leaves 0xdeadbeef in vm1's 16-byte buffer" 0 "^seq=[0-9]* status=OK op=kernel " "" -- \
		"$C" "${D2[@]}" kernel --ptx "$T/peek.ptx" --entry fill --grid 1 --block 4 \
		--arg "out:16:$T/f.bin" --arg u32:4 --arg u32:3735928559
	expect "kernel: peek on vm1 again (the kept buffer reused)" 0 "^seq=[0-9]* status=OK op=kernel " "" -- \
		"$C" "${D2[@]}" kernel --ptx "$T/peek.ptx" --entry peek --grid 1 --block 4 \
		--arg "out:16:$T/z1.bin" --arg "out:16:$T/z2.bin" --arg u32:4
	head -c 16 /dev/zero > "$T/zero16"
	grep -q 'efbeadde' <(od -An -tx1 "$T/f.bin" | tr -d ' \n') && cmp -s "$T/zero16" "$T/z2.bin" &&
		ok "kernel: a kept buffer is zeroed for the VM's next job" || bad "kept buffer not zeroed" "$(od -An -tx4 "$T/f.bin" "$T/z2.bin" 2>&1)"
	jit() {   # N: a PTX of N unknown instructions (one log line each), run; stderr in $T/e
		{ printf '.version 7.0\n.visible .entry broken(\n)\n{\n'; for _ in $(seq "$1"); do printf 'frobnicate;\n'; done
		  printf '}\n'; } > "$T/bad$1.ptx"
		"$C" "${D2[@]}" kernel --ptx "$T/bad$1.ptx" --entry broken --grid 1 --block 1 --arg "out:4:$T/x.bin" \
			> "$T/o" 2> "$T/e" < /dev/null
	}
	want_log() {   # N: the stand-in's log for N unknown instructions
		for i in $(seq "$1"); do
			printf "ptxas application ptx input, line %d; error   : Not a name of any known instruction: 'frobnicate'\n" $((9 + i))
		done
		printf 'ptxas fatal   : Ptx assembly aborted due to errors\n'
	}
	jit 12; rc=$?
	want_log 12 > "$T/want12"
	n=$(wc -c < "$T/want12")
	sed -n '/^vgpu-client: the JIT.s log (/,$p' "$T/e" | tail -n +2 > "$T/got12"
	if [ $rc = 1 ] && grep -q "^vgpu-client: seq=[0-9]* status=BAD_KERNEL op=kernel: JIT: ptxas application ptx input, line 10;.* (the JIT's whole log: out-[0-9]*.bin, $n bytes)\$" "$T/e" &&
		grep -q "^vgpu-client: the JIT's log ($n bytes):\$" "$T/e" && cmp -s "$T/want12" "$T/got12" && [ "$n" -gt 256 ]; then
		ok "kernel: BAD_KERNEL prints the JIT's whole log ($n bytes, 13 lines) on stderr"
	else bad "JIT log whole" "exit $rc; $(cat "$T/e" | head -20)"; fi
	grep -q "^output out-[0-9]*.bin $n [0-9a-f]\{8\}\$" "$T/root2/vm1/response.txt" &&
		ok "kernel: response.txt names the log as its output (size, CRC)" || bad "response output line" "$(cat "$T/root2/vm1/response.txt")"
	jit 1000; rc=$?
	sed -n '/^vgpu-client: the JIT.s log (/,$p' "$T/e" | tail -n +2 > "$T/got1000"
	want_log 1000 | head -c $((65536 - 59)) > "$T/want1000"
	printf "[the JIT's log is cut here: it is longer than 65536 bytes]\n" >> "$T/want1000"
	if [ $rc = 1 ] && grep -q "^vgpu-client: the JIT's log (65536 bytes):\$" "$T/e" && cmp -s "$T/want1000" "$T/got1000"; then
		ok "kernel: a JIT log over 64 KiB arrives cut at 65536 bytes, its last line saying so"
	else bad "JIT log cut" "exit $rc; $(head -3 "$T/e"; tail -2 "$T/got1000")"; fi
	[ ! -e "$T/x.bin" ] && ok "kernel: no output file written for BAD_KERNEL" || bad "x.bin written" "$(ls "$T")"
	# no job comes any more: the mediator's loop retires the idle kernel worker by itself
	if wait_for 15 grep -q 'kernel worker mock/vm1 (pid [0-9]*) retired: idle' "$T/m2.log"; then
		ok "kernel: the idle kernel worker is retired with no job coming (VGPU_KERNEL_WORKER_IDLE_MS=1500)"
	else bad "idle kernel worker not retired" "$(grep -i 'kernel worker' "$T/m2.log" | tail -5)"; fi
fi

echo "cli kernel: $pass passed, $fail failed"
[ $fail = 0 ]
