/* test_record.c - the record codec: round trips of every op, a table of malformed
 * records with the outcome each must give, truncation and bit flips at every offset,
 * and a seeded random fuzz of mutated records (VGPU_FUZZ_SEED=N replays a run;
 * VGPU_FUZZ_ITERS=N sets its length). */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/record.h"
#include "lib/status.h"
#include "../common/testutil.h"

#define NONCE "9f3a0c6e12b4d7a8"
#define BASE_HDR "VGPU1 REQUEST\nvm 3\nseq 17\nnonce " NONCE "\npriority high\n"

/* Append a correct end line to BODY (LEN bytes) in OUT; returns the record length. */
static size_t seal(const char *body, size_t len, char *out, size_t cap)
{
	int n;

	ck_assert_uint_lt(len, cap);
	memcpy(out, body, len);
	n = snprintf(out + len, cap - len, "end %zu %08" PRIx32 "\n", len, vgpu_crc32(body, len));
	ck_assert_int_gt(n, 0);
	ck_assert_uint_lt(len + (size_t)n, cap);
	return len + (size_t)n;
}

static int decode_sealed(const char *body, size_t len, struct vgpu_request *r, char *err, size_t errlen)
{
	static char buf[VGPU_RECORD_MAX + 4096];
	size_t n = seal(body, len, buf, sizeof(buf));

	return vgpu_request_decode(buf, n, r, err, errlen);
}

static void req_base(struct vgpu_request *r, enum vgpu_op op)
{
	memset(r, 0, sizeof(*r));
	r->vm = 3;
	r->seq = 17;
	memcpy(r->nonce, NONCE, 17);
	r->priority = VGPU_PRIO_HIGH;
	r->op = op;
	r->output_file = -1;
}

static void assert_req_eq(const struct vgpu_request *a, const struct vgpu_request *b)
{
	ck_assert_uint_eq(a->vm, b->vm);
	ck_assert_int_eq(a->seq, b->seq);
	ck_assert_str_eq(a->nonce, b->nonce);
	ck_assert_int_eq(a->priority, b->priority);
	ck_assert_int_eq(a->op, b->op);
	ck_assert_uint_eq(a->args.n, b->args.n);
	ck_assert_uint_eq(a->args.m, b->args.m);
	ck_assert_uint_eq(a->args.k, b->args.k);
	ck_assert(a->args.alpha == b->args.alpha);
	ck_assert_int_eq(a->args.has_seed, b->args.has_seed);
	ck_assert_uint_eq(a->args.seed, b->args.seed);
	ck_assert(memcmp(&a->args.kernel, &b->args.kernel, sizeof(a->args.kernel)) == 0);
	ck_assert_str_eq(a->input.name, b->input.name);
	ck_assert_uint_eq(a->input.bytes, b->input.bytes);
	ck_assert_uint_eq(a->input.crc, b->input.crc);
	ck_assert_int_eq(a->output_file, b->output_file);
	ck_assert_uint_eq(a->timeout_ms, b->timeout_ms);
	ck_assert_uint_eq(a->args.ms, b->args.ms);
	ck_assert_uint_eq(a->args.bytes, b->args.bytes);
}

/* Valid requests, one or more per op. */
static int sample_request(int i, struct vgpu_request *r)
{
	switch (i) {
	case 0: req_base(r, VGPU_OP_PING); r->priority = VGPU_PRIO_LOW; return 1;
	case 1: req_base(r, VGPU_OP_VADD); r->args.n = 1024; r->args.has_seed = 1; r->args.seed = 7; return 1;
	case 2:
		req_base(r, VGPU_OP_VADD); r->args.n = 3; r->output_file = 1;
		vgpu_payload_name(r->input.name, "in", r->seq);
		r->input.bytes = 24; r->input.crc = 0xdeadbeef; return 1;
	case 3:
		req_base(r, VGPU_OP_SAXPY); r->args.n = 5; r->args.alpha = -2.5f; r->args.has_seed = 1;
		r->args.seed = UINT64_MAX; r->output_file = 0; r->priority = VGPU_PRIO_MEDIUM; return 1;
	case 4:
		req_base(r, VGPU_OP_SAXPY); r->args.n = 1; r->args.alpha = 0.1f;
		vgpu_payload_name(r->input.name, "in", r->seq);
		r->input.bytes = 8; r->input.crc = 0; r->timeout_ms = 2500; return 1;
	case 5: req_base(r, VGPU_OP_SGEMM); r->args.m = 2; r->args.n = 3; r->args.k = 4; r->args.has_seed = 1; r->args.seed = 0; return 1;
	case 6:
		req_base(r, VGPU_OP_SGEMM); r->args.m = 2; r->args.n = 3; r->args.k = 4; r->seq = VGPU_SEQ_MAX;
		vgpu_payload_name(r->input.name, "in", r->seq);
		r->input.bytes = (2 * 4 + 4 * 3) * 4; r->input.crc = 0x01234567; r->output_file = 1; return 1;
	case 7: req_base(r, VGPU_OP_SPIN); r->args.ms = 250; r->vm = VGPU_VM_MAX; return 1;
	case 8: req_base(r, VGPU_OP_LEAK); r->args.bytes = 1 << 20; r->vm = 1; return 1;
	case 9: req_base(r, VGPU_OP_CRASH); r->seq = 1; return 1;
	case 10: req_base(r, VGPU_OP_SPIN); r->args.ms = 0; return 1;
	case 11: req_base(r, VGPU_OP_SAXPY); r->args.n = 2; r->args.alpha = 1e-38f; r->args.has_seed = 1; r->args.seed = 1; return 1;
	case 12:   /* kernel: test_kernel_args.c has its grammar; here the round trip */
		req_base(r, VGPU_OP_KERNEL); r->args.kernel.ptx = 64; strcpy(r->args.kernel.entry, "vadd");
		r->args.kernel.grid[0] = 4; r->args.kernel.grid[1] = r->args.kernel.grid[2] = 1;
		r->args.kernel.block[0] = 256; r->args.kernel.block[1] = r->args.kernel.block[2] = 1;
		r->args.kernel.nargs = 2; r->args.kernel.args[0].kind = VGPU_KARG_IN; r->args.kernel.args[0].v.bytes = 8;
		r->args.kernel.args[1].kind = VGPU_KARG_F32; r->args.kernel.args[1].v.d = 2.5;
		vgpu_payload_name(r->input.name, "in", r->seq);
		r->input.bytes = 72; r->output_file = 1; return 1;
	}
	return 0;
}

