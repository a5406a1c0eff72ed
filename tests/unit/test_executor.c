/* test_executor.c - choosing the executor (src/exec/executor.c) and opening the worker
 * pool (src/exec/exec_pool.c) with fake vgpu-worker and cuda-sanity programs, so that
 * every branch is reached on any machine, GPU or not: "cuda" and "auto" with a worker
 * that hosts the mock in the cuda backend's place (a GPU that works), cuda workers that
 * do not start, each fallback (mock, remote:DIR) taken or failing too, remote:DIR itself,
 * and the pool's device probe and hellos going wrong (no devices, an answer that is no
 * number, a worker whose init fails, one that exits before its hello). Each error is
 * checked with its whole message. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec/executor.h"
#include "../common/testutil.h"

static char worker[4096];
static char tmpdir[256];
static char path_buf[8][512];
static int npaths;

static void setup(void)
{
	const char *b = getenv("VGPU_BUILD");
	char rel[4096];

	snprintf(rel, sizeof(rel), "%s/vgpu-worker", b && b[0] ? b : "build");
	ck_assert_msg(realpath(rel, worker) != NULL, "no worker binary at %s (set VGPU_BUILD)", rel);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/vgpu-test-executor-XXXXXX");
	ck_assert(mkdtemp(tmpdir) != NULL);
	npaths = 0;
	unsetenv("VGPU_MOCK_DEVICES");
}

static void teardown(void)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
	unsetenv("VGPU_MOCK_DEVICES");
}

/* A shell script NAME in tmpdir with BODY; returns its path. */
static const char *script(const char *name, const char *body)
{
	char *p = path_buf[npaths++];
	FILE *f;

	snprintf(p, sizeof(path_buf[0]), "%s/%s", tmpdir, name);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "#!/bin/sh\n%s\n", body);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(p, 0755), 0);
	return p;
}

/* A vgpu-worker whose "cuda" backend is the real worker's mock: a GPU that works. */
static const char *gpu_worker(void)
{
	char body[4608];

	snprintf(body, sizeof(body), "[ \"$1\" = --backend ] || exit 9\nshift 2\nexec '%s' --backend mock \"$@\"", worker);
	return script("gpu-worker", body);
}

/* A vgpu-worker with no usable cuda backend; mock is the real one. */
static const char *nogpu_worker(void)
{
	char body[4608];

	snprintf(body, sizeof(body), "if [ \"$2\" = cuda ]; then echo 'fake: no CUDA device'; exit 1; fi\nexec '%s' \"$@\"",
		 worker);
	return script("nogpu-worker", body);
}

static void assert_no_children(void)
{
	errno = 0;
	ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
	ck_assert_int_eq(errno, ECHILD);
}

