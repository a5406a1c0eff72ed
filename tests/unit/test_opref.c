/* test_opref.c - the CPU references and generator of src/lib/opref.c against values
 * computed by hand, so that the mock backend (and through it the CUDA checks) rest on
 * something other than themselves. */
#include <check.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/opref.h"
#include "../common/testutil.h"

START_TEST(test_gen_known_value)
{
	/* splitmix64(0) = 0xe220a8397b1dcdaf (Vigna's reference output for state 0);
	 * vgpu_gen(0,0,0) = top 24 bits of splitmix64(splitmix64(0)) = 10946269,
	 * v = 10946269 / 2^23 - 1 (computed independently, in Python). */
	ck_assert_uint_eq(vgpu_splitmix64(0), 0xe220a8397b1dcdafULL);
	ck_assert(vgpu_gen(0, 0, 0) == (float)(2557661.0 / 8388608.0));
}
END_TEST

/* Nearby seeds must not give permutations of one another's inputs (equal sums). */
START_TEST(test_gen_nearby_seeds_differ)
{
	enum { N = 4096 };
	double s1 = 0, s2 = 0;

	for (uint64_t i = 0; i < N; i++) {
		s1 += vgpu_gen(1000, 0, i);
		s2 += vgpu_gen(1001, 0, i);
	}
	ck_assert(s1 != s2);
}
END_TEST

START_TEST(test_gen_determinism_and_range)
{
	enum { N = 4096 };
	float *a = malloc(N * sizeof(float)), *b = malloc(N * sizeof(float));
	float *c = malloc(N * sizeof(float)), *d = malloc(N * sizeof(float));
	int neg = 0, pos = 0;

	vgpu_gen_fill(a, N, 7, 0);
	vgpu_gen_fill(b, N, 7, 0);
	vgpu_gen_fill(c, N, 7, 1);
	vgpu_gen_fill(d, N, 8, 0);
	ck_assert(memcmp(a, b, N * sizeof(float)) == 0);
	ck_assert(memcmp(a, c, N * sizeof(float)) != 0);
	ck_assert(memcmp(a, d, N * sizeof(float)) != 0);
	for (int i = 0; i < N; i++) {
		ck_assert(a[i] >= -1.0f && a[i] < 1.0f);
		/* exact in float32: (v + 1) * 2^23 is an integer below 2^24 */
		double q = ((double)a[i] + 1.0) * 8388608.0;
		ck_assert(q == floor(q) && q < 16777216.0);
		ck_assert(a[i] == vgpu_gen(7, 0, (uint64_t)i));
		neg += a[i] < 0;
		pos += a[i] > 0;
	}
	/* roughly uniform: both signs well represented */
	ck_assert_int_gt(neg, N / 3);
	ck_assert_int_gt(pos, N / 3);
	free(a); free(b); free(c); free(d);
}
END_TEST

START_TEST(test_ref_vadd_saxpy)
{
	const float a[] = { 1, 2, 3, -0.5f }, b[] = { 4, 5, 6, 0.25f };
	float c[4];

	vgpu_ref_vadd(a, b, c, 4);
	ck_assert(c[0] == 5 && c[1] == 7 && c[2] == 9 && c[3] == -0.25f);
	vgpu_ref_saxpy(2.0f, a, b, c, 4);
	ck_assert(c[0] == 6 && c[1] == 9 && c[2] == 12 && c[3] == -0.75f);
	vgpu_ref_saxpy(0.0f, a, b, c, 4);
	ck_assert(memcmp(b, c, sizeof(c)) == 0);
}
END_TEST

