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

static char enc[VGPU_RECORD_MAX + 1], enc2[VGPU_RECORD_MAX + 1], framed[VGPU_RECORD_MAX + 64];

static void one(const uint8_t *data, size_t size)
{
	struct vgpu_status_rec s, s2, s3, z;
	char err[256];
	int rc, len, len2;

	memset(err, 'X', sizeof(err));
	rc = vgpu_status_rec_decode((const char *)data, size, &s, err, sizeof(err));
	if (rc != VGPU_REC_OK) {
		if (rc != VGPU_REC_INCOMPLETE && rc != VGPU_REC_CORRUPT && rc != VGPU_REC_MALFORMED &&
		    rc != VGPU_REC_TOO_LARGE)
			FUZZ_FAIL("decode: returned %d, not an outcome of enum vgpu_rec_result", rc);
		fuzz_check_err(err, sizeof(err));
		memset(&z, 0, sizeof(z));
		if (memcmp(&z, &s, sizeof(z)) != 0)
			FUZZ_FAIL("decode: failed (%d) but the struct is not zeroed", rc);
		return;
	}
	if (size > VGPU_RECORD_MAX)
		FUZZ_FAIL("decode: accepted %zu bytes, over the cap", size);
	len = vgpu_status_rec_encode(&s, enc, sizeof(enc));
	if (len <= 0)
		FUZZ_FAIL("encode: failed (%d) for a record the decoder accepted", len);
	rc = vgpu_status_rec_decode(enc, (size_t)len, &s2, err, sizeof(err));
	if (rc != VGPU_REC_OK)
		FUZZ_FAIL("decode of the encoding: %d (%s)", rc, err);
	if (memcmp(&s, &s2, sizeof(s)) != 0)
		FUZZ_FAIL("decode(encode(s)) differs from s");
	len2 = vgpu_status_rec_encode(&s2, enc2, sizeof(enc2));
	if (len2 != len || memcmp(enc, enc2, (size_t)len) != 0)
		FUZZ_FAIL("encode: not canonical (%d vs %d bytes)", len, len2);
	size_t cuts[2] = { (size_t)len - 1, size % (size_t)len };
	for (int i = 0; i < 2; i++)
		if (vgpu_status_rec_decode(enc, cuts[i], &s3, err, sizeof(err)) == VGPU_REC_OK)
			FUZZ_FAIL("decode of a %zu-byte prefix of a %d-byte record accepted", cuts[i], len);
}

/* As it is, and with its end line made right (fuzz_reframe) to reach the fields. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n;

	one(data, size);
	if ((n = fuzz_reframe(data, size, framed, sizeof(framed))) > 0)
		one((const uint8_t *)framed, n);
	return 0;
}
