/* test_cuda_cpu.c - the CUDA backend's CPU-side paths, with the real cudart (ERROR 5).
 *
 * Runs in `make check`, on CI too, where the CUDA toolkit is installed but there is no
 * driver: the real cudart answers cudaErrorInsufficientDriver ("CUDA driver version is
 * insufficient for CUDA runtime version"), so the cuda backend's device count and init
 * fail with that text, cuda-sanity exits 2 printing it, vgpu-worker --count reports it,
 * and `--executor auto` falls back to mock when configured and refuses otherwise.
 * On a GPU host the same tests hide the devices with CUDA_VISIBLE_DEVICES= and expect
 * cudaErrorNoDevice and exit 3. Built without nvcc: one test that prints why it skips. */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec/backend.h"
#include "exec/executor.h"
#include "../common/testutil.h"

#ifndef VGPU_HAVE_CUDA

START_TEST(test_skip_without_cuda)
{
	printf("test_cuda_cpu: SKIP: built without CUDA (nvcc was not found at build time); "
	       "cuda-sanity exits 6 in this build\n");
}
END_TEST

static Suite *cuda_cpu_suite(void)
{
	Suite *s = suite_create("cuda_cpu");
	TCase *tc = tcase_create("skip");
	tcase_add_test(tc, test_skip_without_cuda);
	suite_add_tcase(s, tc);
	return s;
}

#else

#include <cuda_runtime_api.h>

#define INSUFFICIENT "CUDA driver version is insufficient for CUDA runtime version"
#define NO_DEVICE    "no CUDA-capable device is detected"

static char build_dir[PATH_MAX];

/* The build directory: $VGPU_BUILD, else two levels above this program
 * ($(BUILD)/tests/test_cuda_cpu). */
static void find_build_dir(void)
{
	const char *env = getenv("VGPU_BUILD");
	char exe[PATH_MAX];
	ssize_t n;
	char *slash;

	if (env && *env) {
		snprintf(build_dir, sizeof(build_dir), "%s", env);
		return;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0) {
		snprintf(build_dir, sizeof(build_dir), "build");
		return;
	}
	exe[n] = 0;
	for (int up = 0; up < 2; up++) {
		slash = strrchr(exe, '/');
		if (slash)
			*slash = 0;
	}
	snprintf(build_dir, sizeof(build_dir), "%s", exe);
}

/* Is a driver installed? cudaDriverGetVersion() does not initialise CUDA. */
static int have_driver(void)
{
	int v = 0;
	return cudaDriverGetVersion(&v) == cudaSuccess && v > 0;
}

/* Run BUILD/PROG ARGS... with CUDA_VISIBLE_DEVICES set to VIS (NULL: inherited);
 * stdout+stderr into OUT. Returns the exit status, or -signal. */