START_TEST(test_request_round_trip_every_op)
{
	struct vgpu_request r, d;
	char buf[1024], err[256];
	int ops_seen = 0, i;

	for (i = 0; sample_request(i, &r); i++) {
		int len = vgpu_request_encode(&r, buf, sizeof(buf));
		ck_assert_msg(len > 0, "sample %d: encode %d", i, len);
		int rc = vgpu_request_decode(buf, (size_t)len, &d, err, sizeof(err));
		ck_assert_msg(rc == VGPU_REC_OK, "sample %d: %d %s\n%.*s", i, rc, err, len, buf);
		assert_req_eq(&r, &d);
		ops_seen |= 1 << r.op;
	}
	for (int op = VGPU_OP_NONE + 1; op < VGPU_OP_COUNT; op++)
		ck_assert_msg(ops_seen & (1 << op), "no round trip for op %s", vgpu_op_name(op));
}
END_TEST

START_TEST(test_request_canonical_text)
{
	/* The example of docs/PROTOCOL.md section 3, with its real LEN and CRC. */
	static const char body[] = BASE_HDR "op vadd\nn 1024\nseed 7\n";
	struct vgpu_request r, d;
	char buf[512], want[512];
	size_t wlen = seal(body, sizeof(body) - 1, want, sizeof(want));

	ck_assert_uint_eq(sizeof(body) - 1, 85);
	ck_assert_str_eq(want + 85, "end 85 513f849b\n");
	sample_request(1, &r);
	int len = vgpu_request_encode(&r, buf, sizeof(buf));
	ck_assert_int_eq(len, (int)wlen);
	ck_assert(memcmp(buf, want, wlen) == 0);
	ck_assert_int_eq(vgpu_request_decode(want, wlen, &d, NULL, 0), VGPU_REC_OK);
	assert_req_eq(&r, &d);
}
END_TEST

START_TEST(test_request_encode_rejects)
{
	struct vgpu_request r;
	char buf[1024];

	sample_request(1, &r);
	ck_assert_int_eq(vgpu_request_encode(&r, buf, 20), -ENOSPC);
	ck_assert_int_eq(vgpu_request_encode(&r, buf, 0), -ENOSPC);
	r.vm = 0;
	ck_assert_int_eq(vgpu_request_encode(&r, buf, sizeof(buf)), -EINVAL);
	sample_request(1, &r);
	r.vm = VGPU_VM_MAX + 1;
	ck_assert_int_eq(vgpu_request_encode(&r, buf, sizeof(buf)), -EINVAL);
	sample_request(1, &r);
	r.seq = 0;
	ck_assert_int_eq(vgpu_request_encode(&r, buf, sizeof(buf)), -EINVAL);
	sample_request(1, &r);
	memcpy(r.nonce, "9F3A0C6E12B4D7A8", 17);
	ck_assert_int_eq(vgpu_request_encode(&r, buf, sizeof(buf)), -EINVAL);
	sample_request(1, &r);
	r.op = VGPU_OP_NONE;
	ck_assert_int_eq(vgpu_request_encode(&r, buf, sizeof(buf)), -EINVAL);
	sample_request(1, &r);
	r.args.has_seed = 0;           /* neither seed nor input */
	ck_assert_int_eq(vgpu_request_encode(&r, buf, sizeof(buf)), -EINVAL);
	sample_request(3, &r);
	r.args.alpha = NAN;
	ck_assert_int_eq(vgpu_request_encode(&r, buf, sizeof(buf)), -EINVAL);
	sample_request(2, &r);
	strcpy(r.input.name, "../in-17.bin");
	ck_assert_int_eq(vgpu_request_encode(&r, buf, sizeof(buf)), -EINVAL);
	sample_request(2, &r);
	r.input.bytes = 23;
	ck_assert_int_eq(vgpu_request_encode(&r, buf, sizeof(buf)), -EINVAL);
}
END_TEST

/* ---- the malformed corpus ---------------------------------------------------------- */

struct bad_case {
	const char *what;
	const char *body;     /* before the end line; sealed with a correct LEN and CRC */
	size_t len;           /* 0: strlen(body) */
	int want;
};

#define V(s) BASE_HDR "op vadd\nn 4\n" s
#define B(s) { #s, s, 0, VGPU_REC_MALFORMED }

