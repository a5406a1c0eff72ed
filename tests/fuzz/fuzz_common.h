/* fuzz_common.h - what the libFuzzer targets of tests/fuzz/ share: field-by-field
 * comparison of decoded records, and a loud abort naming the field that differs (so
 * that libFuzzer keeps the input as a crash and the stack says which field). */
#ifndef VGPU_FUZZ_COMMON_H
#define VGPU_FUZZ_COMMON_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/record.h"

#define FUZZ_FAIL(...) do { \
		fprintf(stderr, "fuzz: %s:%d: ", __FILE__, __LINE__); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
		abort(); \
	} while (0)

#define FUZZ_EQ_INT(a, b, what) do { \
		if ((a) != (b)) \
			FUZZ_FAIL("round trip: %s differs: %" PRId64 " vs %" PRId64, what, (int64_t)(a), (int64_t)(b)); \
	} while (0)
#define FUZZ_EQ_U64(a, b, what) do { \
		if ((uint64_t)(a) != (uint64_t)(b)) \
			FUZZ_FAIL("round trip: %s differs: %" PRIu64 " vs %" PRIu64, what, (uint64_t)(a), (uint64_t)(b)); \
	} while (0)
#define FUZZ_EQ_STR(a, b, what) do { \
		if (strncmp((a), (b), sizeof(a)) != 0) \
			FUZZ_FAIL("round trip: %s differs: '%.*s' vs '%.*s'", what, (int)sizeof(a), (a), (int)sizeof(b), (b)); \
	} while (0)

static inline void fuzz_eq_payload(const struct vgpu_payload_ref *a, const struct vgpu_payload_ref *b, const char *what)
{
	char w[64];

	snprintf(w, sizeof(w), "%s.name", what);
	FUZZ_EQ_STR(a->name, b->name, w);
	snprintf(w, sizeof(w), "%s.bytes", what);
	FUZZ_EQ_U64(a->bytes, b->bytes, w);
	snprintf(w, sizeof(w), "%s.crc", what);
	FUZZ_EQ_U64(a->crc, b->crc, w);
}

/* The float argument compared by bits: -0 and 0 are different values of the record. */
static inline void fuzz_eq_float(float a, float b, const char *what)
{
	uint32_t x, y;

	memcpy(&x, &a, sizeof(x));
	memcpy(&y, &b, sizeof(y));
	if (x != y)
		FUZZ_FAIL("round trip: %s differs: %.9g (%08" PRIx32 ") vs %.9g (%08" PRIx32 ")", what, (double)a, x,
			  (double)b, y);
}

static inline void fuzz_eq_request(const struct vgpu_request *a, const struct vgpu_request *b)
{
	FUZZ_EQ_U64(a->vm, b->vm, "vm");
	FUZZ_EQ_INT(a->seq, b->seq, "seq");
	FUZZ_EQ_STR(a->nonce, b->nonce, "nonce");
	FUZZ_EQ_INT(a->priority, b->priority, "priority");
	FUZZ_EQ_INT(a->op, b->op, "op");
	FUZZ_EQ_U64(a->args.n, b->args.n, "args.n");
	FUZZ_EQ_U64(a->args.m, b->args.m, "args.m");
	FUZZ_EQ_U64(a->args.k, b->args.k, "args.k");
	fuzz_eq_float(a->args.alpha, b->args.alpha, "args.alpha");
	FUZZ_EQ_U64(a->args.has_seed, b->args.has_seed, "args.has_seed");
	FUZZ_EQ_U64(a->args.seed, b->args.seed, "args.seed");
	FUZZ_EQ_U64(a->args.ms, b->args.ms, "args.ms");
	FUZZ_EQ_U64(a->args.bytes, b->args.bytes, "args.bytes");
	/* kernel: every field, and the whole struct by bytes (unused slots stay zero,
	 * a double compared by bits: -0 and 0 are different values of the record) */
	FUZZ_EQ_STR(a->args.kernel.entry, b->args.kernel.entry, "args.kernel.entry");
	FUZZ_EQ_U64(a->args.kernel.nargs, b->args.kernel.nargs, "args.kernel.nargs");
	FUZZ_EQ_U64(a->args.kernel.ptx, b->args.kernel.ptx, "args.kernel.ptx");
	FUZZ_EQ_U64(a->args.kernel.shared, b->args.kernel.shared, "args.kernel.shared");
	if (memcmp(&a->args.kernel, &b->args.kernel, sizeof(a->args.kernel)) != 0)
		FUZZ_FAIL("round trip: args.kernel differs (grid, block or an argument)");
	fuzz_eq_payload(&a->input, &b->input, "input");
	FUZZ_EQ_INT(a->output_file, b->output_file, "output_file");
	FUZZ_EQ_U64(a->timeout_ms, b->timeout_ms, "timeout_ms");
}

