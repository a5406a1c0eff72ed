#!/usr/bin/env python3
"""make_corpus.py - regenerate the seed corpora of the libFuzzer targets (tests/fuzz/).

  corpus/request/   request records: one valid record per op and option, invalid ones
                    of each outcome, and tests/fault/corpus/ (ERR10's crash corpus)
  corpus/response/  response records: each status, with and without output/answered,
                    and invalid ones
  corpus/state/     state inputs for fuzz_state.c: a flags byte (bit 0 vmN.last,
                    bit 1 vmN.run, bits 2-3 N-1, bit 4 end line made right by the
                    target, bit 5 vmN.journal, bit 6 its slots' crc lines made right
                    by the target); without bit 5: vmN.last, SEP, vmN.run; with it:
                    slot 0 [SLOT1 slot 1] [LEGACY vmN.last SEP vmN.run]

Records that must pass the frame carry a correct end line (LEN, CRC-32: zlib's, as
src/lib/crc.c). The fuzzers check every valid one round-trips; `make fuzz-smoke`
replays them all. Files are named ok-* (the decoder must accept) or bad-*.
Run: python3 tests/fuzz/make_corpus.py (writes next to itself). Deterministic."""
import os, shutil, zlib

HERE = os.path.dirname(os.path.abspath(__file__))
NONCE = b"0123456789abcdef"
SEP = b"\n%%run%%\n"
SLOT1 = b"\n%%slot1%%\n"
LEGACY = b"\n%%legacy%%\n"


def rec(body: bytes) -> bytes:
    return body + b"end %d %08x\n" % (len(body), zlib.crc32(body) & 0xffffffff)


def req(fields: bytes, seq=b"1", vm=b"1", prio=b"medium", nonce=NONCE) -> bytes:
    return b"VGPU1 REQUEST\nvm %s\nseq %s\nnonce %s\npriority %s\n" % (vm, seq, nonce, prio) + fields


def resp(status=b"0 OK", op=b"ping", result=b"pong", error=b"-", extra=b"", seq=b"1", vm=b"1",
         executor=b"mock", nonce=NONCE) -> bytes:
    return (b"VGPU1 RESPONSE\nvm %s\nseq %s\nnonce %s\nstatus %s\nop %s\npriority medium\nqueue_us 12\n"
            b"exec_us 34\nexecutor %s\nresult %s\n" % (vm, seq, nonce, status, op, executor, result)
            + extra + b"error %s\n" % error)


requests = {
    "ok-ping": rec(req(b"op ping\n")),
    "ok-ping-high-timeout": rec(req(b"op ping\ntimeout_ms 5000\n", prio=b"high", seq=b"9223372036854775807")),
    "ok-ping-timeout0": rec(req(b"op ping\ntimeout_ms 0\n", prio=b"low", vm=b"65535")),
    "ok-vadd-seed": rec(req(b"op vadd\nn 1024\nseed 7\n")),
    "ok-vadd-seed-output-file": rec(req(b"op vadd\nn 3\nseed 18446744073709551615\noutput file\n", seq=b"42")),
    "ok-vadd-input": rec(req(b"op vadd\nn 2\ninput in-23.bin 16 0a1b2c3d\noutput summary\n", seq=b"23")),
    "ok-saxpy": rec(req(b"op saxpy\nn 16\nalpha 2.5\nseed 1\n")),
    "ok-saxpy-neg0": rec(req(b"op saxpy\nalpha -0\nn 1\nseed 0\n")),
    "ok-saxpy-hexfloat": rec(req(b"op saxpy\nn 4\nalpha 0x1.8p3\nseed 2\n")),
    "ok-saxpy-exp": rec(req(b"op saxpy\nn 4\nalpha 1e-3\nseed 2\n")),
    "ok-saxpy-max": rec(req(b"op saxpy\nn 4\nalpha 3.40282347e+38\nseed 2\n")),
    "ok-saxpy-input": rec(req(b"op saxpy\nn 2\nalpha .5\ninput in-5.bin 16 ffffffff\n", seq=b"5")),
    "ok-sgemm": rec(req(b"op sgemm\nm 2\nn 3\nk 4\nseed 9\n")),
    "ok-sgemm-input": rec(req(b"op sgemm\nm 2\nn 3\nk 4\ninput in-77.bin 80 00000000\n", seq=b"77")),
    "ok-spin": rec(req(b"op spin\nms 50\n")),
    "ok-leak": rec(req(b"op leak\nbytes 4096\n")),
    "ok-crash": rec(req(b"op crash\n")),
    "bad-unknown-op": rec(req(b"op fft\nn 1024\n")),
    "bad-missing-op": rec(req(b"")),
    "bad-seed-and-input": rec(req(b"op vadd\nn 2\nseed 1\ninput in-1.bin 16 00000000\n")),
    "bad-neither-seed-nor-input": rec(req(b"op vadd\nn 2\n")),
    "bad-input-name": rec(req(b"op vadd\nn 2\ninput in-2.bin 16 00000000\n")),
    "bad-input-bytes": rec(req(b"op vadd\nn 2\ninput in-1.bin 15 00000000\n")),
    "bad-arg-of-other-op": rec(req(b"op ping\nn 5\n")),
    "bad-output-on-ping": rec(req(b"op ping\noutput file\n")),
    "bad-alpha-inf": rec(req(b"op saxpy\nn 4\nalpha inf\nseed 2\n")),
    "bad-alpha-overflow": rec(req(b"op saxpy\nn 4\nalpha 1e39\nseed 2\n")),
    "bad-alpha-space": rec(req(b"op saxpy\nn 4\nalpha  1\nseed 2\n")),
    "bad-leading-zero": rec(req(b"op spin\nms 050\n")),
    "bad-nonce-upper": rec(req(b"op ping\n", nonce=b"0123456789ABCDEF")),
    "bad-vm-0": rec(req(b"op ping\n", vm=b"0")),
    "bad-vm-big": rec(req(b"op ping\n", vm=b"65536")),
    "bad-prio": rec(req(b"op ping\n", prio=b"urgent")),
    "bad-version": rec(b"VGPU2 REQUEST\nvm 1\n"),
    "bad-response-header": rec(resp()),
    "bad-end-no-newline": req(b"op ping\n") + b"end 90 00000000",
    "bad-end-upper-crc": rec(req(b"op ping\n"))[:-9] + rec(req(b"op ping\n"))[-9:].upper(),
    "bad-key-upper": rec(req(b"OP ping\n")),
    "bad-no-value": rec(req(b"op\n")),
    "bad-tab": rec(req(b"op\tping\n")),
    "bad-high-byte": rec(req(b"op ping\xff\n")),
    "incomplete-half": rec(req(b"op ping\n"))[:40],
    "incomplete-len": req(b"op ping\n") + b"end 9999 00000000\n",
}