static const struct bad_case bad_cases[] = {
	{ "NUL in value", V("seed 7\0\n"), sizeof(V("seed 7\0\n")) - 1, VGPU_REC_MALFORMED },
	{ "NUL line", V("\0\n"), sizeof(V("\0\n")) - 1, VGPU_REC_MALFORMED },
	{ "CR before LF", V("seed 7\r\n"), 0, VGPU_REC_MALFORMED },
	{ "CRLF header", "VGPU1 REQUEST\r\nvm 3\nseq 17\nnonce " NONCE "\npriority high\nop ping\n", 0,
	  VGPU_REC_MALFORMED },
	{ "non-ASCII", V("seed 7\xc3\xa9\n"), 0, VGPU_REC_MALFORMED },
	{ "DEL byte", V("seed 7\x7f\n"), 0, VGPU_REC_MALFORMED },
	{ "tab", V("seed\t7\n"), 0, VGPU_REC_MALFORMED },
	{ "duplicate key", V("seed 7\nseed 7\n"), 0, VGPU_REC_MALFORMED },
	{ "duplicate vm", V("seed 7\nvm 3\n"), 0, VGPU_REC_MALFORMED },
	{ "unknown key", V("seed 7\ncolour red\n"), 0, VGPU_REC_MALFORMED },
	{ "upper-case key", V("SEED 7\n"), 0, VGPU_REC_MALFORMED },
	{ "key 32 chars", V("seed 7\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1\n"), 0, VGPU_REC_MALFORMED },
	{ "no space", V("seed7\n"), 0, VGPU_REC_MALFORMED },
	{ "empty line", V("seed 7\n\n"), 0, VGPU_REC_MALFORMED },
	{ "empty key", V("seed 7\n 7\n"), 0, VGPU_REC_MALFORMED },
	{ "empty number", V("seed \n"), 0, VGPU_REC_MALFORMED },
	{ "huge number", V("seed 99999999999999999999999\n"), 0, VGPU_REC_MALFORMED },
	{ "u64 overflow", V("seed 18446744073709551616\n"), 0, VGPU_REC_MALFORMED },
	{ "negative", BASE_HDR "op vadd\nn -4\nseed 7\n", 0, VGPU_REC_MALFORMED },
	{ "leading zero", BASE_HDR "op vadd\nn 04\nseed 7\n", 0, VGPU_REC_MALFORMED },
	{ "plus sign", BASE_HDR "op vadd\nn +4\nseed 7\n", 0, VGPU_REC_MALFORMED },
	{ "leading space", BASE_HDR "op vadd\nn  4\nseed 7\n", 0, VGPU_REC_MALFORMED },
	{ "trailing space", BASE_HDR "op vadd\nn 4 \nseed 7\n", 0, VGPU_REC_MALFORMED },
	{ "hex number", BASE_HDR "op vadd\nn 0x4\nseed 7\n", 0, VGPU_REC_MALFORMED },
	{ "n zero", BASE_HDR "op vadd\nn 0\nseed 7\n", 0, VGPU_REC_MALFORMED },
	{ "seq zero", "VGPU1 REQUEST\nvm 3\nseq 0\nnonce " NONCE "\npriority high\nop ping\n", 0,
	  VGPU_REC_MALFORMED },
	{ "seq 2^63", "VGPU1 REQUEST\nvm 3\nseq 9223372036854775808\nnonce " NONCE "\npriority high\nop ping\n",
	  0, VGPU_REC_MALFORMED },
	{ "vm zero", "VGPU1 REQUEST\nvm 0\nseq 17\nnonce " NONCE "\npriority high\nop ping\n", 0,
	  VGPU_REC_MALFORMED },
	{ "vm 65536", "VGPU1 REQUEST\nvm 65536\nseq 17\nnonce " NONCE "\npriority high\nop ping\n", 0,
	  VGPU_REC_MALFORMED },
	{ "missing vm", "VGPU1 REQUEST\nseq 17\nnonce " NONCE "\npriority high\nop ping\n", 0,
	  VGPU_REC_MALFORMED },
	{ "missing seq", "VGPU1 REQUEST\nvm 3\nnonce " NONCE "\npriority high\nop ping\n", 0,
	  VGPU_REC_MALFORMED },
	{ "missing nonce", "VGPU1 REQUEST\nvm 3\nseq 17\npriority high\nop ping\n", 0, VGPU_REC_MALFORMED },
	{ "missing priority", "VGPU1 REQUEST\nvm 3\nseq 17\nnonce " NONCE "\nop ping\n", 0,
	  VGPU_REC_MALFORMED },
	{ "missing op", BASE_HDR, 0, VGPU_REC_MALFORMED },
	{ "upper-case nonce", "VGPU1 REQUEST\nvm 3\nseq 17\nnonce 9F3A0C6E12B4D7A8\npriority high\nop ping\n",
	  0, VGPU_REC_MALFORMED },
	{ "short nonce", "VGPU1 REQUEST\nvm 3\nseq 17\nnonce 9f3a0c6e12b4d7a\npriority high\nop ping\n", 0,
	  VGPU_REC_MALFORMED },
	{ "long nonce", "VGPU1 REQUEST\nvm 3\nseq 17\nnonce 9f3a0c6e12b4d7a80\npriority high\nop ping\n", 0,
	  VGPU_REC_MALFORMED },
	{ "non-hex nonce", "VGPU1 REQUEST\nvm 3\nseq 17\nnonce 9f3a0c6e12b4d7ag\npriority high\nop ping\n", 0,
	  VGPU_REC_MALFORMED },
	{ "bad priority", "VGPU1 REQUEST\nvm 3\nseq 17\nnonce " NONCE "\npriority urgent\nop ping\n", 0,
	  VGPU_REC_MALFORMED },
	{ "unknown op", BASE_HDR "op fft\n", 0, VGPU_REC_UNKNOWN_OP },
	{ "op dash", BASE_HDR "op -\n", 0, VGPU_REC_MALFORMED },
	{ "vadd without n", BASE_HDR "op vadd\nseed 7\n", 0, VGPU_REC_MALFORMED },
	{ "vadd without seed or input", BASE_HDR "op vadd\nn 4\n", 0, VGPU_REC_MALFORMED },
	{ "vadd with seed and input", V("seed 7\ninput in-17.bin 32 00000000\n"), 0, VGPU_REC_MALFORMED },
	{ "vadd with alpha", V("seed 7\nalpha 2\n"), 0, VGPU_REC_MALFORMED },
	{ "vadd with ms", V("seed 7\nms 2\n"), 0, VGPU_REC_MALFORMED },
	{ "saxpy without alpha", BASE_HDR "op saxpy\nn 4\nseed 7\n", 0, VGPU_REC_MALFORMED },
	{ "saxpy alpha nan", BASE_HDR "op saxpy\nn 4\nalpha nan\nseed 7\n", 0, VGPU_REC_MALFORMED },
	{ "saxpy alpha inf", BASE_HDR "op saxpy\nn 4\nalpha inf\nseed 7\n", 0, VGPU_REC_MALFORMED },
	{ "saxpy alpha over float", BASE_HDR "op saxpy\nn 4\nalpha 1e39\nseed 7\n", 0, VGPU_REC_MALFORMED },
	{ "saxpy alpha junk", BASE_HDR "op saxpy\nn 4\nalpha 2x\nseed 7\n", 0, VGPU_REC_MALFORMED },
	{ "saxpy alpha space", BASE_HDR "op saxpy\nn 4\nalpha  2\nseed 7\n", 0, VGPU_REC_MALFORMED },
	{ "sgemm without k", BASE_HDR "op sgemm\nm 2\nn 2\nseed 7\n", 0, VGPU_REC_MALFORMED },
	{ "sgemm overflow", BASE_HDR "op sgemm\nm 4294967296\nn 4294967296\nk 4294967296\nseed 7\n", 0,
	  VGPU_REC_MALFORMED },
	{ "vadd bytes overflow", BASE_HDR "op vadd\nn 4611686018427387904\nseed 7\n", 0, VGPU_REC_MALFORMED },
	{ "ping with n", BASE_HDR "op ping\nn 4\n", 0, VGPU_REC_MALFORMED },
	{ "ping with seed", BASE_HDR "op ping\nseed 4\n", 0, VGPU_REC_MALFORMED },
	{ "ping with output", BASE_HDR "op ping\noutput file\n", 0, VGPU_REC_MALFORMED },
	{ "spin without ms", BASE_HDR "op spin\n", 0, VGPU_REC_MALFORMED },
	{ "leak without bytes", BASE_HDR "op leak\n", 0, VGPU_REC_MALFORMED },
	{ "crash with seed", BASE_HDR "op crash\nseed 1\n", 0, VGPU_REC_MALFORMED },
	{ "input other seq", V("input in-18.bin 32 00000000\n"), 0, VGPU_REC_MALFORMED },
	{ "input with path", V("input ../in-17.bin 32 00000000\n"), 0, VGPU_REC_MALFORMED },
	{ "input dot slash", V("input ./in-17.bin 32 00000000\n"), 0, VGPU_REC_MALFORMED },
	{ "input leading zero", V("input in-017.bin 32 00000000\n"), 0, VGPU_REC_MALFORMED },
	{ "input out name", V("input out-17.bin 32 00000000\n"), 0, VGPU_REC_MALFORMED },
	{ "input wrong size", V("input in-17.bin 31 00000000\n"), 0, VGPU_REC_MALFORMED },
	{ "input upper crc", V("input in-17.bin 32 DEADBEEF\n"), 0, VGPU_REC_MALFORMED },
	{ "input short crc", V("input in-17.bin 32 0000000\n"), 0, VGPU_REC_MALFORMED },
	{ "input two fields", V("input in-17.bin 32\n"), 0, VGPU_REC_MALFORMED },
	{ "output bad", V("seed 7\noutput both\n"), 0, VGPU_REC_MALFORMED },
	{ "timeout_ms negative", V("seed 7\ntimeout_ms -1\n"), 0, VGPU_REC_MALFORMED },
	{ "wrong magic", "VGPX1 REQUEST\nvm 3\nseq 17\nnonce " NONCE "\npriority high\nop ping\n", 0,
	  VGPU_REC_MALFORMED },
	{ "wrong version", "VGPU2 REQUEST\nvm 3\nseq 17\nnonce " NONCE "\npriority high\nop ping\n", 0,
	  VGPU_REC_MALFORMED },
	{ "response header", "VGPU1 RESPONSE\nvm 3\nseq 17\nnonce " NONCE "\npriority high\nop ping\n", 0,
	  VGPU_REC_MALFORMED },
	{ "header trailing space", "VGPU1 REQUEST \nvm 3\nseq 17\nnonce " NONCE "\npriority high\nop ping\n", 0,
	  VGPU_REC_MALFORMED },
	{ "lower-case magic", "vgpu1 request\nvm 3\nseq 17\nnonce " NONCE "\npriority high\nop ping\n", 0,
	  VGPU_REC_MALFORMED },
	{ "empty body", "", 0, VGPU_REC_MALFORMED },
};