START_TEST(test_no_spec_or_opts)
{
	struct vgpu_exec_opts o = { .worker_path = worker };
	struct vgpu_executor *ex = (struct vgpu_executor *)1;
	char why[256] = "x", err[256] = "";

	ck_assert_int_eq(vgpu_executor_open(NULL, &o, &ex, why, sizeof(why), err, sizeof(err)), -EINVAL);
	ck_assert_ptr_null(ex);
	ck_assert_str_eq(why, "");
	ck_assert_str_eq(err, "no executor given");
	ck_assert_int_eq(vgpu_executor_open("mock", NULL, &ex, why, sizeof(why), err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "no executor given");
	/* no room for the texts: still refused, nothing written */
	ck_assert_int_eq(vgpu_executor_open("bogus", &o, &ex, NULL, 0, NULL, 0), -EINVAL);
}
END_TEST

START_TEST(test_cuda_with_working_gpus)
{
	struct vgpu_exec_opts o = { .worker_path = gpu_worker() };
	struct vgpu_executor *ex = NULL;
	char why[256], err[256];

	ck_assert_int_eq(vgpu_executor_open("cuda", &o, &ex, why, sizeof(why), err, sizeof(err)), 0);
	ck_assert_str_eq(why, "executor cuda: 1 GPU, one worker process each, as configured");
	ck_assert_int_eq(ex->nslots, 1);
	ck_assert_str_eq(ex->ops->slot_name(ex, 0), "cuda:0");   /* cuda slots are numbered even alone */
	ck_assert_str_eq(ex->ops->slot_name(ex, 1), "?");
	ck_assert_str_eq(ex->ops->slot_name(ex, -1), "?");
	vgpu_executor_close(ex);

	setenv("VGPU_MOCK_DEVICES", "2", 1);
	ck_assert_int_eq(vgpu_executor_open("cuda", &o, &ex, why, sizeof(why), err, sizeof(err)), 0);
	ck_assert_str_eq(why, "executor cuda: 2 GPUs, one worker process each, as configured");
	ck_assert_str_eq(ex->ops->slot_name(ex, 1), "cuda:1");
	vgpu_executor_close(ex);
	assert_no_children();
}
END_TEST

START_TEST(test_auto_sanity_passes)
{
	struct vgpu_exec_opts o = { .worker_path = gpu_worker(), .sanity_path = script("sanity-ok", "echo PASS") };
	struct vgpu_executor *ex = NULL;
	char why[512], err[512];

	setenv("VGPU_MOCK_DEVICES", "3", 1);
	ck_assert_int_eq(vgpu_executor_open("auto", &o, &ex, why, sizeof(why), err, sizeof(err)), 0);
	ck_assert_str_eq(why, "executor auto: cuda-sanity passed; using cuda (3 GPUs)");
	ck_assert_str_eq(err, "");
	ck_assert_int_eq(ex->nslots, 3);
	vgpu_executor_close(ex);
	unsetenv("VGPU_MOCK_DEVICES");
	ck_assert_int_eq(vgpu_executor_open("auto", &o, &ex, why, sizeof(why), err, sizeof(err)), 0);
	ck_assert_str_eq(why, "executor auto: cuda-sanity passed; using cuda (1 GPU)");
	vgpu_executor_close(ex);
	assert_no_children();
}
END_TEST

START_TEST(test_auto_cuda_workers_do_not_start)
{
	struct vgpu_exec_opts o = { .worker_path = nogpu_worker(), .sanity_path = script("sanity-ok", "exit 0") };
	struct vgpu_executor *ex = NULL;
	char why[512], err[512];

	ck_assert_int_eq(vgpu_executor_open("auto", &o, &ex, why, sizeof(why), err, sizeof(err)), -ENODEV);
	ck_assert_ptr_null(ex);
	ck_assert_str_eq(err, "cuda-sanity passed but the cuda workers did not start: fake: no CUDA device; "
		         "refusing to start: configure --fallback remote:DIR (Plan B) or --fallback mock");
	o.fallback_mock = 1;
	ck_assert_int_eq(vgpu_executor_open("auto", &o, &ex, why, sizeof(why), err, sizeof(err)), 0);
	ck_assert_str_eq(why, "executor auto: cuda-sanity passed but the cuda workers did not start: fake: no CUDA "
			      "device; using mock as configured (--fallback mock)");
	ck_assert_str_eq(ex->ops->name, "pool");
	vgpu_executor_close(ex);
	assert_no_children();
}
END_TEST

START_TEST(test_auto_without_sanity_path)
{
	struct vgpu_exec_opts o = { .worker_path = worker, .fallback_mock = 1 };
	struct vgpu_executor *ex = NULL;
	char why[512], err[512];

	ck_assert_int_eq(vgpu_executor_open("auto", &o, &ex, why, sizeof(why), err, sizeof(err)), 0);
	ck_assert_str_eq(why, "executor auto: cuda-sanity failed (no cuda-sanity binary configured); using mock as "
			      "configured (--fallback mock)");
	vgpu_executor_close(ex);
	o.sanity_path = "";
	o.fallback_mock = 0;
	ck_assert_int_eq(vgpu_executor_open("auto", &o, &ex, why, sizeof(why), err, sizeof(err)), -ENODEV);
	ck_assert_str_eq(err, "CUDA sanity check failed (no cuda-sanity binary configured); refusing to start: "
			      "configure --fallback remote:DIR (Plan B) or --fallback mock");
}
END_TEST

START_TEST(test_auto_sanity_killed)
{
	struct vgpu_exec_opts o = { .worker_path = worker, .fallback_mock = 1,
				    .sanity_path = script("sanity-segv", "kill -SEGV $$") };
	struct vgpu_executor *ex = NULL;
	char why[512], err[512];

	ck_assert_int_eq(vgpu_executor_open("auto", &o, &ex, why, sizeof(why), err, sizeof(err)), 0);
	ck_assert_str_eq(why, "executor auto: cuda-sanity failed (signal 11 SIGSEGV); using mock as configured "
			      "(--fallback mock)");
	vgpu_executor_close(ex);
}
END_TEST

START_TEST(test_auto_fallback_mock_fails_too)
{
	struct vgpu_exec_opts o = { .worker_path = script("broken-worker", "echo 'worker: broken'; exit 1"),
				    .fallback_mock = 1, .sanity_path = script("sanity-bad", "echo 'no driver'; exit 2") };
	struct vgpu_executor *ex = NULL;
	char why[512], err[512];

	ck_assert_int_eq(vgpu_executor_open("auto", &o, &ex, why, sizeof(why), err, sizeof(err)), -ENODEV);
	ck_assert_str_eq(err, "executor auto: cuda-sanity failed (no driver); the configured fallback mock failed "
			      "too: worker: broken");
	ck_assert_int_eq(vgpu_executor_open("mock", &o, &ex, why, sizeof(why), err, sizeof(err)), -ENODEV);
	ck_assert_str_eq(err, "executor mock: worker: broken");
	ck_assert_ptr_null(ex);
}
END_TEST

START_TEST(test_remote)
{
	struct vgpu_exec_opts o = { .worker_path = worker, .sanity_path = script("sanity-bad", "echo 'no driver'; exit 2") };
	struct vgpu_executor *ex = NULL;
	char why[1024], err[1024], dir[512], want[2048];

	snprintf(dir, sizeof(dir), "%s/vm4", tmpdir);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	o.remote_dir = dir;
	ck_assert_int_eq(vgpu_executor_open("auto", &o, &ex, why, sizeof(why), err, sizeof(err)), 0);
	snprintf(want, sizeof(want), "executor auto: cuda-sanity failed (no driver); using remote:%s as configured "
		 "(--fallback remote:%s)", dir, dir);
	ck_assert_str_eq(why, want);
	ck_assert_str_eq(ex->ops->name, "remote");
	ck_assert_int_eq(ex->nslots, 1);
	vgpu_executor_close(ex);

	snprintf(want, sizeof(want), "remote:%s", dir);
	ck_assert_int_eq(vgpu_executor_open(want, &o, &ex, why, sizeof(why), err, sizeof(err)), 0);
	snprintf(want, sizeof(want), "executor remote: forwarding jobs to the GPU worker VM through %s, as configured",
		 dir);
	ck_assert_str_eq(why, want);
	vgpu_executor_close(ex);

	/* a fallback that cannot be opened: both reasons */
	snprintf(dir, sizeof(dir), "%s/vm5", tmpdir);   /* not there */
	ck_assert_int_lt(vgpu_executor_open("auto", &o, &ex, why, sizeof(why), err, sizeof(err)), 0);
	ck_assert_ptr_null(ex);
	snprintf(want, sizeof(want), "executor auto: cuda-sanity failed (no driver); the configured fallback "
		 "remote:%s failed too: remote:%s: ", dir, dir);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
	snprintf(want, sizeof(want), "remote:%s", dir);
	ck_assert_int_lt(vgpu_executor_open(want, &o, &ex, why, sizeof(why), err, sizeof(err)), 0);
	snprintf(want, sizeof(want), "executor remote:%s: remote:%s: ", dir, dir);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);

	snprintf(want, sizeof(want), "remote:%s", tmpdir);   /* not named vmN */
	ck_assert_int_eq(vgpu_executor_open(want, &o, &ex, why, sizeof(why), err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, ": not a VM directory: the last component must be vmN") != NULL, "%s", err);
	assert_no_children();
}
END_TEST

