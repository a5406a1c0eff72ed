/* test_crc.c - vgpu_crc32 is zlib's CRC-32 whichever implementation is built in
 * (ISA-L or zlib): the standard check value, empty input, and random buffers of random
 * lengths and alignments, whole and in pieces, against zlib's crc32() itself. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>

#include "lib/record.h"
#include "../common/testutil.h"

START_TEST(test_check_value)
{
	ck_assert_uint_eq(vgpu_crc32("123456789", 9), 0xcbf43926u);
	ck_assert_uint_eq(vgpu_crc32("", 0), 0);
	ck_assert_uint_eq(vgpu_crc32_update(0, "a", 1), 0xe8b7be43u);
}
END_TEST

START_TEST(test_matches_zlib)
{
	enum { MAX = 1 << 20 };
	unsigned char *buf = malloc(MAX + 64);
	uint64_t x = 88172645463325252ULL;

	ck_assert_ptr_nonnull(buf);
	for (size_t i = 0; i < MAX + 64; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (unsigned char)x;
	}
	for (int round = 0; round < 200; round++) {
		x ^= x << 13; x ^= x >> 7; x ^= x << 17;
		size_t off = x % 64, len = (x >> 8) % (round < 100 ? 300 : MAX), cut = len ? (x >> 32) % len : 0;
		uint32_t want = (uint32_t)crc32(0, buf + off, (uInt)len);

		ck_assert_msg(vgpu_crc32(buf + off, len) == want, "len %zu off %zu", len, off);
		ck_assert_msg(vgpu_crc32_update(vgpu_crc32(buf + off, cut), buf + off + cut, len - cut) == want,
			      "len %zu cut %zu", len, cut);
	}
	free(buf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("crc");
	TCase *tc = tcase_create("crc32");

	tcase_add_test(tc, test_check_value);
	tcase_add_test(tc, test_matches_zlib);
	suite_add_tcase(s, tc);
	return tu_run(s, CK_ENV);
}