def kern(args=b"in:16 in:16 out:16 u32:4", inb=b"96", ptx=b"64", entry=b"vadd", grid=b"4,1,1",
         block=b"256,1,1", shared=b"0", extra=b"output file\n", seq=b"3") -> bytes:
    return rec(req(b"op kernel\nptx %s\nentry %s\ngrid %s\nblock %s\nshared %s\nargs %s\n"
                   b"input in-%s.bin %s 0a0b0c0d\n" % (ptx, entry, grid, block, shared, args, seq, inb)
                   + extra, seq=seq))


# kernel (PROTOCOL.md 5.1, src/lib/kernel_args.c): every token kind, each cap at its
# limit, and one past it.
requests.update({
    "ok-kernel-vadd": kern(),
    "ok-kernel-noargs": kern(args=b"-", inb=b"64", extra=b""),
    "ok-kernel-scalars": kern(args=b"i32:-2147483648 u32:4294967295 i64:-9223372036854775808 f32:2.5 "
                              b"f64:-2.2250738585072014e-308 inout:8", inb=b"72"),
    "ok-kernel-caps": kern(args=b" ".join([b"out:4"] * 16 + [b"i32:1"] * 16), inb=b"1048576",
                           ptx=b"1048576", entry=b"_Z" + b"k" * 125, grid=b"2147483647,65535,65535",
                           block=b"1024,1,1", shared=b"49152"),
    "ok-kernel-mangled": kern(entry=b"_Z4vaddPKfS0_Pfj", block=b"8,8,16", args=b"f32:0x1p-3 in:4", inb=b"68"),
    "bad-kernel-seed": kern(extra=b"seed 1\n"),
    "bad-kernel-threads": kern(block=b"1024,2,1"),
    "bad-kernel-block-z": kern(block=b"1,1,65"),
    "bad-kernel-grid-x": kern(grid=b"2147483648,1,1"),
    "bad-kernel-grid-2d": kern(grid=b"4,1"),
    "bad-kernel-shared": kern(shared=b"49153"),
    "bad-kernel-ptx-align": kern(ptx=b"60", inb=b"92"),
    "bad-kernel-ptx-big": kern(ptx=b"1048584", inb=b"1048616"),
    "bad-kernel-entry": kern(entry=b"9vadd"),
    "bad-kernel-entry-long": kern(entry=b"k" * 128),
    "bad-kernel-args-33": kern(args=b" ".join([b"i32:1"] * 33), inb=b"64"),
    "bad-kernel-bufs-17": kern(args=b" ".join([b"out:4"] * 17), inb=b"64"),
    "bad-kernel-buf-align": kern(args=b"in:6", inb=b"70"),
    "bad-kernel-i32-range": kern(args=b"i32:2147483648", inb=b"64"),
    "bad-kernel-neg0": kern(args=b"i64:-0", inb=b"64"),
    "bad-kernel-f32-range": kern(args=b"f32:1e39", inb=b"64"),
    "bad-kernel-double-space": kern(args=b"in:16  in:16 out:16 u32:4"),
    "bad-kernel-input-size": kern(inb=b"80"),
    "bad-kernel-missing-args": rec(req(b"op kernel\nptx 64\nentry vadd\ngrid 1,1,1\nblock 1,1,1\nshared 0\n"
                                       b"input in-1.bin 64 00000000\n")),
})