static inline void fuzz_eq_response(const struct vgpu_response *a, const struct vgpu_response *b)
{
	FUZZ_EQ_U64(a->vm, b->vm, "vm");
	FUZZ_EQ_INT(a->seq, b->seq, "seq");
	FUZZ_EQ_STR(a->nonce, b->nonce, "nonce");
	FUZZ_EQ_INT(a->status, b->status, "status");
	FUZZ_EQ_INT(a->op, b->op, "op");
	FUZZ_EQ_INT(a->priority, b->priority, "priority");
	FUZZ_EQ_U64(a->queue_us, b->queue_us, "queue_us");
	FUZZ_EQ_U64(a->exec_us, b->exec_us, "exec_us");
	FUZZ_EQ_STR(a->executor, b->executor, "executor");
	FUZZ_EQ_STR(a->result, b->result, "result");
	fuzz_eq_payload(&a->output, &b->output, "output");
	FUZZ_EQ_STR(a->error, b->error, "error");
	FUZZ_EQ_INT(a->answered, b->answered, "answered");
}

/* What every decoder promises on failure (record.h): the struct is zeroed except seq
 * and nonce, and the nonce, when set, is 16 lowercase hex digits; ERR is a C string. */
static inline void fuzz_check_err(const char *err, size_t errlen)
{
	if (memchr(err, '\0', errlen) == NULL)
		FUZZ_FAIL("decode: the reason is not NUL-terminated");
	if (err[0] == '\0')
		FUZZ_FAIL("decode: failed without a reason");
}

/* The body of DATA (the bytes before its end line, found as the decoder finds it: the
 * first line that starts with "end "; all of DATA when there is none) with a correct
 * "end LEN CRC" line appended, into OUT (CAP bytes). Its length, or 0 when it does not
 * fit. A mutated record almost never carries a matching CRC-32, so without this the
 * fuzzer would hardly get past the frame check into the field parsers. */
static inline size_t fuzz_reframe(const uint8_t *data, size_t size, char *out, size_t cap)
{
	size_t body = size;
	int n;

	for (size_t ls = 0; ls < size;) {
		const uint8_t *nl = memchr(data + ls, '\n', size - ls);
		if (size - ls >= 4 && (memcmp(data + ls, "end ", 4) == 0 || memcmp(data + ls, "end\n", 4) == 0)) {
			body = ls;
			break;
		}
		if (!nl)
			break;
		ls = (size_t)(nl - data) + 1;
	}
	if (body + 32 > cap)
		return 0;
	memcpy(out, data, body);
	n = snprintf(out + body, cap - body, "end %zu %08" PRIx32 "\n", body, vgpu_crc32(data, body));
	return n > 0 && (size_t)n < cap - body ? body + (size_t)n : 0;
}

/* One record format's round trip, for fuzz_round_trip(): its codec (each a wrapper of
 * the typed function, so that no function is called through a pointer of another
 * type), three structs of it, and what each target checks on failure and compares. */
struct fuzz_codec {
	int (*decode)(const char *buf, size_t len, void *rec, char *err, size_t errlen);
	int (*encode)(const void *rec, char *buf, size_t cap);
	/* aborts naming the field that differs */
	void (*eq)(const void *a, const void *b);
	void *rec[3];
	size_t size;            /* of one struct */
	/* what a failed decode leaves (record.h): the struct zeroed, but for the salvaged seq
	 * (an int64_t at SEQ_OFF) and nonce (NONCE_LEN bytes at NONCE_OFF) when SALVAGED */
	int salvaged;
	size_t seq_off, nonce_off, nonce_len;
	int unknown_op;         /* UNKNOWN_OP is one of its outcomes */
	int prefix_incomplete;  /* 1: a strict prefix must be INCOMPLETE; 0: refused */
};

/* A failed decode (RC): one of the format's outcomes, with a reason, the struct as
 * record.h promises; a salvaged seq is >= 0, a salvaged nonce 16 lowercase hex digits. */