static int run_prog(const char *vis, char *out, size_t cap, const char *prog, const char *arg1, const char *arg2,
		    const char *arg3)
{
	char path[PATH_MAX + 64];
	int pfd[2], st;
	size_t len = 0;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/%s", build_dir, prog);
	ck_assert_msg(access(path, X_OK) == 0, "%s: %s (build it first: make all)", path, strerror(errno));
	ck_assert_int_eq(pipe(pfd), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		close(pfd[0]);
		close(pfd[1]);
		if (vis)
			setenv("CUDA_VISIBLE_DEVICES", vis, 1);
		execl(path, prog, arg1, arg2, arg3, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		ssize_t r = read(pfd[0], out + len, cap - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
		if (len == cap - 1)
			break;
	}
	out[len] = 0;
	close(pfd[0]);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
}

START_TEST(test_backend_device_count_fails)
{
	char err[256] = "";
	int n, drv;

	setenv("CUDA_VISIBLE_DEVICES", "", 1);     /* before the first CUDA call */
	drv = have_driver();
	n = vgpu_backend_cuda.device_count(err, sizeof(err));
	printf("  device_count: %d: %s\n", n, err);
	ck_assert_int_lt(n, 0);
	if (!drv) {
		ck_assert_msg(strstr(err, "cudaErrorInsufficientDriver") && strstr(err, INSUFFICIENT), "%s", err);
	} else {
		ck_assert_msg(strstr(err, "cudaErrorNoDevice") && strstr(err, NO_DEVICE), "%s", err);
	}
}
END_TEST

START_TEST(test_backend_init_fails)
{
	char err[256] = "";
	void *ctx = (void *)1;
	int drv;

	setenv("CUDA_VISIBLE_DEVICES", "", 1);
	drv = have_driver();
	ck_assert_int_lt(vgpu_backend_cuda.init(&ctx, 0, err, sizeof(err)), 0);
	ck_assert_ptr_null(ctx);
	printf("  init: %s\n", err);
	ck_assert_msg(strstr(err, drv ? "cudaErrorNoDevice" : "cudaErrorInsufficientDriver") != NULL, "%s", err);
}
END_TEST

START_TEST(test_sanity_exit_codes)
{
	char out[4096];
	int rc;

	rc = run_prog(NULL, out, sizeof(out), "cuda-sanity", "--help", NULL, NULL);
	ck_assert_int_eq(rc, 0);
	ck_assert_msg(strstr(out, "exit codes") != NULL, "%s", out);

	/* Devices hidden: no driver here gives exit 2, a GPU host exit 3. */
	rc = run_prog("", out, sizeof(out), "cuda-sanity", NULL, NULL, NULL);
	printf("  cuda-sanity (CUDA_VISIBLE_DEVICES=): exit %d\n%s", rc, out);
	if (!have_driver()) {
		ck_assert_int_eq(rc, 2);
		/* The reason is the first line: `--executor auto` quotes it. */
		ck_assert_msg(strncmp(out, "cuda-sanity: cudaGetDeviceCount: cudaErrorInsufficientDriver: " INSUFFICIENT,
				      strlen("cuda-sanity: cudaGetDeviceCount: cudaErrorInsufficientDriver: " INSUFFICIENT)) == 0,
			      "%s", out);
		ck_assert_msg(strstr(out, "driver none") != NULL, "%s", out);
		/* Without the override too: there is no driver at all. */
		rc = run_prog(NULL, out, sizeof(out), "cuda-sanity", NULL, NULL, NULL);
		ck_assert_int_eq(rc, 2);
		ck_assert_msg(strstr(out, INSUFFICIENT) != NULL, "%s", out);
	} else {
		ck_assert_int_eq(rc, 3);
		ck_assert_msg(strstr(out, "cudaErrorNoDevice") != NULL, "%s", out);
	}
	ck_assert_msg(strstr(out, "FAIL (exit") != NULL, "%s", out);

	rc = run_prog(NULL, out, sizeof(out), "cuda-sanity", "--bogus", NULL, NULL);
	ck_assert_int_eq(rc, 1);
}
END_TEST

START_TEST(test_worker_count_reports_driver)
{
	char out[4096];
	int rc = run_prog("", out, sizeof(out), "vgpu-worker", "--backend", "cuda", "--count");
	printf("  vgpu-worker --backend cuda --count: exit %d: %s", rc, out);
	ck_assert_int_eq(rc, 1);
	ck_assert_msg(strstr(out, have_driver() ? "cudaErrorNoDevice" : INSUFFICIENT) != NULL, "%s", out);
}
END_TEST

static void auto_opts(struct vgpu_exec_opts *o, char *worker, char *sanity, size_t cap)
{
	memset(o, 0, sizeof(*o));
	snprintf(worker, cap, "%s/vgpu-worker", build_dir);
	snprintf(sanity, cap, "%s/cuda-sanity", build_dir);
	o->worker_path = worker;
	o->sanity_path = sanity;
}

START_TEST(test_auto_falls_back_to_mock)
{
	struct vgpu_exec_opts o;
	struct vgpu_executor *ex = NULL;
	char worker[PATH_MAX + 32], sanity[PATH_MAX + 32], why[512] = "", err[512] = "";

	setenv("CUDA_VISIBLE_DEVICES", "", 1);      /* inherited by cuda-sanity */
	auto_opts(&o, worker, sanity, sizeof(worker));
	o.fallback_mock = 1;
	ck_assert_msg(vgpu_executor_open("auto", &o, &ex, why, sizeof(why), err, sizeof(err)) == 0, "%s", err);
	printf("  auto with --fallback mock: %s\n", why);
	ck_assert_str_eq(ex->ops->slot_name(ex, 0), "mock");
	ck_assert_msg(strstr(why, have_driver() ? "cudaErrorNoDevice" : INSUFFICIENT) != NULL, "%s", why);
	vgpu_executor_close(ex);
}
END_TEST

START_TEST(test_auto_refuses_without_fallback)
{
	struct vgpu_exec_opts o;
	struct vgpu_executor *ex = NULL;
	char worker[PATH_MAX + 32], sanity[PATH_MAX + 32], why[512] = "", err[512] = "";

	setenv("CUDA_VISIBLE_DEVICES", "", 1);
	auto_opts(&o, worker, sanity, sizeof(worker));
	ck_assert_int_lt(vgpu_executor_open("auto", &o, &ex, why, sizeof(why), err, sizeof(err)), 0);
	ck_assert_ptr_null(ex);
	printf("  auto without fallback: %s\n", err);
	ck_assert_msg(strstr(err, "refusing") != NULL, "%s", err);
	ck_assert_msg(strstr(err, have_driver() ? "cudaErrorNoDevice" : INSUFFICIENT) != NULL, "%s", err);
}
END_TEST

static Suite *cuda_cpu_suite(void)
{
	Suite *s = suite_create("cuda_cpu");
	TCase *tc = tcase_create("no_driver");

	find_build_dir();
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_backend_device_count_fails);
	tcase_add_test(tc, test_backend_init_fails);
	tcase_add_test(tc, test_sanity_exit_codes);
	tcase_add_test(tc, test_worker_count_reports_driver);
	tcase_add_test(tc, test_auto_falls_back_to_mock);
	tcase_add_test(tc, test_auto_refuses_without_fallback);
	suite_add_tcase(s, tc);
	return s;
}

#endif

int main(void)
{
	return tu_run(cuda_cpu_suite(), CK_VERBOSE);
}
