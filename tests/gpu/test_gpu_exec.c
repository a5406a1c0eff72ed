/* test_gpu_exec.c - the CUDA backend on a real GPU, against the CPU reference (lib/opref.c).
 *
 * Needs a CUDA device: run by `make check-gpu` (tests/gpu/run.sh), never by `make check`.
 * Every op on fresh random inputs (the seed is printed; VGPU_TEST_SEED replays it) and
 * on generated inputs, outputs poisoned with NaN first so an unwritten element fails;
 * relative error under 1e-5 elementwise and 1e-4 for sgemm (TF32 off); the summary the
 * backend computes on the device (with and without copying the output back) against the
 * CPU's (check_op says how). Then the test
 * ops and the failure paths: leak found and reclaimed, memory escaping the arena seen
 * by cudaMemGetInfo and reclaimed by a context reset, an allocation that cannot fit, a bad job, crash. The device is
 * VGPU_GPU_DEVICE (default 0); VGPU_GPU_SMALL=1 keeps sizes small (under compute-sanitizer). */
#include <check.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <cuda_runtime_api.h>

#include "exec/backend.h"
#include "exec/backend_cuda.h"
#include "lib/opref.h"
#include "lib/status.h"

static const struct vgpu_backend_ops *be = &vgpu_backend_cuda;
static void *ctx;
static uint64_t rng_state;

static uint64_t rng_next(void)
{
	return vgpu_splitmix64(rng_state++);
}