static inline void fuzz_check_failure(const struct fuzz_codec *c, int rc, const void *rec, const char *err,
				      size_t errlen)
{
	const unsigned char *b = rec;
	const char *nonce = (const char *)rec + c->nonce_off;
	int64_t seq = 0;

	if (rc != VGPU_REC_INCOMPLETE && rc != VGPU_REC_CORRUPT && rc != VGPU_REC_MALFORMED &&
	    rc != VGPU_REC_TOO_LARGE && !(c->unknown_op && rc == VGPU_REC_UNKNOWN_OP))
		FUZZ_FAIL("decode: returned %d, not an outcome of enum vgpu_rec_result", rc);
	fuzz_check_err(err, errlen);
	for (size_t i = 0; i < c->size; i++) {
		int kept = c->salvaged && ((i >= c->seq_off && i < c->seq_off + sizeof(seq)) ||
					   (i >= c->nonce_off && i < c->nonce_off + c->nonce_len));

		if (b[i] && !kept)
			FUZZ_FAIL(c->salvaged ? "decode: failed (%d) but the struct holds more than seq and nonce"
					      : "decode: failed (%d) but the struct is not zeroed", rc);
	}
	if (!c->salvaged)
		return;
	memcpy(&seq, b + c->seq_off, sizeof(seq));
	if (seq < 0 || (nonce[0] && !(strnlen(nonce, c->nonce_len) == 16 && strspn(nonce, "0123456789abcdef") == 16)))
		FUZZ_FAIL("decode: salvaged seq %" PRId64 " / nonce '%.17s' out of the grammar", seq, nonce);
}

/* Any bytes: the decoder returns one of its outcomes (check_failure). A record it
 * accepts is no larger than the cap and round-trips: the encoder takes it, the encoding
 * decodes to the same struct (eq), re-encodes to the same bytes, and strict prefixes
 * of it (the last byte gone, and a cut that the input picks) are INCOMPLETE, or at
 * least refused. */
static inline void fuzz_round_trip(const struct fuzz_codec *c, const uint8_t *data, size_t size)
{
	static char enc[VGPU_RECORD_MAX + 1], enc2[VGPU_RECORD_MAX + 1];
	char err[256];
	int rc, len, len2;

	memset(err, 'X', sizeof(err));
	rc = c->decode((const char *)data, size, c->rec[0], err, sizeof(err));
	if (rc != VGPU_REC_OK) {
		fuzz_check_failure(c, rc, c->rec[0], err, sizeof(err));
		return;
	}
	if (size > VGPU_RECORD_MAX)
		FUZZ_FAIL("decode: accepted %zu bytes, over the cap", size);

	len = c->encode(c->rec[0], enc, sizeof(enc));
	if (len <= 0)
		FUZZ_FAIL("encode: failed (%d) for a record the decoder accepted", len);
	rc = c->decode(enc, (size_t)len, c->rec[1], err, sizeof(err));
	if (rc != VGPU_REC_OK)
		FUZZ_FAIL("decode of the encoding: %d (%s)", rc, err);
	c->eq(c->rec[0], c->rec[1]);

	/* The encoding is canonical: a second trip gives the same bytes. */
	len2 = c->encode(c->rec[1], enc2, sizeof(enc2));
	if (len2 != len || memcmp(enc, enc2, (size_t)len) != 0)
		FUZZ_FAIL("encode: not canonical (%d vs %d bytes)", len, len2);

	/* Strict prefixes: a record still being written is never taken for a damaged one. */
	size_t cuts[2] = { (size_t)len - 1, size % (size_t)len };
	for (int i = 0; i < 2; i++) {
		rc = c->decode(enc, cuts[i], c->rec[2], err, sizeof(err));
		if (c->prefix_incomplete && rc != VGPU_REC_INCOMPLETE)
			FUZZ_FAIL("decode of a %zu-byte prefix of a %d-byte record: %d (%s), not INCOMPLETE", cuts[i], len,
				  rc, err);
		if (!c->prefix_incomplete && rc == VGPU_REC_OK)
			FUZZ_FAIL("decode of a %zu-byte prefix of a %d-byte record accepted", cuts[i], len);
	}
}

/* A target's LLVMFuzzerTestOneInput: each input twice, as it is (the frame check:
 * INCOMPLETE, CORRUPT, TOO_LARGE), and with its end line made right (fuzz_reframe), so
 * that mutations reach the field parsers. */
static inline int fuzz_one_input(const struct fuzz_codec *c, const uint8_t *data, size_t size)
{
	static char framed[VGPU_RECORD_MAX + 64];
	size_t n;

	fuzz_round_trip(c, data, size);
	if ((n = fuzz_reframe(data, size, framed, sizeof(framed))) > 0)
		fuzz_round_trip(c, (const uint8_t *)framed, n);
	return 0;
}

#endif