responses = {
    "ok-ping": rec(resp()),
    "ok-answered": rec(resp() + b"answered 1\n"),
    "ok-vadd-output": rec(resp(op=b"vadd", result=b"count=3 sum=6 l2=3.74 first=1",
                               extra=b"output out-7.bin 12 deadbeef\n", seq=b"7") + b"answered 7\n"),
    "ok-seq0-op-none": rec(resp(status=b"1 BAD_REQUEST", op=b"-", result=b"-", seq=b"0",
                                error=b"line 4: seq: not a number")),
    "ok-empty-result": rec(resp(result=b"", error=b"")),
    "ok-executor-chars": rec(resp(executor=b"cuda:0-gpu_1", seq=b"9223372036854775807")),
    "ok-long-error": rec(resp(status=b"9 EXEC_FAILED", error=b"e" * 1023)),
    "ok-max-numbers": rec(b"VGPU1 RESPONSE\nvm 65535\nseq 5\nnonce ffffffffffffffff\nstatus 13 UNAVAILABLE\n"
                          b"op sgemm\npriority high\nqueue_us 18446744073709551615\nexec_us 0\nexecutor x\n"
                          b"result %s\nerror -\nanswered 9223372036854775807\n" % (b"r" * 1023)),
    "ok-kernel-unsupported": rec(resp(status=b"15 UNSUPPORTED", op=b"kernel", result=b"-",
                                      error=b"op kernel is not supported by this executor (mock: no GPU)")),
    "ok-kernel-bad-kernel": rec(resp(status=b"16 BAD_KERNEL", op=b"kernel", result=b"-", executor=b"cuda:0",
                                     error=b"JIT: ptxas application ptx input, line 10; error   : Not a name of any "
                                           b"known instruction: 'frobnicate' | ptxas fatal   : Ptx assembly aborted")),
    "ok-kernel-fault": rec(resp(status=b"17 KERNEL_FAULT", op=b"kernel", result=b"-", executor=b"cuda:0",
                                error=b"kernel: CUDA_ERROR_ILLEGAL_ADDRESS (700): an illegal memory access was "
                                      b"encountered")),
    "ok-kernel-output": rec(resp(op=b"kernel", result=b"count=4 sum=10 l2=5.48 first=1", executor=b"cuda:0",
                                 extra=b"output out-3.bin 16 0a0b0c0d\n", seq=b"3")),
    "bad-status-18": rec(resp(status=b"18 UNKNOWN")),
    "bad-status-name": rec(resp(status=b"0 BAD_REQUEST")),
    "bad-status-num": rec(resp(status=b"14 X")),
    "bad-status-nospace": rec(resp(status=b"0")),
    "bad-executor-upper": rec(resp(executor=b"Mock")),
    "bad-executor-long": rec(resp(executor=b"a" * 32)),
    "bad-output-name": rec(resp(extra=b"output out-8.bin 12 deadbeef\n")),
    "bad-answered-0": rec(resp() + b"answered 0\n"),
    "bad-missing-error": rec(resp()[: resp().rindex(b"error ")]),
    "bad-duplicate": rec(resp() + b"result again\n"),
    "bad-long-value": rec(resp(error=b"e" * 1024)),
    "bad-request-header": rec(req(b"op ping\n")),
    "bad-crc": resp() + b"end %d 00000000\n" % len(resp()),
    "bad-after-end": rec(resp()) + b"x\n",
    "incomplete": rec(resp())[:-1],
}

ok_last = rec(resp() + b"answered 1\n")
ok_last2 = rec(resp(vm=b"2", seq=b"12", op=b"vadd", result=b"count=1 sum=1 l2=1 first=1",
                    extra=b"output out-12.bin 4 00000001\n"))