START_TEST(test_ref_sgemm_small)
{
	/* [1 2 3; 4 5 6] x [7 8; 9 10; 11 12] = [58 64; 139 154] */
	const float A[] = { 1, 2, 3, 4, 5, 6 }, B[] = { 7, 8, 9, 10, 11, 12 };
	float C[4] = { -1, -1, -1, -1 };

	vgpu_ref_sgemm(A, B, C, 2, 2, 3);
	ck_assert(C[0] == 58 && C[1] == 64 && C[2] == 139 && C[3] == 154);
	/* m=1, n=3, k=1: outer product row */
	const float x[] = { 2 }, y[] = { 1, -1, 0.5f };
	float z[3];
	vgpu_ref_sgemm(x, y, z, 1, 3, 1);
	ck_assert(z[0] == 2 && z[1] == -2 && z[2] == 1);
}
END_TEST

START_TEST(test_ref_sgemm_accumulates_in_double)
{
	/* 1e8 + 1 - 1e8: float accumulation gives 0, double gives 1. */
	const float A[] = { 1e8f, 1.0f, -1e8f }, B[] = { 1, 1, 1 };
	float C[1];

	vgpu_ref_sgemm(A, B, C, 1, 1, 3);
	ck_assert(C[0] == 1.0f);
}
END_TEST

START_TEST(test_rel_error)
{
	const float ref[] = { 1, -4, 2 };
	float got[] = { 1, -4, 2 };

	ck_assert(vgpu_rel_error(got, ref, 3) == 0.0);
	got[2] = 2.5f;                     /* |diff| 0.5 / max|ref| 4 */
	ck_assert(fabs(vgpu_rel_error(got, ref, 3) - 0.125) < 1e-12);
	got[2] = NAN;
	ck_assert(isinf(vgpu_rel_error(got, ref, 3)));
	ck_assert(!(vgpu_rel_error(got, ref, 3) < 1e-5));
	got[2] = 2;
	const float refnan[] = { 1, NAN, 2 };
	ck_assert(isinf(vgpu_rel_error(got, refnan, 3)));
	got[0] = INFINITY;
	ck_assert(isinf(vgpu_rel_error(got, ref, 3)));
	/* all-zero reference: no division by zero, a wrong value still shows */
	const float zero[] = { 0, 0 };
	float z2[] = { 0, 0 };
	ck_assert(vgpu_rel_error(z2, zero, 2) == 0.0);
	z2[1] = 1e-3f;
	ck_assert(vgpu_rel_error(z2, zero, 2) > 1.0);
	ck_assert(vgpu_rel_error(z2, zero, 0) == 0.0);
}
END_TEST

START_TEST(test_summary_format)
{
	const float v[] = { 1, 2, 3 };
	struct vgpu_summary s;
	char buf[128];

	vgpu_summarize(v, 3, &s);
	ck_assert_uint_eq(s.count, 3);
	ck_assert(s.sum == 6.0 && s.first == 1.0f);
	ck_assert(fabs(s.l2 - sqrt(14.0)) < 1e-12);
	ck_assert_int_eq(vgpu_summary_format(&s, buf, sizeof(buf)), (int)strlen(buf));
	ck_assert_str_eq(buf, "count=3 sum=6 l2=3.74165739 first=1");
	ck_assert_int_eq(vgpu_summary_format(&s, buf, 10), -ENOSPC);

	vgpu_summarize(NULL, 0, &s);
	ck_assert_int_gt(vgpu_summary_format(&s, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "count=0 sum=0 l2=0 first=0");
}
END_TEST

/* The eight-lane sum against one long double chain (double under valgrind, hence 1e-9
 * rather than tighter; a lane lost or counted twice is off by far more): every tail length, and a long
 * vector whose values span signs and magnitudes. */
START_TEST(test_summary_lanes)
{
	enum { N = 1000003 };
	float *v = malloc(N * sizeof(float));
	size_t sizes[] = { 1, 2, 7, 8, 9, 15, 16, 17, 23, 1000, N };

	vgpu_gen_fill(v, N, 7, 0);
	for (size_t i = 0; i < N; i += 97)
		v[i] *= 1e6f;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		struct vgpu_summary s;
		long double sum = 0, sq = 0;

		for (size_t i = 0; i < sizes[k]; i++) {
			sum += v[i];
			sq += (long double)v[i] * v[i];
		}
		vgpu_summarize(v, sizes[k], &s);
		ck_assert_uint_eq(s.count, sizes[k]);
		ck_assert_msg(fabsl((long double)s.sum - sum) <= 1e-9L * sqrtl(sq) + 1e-30L, "n=%zu sum %.17g vs %.17Lg",
			      sizes[k], s.sum, sum);
		ck_assert_msg(fabsl((long double)s.l2 - sqrtl(sq)) <= 1e-9L * sqrtl(sq), "n=%zu l2", sizes[k]);
		ck_assert(s.first == v[0]);
	}
	free(v);
}
END_TEST