START_TEST(test_pool_probe_answers)
{
	struct vgpu_exec_opts o = { .worker_path = script("zero", "echo 0") };
	struct vgpu_executor *ex = NULL;
	char err[512], want[1024];

	ck_assert_int_eq(vgpu_pool_open("mock", &o, &ex, err, sizeof(err)), -ENODEV);
	ck_assert_str_eq(err, "backend mock: no devices");
	o.worker_path = script("words", "echo 'two GPUs'");
	ck_assert_int_eq(vgpu_pool_open("mock", &o, &ex, err, sizeof(err)), -EPROTO);
	snprintf(want, sizeof(want), "%s --backend mock --count: unexpected answer 'two GPUs'", o.worker_path);
	ck_assert_str_eq(err, want);
	o.worker_path = script("negative", "echo -1");
	ck_assert_int_eq(vgpu_pool_open("mock", &o, &ex, err, sizeof(err)), -EPROTO);
	o.worker_path = script("silent-fail", "kill -TERM $$");
	ck_assert_int_eq(vgpu_pool_open("mock", &o, &ex, err, sizeof(err)), -ENODEV);
	ck_assert_str_eq(err, "signal 15 SIGTERM");
	ck_assert_ptr_null(ex);
	o.worker_path = "";
	ck_assert_int_eq(vgpu_pool_open("mock", &o, &ex, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "no worker binary configured (vgpu-worker)");
	assert_no_children();
}
END_TEST

START_TEST(test_pool_workers_fail_to_start)
{
	struct vgpu_exec_opts o;
	struct vgpu_executor *ex = NULL;
	char err[512], body[4608];

	/* the probe says 2 devices, the worker's mock has 1: device 1's init fails */
	snprintf(body, sizeof(body), "case \"$3\" in --count) echo 2; exit 0;; esac\nexec '%s' \"$@\"", worker);
	o = (struct vgpu_exec_opts){ .worker_path = script("two", body) };
	ck_assert_int_eq(vgpu_pool_open("mock", &o, &ex, err, sizeof(err)), -ENODEV);
	ck_assert_str_eq(err, "worker for mock:1 failed to start: mock: no device 1 (VGPU_MOCK_DEVICES=1)");
	ck_assert_ptr_null(ex);

	/* a worker that exits without a hello */
	o.worker_path = script("nohello", "case \"$3\" in --count) echo 1; exit 0;; esac\nexit 7");
	ck_assert_int_eq(vgpu_pool_open("mock", &o, &ex, err, sizeof(err)), -ENODEV);
	ck_assert_str_eq(err, "worker for mock failed to start (exit 7)");
	assert_no_children();
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("executor");
	TCase *tc = tcase_create("executor");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_no_spec_or_opts);
	tcase_add_test(tc, test_cuda_with_working_gpus);
	tcase_add_test(tc, test_auto_sanity_passes);
	tcase_add_test(tc, test_auto_cuda_workers_do_not_start);
	tcase_add_test(tc, test_auto_without_sanity_path);
	tcase_add_test(tc, test_auto_sanity_killed);
	tcase_add_test(tc, test_auto_fallback_mock_fails_too);
	tcase_add_test(tc, test_remote);
	tcase_add_test(tc, test_pool_probe_answers);
	tcase_add_test(tc, test_pool_workers_fail_to_start);
	suite_add_tcase(s, tc);
	return s;
}

TU_CHECK_MAIN(suite)