static void fill_random(float *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		v[i] = (float)((double)(rng_next() >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0);
}

static void poison(float *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		v[i] = NAN;
}

/* How many of a size list to use: all, or the small ones under VGPU_GPU_SMALL=1. */
static size_t sizes_used(size_t all, size_t small)
{
	const char *e = getenv("VGPU_GPU_SMALL");
	return e && strcmp(e, "1") == 0 ? small : all;
}

static int device_index(void)
{
	const char *e = getenv("VGPU_GPU_DEVICE");
	return e && *e ? atoi(e) : 0;
}

static void setup(void)
{
	char err[256] = "";
	int rc = be->init(&ctx, device_index(), err, sizeof(err));
	ck_assert_msg(rc == 0, "cuda init failed: %s", err);
}

static void teardown(void)
{
	be->fini(ctx);
	ctx = NULL;
}

static struct vgpu_job_result run(struct vgpu_job *job, int expect_rc)
{
	struct vgpu_job_result res;
	int rc = be->run(ctx, job, &res);
	ck_assert_msg(rc == expect_rc, "run() returned %d, expected %d (%s: %s)", rc, expect_rc,
		      vgpu_status_name(res.status), res.error);
	return res;
}

/* Relative errors of summary GOT against WANT for data V: sum against the sum of |v|,
 * l2 against l2. The worse of the two. */
static double summary_error(const struct vgpu_summary *got, const struct vgpu_summary *want, const float *v,
			    size_t count)
{
	double abs_sum = 0.0, e_sum, e_l2;

	for (size_t i = 0; i < count; i++)
		abs_sum += fabs((double)v[i]);
	ck_assert_uint_eq(got->count, want->count);
	if (count == 0) {
		ck_assert(got->sum == 0 && got->l2 == 0 && got->first == 0);
		return 0;
	}
	e_sum = fabs(got->sum - want->sum) / (abs_sum > 0 ? abs_sum : 1e-300);
	e_l2 = fabs(got->l2 - want->l2) / (want->l2 > 0 ? want->l2 : 1e-300);
	if (isnan(e_sum) || isnan(e_l2))
		return INFINITY;
	return e_sum > e_l2 ? e_sum : e_l2;
}

/* Run OP (n, m, k) on random or generated inputs and compare with the CPU reference:
 * the output elementwise, and the summary the backend computed on the device against
 * the CPU's summary of that same output (rel err <= 1e-6; first exact). Then the same
 * job without an output buffer (summary only: nothing but the summary is copied back):
 * its summary against the first run's (<= 1e-6) and against the CPU reference's
 * (vadd, saxpy: <= 1e-6, first exact, as the outputs agree to the bit; sgemm: <= 1e-4,
 * the elementwise bound). */
static double check_op(enum vgpu_op op, uint64_t m, uint64_t n, uint64_t k, int seeded)
{
	struct vgpu_job job = { .op = op, .args.n = n, .args.m = m, .args.k = k };
	size_t in_count, first, out_count;
	float *in, *out, *ref;
	struct vgpu_job_result res, res2;
	struct vgpu_summary s_out, s_ref;
	double err, e_dev, e_only, e_ref;

	if (op == VGPU_OP_SGEMM) {
		first = m * k;
		in_count = m * k + k * n;
		out_count = m * n;
	} else {
		first = n;
		in_count = 2 * n;
		out_count = n;
	}
	in = malloc((in_count ? in_count : 1) * sizeof(float));
	out = malloc((out_count ? out_count : 1) * sizeof(float));
	ref = malloc((out_count ? out_count : 1) * sizeof(float));
	ck_assert(in && out && ref);
	if (seeded) {
		job.args.has_seed = 1;
		job.args.seed = rng_next();
		vgpu_gen_fill(in, first, job.args.seed, 0);
		vgpu_gen_fill(in + first, in_count - first, job.args.seed, 1);
	} else {
		fill_random(in, in_count);
		job.in = in;
		job.in_count = in_count;
	}
	job.args.alpha = (float)((double)(rng_next() >> 40) / 16777216.0 * 4.0 - 2.0);
	poison(out, out_count);
	job.out = out;
	job.out_count = out_count;

	res = run(&job, 0);
	ck_assert_msg(res.status == VGPU_OK, "%s: %s", vgpu_status_name(res.status), res.error);

	switch (op) {
	case VGPU_OP_VADD:
		vgpu_ref_vadd(in, in + n, ref, n);
		break;
	case VGPU_OP_SAXPY:
		vgpu_ref_saxpy(job.args.alpha, in, in + n, ref, n);
		break;
	default:
		vgpu_ref_sgemm(in, in + first, ref, m, n, k);
		break;
	}
	err = out_count ? vgpu_rel_error(out, ref, out_count) : 0;

	/* the device's summary of the output it copied back */
	ck_assert_msg(res.has_summary, "no summary");
	vgpu_summarize(out, out_count, &s_out);
	e_dev = summary_error(&res.summary, &s_out, out, out_count);
	ck_assert_msg(e_dev <= 1e-6, "device summary vs CPU summary of the output: rel err %.3g", e_dev);
	ck_assert_msg(memcmp(&res.summary.first, &s_out.first, sizeof(float)) == 0, "first %.9g vs %.9g",
		      (double)res.summary.first, (double)s_out.first);

	/* summary only: no output buffer, nothing but the summary comes back */
	job.out = NULL;
	res2 = run(&job, 0);
	ck_assert_msg(res2.status == VGPU_OK, "summary only: %s: %s", vgpu_status_name(res2.status), res2.error);
	ck_assert_msg(res2.has_summary, "summary only: no summary");
	e_only = summary_error(&res2.summary, &s_out, out, out_count);
	ck_assert_msg(e_only <= 1e-6, "summary-only vs the output's summary: rel err %.3g", e_only);
	vgpu_summarize(ref, out_count, &s_ref);
	e_ref = summary_error(&res2.summary, &s_ref, ref, out_count);
	if (op == VGPU_OP_SGEMM) {
		ck_assert_msg(e_ref <= 1e-4, "sgemm summary-only vs CPU reference: rel err %.3g", e_ref);
	} else {
		ck_assert_msg(e_ref <= 1e-6, "summary-only vs CPU reference: rel err %.3g", e_ref);
		ck_assert_msg(memcmp(&res2.summary.first, &s_ref.first, sizeof(float)) == 0,
			      "summary-only first %.9g vs reference %.9g", (double)res2.summary.first,
			      (double)s_ref.first);
	}
	printf("  %-5s %s m=%llu n=%llu k=%llu: rel err %.3g, exec_us %llu; summary rel err %.3g "
	       "(summary only: %.3g vs output, %.3g vs CPU ref, exec_us %llu)\n", vgpu_op_name(op),
	       seeded ? "seed " : "input", (unsigned long long)m, (unsigned long long)n,
	       (unsigned long long)k, err, (unsigned long long)res.exec_us, e_dev, e_only, e_ref,
	       (unsigned long long)res2.exec_us);
	free(in);
	free(out);
	free(ref);
	return err;
}

START_TEST(test_device_count)
{
	char err[256] = "";
	int n = be->device_count(err, sizeof(err));
	ck_assert_msg(n >= 1, "device_count: %d (%s)", n, err);
	printf("  %d device(s)\n", n);
}
END_TEST

START_TEST(test_vadd)
{
	static const uint64_t sizes[] = { 1, 1000, 4097, (1u << 20) + 3, 1u << 24 };
	for (size_t i = 0; i < sizes_used(sizeof(sizes) / sizeof(sizes[0]), 4); i++) {
		ck_assert(check_op(VGPU_OP_VADD, 0, sizes[i], 0, 0) < 1e-6);
		ck_assert(check_op(VGPU_OP_VADD, 0, sizes[i], 0, 1) < 1e-6);
	}
}
END_TEST

START_TEST(test_saxpy)
{
	static const uint64_t sizes[] = { 1, 1000, 4097, (1u << 20) + 3, 1u << 24 };
	for (size_t i = 0; i < sizes_used(sizeof(sizes) / sizeof(sizes[0]), 4); i++) {
		ck_assert(check_op(VGPU_OP_SAXPY, 0, sizes[i], 0, 0) < 1e-6);
		ck_assert(check_op(VGPU_OP_SAXPY, 0, sizes[i], 0, 1) < 1e-6);
	}
}
END_TEST

START_TEST(test_sgemm)
{
	static const uint64_t dims[][3] = {
		{ 1, 1, 1 }, { 17, 33, 65 }, { 64, 64, 64 }, { 256, 512, 128 }, { 1000, 1000, 1000 },
		{ 512, 256, 4096 },
	};
	for (size_t i = 0; i < sizes_used(sizeof(dims) / sizeof(dims[0]), 4); i++) {
		double e1 = check_op(VGPU_OP_SGEMM, dims[i][0], dims[i][1], dims[i][2], 0);
		double e2 = check_op(VGPU_OP_SGEMM, dims[i][0], dims[i][1], dims[i][2], 1);
		ck_assert(e1 < 1e-4 && e2 < 1e-4);
	}
}
END_TEST

START_TEST(test_empty_sizes)
{
	/* n = 0 and k = 0 are legal: nothing to compute, sgemm with k = 0 gives zeros. */
	float out[6];
	struct vgpu_job job = { .op = VGPU_OP_SGEMM, .args.m = 2, .args.n = 3, .args.k = 0, .args.has_seed = 1, .args.seed = 1,
				.out = out, .out_count = 6 };
	struct vgpu_job_result res;
	poison(out, 6);
	res = run(&job, 0);
	ck_assert_int_eq(res.status, VGPU_OK);
	for (int i = 0; i < 6; i++)
		ck_assert(out[i] == 0.0f);
	ck_assert(res.has_summary && res.summary.count == 6 && res.summary.sum == 0 && res.summary.l2 == 0);
	ck_assert(check_op(VGPU_OP_VADD, 0, 0, 0, 1) == 0);
}
END_TEST

START_TEST(test_ping)
{
	struct vgpu_job job = { .op = VGPU_OP_PING };
	struct vgpu_job_result res = run(&job, 0);
	ck_assert_int_eq(res.status, VGPU_OK);
}
END_TEST

START_TEST(test_spin_timed)
{
	struct vgpu_job job = { .op = VGPU_OP_SPIN, .args.ms = 200 };
	struct vgpu_job_result res = run(&job, 0);
	ck_assert_int_eq(res.status, VGPU_OK);
	printf("  spin 200 ms: exec_us %llu (device events)\n", (unsigned long long)res.exec_us);
	ck_assert_msg(res.exec_us >= 195000 && res.exec_us < 2000000, "exec_us %llu",
		      (unsigned long long)res.exec_us);
}
END_TEST

START_TEST(test_leak_reclaimed)
{
	struct vgpu_job job = { .op = VGPU_OP_LEAK, .args.bytes = 64u << 20 };
	struct vgpu_job_result res;
	struct vgpu_cuda_cache_stats c0, c1;
	size_t free0, free1, total;

	ck_assert_int_eq(cudaMemGetInfo(&free0, &total), cudaSuccess);
	vgpu_cuda_cache_stats(ctx, &c0);
	res = run(&job, 0);
	ck_assert_int_eq(res.status, VGPU_LEAKED);
	ck_assert_uint_eq(res.leaked_bytes, 64u << 20);
	ck_assert_msg(strstr(res.error, "leaked 67108864 bytes") && strstr(res.error, "reclaimed"), "%s", res.error);
	printf("  leak: %s\n", res.error);
	ck_assert_int_eq(cudaMemGetInfo(&free1, &total), cudaSuccess);
	vgpu_cuda_cache_stats(ctx, &c1);
	/* Reclaimed = back under the backend's control: idle in its cache (held, not lent),
	 * so the device's free memory is lower by exactly what the cache now holds more. */
	printf("  device free memory before %zu, after %zu; cache held %llu -> %llu, idle %llu\n", free0, free1,
	       (unsigned long long)c0.held_bytes, (unsigned long long)c1.held_bytes,
	       (unsigned long long)c1.idle_bytes);
	ck_assert_uint_eq(c1.held_bytes, c1.idle_bytes);
	ck_assert_msg(free1 + (c1.held_bytes - c0.held_bytes) + (4u << 20) >= free0,
		      "reclaim did not return the memory: %zu -> %zu (cache took %llu)", free0, free1,
		      (unsigned long long)(c1.held_bytes - c0.held_bytes));
	/* The next job is served normally. */
	ck_assert(check_op(VGPU_OP_VADD, 0, 100000, 0, 1) < 1e-6);
}
END_TEST

START_TEST(test_escape_detected)
{
	struct vgpu_job job = { .op = VGPU_OP_LEAK, .args.bytes = 256u << 20 };
	struct vgpu_job_result res;
	char err[256];
	size_t free0, free1, total;

	teardown();
	setenv("VGPU_CUDA_TEST_ESCAPE", "1", 1);
	ck_assert_int_eq(be->init(&ctx, device_index(), err, sizeof(err)), 0);
	unsetenv("VGPU_CUDA_TEST_ESCAPE");
	ck_assert_int_eq(cudaMemGetInfo(&free0, &total), cudaSuccess);
	res = run(&job, 0);                  /* reclaimed by a context reset, in place */
	ck_assert_int_eq(res.status, VGPU_LEAKED);
	ck_assert_msg(strstr(res.error, "cudaMemGetInfo") && strstr(res.error, "reset"), "%s", res.error);
	ck_assert(res.leaked_bytes >= (256u << 20));
	printf("  escape: %s\n", res.error);
	ck_assert_int_eq(cudaMemGetInfo(&free1, &total), cudaSuccess);
	printf("  device free memory before %zu, after the reset %zu\n", free0, free1);
	ck_assert_msg(free1 + (64u << 20) >= free0, "not reclaimed: %zu -> %zu", free0, free1);
	/* The backend works on the new context. */
	ck_assert(check_op(VGPU_OP_SGEMM, 0 + 64, 64, 64, 1) < 1e-4);
}
END_TEST

/* The device-memory cache: a job of the same size again takes its blocks from the
 * cache (no cudaMalloc), the escape check stays quiet, nothing is lent between jobs,
 * and the results stay right. */
START_TEST(test_cache_reuse)
{
	struct vgpu_cuda_cache_stats c0, c1, c2;
	size_t n = sizes_used(1u << 22, 1u << 12);

	vgpu_cuda_cache_stats(ctx, &c0);
	ck_assert(check_op(VGPU_OP_VADD, 0, n, 0, 1) < 1e-6);
	vgpu_cuda_cache_stats(ctx, &c1);
	ck_assert(check_op(VGPU_OP_VADD, 0, n, 0, 1) < 1e-6);
	ck_assert(check_op(VGPU_OP_SAXPY, 0, n - 1000, 0, 0) < 1e-6);   /* within the same buckets */
	vgpu_cuda_cache_stats(ctx, &c2);
	printf("  cache: held %llu -> %llu -> %llu bytes, hits %llu -> %llu, misses %llu -> %llu, limit %llu\n",
	       (unsigned long long)c0.held_bytes, (unsigned long long)c1.held_bytes,
	       (unsigned long long)c2.held_bytes, (unsigned long long)c1.hits, (unsigned long long)c2.hits,
	       (unsigned long long)c1.misses, (unsigned long long)c2.misses, (unsigned long long)c2.limit_bytes);
	ck_assert_uint_eq(c2.held_bytes, c1.held_bytes);          /* nothing new from the driver */
	ck_assert_uint_eq(c2.misses, c1.misses);
	ck_assert_uint_ge(c2.hits, c1.hits + 4);
	ck_assert_uint_eq(c2.idle_bytes, c2.held_bytes);          /* nothing lent between jobs */
	ck_assert(c2.limit_bytes > 0);
}
END_TEST

/* VGPU_CUDA_CACHE_BYTES=0: every block goes back to the driver at once (the old way). */
START_TEST(test_cache_off)
{
	struct vgpu_cuda_cache_stats st;
	char err[256];

	teardown();
	setenv("VGPU_CUDA_CACHE_BYTES", "0", 1);
	ck_assert_int_eq(be->init(&ctx, device_index(), err, sizeof(err)), 0);
	unsetenv("VGPU_CUDA_CACHE_BYTES");
	ck_assert(check_op(VGPU_OP_VADD, 0, sizes_used(1u << 20, 1u << 10), 0, 1) < 1e-6);
	ck_assert(check_op(VGPU_OP_VADD, 0, sizes_used(1u << 20, 1u << 10), 0, 1) < 1e-6);
	vgpu_cuda_cache_stats(ctx, &st);
	ck_assert_uint_eq(st.held_bytes, 0);
	ck_assert_uint_eq(st.hits, 0);
	ck_assert_uint_ge(st.misses, 4);
}
END_TEST

/* What the cache keeps never makes a job fail: a job that fits only without the cached
 * blocks empties the cache and runs. Sized from the device's free memory. */
START_TEST(test_cache_flushed_to_fit)
{
	struct vgpu_cuda_cache_stats c0, c1;
	struct vgpu_job job = { .op = VGPU_OP_VADD, .args.has_seed = 1, .args.seed = 5 };
	struct vgpu_job_result res;
	size_t fr, total, n1, n2;

	if (sizes_used(1, 0) == 0)
		return;    /* not under compute-sanitizer */
	ck_assert_int_eq(cudaMemGetInfo(&fr, &total), cudaSuccess);
	/* job 1: a quarter of the free memory, left in the cache */
	n1 = fr / 4 / (3 * sizeof(float));
	job.args.n = n1;
	job.out_count = n1;
	res = run(&job, 0);
	ck_assert_msg(res.status == VGPU_OK, "%s", res.error);
	vgpu_cuda_cache_stats(ctx, &c0);
	ck_assert(c0.idle_bytes >= fr / 4 - (8u << 20));
	/* job 2: 85% of what was free before job 1: fits only if the cache gives job 1's
	 * blocks back (the buckets do not match: job 1's are too small) */
	n2 = fr / 100 * 85 / (3 * sizeof(float));
	job.args.n = n2;
	job.out_count = n2;
	res = run(&job, 0);
	vgpu_cuda_cache_stats(ctx, &c1);
	printf("  cache flushed to fit: free %zu; job of %zu then %zu bytes: %s; flushes %llu -> %llu, held %llu\n", fr,
	       n1 * 3 * sizeof(float), n2 * 3 * sizeof(float), vgpu_status_name(res.status),
	       (unsigned long long)c0.flushes, (unsigned long long)c1.flushes, (unsigned long long)c1.held_bytes);
	ck_assert_msg(res.status == VGPU_OK, "%s", res.error);
	ck_assert_uint_eq(res.summary.count, n2);
	ck_assert_uint_gt(c1.flushes, c0.flushes);
}
END_TEST

/* Each way of meeting the job's host memory (VGPU_CUDA_HOSTMEM) gives the same results:
 * staging copies through two 8 MiB pinned chunks (5 chunks in, 3 out here, the last
 * ones partial), populate and plain copy from pageable memory. */
START_TEST(test_hostmem_modes)
{
	static const char *const modes[] = { "staging", "populate", "plain", "register" };
	size_t n = sizes_used(5000001, 300001);
	char err[256];

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		double e1, e2;
		teardown();
		setenv("VGPU_CUDA_HOSTMEM", modes[i], 1);
		ck_assert_int_eq(be->init(&ctx, device_index(), err, sizeof(err)), 0);
		unsetenv("VGPU_CUDA_HOSTMEM");
		e1 = check_op(VGPU_OP_VADD, 0, n, 0, 0);
		e2 = check_op(VGPU_OP_SGEMM, 600, 500, 700, 0);
		printf("  hostmem=%s: vadd %zu rel err %.3g, sgemm 600x500x700 rel err %.3g\n", modes[i], n, e1, e2);
		ck_assert(e1 < 1e-6);
		ck_assert(e2 < 1e-4);
	}
}
END_TEST

