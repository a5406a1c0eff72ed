#!/usr/bin/env python3
"""make_corpus.py - regenerate the malformed command files of this directory.

Each file is NN-what.EXPECTED, EXPECTED being the status the mediator must answer
(docs/PROTOCOL.md section 4) when the file is published as vm1/command.txt.
Records that must get past the frame check carry a correct end line (LEN, CRC-32).
Seqs increase with NN so that a record answered and persisted (WRONG_VM, UNKNOWN_OP,
BAD_PAYLOAD) never makes a later one stale. Non-files (symlink, FIFO, directory,
hard link) are made at run time by tests/fault/err10_crash_corpus.c.
Run: python3 tests/fault/corpus/make_corpus.py (writes next to itself)."""
import os, random, zlib

HERE = os.path.dirname(os.path.abspath(__file__))

def rec(body: bytes) -> bytes:
    return body + b"end %d %08x\n" % (len(body), zlib.crc32(body) & 0xffffffff)

def req(seq, extra=b"op ping\n", vm=1, nonce=b"0123456789abcdef", prio=b"medium") -> bytes:
    return (b"VGPU1 REQUEST\nvm %d\nseq %s\nnonce %s\npriority %s\n" % (vm, seq, nonce, prio)) + extra

good = rec(req(b"1", b"op vadd\nn 1024\nseed 7\n"))
rng = random.Random(10)
cases = [
    ("empty", "BAD_REQUEST", b""),
    ("truncated", "BAD_REQUEST", good[: len(good) // 2]),
    ("binary", "BAD_REQUEST", bytes(rng.randrange(256) for _ in range(512))),
    ("nul-bytes", "BAD_REQUEST", rec(req(b"4", b"op vadd\nn 10\x0024\nseed 7\n"))),
    ("huge-seq", "BAD_REQUEST", rec(req(b"99999999999999999999999999"))),
    ("negative-n", "BAD_REQUEST", rec(req(b"6", b"op vadd\nn -1\nseed 7\n"))),
    ("missing-fields", "BAD_REQUEST", rec(b"VGPU1 REQUEST\nvm 1\nseq 7\n")),
    ("unknown-op", "UNKNOWN_OP", rec(req(b"8", b"op fft\nn 1024\n"))),
    ("wrong-magic", "BAD_REQUEST", rec(b"VGPU2 REQUEST\nvm 1\nseq 9\nnonce 0123456789abcdef\npriority low\nop ping\n")),
    ("crlf", "BAD_REQUEST", rec(req(b"10").replace(b"\n", b"\r\n"))),
    ("oversized", "TOO_LARGE", rec(req(b"11")) + b"x" * (70 * 1024)),
    ("n-1e12", "TOO_LARGE", rec(req(b"12", b"op vadd\nn 1000000000000\nseed 7\n"))),
    ("bad-crc", "CORRUPT", req(b"13") + b"end %d %08x\n" % (len(req(b"13")), (zlib.crc32(req(b"13")) ^ 1) & 0xffffffff)),
    ("bad-len", "CORRUPT", req(b"14") + b"end %d %08x\n" % (len(req(b"14")) - 3, zlib.crc32(req(b"14")) & 0xffffffff)),
    ("duplicate-key", "BAD_REQUEST", rec(req(b"15", b"op ping\nseq 16\n"))),
    ("after-end", "BAD_REQUEST", rec(req(b"16")) + b"op crash\n"),
    ("long-value", "BAD_REQUEST", rec(req(b"17", b"op ping\nseed " + b"9" * 2000 + b"\n"))),
    ("seq-zero", "BAD_REQUEST", rec(req(b"0"))),
    ("format-string", "BAD_REQUEST", rec(req(b"19", b"op %s%s%s%n%n\n"))),
    ("sgemm-overflow", "BAD_REQUEST", rec(req(b"20", b"op sgemm\nm 4294967296\nn 4294967296\nk 4294967296\nseed 1\n"))),
    ("wrong-vm", "WRONG_VM", rec(req(b"21", vm=2))),
    ("test-op-off", "UNKNOWN_OP", rec(req(b"22", b"op crash\n"))),
    ("payload-missing", "BAD_PAYLOAD", rec(req(b"23", b"op vadd\nn 2\ninput in-23.bin 16 00000000\n"))),
    ("end-only", "BAD_REQUEST", b"end 0 00000000\n"),
    ("huge-len", "CORRUPT", req(b"25") + b"end 99999999999 00000000\n"),
]
for f in os.listdir(HERE):
    if f[:2].isdigit():
        os.unlink(os.path.join(HERE, f))
for i, (name, status, data) in enumerate(cases, 1):
    with open(os.path.join(HERE, "%02d-%s.%s" % (i, name, status)), "wb") as f:
        f.write(data)
