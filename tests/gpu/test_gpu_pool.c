/* test_gpu_pool.c - ERROR 8 on a real GPU: the worker pool over the cuda backend.
 *
 * The real vgpu-worker ($VGPU_BUILD, default: two levels above this program) hosts the
 * cuda backend, one worker per visible GPU. Ops on fresh random inputs through memfds
 * against the CPU reference; a spin kernel past its limit -> the watchdog kills and
 * restarts the worker -> TIMEOUT, and the next job is correct; a leak -> LEAKED with
 * the bytes, reclaimed (device free memory back); memory that escapes the arena ->
 * LEAKED, reclaimed by a context reset; a crash -> EXEC_FAILED, and the next job is correct.
 * Needs a CUDA device: run by `make check-gpu`. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exec/executor.h"
#include "lib/clock.h"
#include "lib/opref.h"
#include "exec/wire.h"
#include "lib/status.h"

static char worker[PATH_MAX];
static uint64_t rng_state;

/* Called before the tests run: plain checks, no ck_assert (no test context yet). */
static int find_worker(void)
{
	const char *env = getenv("VGPU_BUILD");
	char exe[PATH_MAX], rel[PATH_MAX + 32], *abs;
	ssize_t n;

	if (env && *env) {
		snprintf(rel, sizeof(rel), "%s/vgpu-worker", env);
	} else {
		n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n <= 0)
			return -1;
		exe[n] = 0;
		for (int up = 0; up < 3; up++) {     /* $(BUILD)/tests/gpu/test_gpu_pool */
			char *slash = strrchr(exe, '/');
			if (slash)
				*slash = 0;
		}
		snprintf(rel, sizeof(rel), "%s/vgpu-worker", exe);
	}
	abs = realpath(rel, NULL);
	if (!abs) {
		fprintf(stderr, "test_gpu_pool: no worker binary at %s (set VGPU_BUILD)\n", rel);
		return -1;
	}
	snprintf(worker, sizeof(worker), "%s", abs);
	free(abs);
	return 0;
}

static struct vgpu_executor *open_cuda(void)
{
	struct vgpu_exec_opts o;
	struct vgpu_executor *ex = NULL;
	char err[512] = "";

	memset(&o, 0, sizeof(o));
	o.worker_path = worker;
	ck_assert_msg(vgpu_pool_open("cuda", &o, &ex, err, sizeof(err)) == 0, "pool open: %s", err);
	ck_assert_int_ge(ex->nslots, 1);
	ck_assert_str_eq(ex->ops->slot_name(ex, 0), "cuda:0");
	return ex;
}

static int memfd_with(const void *data, size_t bytes, int seal)
{
	int fd = memfd_create("t", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)bytes), 0);
	if (data)
		ck_assert_int_eq(pwrite(fd, data, bytes, 0), (ssize_t)bytes);
	if (seal)
		ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), 0);
	return fd;
}

static uint64_t run_job(struct vgpu_executor *ex, int slot, struct vgpu_exec_job *j, struct vgpu_job_result *res)
{
	uint64_t t0 = vgpu_now_ms();
	ck_assert_int_eq(ex->ops->submit(ex, slot, j), 0);
	for (;;) {
		struct pollfd p = { .fd = ex->ops->fd(ex, slot), .events = POLLIN };
		uint64_t now;
		poll(&p, 1, 20);
		now = vgpu_now_ms();
		if (ex->ops->reap(ex, slot, now, res) == 1)
			return now - t0;
		ck_assert_msg(now - t0 < 60000, "job did not end in 60 s");
	}
}

static struct vgpu_exec_job simple_job(enum vgpu_op op)
{
	struct vgpu_exec_job j;
	memset(&j, 0, sizeof(j));
	j.job.op = op;
	j.in_fd = j.out_fd = -1;
	return j;
}

