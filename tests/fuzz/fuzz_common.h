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

#endif