START_TEST(test_alloc_failure)
{
	/* ~480 GB of operands: cudaMalloc must fail, the job fails cleanly, the context lives. */
	struct vgpu_job job = { .op = VGPU_OP_SGEMM, .args.m = 200000, .args.n = 200000, .args.k = 200000,
				.args.has_seed = 1, .args.seed = 3 };
	static float dummy[1];
	struct vgpu_job_result res;

	job.out = dummy;
	job.out_count = (size_t)job.args.m * job.args.n;   /* never touched: the allocation fails first */
	res = run(&job, 0);
	ck_assert_int_eq(res.status, VGPU_EXEC_FAILED);
	ck_assert_msg(strstr(res.error, "cudaErrorMemoryAllocation") != NULL, "%s", res.error);
	ck_assert_uint_eq(res.leaked_bytes, 0);
	printf("  alloc failure: %s\n", res.error);
	ck_assert(check_op(VGPU_OP_SAXPY, 0, 100000, 0, 0) < 1e-6);
}
END_TEST

START_TEST(test_bad_job)
{
	float out[4];
	struct vgpu_job job = { .op = VGPU_OP_VADD, .args.n = 4, .out = out, .out_count = 4 };
	struct vgpu_job_result res = run(&job, 0);     /* no input, no seed */
	ck_assert_int_eq(res.status, VGPU_EXEC_FAILED);
	ck_assert_msg(strstr(res.error, "bad job") != NULL, "%s", res.error);
}
END_TEST