/* OP on SLOT with fresh random payload input (or a fresh seed), vs the CPU reference. */
static double check_compute(struct vgpu_executor *ex, int slot, enum vgpu_op op, size_t m, size_t n, size_t k,
			    int seeded)
{
	struct vgpu_exec_job j = simple_job(op);
	struct vgpu_job_result res, res2;
	size_t na, nb, nout;
	float *in, *ref, *out;
	double err;

	if (op == VGPU_OP_SGEMM) {
		na = m * k; nb = k * n; nout = m * n;
		j.job.args.m = m; j.job.args.n = n; j.job.args.k = k;
	} else {
		na = nb = nout = n;
		j.job.args.n = n;
		j.job.args.alpha = (float)((double)(vgpu_splitmix64(rng_state++) >> 40) / 16777216.0 * 4.0 - 2.0);
	}
	in = malloc((na + nb) * sizeof(float));
	ref = malloc(nout * sizeof(float));
	ck_assert(in && ref);
	if (seeded) {
		j.job.args.has_seed = 1;
		j.job.args.seed = vgpu_splitmix64(rng_state++);
		vgpu_gen_fill(in, na, j.job.args.seed, 0);
		vgpu_gen_fill(in + na, nb, j.job.args.seed, 1);
	} else {
		for (size_t i = 0; i < na + nb; i++)
			in[i] = (float)((double)(vgpu_splitmix64(rng_state++) >> 11) / 9007199254740992.0 * 2.0 - 1.0);
		j.in_bytes = (na + nb) * sizeof(float);
		j.in_fd = memfd_with(in, j.in_bytes, 1);
	}
	if (op == VGPU_OP_VADD)
		vgpu_ref_vadd(in, in + na, ref, n);
	else if (op == VGPU_OP_SAXPY)
		vgpu_ref_saxpy(j.job.args.alpha, in, in + na, ref, n);
	else
		vgpu_ref_sgemm(in, in + na, ref, m, n, k);
	j.out_bytes = nout * sizeof(float);
	j.job.out_count = nout;
	j.out_fd = memfd_with(NULL, j.out_bytes, 0);
	out = mmap(NULL, j.out_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, j.out_fd, 0);
	ck_assert(out != MAP_FAILED);
	for (size_t i = 0; i < nout; i++)
		out[i] = NAN;                         /* unwritten elements fail */
	j.deadline_ms = vgpu_now_ms() + 30000;
	run_job(ex, slot, &j, &res);
	ck_assert_msg(res.status == VGPU_OK, "%s: %s", vgpu_status_name(res.status), res.error);
	err = vgpu_rel_error(out, ref, nout);
	/* The same job summary only, as the mediator sends it for `output summary`: no
	 * output memfd; the worker's device summary against the CPU's of the first output. */
	{
		struct vgpu_summary want;
		int out_fd = j.out_fd;
		double abs_sum = 0, e_sum, e_l2;

		vgpu_summarize(out, nout, &want);
		for (size_t i = 0; i < nout; i++)
			abs_sum += fabs((double)out[i]);
		j.out_fd = -1;
		j.out_bytes = 0;
		j.job.out_count = nout;
		j.deadline_ms = vgpu_now_ms() + 30000;
		run_job(ex, slot, &j, &res2);
		j.out_fd = out_fd;
		j.out_bytes = nout * sizeof(float);
		ck_assert_msg(res2.status == VGPU_OK && res2.has_summary, "summary only: %s: %s",
			      vgpu_status_name(res2.status), res2.error);
		ck_assert_uint_eq(res2.summary.count, nout);
		e_sum = fabs(res2.summary.sum - want.sum) / abs_sum;
		e_l2 = fabs(res2.summary.l2 - want.l2) / want.l2;
		ck_assert_msg(e_sum <= 1e-6 && e_l2 <= 1e-6 && res2.summary.first == want.first,
			      "summary only: sum err %.3g, l2 err %.3g, first %.9g vs %.9g", e_sum, e_l2,
			      (double)res2.summary.first, (double)want.first);
		printf("  %s %-5s %s m=%zu n=%zu k=%zu: rel err %.3g, exec_us %llu; summary only: sum err %.3g, "
		       "l2 err %.3g, exec_us %llu\n", ex->ops->slot_name(ex, slot), vgpu_op_name(op),
		       seeded ? "seed " : "input", m, n, k, err, (unsigned long long)res.exec_us, e_sum, e_l2,
		       (unsigned long long)res2.exec_us);
	}
	munmap(out, j.out_bytes);
	if (j.in_fd >= 0)
		close(j.in_fd);
	close(j.out_fd);
	free(in);
	free(ref);
	return err;
}

static void next_job_correct(struct vgpu_executor *ex)
{
	ck_assert(check_compute(ex, 0, VGPU_OP_SAXPY, 0, 1u << 20, 0, 0) < 1e-5);
}

START_TEST(test_ops_every_gpu)
{
	struct vgpu_executor *ex = open_cuda();
	printf("  %d worker(s), one per visible GPU\n", ex->nslots);
	for (int s = 0; s < ex->nslots; s++)
		for (int seeded = 0; seeded < 2; seeded++) {
			ck_assert(check_compute(ex, s, VGPU_OP_VADD, 0, (1u << 22) + 1, 0, seeded) < 1e-5);
			ck_assert(check_compute(ex, s, VGPU_OP_SAXPY, 0, (1u << 22) + 1, 0, seeded) < 1e-5);
			ck_assert(check_compute(ex, s, VGPU_OP_SGEMM, 300, 500, 700, seeded) < 1e-4);
		}
	vgpu_executor_close(ex);
}
END_TEST