START_TEST(test_summary_round_trip)
{
	enum { N = 1000 };
	float *v = malloc(N * sizeof(float));
	struct vgpu_summary s, t;
	char a[128], b[128];

	vgpu_gen_fill(v, N, 42, 1);
	vgpu_summarize(v, N, &s);
	ck_assert_int_gt(vgpu_summary_format(&s, a, sizeof(a)), 0);
	ck_assert_int_eq(vgpu_summary_parse(a, &t), 0);
	ck_assert_uint_eq(t.count, N);
	ck_assert(t.first == s.first);               /* %.9g round-trips a float exactly */
	ck_assert(fabs(t.sum - s.sum) <= 1e-8 * fabs(s.sum) + 1e-12);
	ck_assert(fabs(t.l2 - s.l2) <= 1e-8 * s.l2);
	ck_assert_int_gt(vgpu_summary_format(&t, b, sizeof(b)), 0);
	ck_assert_str_eq(a, b);
	free(v);
}
END_TEST

START_TEST(test_summary_parse_rejects)
{
	static const char *bad[] = {
		"", "count=3", "count=3 sum=6 l2=1", "count=3 sum=6 l2=1 first=1 ",
		"count=3 sum=6 l2=1 first=1 extra=2", "count=-3 sum=6 l2=1 first=1",
		"count=03 sum=6 l2=1 first=1", "count=3  sum=6 l2=1 first=1",
		"count=3 sum=x l2=1 first=1", "count=3 sum=6 l2=-1 first=1",
		"count=3 sum=nan l2=1 first=1", "count=3 sum=6 l2=inf first=1",
		"count=3 l2=1 sum=6 first=1", "count=3 sum=6 l2=1 first=1e39",
		"count=18446744073709551616 sum=6 l2=1 first=1", "count= sum=6 l2=1 first=1",
		"count=3 sum=6 l2=1 first=", "count=3 sum=6\tl2=1 first=1",
	};
	struct vgpu_summary s;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(vgpu_summary_parse(bad[i], &s) == -EINVAL, "accepted '%s'", bad[i]);
	ck_assert_int_eq(vgpu_summary_parse("count=18446744073709551615 sum=-1.5e+10 l2=0 first=-0.25", &s), 0);
	ck_assert_uint_eq(s.count, UINT64_MAX);
	ck_assert(s.sum == -1.5e10 && s.l2 == 0 && s.first == -0.25f);
}
END_TEST

static Suite *ops_suite(void)
{
	Suite *s = suite_create("ops");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_gen_known_value);
	tcase_add_test(tc, test_gen_nearby_seeds_differ);
	tcase_add_test(tc, test_gen_determinism_and_range);
	tcase_add_test(tc, test_ref_vadd_saxpy);
	tcase_add_test(tc, test_ref_sgemm_small);
	tcase_add_test(tc, test_ref_sgemm_accumulates_in_double);
	tcase_add_test(tc, test_rel_error);
	tcase_add_test(tc, test_summary_format);
	tcase_add_test(tc, test_summary_lanes);
	tcase_add_test(tc, test_summary_round_trip);
	tcase_add_test(tc, test_summary_parse_rejects);
	suite_add_tcase(s, tc);
	return s;
}

TU_CHECK_MAIN(ops_suite)
