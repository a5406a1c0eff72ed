/* fuzz_request.c - libFuzzer target: the request parser (vgpu_request_decode).
 *
 * Any bytes: the decoder returns one of its outcomes, with a reason on failure and the
 * struct zeroed but for the salvaged seq and nonce (record.h). A record it accepts
 * round-trips: vgpu_request_encode() must take it (it has no documented failure for a
 * decoded request: every value is canonical and the record stays far below the cap),
 * the encoding decodes to the same struct field by field, re-encodes to the same bytes,
 * and each strict prefix of it is INCOMPLETE (a record still being written is never
 * taken for a damaged one). Build and run: tests/fuzz/fuzz.mk, docs/SECURITY.md. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int decode(const char *buf, size_t len, void *rec, char *err, size_t errlen)
{
	return vgpu_request_decode(buf, len, rec, err, errlen);
}

static int encode(const void *rec, char *buf, size_t cap)
{
	return vgpu_request_encode(rec, buf, cap);
}

static void eq(const void *a, const void *b)
{
	fuzz_eq_request(a, b);
}

static struct vgpu_request rec[3];
static const struct fuzz_codec codec = {
	.decode = decode, .encode = encode, .eq = eq, .rec = { &rec[0], &rec[1], &rec[2] }, .size = sizeof(rec[0]),
	.salvaged = 1, .seq_off = offsetof(struct vgpu_request, seq), .nonce_off = offsetof(struct vgpu_request, nonce),
	.nonce_len = sizeof(rec[0].nonce), .unknown_op = 1, .prefix_incomplete = 1,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_one_input(&codec, data, size);
}