START_TEST(test_spin_past_limit_then_recovery)
{
	struct vgpu_executor *ex = open_cuda();
	struct vgpu_exec_job j = simple_job(VGPU_OP_SPIN);
	struct vgpu_job_result res;
	uint64_t ms;

	j.job.args.ms = 60000;                         /* a kernel that would run a minute */
	j.deadline_ms = vgpu_now_ms() + 1000;    /* its limit: one second */
	ms = run_job(ex, 0, &j, &res);
	printf("  spin 60 s, limit 1 s: %s after %llu ms: %s\n", vgpu_status_name(res.status),
	       (unsigned long long)ms, res.error);
	ck_assert_int_eq(res.status, VGPU_TIMEOUT);
	ck_assert(ms >= 1000 && ms < 5000);
	/* The worker was killed and restarted; the next jobs run on the new context. */
	next_job_correct(ex);
	ck_assert(check_compute(ex, 0, VGPU_OP_SGEMM, 256, 256, 256, 1) < 1e-4);
	vgpu_executor_close(ex);
}
END_TEST

START_TEST(test_leak_detected_reclaimed)
{
	struct vgpu_executor *ex = open_cuda();
	struct vgpu_exec_job j = simple_job(VGPU_OP_LEAK);
	struct vgpu_job_result res;

	j.job.args.bytes = 512u << 20;
	j.deadline_ms = vgpu_now_ms() + 30000;
	run_job(ex, 0, &j, &res);
	printf("  leak 512 MiB: %s, leaked_bytes %llu: %s\n", vgpu_status_name(res.status),
	       (unsigned long long)res.leaked_bytes, res.error);
	ck_assert_int_eq(res.status, VGPU_LEAKED);
	ck_assert_uint_eq(res.leaked_bytes, 512u << 20);
	ck_assert_msg(strstr(res.error, "reclaimed") != NULL, "%s", res.error);
	/* Ten more leaks: if reclaim did not free them, 5 GiB would be gone; the worker
	 * would say so (cudaMemGetInfo) and restart. It answers LEAKED each time. */
	for (int i = 0; i < 10; i++) {
		j.deadline_ms = vgpu_now_ms() + 30000;
		run_job(ex, 0, &j, &res);
		ck_assert_int_eq(res.status, VGPU_LEAKED);
		ck_assert_msg(strstr(res.error, "cudaMemGetInfo") == NULL, "%s", res.error);
	}
	next_job_correct(ex);
	vgpu_executor_close(ex);
}
END_TEST

START_TEST(test_escape_reclaimed_by_reset)
{
	struct vgpu_executor *ex;
	struct vgpu_exec_job j = simple_job(VGPU_OP_LEAK);
	struct vgpu_job_result res;

	setenv("VGPU_CUDA_TEST_ESCAPE", "1", 1);   /* inherited by the workers */
	ex = open_cuda();
	j.job.args.bytes = 1u << 30;
	j.deadline_ms = vgpu_now_ms() + 30000;
	run_job(ex, 0, &j, &res);
	printf("  escape 1 GiB: %s: %s\n", vgpu_status_name(res.status), res.error);
	ck_assert_int_eq(res.status, VGPU_LEAKED);
	ck_assert_msg(strstr(res.error, "cudaMemGetInfo") && strstr(res.error, "reset"), "%s", res.error);
	next_job_correct(ex);
	vgpu_executor_close(ex);
	unsetenv("VGPU_CUDA_TEST_ESCAPE");
}
END_TEST

START_TEST(test_crash_then_recovery)
{
	struct vgpu_executor *ex = open_cuda();
	struct vgpu_exec_job j = simple_job(VGPU_OP_CRASH);
	struct vgpu_job_result res;

	j.deadline_ms = vgpu_now_ms() + 30000;
	run_job(ex, 0, &j, &res);
	printf("  crash: %s: %s\n", vgpu_status_name(res.status), res.error);
	ck_assert_int_eq(res.status, VGPU_EXEC_FAILED);
	ck_assert_msg(strstr(res.error, "SIGSEGV") != NULL, "%s", res.error);
	next_job_correct(ex);
	vgpu_executor_close(ex);
}
END_TEST

static Suite *gpu_pool_suite(void)
{
	Suite *s = suite_create("gpu_pool");
	TCase *tc = tcase_create("watchdog");

	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_ops_every_gpu);
	tcase_add_test(tc, test_spin_past_limit_then_recovery);
	tcase_add_test(tc, test_leak_detected_reclaimed);
	tcase_add_test(tc, test_escape_reclaimed_by_reset);
	tcase_add_test(tc, test_crash_then_recovery);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	const char *seed = getenv("VGPU_TEST_SEED");
	SRunner *sr;
	int failed;

	if (seed && *seed)
		rng_state = strtoull(seed, NULL, 0);
	else if (getrandom(&rng_state, sizeof(rng_state), 0) != (ssize_t)sizeof(rng_state))
		rng_state = (uint64_t)time(NULL);
	printf("test_gpu_pool: random inputs from VGPU_TEST_SEED=%llu\n", (unsigned long long)rng_state);
	if (find_worker() < 0)
		return EXIT_FAILURE;
	sr = srunner_create(gpu_pool_suite());
	srunner_run_all(sr, CK_VERBOSE);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