START_TEST(test_request_bad_corpus)
{
	const struct bad_case *c = &bad_cases[_i];
	struct vgpu_request r;
	char err[256];
	size_t len = c->len ? c->len : strlen(c->body);

	memset(&r, 0xa5, sizeof(r));
	int rc = decode_sealed(c->body, len, &r, err, sizeof(err));
	ck_assert_msg(rc == c->want, "%s: got %d (%s), want %d", c->what, rc, err, c->want);
	ck_assert_msg(err[0] != '\0', "%s: no reason", c->what);
	for (const char *p = err; *p; p++)     /* the reason goes into a response: printable */
		ck_assert_msg(*p >= 0x20 && *p < 0x7f, "%s: unprintable reason", c->what);
	ck_assert_int_eq(r.op, VGPU_OP_NONE);
	ck_assert_uint_eq(r.vm, 0);
	ck_assert_uint_eq(r.args.n, 0);
}
END_TEST

START_TEST(test_request_value_length)
{
	/* A value of 1024 bytes is refused for its length, before its content is read
	 * (the 1023-byte limit case is in test_response_rejects). */
	static char body[4096];
	struct vgpu_request r;
	char err[256];
	size_t n = (size_t)snprintf(body, sizeof(body), BASE_HDR "op vadd\nn 4\nseed ");

	memset(body + n, '1', 1024);
	n += 1024;
	body[n++] = '\n';
	ck_assert_int_eq(decode_sealed(body, n, &r, err, sizeof(err)), VGPU_REC_MALFORMED);
	ck_assert_msg(strstr(err, "over 1023") != NULL, "%s", err);
}
END_TEST

START_TEST(test_request_framing)
{
	static char buf[2 * VGPU_RECORD_MAX];
	static const char body[] = BASE_HDR "op ping\n";
	struct vgpu_request r;
	char err[256];
	size_t n = seal(body, sizeof(body) - 1, buf, sizeof(buf));

	ck_assert_int_eq(vgpu_request_decode(buf, n, &r, err, sizeof(err)), VGPU_REC_OK);

	/* data after the end line */
	memcpy(buf + n, "x\n", 2);
	ck_assert_int_eq(vgpu_request_decode(buf, n + 2, &r, err, sizeof(err)), VGPU_REC_MALFORMED);
	ck_assert_int_eq(r.seq, 17);              /* echoed for the error response */
	ck_assert_str_eq(r.nonce, NONCE);
	memcpy(buf + n, "end 0 00000000\n", 15);
	ck_assert_int_eq(vgpu_request_decode(buf, n + 15, &r, err, sizeof(err)), VGPU_REC_MALFORMED);

	/* no end line at all, or an end line without its '\n' */
	ck_assert_int_eq(vgpu_request_decode(body, sizeof(body) - 1, &r, err, sizeof(err)), VGPU_REC_INCOMPLETE);
	ck_assert_int_eq(r.seq, 17);
	ck_assert_int_eq(vgpu_request_decode(buf, n - 1, &r, err, sizeof(err)), VGPU_REC_INCOMPLETE);
	ck_assert_int_eq(vgpu_request_decode(buf, 0, &r, err, sizeof(err)), VGPU_REC_INCOMPLETE);
	ck_assert_int_eq(r.seq, 0);
	ck_assert_str_eq(r.nonce, "");

	/* a first line that is not a header makes waiting pointless */
	ck_assert_int_eq(vgpu_request_decode("GARBAGE\nmore", 12, &r, err, sizeof(err)), VGPU_REC_MALFORMED);

	/* LEN and CRC */
	char rec[256];
	size_t bl = sizeof(body) - 1;
	memcpy(rec, body, bl);
	int m = snprintf(rec + bl, sizeof(rec) - bl, "end %zu %08x\n", bl, 0x12345678u);
	ck_assert_int_eq(vgpu_request_decode(rec, bl + (size_t)m, &r, err, sizeof(err)), VGPU_REC_CORRUPT);
	ck_assert_int_eq(r.seq, 17);
	m = snprintf(rec + bl, sizeof(rec) - bl, "end %zu %08" PRIx32 "\n", bl - 1, vgpu_crc32(body, bl));
	ck_assert_int_eq(vgpu_request_decode(rec, bl + (size_t)m, &r, err, sizeof(err)), VGPU_REC_CORRUPT);
	m = snprintf(rec + bl, sizeof(rec) - bl, "end %zu %08" PRIx32 "\n", bl + 1, vgpu_crc32(body, bl));
	ck_assert_int_eq(vgpu_request_decode(rec, bl + (size_t)m, &r, err, sizeof(err)), VGPU_REC_INCOMPLETE);
	m = snprintf(rec + bl, sizeof(rec) - bl, "end %zu %08X\n", bl, 0xABCDEF12u);
	ck_assert_int_eq(vgpu_request_decode(rec, bl + (size_t)m, &r, err, sizeof(err)), VGPU_REC_MALFORMED);
	m = snprintf(rec + bl, sizeof(rec) - bl, "end %zu %08" PRIx32 "\r\n", bl, vgpu_crc32(body, bl));
	ck_assert_int_eq(vgpu_request_decode(rec, bl + (size_t)m, &r, err, sizeof(err)), VGPU_REC_MALFORMED);
	m = snprintf(rec + bl, sizeof(rec) - bl, "end 0%zu %08" PRIx32 "\n", bl, vgpu_crc32(body, bl));
	ck_assert_int_eq(vgpu_request_decode(rec, bl + (size_t)m, &r, err, sizeof(err)), VGPU_REC_MALFORMED);
	m = snprintf(rec + bl, sizeof(rec) - bl, "end\n");
	ck_assert_int_eq(vgpu_request_decode(rec, bl + (size_t)m, &r, err, sizeof(err)), VGPU_REC_MALFORMED);
	m = snprintf(rec + bl, sizeof(rec) - bl, "end 99999 00000000\n");
	ck_assert_int_eq(vgpu_request_decode(rec, bl + (size_t)m, &r, err, sizeof(err)), VGPU_REC_CORRUPT);

	/* over 64 KiB: refused before anything is parsed */
	memset(buf, 'x', VGPU_RECORD_MAX + 1);
	ck_assert_int_eq(vgpu_request_decode(buf, VGPU_RECORD_MAX + 1, &r, err, sizeof(err)), VGPU_REC_TOO_LARGE);
	n = seal(body, sizeof(body) - 1, buf, sizeof(buf));
	memset(buf + n, '\n', VGPU_RECORD_MAX + 1 - n);
	ck_assert_int_eq(vgpu_request_decode(buf, VGPU_RECORD_MAX + 1, &r, err, sizeof(err)), VGPU_REC_TOO_LARGE);
}
END_TEST