START_TEST(test_crash)
{
	struct vgpu_job job = { .op = VGPU_OP_CRASH };
	struct vgpu_job_result res;
	be->run(ctx, &job, &res);
}
END_TEST

static Suite *gpu_suite(void)
{
	Suite *s = suite_create("gpu_exec");
	TCase *tc = tcase_create("ops");
	TCase *tf = tcase_create("faults");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_device_count);
	tcase_add_test(tc, test_ping);
	tcase_add_test(tc, test_vadd);
	tcase_add_test(tc, test_saxpy);
	tcase_add_test(tc, test_sgemm);
	tcase_add_test(tc, test_empty_sizes);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(tf, setup, teardown);
	tcase_set_timeout(tf, 120);
	tcase_add_test(tf, test_spin_timed);
	tcase_add_test(tf, test_leak_reclaimed);
	tcase_add_test(tf, test_escape_detected);
	tcase_add_test(tf, test_cache_reuse);
	tcase_add_test(tf, test_cache_off);
	tcase_add_test(tf, test_cache_flushed_to_fit);
	tcase_add_test(tf, test_hostmem_modes);
	tcase_add_test(tf, test_alloc_failure);
	tcase_add_test(tf, test_bad_job);
	/* A real SIGSEGV: only where Check forks (not under CK_FORK=no / compute-sanitizer). */
	if (!getenv("CK_FORK") || strcmp(getenv("CK_FORK"), "no") != 0)
		tcase_add_test_raise_signal(tf, test_crash, SIGSEGV);
	suite_add_tcase(s, tf);
	return s;
}

int main(void)
{
	const char *seed = getenv("VGPU_TEST_SEED");
	SRunner *sr;
	int failed;

	if (seed && *seed) {
		rng_state = strtoull(seed, NULL, 0);
	} else if (getrandom(&rng_state, sizeof(rng_state), 0) != (ssize_t)sizeof(rng_state)) {
		rng_state = (uint64_t)time(NULL);
	}
	printf("test_gpu_exec: random inputs from VGPU_TEST_SEED=%llu\n", (unsigned long long)rng_state);
	sr = srunner_create(gpu_suite());
	srunner_run_all(sr, CK_VERBOSE);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
