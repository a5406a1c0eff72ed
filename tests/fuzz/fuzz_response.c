/* fuzz_response.c - libFuzzer target: the response parser (vgpu_response_decode).
 *
 * Any bytes: the decoder returns one of its outcomes, with a reason on failure and the
 * struct zeroed but for the salvaged seq and nonce (record.h). A record it accepts
 * round-trips: vgpu_response_encode() must take it (it has no documented failure for a
 * decoded response: every value is canonical and the record stays far below the cap),
 * the encoding decodes to the same struct field by field, re-encodes to the same bytes,
 * and each strict prefix of it is INCOMPLETE (a record still being written is never
 * taken for a damaged one). Build and run: tests/fuzz/fuzz.mk, docs/SECURITY.md. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char enc[VGPU_RECORD_MAX + 1], enc2[VGPU_RECORD_MAX + 1], framed[VGPU_RECORD_MAX + 64];

static void check_failure(int rc, const struct vgpu_response *r, const char *err, size_t errlen)
{
	struct vgpu_response z;

	if (rc != VGPU_REC_INCOMPLETE && rc != VGPU_REC_CORRUPT && rc != VGPU_REC_MALFORMED &&
	    rc != VGPU_REC_TOO_LARGE && rc != VGPU_REC_UNKNOWN_OP)
		FUZZ_FAIL("decode: returned %d, not an outcome of enum vgpu_rec_result", rc);
	fuzz_check_err(err, errlen);
	memset(&z, 0, sizeof(z));
	z.seq = r->seq;
	memcpy(z.nonce, r->nonce, sizeof(z.nonce));
	if (memcmp(&z, r, sizeof(z)) != 0)
		FUZZ_FAIL("decode: failed (%d) but the struct holds more than seq and nonce", rc);
	if (r->seq < 0 || (r->nonce[0] && !(strlen(r->nonce) == 16 && strspn(r->nonce, "0123456789abcdef") == 16)))
		FUZZ_FAIL("decode: salvaged seq %" PRId64 " / nonce '%.17s' out of the grammar", r->seq, r->nonce);
}

static void one(const uint8_t *data, size_t size);

/* Each input twice: as it is (the frame check: INCOMPLETE, CORRUPT, TOO_LARGE), and with
 * its end line made right (fuzz_reframe), so that mutations reach the field parsers. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n;

	one(data, size);
	if ((n = fuzz_reframe(data, size, framed, sizeof(framed))) > 0)
		one((const uint8_t *)framed, n);
	return 0;
}

static void one(const uint8_t *data, size_t size)
{
	struct vgpu_response r, r2, r3;
	char err[256];
	int rc, len, len2;

	memset(err, 'X', sizeof(err));
	rc = vgpu_response_decode((const char *)data, size, &r, err, sizeof(err));
	if (rc != VGPU_REC_OK) {
		check_failure(rc, &r, err, sizeof(err));
		return;
	}
	if (size > VGPU_RECORD_MAX)
		FUZZ_FAIL("decode: accepted %zu bytes, over the cap", size);

	len = vgpu_response_encode(&r, enc, sizeof(enc));
	if (len <= 0)
		FUZZ_FAIL("encode: failed (%d) for a record the decoder accepted", len);
	rc = vgpu_response_decode(enc, (size_t)len, &r2, err, sizeof(err));
	if (rc != VGPU_REC_OK)
		FUZZ_FAIL("decode of the encoding: %d (%s)", rc, err);
	fuzz_eq_response(&r, &r2);

	/* The encoding is canonical: a second trip gives the same bytes. */
	len2 = vgpu_response_encode(&r2, enc2, sizeof(enc2));
	if (len2 != len || memcmp(enc, enc2, (size_t)len) != 0)
		FUZZ_FAIL("encode: not canonical (%d vs %d bytes)", len, len2);

	/* Strict prefixes of a record are INCOMPLETE: the last byte gone, and a cut that
	 * the input picks. */
	size_t cuts[2] = { (size_t)len - 1, size % (size_t)len };
	for (int i = 0; i < 2; i++) {
		rc = vgpu_response_decode(enc, cuts[i], &r3, err, sizeof(err));
		if (rc != VGPU_REC_INCOMPLETE)
			FUZZ_FAIL("decode of a %zu-byte prefix of a %d-byte record: %d (%s), not INCOMPLETE", cuts[i], len,
				  rc, err);
	}
}