/* Every prefix of every valid record is INCOMPLETE or MALFORMED, never OK or CORRUPT. */
START_TEST(test_request_truncated_everywhere)
{
	struct vgpu_request r, d;
	char buf[1024], err[256];
	int i, checked = 0;

	for (i = 0; sample_request(i, &r); i++) {
		int len = vgpu_request_encode(&r, buf, sizeof(buf));
		ck_assert_int_gt(len, 0);
		for (int t = 0; t < len; t++) {
			int rc = vgpu_request_decode(buf, (size_t)t, &d, err, sizeof(err));
			ck_assert_msg(rc == VGPU_REC_INCOMPLETE || rc == VGPU_REC_MALFORMED,
				      "sample %d cut at %d: %d (%s)", i, t, rc, err);
			ck_assert_int_eq(d.op, VGPU_OP_NONE);
			checked++;
		}
	}
	ck_assert_int_gt(checked, 500);
}
END_TEST

/* A changed byte before the end line is CORRUPT; in the end line, never OK. */
START_TEST(test_request_flipped_bytes)
{
	static const unsigned char masks[] = { 0x01, 0x02, 0x10, 0x20, 0x40, 0x80, 0xff };
	struct vgpu_request r, d;
	char buf[1024], err[256];

	for (int i = 0; sample_request(i, &r); i++) {
		int len = vgpu_request_encode(&r, buf, sizeof(buf));
		int body = (int)((const char *)memmem(buf, (size_t)len, "\nend ", 5) - buf) + 1;
		for (int pos = 0; pos < len; pos++)
			for (size_t m = 0; m < sizeof(masks); m++) {
				buf[pos] ^= (char)masks[m];
				int rc = vgpu_request_decode(buf, (size_t)len, &d, err, sizeof(err));
				buf[pos] ^= (char)masks[m];
				/* The '\n' before "end" hides the end line: INCOMPLETE. */
				if (pos < body - 1)
					ck_assert_msg(rc == VGPU_REC_CORRUPT, "sample %d pos %d mask %02x: %d (%s)", i, pos,
						      masks[m], rc, err);
				else
					ck_assert_msg(rc != VGPU_REC_OK, "sample %d pos %d (end line) mask %02x: OK", i,
						      pos, masks[m]);
			}
	}
}
END_TEST

/* ---- sizes and names -------------------------------------------------------------- */

START_TEST(test_sizes)
{
	struct vgpu_request r;

	req_base(&r, VGPU_OP_VADD);
	r.args.n = 1024;
	ck_assert_int_eq(vgpu_request_input_bytes(&r), 8192);
	ck_assert_int_eq(vgpu_request_output_bytes(&r), 4096);
	r.args.n = UINT64_C(1) << 60;              /* 2*n*4 overflows, n*4 = 2^62 does not */
	ck_assert_int_eq(vgpu_request_input_bytes(&r), -1);
	ck_assert_int_eq(vgpu_request_output_bytes(&r), INT64_C(1) << 62);
	r.args.n = UINT64_C(1) << 62;
	ck_assert_int_eq(vgpu_request_output_bytes(&r), -1);
	r.args.n = UINT64_C(1) << 59;              /* 2*n*4 = 2^62 fits; n*4 too */
	ck_assert_int_eq(vgpu_request_input_bytes(&r), INT64_C(1) << 62);
	r.args.n = (UINT64_C(1) << 60) - 1;        /* 2^63 - 8: the largest that fits */
	ck_assert_int_eq(vgpu_request_input_bytes(&r), INT64_MAX - 7);
	r.args.n = UINT64_C(1) << 61;              /* n*4 = 2^63 fits uint64 but not int64 */
	ck_assert_int_eq(vgpu_request_output_bytes(&r), -1);
	req_base(&r, VGPU_OP_SGEMM);
	r.args.m = 2; r.args.n = 3; r.args.k = 4;
	ck_assert_int_eq(vgpu_request_input_bytes(&r), (2 * 4 + 4 * 3) * 4);
	ck_assert_int_eq(vgpu_request_output_bytes(&r), 2 * 3 * 4);
	r.args.m = UINT64_C(1) << 32; r.args.k = UINT64_C(1) << 32;
	ck_assert_int_eq(vgpu_request_input_bytes(&r), -1);
	r.args.m = UINT64_MAX; r.args.k = 1; r.args.n = 2;
	ck_assert_int_eq(vgpu_request_output_bytes(&r), -1);
	req_base(&r, VGPU_OP_PING);
	ck_assert_int_eq(vgpu_request_input_bytes(&r), 0);
	ck_assert_int_eq(vgpu_request_output_bytes(&r), 0);
	req_base(&r, VGPU_OP_LEAK);
	ck_assert_int_eq(vgpu_request_input_bytes(&r), 0);
	req_base(&r, VGPU_OP_NONE);
	ck_assert_int_eq(vgpu_request_input_bytes(&r), -1);
}
END_TEST

