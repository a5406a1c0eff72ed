/* fuzz_status.c - libFuzzer target: the status record parser (vgpu_status_rec_decode),
 * which a VM's client runs on vmN/status.txt (docs/PROTOCOL.md section 10).
 *
 * Any bytes: the decoder returns one of its outcomes, with a reason on failure and the
 * struct zeroed. A record it accepts round-trips: the encoder takes it, the encoding
 * decodes to the same struct, re-encodes to the same bytes, and every strict prefix of
 * it is refused. Build and run: tests/fuzz/fuzz.mk, docs/SECURITY.md. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "lib/record_status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int decode(const char *buf, size_t len, void *rec, char *err, size_t errlen)
{
	return vgpu_status_rec_decode(buf, len, rec, err, errlen);
}

static int encode(const void *rec, char *buf, size_t cap)
{
	return vgpu_status_rec_encode(rec, buf, cap);
}

static void eq(const void *a, const void *b)
{
	if (memcmp(a, b, sizeof(struct vgpu_status_rec)) != 0)
		FUZZ_FAIL("decode(encode(s)) differs from s");
}

/* A failure leaves the struct zeroed; every strict prefix is refused (not necessarily
 * INCOMPLETE). */
static struct vgpu_status_rec rec[3];
static const struct fuzz_codec codec = {
	.decode = decode, .encode = encode, .eq = eq, .rec = { &rec[0], &rec[1], &rec[2] }, .size = sizeof(rec[0]),
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_one_input(&codec, data, size);
}
