/* test_env.c - vgpu_env_u64 (src/lib/env.c), the exec settings' one reader: unset or
 * empty gives the default; a decimal number in range is taken (the bounds included);
 * anything else (text after the number, another base, a value out of range, negative or
 * past 2^64-1) gives the default. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "lib/env.h"
#include "../common/testutil.h"

#define NAME "VGPU_TEST_ENV_U64"

static uint64_t with(const char *v, uint64_t def, uint64_t lo, uint64_t hi)
{
	uint64_t r;

	if (v)
		setenv(NAME, v, 1);
	else
		unsetenv(NAME);
	r = vgpu_env_u64(NAME, def, lo, hi);
	unsetenv(NAME);
	return r;
}

START_TEST(test_unset_empty)
{
	ck_assert_uint_eq(with(NULL, 7, 0, 10), 7);
	ck_assert_uint_eq(with("", 7, 0, 10), 7);
}
END_TEST

START_TEST(test_in_range)
{
	ck_assert_uint_eq(with("0", 7, 0, 10), 0);
	ck_assert_uint_eq(with("10", 7, 0, 10), 10);
	ck_assert_uint_eq(with("3", 7, 1, 10), 3);
	ck_assert_uint_eq(with("18446744073709551615", 7, 0, UINT64_MAX), UINT64_MAX);
}
END_TEST

START_TEST(test_bad)
{
	ck_assert_uint_eq(with("0", 7, 1, UINT64_MAX), 7);          /* under the floor */
	ck_assert_uint_eq(with("11", 7, 0, 10), 7);                 /* over the ceiling */
	ck_assert_uint_eq(with("18446744073709551616", 7, 0, UINT64_MAX), 7);   /* past 2^64-1 */
	ck_assert_uint_eq(with("16M", 7, 0, UINT64_MAX), 7);        /* text after the number */
	ck_assert_uint_eq(with("0x10", 7, 0, UINT64_MAX), 7);       /* decimal only */
	ck_assert_uint_eq(with("010", 7, 0, UINT64_MAX), 10);       /* ... not octal either */
	ck_assert_uint_eq(with("-1", 7, 0, UINT64_MAX), 7);         /* not 2^64-1 */
	ck_assert_uint_eq(with("abc", 7, 0, UINT64_MAX), 7);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("env");
	TCase *tc = tcase_create("env_u64");

	tcase_add_test(tc, test_unset_empty);
	tcase_add_test(tc, test_in_range);
	tcase_add_test(tc, test_bad);
	suite_add_tcase(s, tc);
	return s;
}

TU_CHECK_MAIN(suite)