START_TEST(test_names)
{
	char name[VGPU_NAME_MAX];

	vgpu_payload_name(name, "in", 17);
	ck_assert_str_eq(name, "in-17.bin");
	vgpu_payload_name(name, "out", VGPU_SEQ_MAX);
	ck_assert_str_eq(name, "out-9223372036854775807.bin");
	vgpu_payload_name(name, "in-", 5);
	ck_assert_str_eq(name, "in-5.bin");
	for (int p = 0; p < VGPU_PRIO_COUNT; p++)
		ck_assert_int_eq(vgpu_prio_parse(vgpu_prio_name(p)), p);
	for (int op = VGPU_OP_NONE + 1; op < VGPU_OP_COUNT; op++)
		ck_assert_int_eq(vgpu_op_parse(vgpu_op_name(op)), op);
	ck_assert_int_eq(vgpu_op_parse("-"), -1);
	ck_assert_int_eq(vgpu_op_parse("VADD"), -1);
	ck_assert_int_eq(vgpu_prio_parse("urgent"), -1);
	ck_assert_str_eq(vgpu_prio_name(VGPU_PRIO_COUNT), "?");
	ck_assert_str_eq(vgpu_op_name(VGPU_OP_COUNT), "?");
	ck_assert(vgpu_op_is_test(VGPU_OP_SPIN) && vgpu_op_is_test(VGPU_OP_LEAK) && vgpu_op_is_test(VGPU_OP_CRASH));
	ck_assert(!vgpu_op_is_test(VGPU_OP_PING) && !vgpu_op_is_test(VGPU_OP_SGEMM));
	ck_assert_uint_eq(vgpu_crc32("123456789", 9), 0xcbf43926u);    /* the CRC-32 check value */
	ck_assert_uint_eq(vgpu_crc32_update(vgpu_crc32("12345", 5), "6789", 4), 0xcbf43926u);
}
END_TEST

/* ---- responses -------------------------------------------------------------------- */

static void resp_base(struct vgpu_response *p)
{
	memset(p, 0, sizeof(*p));
	p->vm = 3;
	p->seq = 17;
	memcpy(p->nonce, NONCE, 17);
	p->status = VGPU_OK;
	p->op = VGPU_OP_VADD;
	p->priority = VGPU_PRIO_MEDIUM;
	p->queue_us = 12;
	p->exec_us = 3456;
	strcpy(p->executor, "cuda:0");
	strcpy(p->result, "count=4 sum=1.5 l2=2 first=-0.25");
	strcpy(p->error, "-");
}

static void assert_resp_eq(const struct vgpu_response *a, const struct vgpu_response *b)
{
	ck_assert_uint_eq(a->vm, b->vm);
	ck_assert_int_eq(a->seq, b->seq);
	ck_assert_str_eq(a->nonce, b->nonce);
	ck_assert_int_eq(a->status, b->status);
	ck_assert_int_eq(a->op, b->op);
	ck_assert_int_eq(a->priority, b->priority);
	ck_assert_uint_eq(a->queue_us, b->queue_us);
	ck_assert_uint_eq(a->exec_us, b->exec_us);
	ck_assert_str_eq(a->executor, b->executor);
	ck_assert_str_eq(a->result, b->result);
	ck_assert_str_eq(a->output.name, b->output.name);
	ck_assert_uint_eq(a->output.bytes, b->output.bytes);
	ck_assert_uint_eq(a->output.crc, b->output.crc);
	ck_assert_str_eq(a->error, b->error);
	ck_assert_int_eq(a->answered, b->answered);
}

START_TEST(test_response_round_trip)
{
	struct vgpu_response p, d;
	char buf[4096], err[256];
	int len;

	for (int st = 0; st < VGPU_STATUS_COUNT; st++) {
		resp_base(&p);
		p.status = st;
		if (st == VGPU_OK) {
			vgpu_payload_name(p.output.name, "out", p.seq);
			p.output.bytes = 16;
			p.output.crc = 0xfeedf00d;
		} else {
			strcpy(p.result, "-");
			snprintf(p.error, sizeof(p.error), "status %s: something went wrong", vgpu_status_name(st));
		}
		len = vgpu_response_encode(&p, buf, sizeof(buf));
		ck_assert_int_gt(len, 0);
		ck_assert_int_eq(vgpu_response_decode(buf, (size_t)len, &d, err, sizeof(err)), VGPU_REC_OK);
		assert_resp_eq(&p, &d);
	}
	/* the answer to an unparsable request */
	resp_base(&p);
	p.seq = 0;
	memcpy(p.nonce, "0000000000000000", 17);
	p.op = VGPU_OP_NONE;
	p.status = VGPU_BAD_REQUEST;
	strcpy(p.executor, "-");
	strcpy(p.result, "-");
	memset(p.error, 'e', VGPU_VALUE_MAX);     /* the longest value */
	p.error[VGPU_VALUE_MAX] = '\0';
	len = vgpu_response_encode(&p, buf, sizeof(buf));
	ck_assert_int_gt(len, 0);
	ck_assert_int_eq(vgpu_response_decode(buf, (size_t)len, &d, err, sizeof(err)), VGPU_REC_OK);
	assert_resp_eq(&p, &d);
	for (int t = 0; t < len; t++)
		ck_assert_int_ne(vgpu_response_decode(buf, (size_t)t, &d, err, sizeof(err)), VGPU_REC_OK);

	/* the optional high-water mark: present, absent, and never 0 on the wire */
	resp_base(&p);
	p.answered = 41;
	len = vgpu_response_encode(&p, buf, sizeof(buf));
	ck_assert_int_gt(len, 0);
	ck_assert_ptr_nonnull(memmem(buf, (size_t)len, "\nanswered 41\n", 13));
	ck_assert_int_eq(vgpu_response_decode(buf, (size_t)len, &d, err, sizeof(err)), VGPU_REC_OK);
	ck_assert_int_eq(d.answered, 41);
	p.answered = 0;
	len = vgpu_response_encode(&p, buf, sizeof(buf));
	ck_assert_ptr_null(memmem(buf, (size_t)len, "answered", 8));
	ck_assert_int_eq(vgpu_response_decode(buf, (size_t)len, &d, err, sizeof(err)), VGPU_REC_OK);
	ck_assert_int_eq(d.answered, 0);
}
END_TEST