states = {
    "ok-fresh": b"\x00",
    "ok-last": b"\x01" + ok_last,
    "ok-run": b"\x02" + SEP + b"5 0123456789abcdef\n",
    "ok-both": b"\x03" + ok_last + SEP + b"2 fedcba9876543210\n",
    "ok-both-reframed": b"\x13" + ok_last[:ok_last.rindex(b"end ")] + SEP + b"2 fedcba9876543210\n",
    "ok-vm2": b"\x07" + ok_last2 + SEP + b"13 00000000000000ff\n",
    "ok-run-plus-sign": b"\x02" + SEP + b"+7 0123456789abcdef\n",
    "ok-run-leading-zero": b"\x02" + SEP + b"007 0123456789abcdef\n",
    "ok-run-max": b"\x02" + SEP + b"9223372036854775807 0123456789abcdef\n",
    "bad-last-wrong-vm": b"\x05" + ok_last,
    "bad-last-empty": b"\x01",
    "bad-last-truncated": b"\x01" + ok_last[:-5],
    "bad-last-request": b"\x01" + rec(req(b"op ping\n")),
    "bad-run-empty": b"\x02" + SEP,
    "bad-run-no-newline": b"\x02" + SEP + b"5 0123456789abcdef",
    "bad-run-zero": b"\x02" + SEP + b"0 0123456789abcdef\n",
    "bad-run-negative": b"\x02" + SEP + b"-5 0123456789abcdef\n",
    "bad-run-overflow": b"\x02" + SEP + b"9223372036854775808 0123456789abcdef\n",
    "bad-run-short-nonce": b"\x02" + SEP + b"5 0123456789abcde\n",
    "bad-run-upper-nonce": b"\x02" + SEP + b"5 0123456789ABCDEF\n",
    "bad-run-two-spaces": b"\x02" + SEP + b"5  0123456789abcdef\n",
    "bad-run-nul": b"\x02" + SEP + b"5 0123456789abcdef\x00\n",
    "bad-run-too-big": b"\x02" + SEP + b"5 " + b"0" * 200 + b"\n",
    "bad-both-run-bad": b"\x03" + ok_last + SEP + b"x\n",
}


def slot(gen, record=b"", run=b"-", crc=None, gen_text=None) -> bytes:
    """A journal slot (docs/PROTOCOL.md s.7): header, crc over it and the record."""
    head = b"vgpu-journal 1\ngen %s\nrun %s\nlen %d\n" % (gen_text or b"%d" % gen, run, len(record))
    c = zlib.crc32(head + record) & 0xffffffff if crc is None else crc
    return head + b"crc %08x\n" % c + record


J = 0x20
states.update({
    "ok-journal-fresh-intent": bytes([J]) + slot(1, run=b"5 0123456789abcdef"),
    "ok-journal-answer": bytes([J]) + slot(1, ok_last),
    "ok-journal-two-slots": bytes([J]) + slot(2, ok_last) + SLOT1 + slot(3, ok_last, run=b"2 fedcba9876543210"),
    "ok-journal-slot0-newer": bytes([J]) + slot(9, ok_last) + SLOT1 + slot(8, b"", run=b"1 fedcba9876543210"),
    "ok-journal-torn-slot1": bytes([J]) + slot(1, ok_last) + SLOT1 + slot(2, ok_last, run=b"2 fedcba9876543210")[:60],
    "ok-journal-vm2": bytes([J | 4]) + slot(4, ok_last2, run=b"13 00000000000000ff"),
    "ok-journal-and-legacy": bytes([J | 3]) + slot(1, ok_last) + LEGACY + ok_last + SEP + b"2 fedcba9876543210\n",
    "ok-journal-crc-fixed": bytes([J | 0x40]) + slot(1, ok_last, crc=0),
    "bad-journal-empty": bytes([J]),
    "bad-journal-crc": bytes([J]) + slot(1, ok_last, crc=0),
    "bad-journal-same-gen": bytes([J]) + slot(2, ok_last) + SLOT1 + slot(2, ok_last, run=b"2 fedcba9876543210"),
    "bad-journal-wrong-vm": bytes([J | 4]) + slot(1, ok_last),
    "bad-journal-gen-zero": bytes([J]) + slot(0, ok_last),
    "bad-journal-gen-leading-zero": bytes([J]) + slot(1, ok_last, gen_text=b"01"),
    "bad-journal-run-upper": bytes([J]) + slot(1, run=b"5 0123456789ABCDEF"),
    "bad-journal-len-over": bytes([J]) + slot(1, ok_last)[:-3],
    "bad-journal-request": bytes([J]) + slot(1, rec(req(b"op ping\n"))),
    "bad-journal-legacy-ignored": bytes([J | 1]) + b"garbage" + LEGACY + ok_last,
})


def write(sub, cases):
    d = os.path.join(HERE, "corpus", sub)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if f.startswith(("ok-", "bad-", "incomplete", "fault-")):
            os.unlink(os.path.join(d, f))
    for name, data in cases.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


write("request", requests)
write("response", responses)
write("state", states)
# ERR10's crash corpus (tests/fault/corpus/) is request input too.
fault = os.path.join(HERE, "..", "fault", "corpus")
for f in sorted(os.listdir(fault)):
    if f[:2].isdigit():
        shutil.copyfile(os.path.join(fault, f), os.path.join(HERE, "corpus", "request", "fault-" + f))