/* The property the encoders' self-check asserts (record.c's selfcheck_response, compiled
 * out of release builds): whatever vgpu_response_encode() takes, it writes a record the
 * decoder accepts, decoding to the same fields, canonically. Random answers: every status,
 * op and priority, seqs and times up to the type's limits, free text up to the cap. */
START_TEST(test_response_random_round_trip)
{
	static char buf[VGPU_RECORD_MAX], again[VGPU_RECORD_MAX];
	struct vgpu_response p, d;
	char err[256];
	unsigned x = 12345;
	int encoded = 0;

	for (int i = 0; i < 20000; i++) {
		uint64_t big;
		int len, len2;

		x = x * 1103515245u + 12345u;
		big = ((uint64_t)x << 32) ^ ((uint64_t)x * 2654435761u);
		memset(&p, 0, sizeof(p));
		p.vm = 1 + x % VGPU_VM_MAX;
		p.seq = i % 3 ? (int64_t)(big >> (x % 64)) & INT64_MAX : i;
		snprintf(p.nonce, sizeof(p.nonce), "%016" PRIx64, big);
		p.status = (int)(x % VGPU_STATUS_COUNT);
		p.op = (enum vgpu_op)(big % VGPU_OP_COUNT);
		p.priority = (enum vgpu_prio)((x >> 7) % VGPU_PRIO_COUNT);
		p.queue_us = big >> (x % 64);
		p.exec_us = i % 5 ? x : UINT64_MAX >> (x % 64);
		strcpy(p.executor, i % 2 ? "mock" : "cuda:3");
		if (i % 4)
			snprintf(p.result, sizeof(p.result), "sum %u", x);
		else
			strcpy(p.result, "-");
		if (i % 9 == 0) {
			memset(p.error, 'a' + i % 26, VGPU_VALUE_MAX);
			p.error[VGPU_VALUE_MAX] = '\0';
		} else {
			snprintf(p.error, sizeof(p.error), i % 3 ? "-" : "some error %u: x", x);
		}
		if (i % 7 == 0 && p.seq > 0) {
			vgpu_payload_name(p.output.name, "out", p.seq);
			p.output.bytes = big;
			p.output.crc = x;
		}
		p.answered = i % 11 == 0 && p.seq < INT64_MAX - 5 ? p.seq + 5 : 0;
		len = vgpu_response_encode(&p, buf, sizeof(buf));
		if (len < 0)
			continue;     /* refused up front (e.g. an answered mark past INT64_MAX) */
		encoded++;
		ck_assert_msg(vgpu_response_decode(buf, (size_t)len, &d, err, sizeof(err)) == VGPU_REC_OK,
			      "record %d encoded but not decoded: %s\n%.*s", i, err, len, buf);
		assert_resp_eq(&p, &d);
		len2 = vgpu_response_encode(&d, again, sizeof(again));
		ck_assert_int_eq(len2, len);
		ck_assert(memcmp(buf, again, (size_t)len) == 0);
	}
	ck_assert_int_gt(encoded, 15000);
}
END_TEST

START_TEST(test_response_rejects)
{
	struct vgpu_response p, d;
	char buf[4096], body[4096], err[256];
	int len;

	resp_base(&p);
	strcpy(p.error, "two\nlines");
	ck_assert_int_eq(vgpu_response_encode(&p, buf, sizeof(buf)), -EINVAL);
	resp_base(&p);
	strcpy(p.result, "caf\xc3\xa9");
	ck_assert_int_eq(vgpu_response_encode(&p, buf, sizeof(buf)), -EINVAL);
	resp_base(&p);
	strcpy(p.executor, "cuda 0");
	ck_assert_int_eq(vgpu_response_encode(&p, buf, sizeof(buf)), -EINVAL);
	resp_base(&p);
	p.status = VGPU_STATUS_COUNT;
	ck_assert_int_eq(vgpu_response_encode(&p, buf, sizeof(buf)), -EINVAL);
	resp_base(&p);
	strcpy(p.output.name, "out-18.bin");
	ck_assert_int_eq(vgpu_response_encode(&p, buf, sizeof(buf)), -EINVAL);
	resp_base(&p);
	ck_assert_int_eq(vgpu_response_encode(&p, buf, 64), -ENOSPC);

	/* hand-made bodies with a correct end line */
	static const struct { const char *what, *text; } cases[] = {
		{ "status name mismatch", "status 0 BAD_REQUEST\n" },
		{ "status unknown code", "status 99 OK\n" },
		{ "status no name", "status 0\n" },
		{ "output of another seq", "status 0 OK\noutput out-16.bin 4 00000000\n" },
		{ "output traversal", "status 0 OK\noutput ../out-17.bin 4 00000000\n" },
		{ "missing status", "" },
		{ "duplicate status", "status 0 OK\nstatus 0 OK\n" },
		{ "unknown key", "status 0 OK\nextra 1\n" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = snprintf(body, sizeof(body),
				 "VGPU1 RESPONSE\nvm 3\nseq 17\nnonce " NONCE "\n%sop vadd\npriority low\nqueue_us 1\n"
				 "exec_us 2\nexecutor mock\nresult -\nerror -\n", cases[i].text);
		len = (int)seal(body, (size_t)n, buf, sizeof(buf));
		ck_assert_msg(vgpu_response_decode(buf, (size_t)len, &d, err, sizeof(err)) == VGPU_REC_MALFORMED,
			      "%s: not MALFORMED", cases[i].what);
		ck_assert_int_eq(d.seq, 17);
	}
	/* a 1024-byte value */
	int n = snprintf(body, sizeof(body),
			 "VGPU1 RESPONSE\nvm 3\nseq 17\nnonce " NONCE "\nstatus 1 BAD_REQUEST\nop vadd\npriority low\n"
			 "queue_us 1\nexec_us 2\nexecutor mock\nresult -\nerror ");
	memset(body + n, 'e', 1024);
	n += 1024;
	body[n++] = '\n';
	len = (int)seal(body, (size_t)n, buf, sizeof(buf));
	ck_assert_int_eq(vgpu_response_decode(buf, (size_t)len, &d, err, sizeof(err)), VGPU_REC_MALFORMED);
	/* the same with 1023 is fine */
	memmove(body + n - 2, body + n - 1, 1);
	len = (int)seal(body, (size_t)n - 1, buf, sizeof(buf));
	ck_assert_int_eq(vgpu_response_decode(buf, (size_t)len, &d, err, sizeof(err)), VGPU_REC_OK);
	ck_assert_uint_eq(strlen(d.error), 1023);
}
END_TEST

/* ---- fuzz ------------------------------------------------------------------------- */

static uint64_t rng_state;
static uint64_t rng(void)
{
	uint64_t x = (rng_state += 0x9e3779b97f4a7c15ULL);
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Mutate BUF (LEN bytes, CAP) in place; returns the new length. */
static size_t mutate(char *buf, size_t len, size_t cap)
{
	static const char specials[] = { '\0', '\n', '\r', ' ', '0', '9', '-', '+', 'a', 'f', 'z', '_', (char)0x80,
					 (char)0xff, 'e', '\t' };
	int rounds = 1 + (int)(rng() % 4);

	for (int k = 0; k < rounds && len > 0; k++) {
		size_t pos = rng() % len;
		switch (rng() % 7) {
		case 0: buf[pos] ^= (char)(1u << (rng() % 8)); break;
		case 1: buf[pos] = specials[rng() % sizeof(specials)]; break;
		case 2: buf[pos] = (char)rng(); break;
		case 3:                                   /* insert */
			if (len < cap) {
				memmove(buf + pos + 1, buf + pos, len - pos);
				buf[pos] = specials[rng() % sizeof(specials)];
				len++;
			}
			break;
		case 4:                                   /* delete */
			memmove(buf + pos, buf + pos + 1, len - pos - 1);
			len--;
			break;
		case 5: len = pos; break;                 /* truncate */
		case 6: {                                 /* duplicate a span */
			size_t span = 1 + rng() % 16;
			if (pos + span <= len && len + span <= cap) {
				memmove(buf + pos + span, buf + pos, len - pos);
				len += span;
			}
			break;
		}
		}
	}
	return len;
}

START_TEST(test_request_fuzz)
{
	const char *s = getenv("VGPU_FUZZ_SEED"), *it = getenv("VGPU_FUZZ_ITERS");
	uint64_t seed = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL);
	long iters = it ? atol(it) : 40000;
	struct vgpu_request r, d, d2;
	char orig[1024], buf[1200], re[1200], err[256];
	long mutated = 0, resealed_ok = 0;
	int nsamples = 0;

	fprintf(stderr, "test_request_fuzz: VGPU_FUZZ_SEED=%" PRIu64 " VGPU_FUZZ_ITERS=%ld\n", seed, iters);
	rng_state = seed;
	while (sample_request(nsamples, &r))
		nsamples++;
	for (long i = 0; i < iters; i++) {
		sample_request((int)(rng() % (uint64_t)nsamples), &r);
		int olen = vgpu_request_encode(&r, orig, sizeof(orig));
		ck_assert_int_gt(olen, 0);
		memcpy(buf, orig, (size_t)olen);
		size_t len = mutate(buf, (size_t)olen, sizeof(buf));
		if (len == (size_t)olen && memcmp(buf, orig, len) == 0)
			continue;
		mutated++;
		int rc = vgpu_request_decode(buf, len, &d, err, sizeof(err));
		ck_assert_msg(rc != VGPU_REC_OK, "seed %" PRIu64 " iter %ld: mutated record accepted:\n%.*s", seed, i,
			      (int)len, buf);
		ck_assert_msg(rc == VGPU_REC_INCOMPLETE || rc == VGPU_REC_CORRUPT || rc == VGPU_REC_MALFORMED ||
			      rc == VGPU_REC_UNKNOWN_OP, "seed %" PRIu64 " iter %ld: rc %d", seed, i, rc);
		ck_assert_int_eq(d.op, VGPU_OP_NONE);

		/* Re-seal the mutated body (up to its first end line) with a correct LEN and
		 * CRC: now it may be OK, and if so it must re-encode to an equal request. */
		const char *e = memmem(buf, len, "\nend ", 5);
		size_t body = e ? (size_t)(e - buf) + 1 : len;
		char sealed[1300];
		if (body == 0 || buf[body - 1] != '\n')
			buf[body++] = '\n';      /* so that the sealed end line starts a line */
		size_t slen = seal(buf, body, sealed, sizeof(sealed));
		rc = vgpu_request_decode(sealed, slen, &d, err, sizeof(err));
		ck_assert_msg(rc == VGPU_REC_OK || rc == VGPU_REC_MALFORMED || rc == VGPU_REC_UNKNOWN_OP, "seed %" PRIu64 " iter %ld: re-sealed rc %d:\n%.*s",
			      seed, i, rc, (int)slen, sealed);
		if (rc == VGPU_REC_OK) {
			resealed_ok++;
			int rlen = vgpu_request_encode(&d, re, sizeof(re));
			ck_assert_int_gt(rlen, 0);
			ck_assert_int_eq(vgpu_request_decode(re, (size_t)rlen, &d2, err, sizeof(err)), VGPU_REC_OK);
			assert_req_eq(&d, &d2);
		}
	}
	fprintf(stderr, "test_request_fuzz: %ld mutated, %ld re-sealed records still valid\n", mutated,
		resealed_ok);
	ck_assert_int_gt(mutated, iters / 2);
}
END_TEST

static Suite *record_suite(void)
{
	Suite *s = suite_create("record");
	TCase *tc = tcase_create("request");
	TCase *tr = tcase_create("response");
	TCase *tf = tcase_create("fuzz");

	tcase_add_test(tc, test_request_round_trip_every_op);
	tcase_add_test(tc, test_request_canonical_text);
	tcase_add_test(tc, test_request_encode_rejects);
	tcase_add_loop_test(tc, test_request_bad_corpus, 0, (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
	tcase_add_test(tc, test_request_value_length);
	tcase_add_test(tc, test_request_framing);
	tcase_add_test(tc, test_request_truncated_everywhere);
	tcase_add_test(tc, test_request_flipped_bytes);
	tcase_add_test(tc, test_sizes);
	tcase_add_test(tc, test_names);
	suite_add_tcase(s, tc);
	tcase_add_test(tr, test_response_round_trip);
	tcase_add_test(tr, test_response_random_round_trip);
	tcase_add_test(tr, test_response_rejects);
	suite_add_tcase(s, tr);
	tcase_add_test(tf, test_request_fuzz);
	tcase_set_timeout(tf, 120);
	suite_add_tcase(s, tf);
	return s;
}

TU_CHECK_MAIN(record_suite)
