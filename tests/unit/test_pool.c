/* test_pool.c - the worker pool (src/exec/exec_pool.c, pool_worker.c) with the real
 * vgpu-worker binary ($VGPU_BUILD/vgpu-worker, default build/) over the mock backend:
 * results, the watchdog (timeout, crash, leak), restarts, no zombies, backend names; and
 * executor selection (src/exec/executor.c) with a fake cuda-sanity. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fiu.h>
#include <fiu-control.h>

#include "exec/executor.h"
#include "exec/pool_int.h"
#include "lib/clock.h"
#include "lib/opref.h"
#include "exec/wire.h"
#include "lib/status.h"
#include "../common/testutil.h"

static char worker[8192];
static char tmpdir[256];

static void setup(void)
{
	const char *b = getenv("VGPU_BUILD");
	char rel[4096], *abs;

	snprintf(rel, sizeof(rel), "%s/vgpu-worker", b && b[0] ? b : "build");
	abs = realpath(rel, NULL);   /* the worker is exec'd by path: make it absolute */
	ck_assert_msg(abs != NULL, "no worker binary at %s (set VGPU_BUILD)", rel);
	snprintf(worker, sizeof(worker), "%s", abs);
	free(abs);
	ck_assert_msg(access(worker, X_OK) == 0, "worker %s is not executable", worker);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/vgpu-test-pool-XXXXXX");
	ck_assert(mkdtemp(tmpdir) != NULL);
}

static void teardown(void)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

static void assert_no_children(void)
{
	errno = 0;
	ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
	ck_assert_int_eq(errno, ECHILD);
}

static struct vgpu_exec_opts opts_for(const char *worker_path)
{
	struct vgpu_exec_opts o;

	memset(&o, 0, sizeof(o));
	o.worker_path = worker_path;
	return o;
}

static struct vgpu_executor *open_mock(void)
{
	struct vgpu_exec_opts o = opts_for(worker);
	struct vgpu_executor *ex = NULL;
	char err[256];
	int rc = vgpu_pool_open("mock", &o, &ex, err, sizeof(err));

	ck_assert_msg(rc == 0, "pool open: %d %s", rc, err);
	ck_assert_int_eq(ex->nslots, 1);
	ck_assert_str_eq(ex->ops->slot_name(ex, 0), "mock");
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

/* Submit J on slot 0 and drive fd()/reap() until it ends; returns the elapsed ms. */
static uint64_t run_job(struct vgpu_executor *ex, struct vgpu_exec_job *j, struct vgpu_job_result *res)
{
	uint64_t t0 = vgpu_now_ms();

	ck_assert_int_eq(ex->ops->submit(ex, 0, j), 0);
	for (;;) {
		struct pollfd p = { .fd = ex->ops->fd(ex, 0), .events = POLLIN };
		uint64_t now;

		ck_assert_int_ge(p.fd, 0);
		poll(&p, 1, 20);
		now = vgpu_now_ms();
		if (ex->ops->reap(ex, 0, now, res) == 1)
			return now - t0;
		ck_assert_msg(now - t0 < 20000, "job did not end in 20 s");
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

/* A compute op through the pool, with payload input (sealed memfd) or a seed; the
 * output must equal the CPU reference bit for bit. */
static void check_compute(struct vgpu_executor *ex, enum vgpu_op op, int seeded)
{
	size_t m = 7, n = 33, k = 5, na, nb, nout;
	struct vgpu_exec_job j = simple_job(op);
	struct vgpu_job_result res;
	float *a, *b, *ref, *out;

	if (op == VGPU_OP_SGEMM) {
		na = m * k; nb = k * n; nout = m * n;
		j.job.args.m = m; j.job.args.n = n; j.job.args.k = k;
	} else {
		n = 1000;
		na = nb = nout = n;
		j.job.args.n = n;
		j.job.args.alpha = -1.75f;
	}
	a = malloc((na + nb) * sizeof(float));
	b = a + na;
	ref = malloc(nout * sizeof(float));
	vgpu_gen_fill(a, na, 99, 0);
	vgpu_gen_fill(b, nb, 99, 1);
	if (op == VGPU_OP_VADD)
		vgpu_ref_vadd(a, b, ref, n);
	else if (op == VGPU_OP_SAXPY)
		vgpu_ref_saxpy(j.job.args.alpha, a, b, ref, n);
	else
		vgpu_ref_sgemm(a, b, ref, m, n, k);
	if (seeded) {
		j.job.args.has_seed = 1;
		j.job.args.seed = 99;
	} else {
		j.in_bytes = (na + nb) * sizeof(float);
		j.in_fd = memfd_with(a, j.in_bytes, 1);
	}
	j.out_bytes = nout * sizeof(float);
	j.out_fd = memfd_with(NULL, j.out_bytes, 0);
	j.deadline_ms = vgpu_now_ms() + 10000;
	run_job(ex, &j, &res);
	ck_assert_msg(res.status == VGPU_OK, "status %d: %s", res.status, res.error);
	ck_assert_str_eq(res.error, "");
	out = mmap(NULL, j.out_bytes, PROT_READ, MAP_SHARED, j.out_fd, 0);
	ck_assert(out != MAP_FAILED);
	ck_assert_msg(memcmp(out, ref, j.out_bytes) == 0, "op %d output differs from the reference", op);
	ck_assert(vgpu_rel_error(out, ref, nout) == 0.0);
	munmap(out, j.out_bytes);
	if (j.in_fd >= 0)
		close(j.in_fd);
	close(j.out_fd);
	free(a);
	free(ref);
}

static void vadd_ok(struct vgpu_executor *ex)
{
	check_compute(ex, VGPU_OP_VADD, 1);
}

START_TEST(test_compute_matches_reference)
{
	struct vgpu_executor *ex = open_mock();
	struct vgpu_exec_job j = simple_job(VGPU_OP_PING);
	struct vgpu_job_result res;

	run_job(ex, &j, &res);
	ck_assert_int_eq(res.status, VGPU_OK);
	for (int seeded = 0; seeded < 2; seeded++) {
		check_compute(ex, VGPU_OP_VADD, seeded);
		check_compute(ex, VGPU_OP_SAXPY, seeded);
		check_compute(ex, VGPU_OP_SGEMM, seeded);
	}
	vgpu_executor_close(ex);
	assert_no_children();
}
END_TEST

START_TEST(test_short_output_fails_cleanly)
{
	struct vgpu_executor *ex = open_mock();
	struct vgpu_exec_job j = simple_job(VGPU_OP_VADD);
	struct vgpu_job_result res;

	j.job.args.n = 100;
	j.job.args.has_seed = 1;
	j.out_bytes = 10 * sizeof(float);     /* the op needs 100 floats */
	j.out_fd = memfd_with(NULL, j.out_bytes, 0);
	run_job(ex, &j, &res);
	ck_assert_int_eq(res.status, VGPU_EXEC_FAILED);
	ck_assert_msg(strstr(res.error, "op vadd needs 100 floats") != NULL, "%s", res.error);
	close(j.out_fd);
	/* an output file smaller than the job's output: written (pwrite, never a mapping
	 * that could SIGBUS), whole, with its CRC-32 */
	j.out_bytes = 400;
	j.job.out_count = 100;
	j.out_fd = memfd_with(NULL, 100, 0);
	run_job(ex, &j, &res);
	ck_assert_msg(res.status == VGPU_OK, "%s", res.error);
	ck_assert_int_eq(res.has_out_crc, 1);
	{
		struct stat st;

		ck_assert_int_eq(fstat(j.out_fd, &st), 0);
		ck_assert_int_eq(st.st_size, 400);
	}
	close(j.out_fd);
	/* a closed descriptor is the caller's error; the worker is not blamed or killed */
	ck_assert_int_eq(ex->ops->submit(ex, 0, &j), -EBADF);
	vadd_ok(ex);
	j = simple_job(VGPU_OP_SPIN);
	j.job.args.ms = 20;
	ck_assert_int_eq(ex->ops->submit(ex, 0, &j), 0);
	ck_assert_int_eq(ex->ops->submit(ex, 0, &j), -EBUSY);
	while (ex->ops->reap(ex, 0, vgpu_now_ms(), &res) == 0)
		usleep(1000);
	ck_assert_int_eq(res.status, VGPU_OK);
	vgpu_executor_close(ex);
	assert_no_children();
}
END_TEST

START_TEST(test_timeout_kills_and_restarts)
{
	struct vgpu_executor *ex = open_mock();
	struct vgpu_exec_job j = simple_job(VGPU_OP_SPIN);
	struct vgpu_job_result res;
	uint64_t ms;

	j.job.args.ms = 60000;
	j.deadline_ms = vgpu_now_ms() + 300;
	ms = run_job(ex, &j, &res);
	ck_assert_int_eq(res.status, VGPU_TIMEOUT);
	ck_assert_msg(strstr(res.error, "ms limit; worker killed and restarted") != NULL, "%s", res.error);
	ck_assert_msg(strncmp(res.error, "job exceeded its 3", 18) == 0 ||
		      strncmp(res.error, "job exceeded its 29", 19) == 0, "%s", res.error);
	ck_assert_uint_ge(ms, 290);
	ck_assert_uint_lt(ms, 3000);
	vadd_ok(ex);          /* the same slot works again: the worker was restarted */
	/* and a spin within its limit is OK */
	j.job.args.ms = 50;
	j.deadline_ms = vgpu_now_ms() + 5000;
	run_job(ex, &j, &res);
	ck_assert_int_eq(res.status, VGPU_OK);
	ck_assert_uint_ge(res.exec_us, 50000);
	vgpu_executor_close(ex);
	assert_no_children();
}
END_TEST

START_TEST(test_crash_fails_job_then_recovers)
{
	struct vgpu_executor *ex = open_mock();
	struct vgpu_exec_job j = simple_job(VGPU_OP_CRASH);
	struct vgpu_job_result res;

	for (int round = 0; round < 3; round++) {
		j.deadline_ms = vgpu_now_ms() + 10000;
		run_job(ex, &j, &res);
		ck_assert_int_eq(res.status, VGPU_EXEC_FAILED);
		ck_assert_str_eq(res.error, "worker for mock died (signal 11 SIGSEGV); restarted");
		vadd_ok(ex);
	}
	vgpu_executor_close(ex);
	assert_no_children();
}
END_TEST

/* One VM's jobs that keep killing the worker (here crash and 1 ms time limits, twelve
 * in a row) must not trip the restart backoff: the next job of another VM runs. */
START_TEST(test_job_caused_restarts_do_not_back_off)
{
	struct vgpu_executor *ex = open_mock();
	struct vgpu_exec_job j;
	struct vgpu_job_result res;

	for (int round = 0; round < 12; round++) {
		j = simple_job(round % 2 ? VGPU_OP_CRASH : VGPU_OP_SPIN);
		j.job.args.ms = 10000;
		j.deadline_ms = vgpu_now_ms() + (round % 2 ? 10000 : 1);
		run_job(ex, &j, &res);
		ck_assert_int_ne(res.status, VGPU_OK);
		ck_assert_msg(strstr(res.error, "restarted") != NULL, "round %d: %s", round, res.error);
	}
	vadd_ok(ex);
	vgpu_executor_close(ex);
	assert_no_children();
}
END_TEST

START_TEST(test_leak_is_reported)
{
	struct vgpu_executor *ex = open_mock();
	struct vgpu_exec_job j = simple_job(VGPU_OP_LEAK);
	struct vgpu_job_result res;

	j.job.args.bytes = 3u << 20;
	run_job(ex, &j, &res);
	ck_assert_int_eq(res.status, VGPU_LEAKED);
	ck_assert_uint_eq(res.leaked_bytes, 3u << 20);
	ck_assert_str_eq(res.error, "job leaked 3145728 bytes of device memory; reclaimed");
	vadd_ok(ex);
	vgpu_executor_close(ex);
	assert_no_children();
}
END_TEST

START_TEST(test_exiting_worker_is_replaced_before_next_job)
{
	/* A backend that finds its device unusable (run() < 0) answers, then its worker
	 * exits (after a 300 ms teardown, the mock's hook). The pool must take that worker
	 * down on the answer and send the next job to a fresh one, not to the dying one. */
	struct vgpu_executor *ex;
	struct vgpu_exec_job j = simple_job(VGPU_OP_SPIN);
	struct vgpu_job_result res;

	setenv("VGPU_MOCK_TEST_UNUSABLE", "spin", 1);   /* restarted workers inherit it too */
	ex = open_mock();
	for (int round = 0; round < 3; round++) {
		j.job.args.ms = 1;
		j.deadline_ms = vgpu_now_ms() + 10000;
		run_job(ex, &j, &res);
		ck_assert_int_eq(res.status, VGPU_EXEC_FAILED);
		ck_assert_msg(strstr(res.error, "device unusable") != NULL, "%s", res.error);
		vadd_ok(ex);     /* at once: must reach a live worker */
	}
	unsetenv("VGPU_MOCK_TEST_UNUSABLE");
	vgpu_executor_close(ex);
	assert_no_children();
}
END_TEST

/* Children of this process, from /proc (the pool does not expose its pids). */
static int child_pids(pid_t *pids, int max)
{
	char path[64];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)gettid());
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (n < max && fscanf(f, "%d", &pids[n]) == 1)
		n++;
	fclose(f);
	return n;
}

START_TEST(test_idle_worker_death_is_transparent)
{
	struct vgpu_executor *ex = open_mock();
	pid_t pids[8];
	int n = child_pids(pids, 8);

	if (n < 0)
		return;   /* no /proc children file: nothing to test here */
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(kill(pids[0], SIGKILL), 0);
	usleep(50 * 1000);
	vadd_ok(ex);     /* submit finds it dead, restarts it, the job runs */
	vgpu_executor_close(ex);
	assert_no_children();
}
END_TEST

START_TEST(test_worker_that_cannot_restart)
{
	struct vgpu_executor *ex = NULL;
	struct vgpu_exec_job j = simple_job(VGPU_OP_CRASH);
	struct vgpu_job_result res;
	char wrapper[512], flag[512], err[256];
	struct vgpu_exec_opts o;
	uint64_t ms, t0;
	FILE *f;
	int ok = 0;

	snprintf(wrapper, sizeof(wrapper), "%s/worker.sh", tmpdir);
	snprintf(flag, sizeof(flag), "%s/broken", tmpdir);
	f = fopen(wrapper, "w");
	ck_assert(f != NULL);
	fprintf(f, "#!/bin/sh\nif [ -e '%s' ]; then echo 'worker.sh: broken on purpose' >&2; exit 7; fi\n"
		   "exec '%s' \"$@\"\n", flag, worker);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(wrapper, 0755), 0);
	o = opts_for(wrapper);
	ck_assert_int_eq(vgpu_pool_open("mock", &o, &ex, err, sizeof(err)), 0);

	f = fopen(flag, "w");
	ck_assert(f != NULL);
	fclose(f);
	run_job(ex, &j, &res);              /* kills the good worker */
	ck_assert_int_eq(res.status, VGPU_EXEC_FAILED);
	ck_assert_msg(strstr(res.error, "died (signal 11 SIGSEGV)") != NULL, "%s", res.error);
	/* the replacement cannot start: jobs fail fast, they do not hang */
	for (int i = 0; i < 3; i++) {
		struct vgpu_exec_job v = simple_job(VGPU_OP_PING);

		v.deadline_ms = vgpu_now_ms() + 60000;
		ms = run_job(ex, &v, &res);
		ck_assert_int_eq(res.status, VGPU_EXEC_FAILED);
		ck_assert_msg(strstr(res.error, "exit 7") != NULL, "%s", res.error);
		ck_assert_msg(strstr(res.error, "worker for mock") == res.error, "%s", res.error);
		/* backed off: no new worker per job while it keeps failing */
		ck_assert_msg(strstr(res.error, "next restart in ") != NULL, "%s", res.error);
		ck_assert_uint_lt(ms, 2000);
	}
	/* repaired: after the backoff the slot works again */
	ck_assert_int_eq(unlink(flag), 0);
	t0 = vgpu_now_ms();
	while (!ok && vgpu_now_ms() - t0 < 15000) {
		struct vgpu_exec_job v = simple_job(VGPU_OP_PING);

		run_job(ex, &v, &res);
		ok = res.status == VGPU_OK;
		if (!ok)
			usleep(50 * 1000);
	}
	ck_assert_msg(ok, "slot did not recover: %s", res.error);
	vadd_ok(ex);
	vgpu_executor_close(ex);
	assert_no_children();
}
END_TEST

/* Fault point exec/wire/send (docs/EXECUTOR.md): a send that fails with EPIPE is a dead
 * worker; it is replaced and the job goes to the new one, so the job still runs. */
static int send_calls;

static int fail_first_send(const char *name, int *failnum, void **failinfo, unsigned int *flags)
{
	(void)name; (void)failnum; (void)failinfo; (void)flags;
	return ++send_calls == 1;
}

START_TEST(test_fault_wire_send_is_a_dead_worker)
{
	struct vgpu_executor *ex = open_mock();

	send_calls = 0;
	ck_assert_int_eq(fiu_enable_external("exec/wire/send", 1, NULL, 0, fail_first_send), 0);
	vadd_ok(ex);
	fiu_disable("exec/wire/send");
	ck_assert_int_eq(send_calls, 2);   /* the failed send, then the one to the new worker */
	vadd_ok(ex);
	vgpu_executor_close(ex);
	assert_no_children();
}
END_TEST

/* Fault point exec/pool/spawn: while no worker can be started, the slot's jobs fail at
 * once (nothing hangs); once it can, the next job starts one and runs. */
START_TEST(test_fault_spawn_fails_jobs_fast)
{
	struct vgpu_executor *ex = open_mock();
	struct vgpu_exec_job j = simple_job(VGPU_OP_CRASH);
	struct vgpu_job_result res;
	uint64_t ms;

	ck_assert_int_eq(fiu_enable("exec/pool/spawn", 1, NULL, 0), 0);
	j.deadline_ms = vgpu_now_ms() + 10000;
	run_job(ex, &j, &res);
	ck_assert_int_eq(res.status, VGPU_EXEC_FAILED);
	ck_assert_msg(strstr(res.error, "worker for mock died (signal 11 SIGSEGV); restart deferred") == res.error,
		      "%s", res.error);
	j = simple_job(VGPU_OP_PING);
	j.deadline_ms = vgpu_now_ms() + 10000;
	ms = run_job(ex, &j, &res);
	ck_assert_int_eq(res.status, VGPU_EXEC_FAILED);
	ck_assert_msg(strstr(res.error, "worker for mock is down (died (signal 11 SIGSEGV))") != NULL, "%s", res.error);
	ck_assert_msg(ms < 1000, "a job for a down worker took %llu ms", (unsigned long long)ms);
	fiu_disable("exec/pool/spawn");
	vadd_ok(ex);
	vgpu_executor_close(ex);
	assert_no_children();
}
END_TEST

START_TEST(test_open_failures)
{
	struct vgpu_executor *ex = (struct vgpu_executor *)1;
	struct vgpu_exec_opts o = opts_for("/nonexistent/vgpu-worker");
	char err[256];

	ck_assert_int_lt(vgpu_pool_open("mock", &o, &ex, err, sizeof(err)), 0);
	ck_assert(ex == NULL);
	ck_assert_msg(strstr(err, "cannot run /nonexistent/vgpu-worker") != NULL, "%s", err);
	o.worker_path = NULL;
	ck_assert_int_eq(vgpu_pool_open("mock", &o, &ex, err, sizeof(err)), -EINVAL);
	/* backends are named; an unknown name is refused before any worker runs */
	o = opts_for(worker);
	ck_assert_int_eq(vgpu_pool_open("nosuch", &o, &ex, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "unknown backend 'nosuch'");
	ck_assert_int_eq(vgpu_pool_open(NULL, &o, &ex, err, sizeof(err)), -EINVAL);
	ck_assert(ex == NULL);
	assert_no_children();
}
END_TEST

/* A fake cuda-sanity: prints LINE, exits CODE. */
static void fake_sanity(char *path, size_t len, const char *line, int code)
{
	FILE *f;

	snprintf(path, len, "%s/cuda-sanity-%d", tmpdir, code);
	f = fopen(path, "w");
	ck_assert(f != NULL);
	fprintf(f, "#!/bin/sh\necho '%s'\necho 'second line'\nexit %d\n", line, code);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(path, 0755), 0);
}

START_TEST(test_select_auto_refuses_without_fallback)
{
	struct vgpu_exec_opts o = opts_for(worker);
	struct vgpu_executor *ex = NULL;
	char sanity[512], why[512], err[512];
	int rc;

	fake_sanity(sanity, sizeof(sanity), "CUDA driver version is insufficient for CUDA runtime version", 1);
	o.sanity_path = sanity;
	o.fallback_mock = 0;
	rc = vgpu_executor_open("auto", &o, &ex, why, sizeof(why), err, sizeof(err));
	ck_assert_int_lt(rc, 0);
	ck_assert(ex == NULL);
	ck_assert_str_eq(err, "CUDA sanity check failed (CUDA driver version is insufficient for CUDA "
			 "runtime version); refusing to start: configure --fallback remote:DIR (Plan B) "
			 "or --fallback mock");
	assert_no_children();
}
END_TEST

START_TEST(test_select_auto_falls_back_to_mock)
{
	struct vgpu_exec_opts o = opts_for(worker);
	struct vgpu_executor *ex = NULL;
	char sanity[512], why[512], err[512];
	struct vgpu_exec_job j = simple_job(VGPU_OP_PING);
	struct vgpu_job_result res;
	int rc;

	fake_sanity(sanity, sizeof(sanity), "CUDA driver version is insufficient for CUDA runtime version", 1);
	o.sanity_path = sanity;
	o.fallback_mock = 1;
	rc = vgpu_executor_open("auto", &o, &ex, why, sizeof(why), err, sizeof(err));
	ck_assert_msg(rc == 0, "%s", err);
	ck_assert_str_eq(why, "executor auto: cuda-sanity failed (CUDA driver version is insufficient for "
			 "CUDA runtime version); using mock as configured (--fallback mock)");
	ck_assert_str_eq(ex->ops->slot_name(ex, 0), "mock");
	run_job(ex, &j, &res);
	ck_assert_int_eq(res.status, VGPU_OK);
	vgpu_executor_close(ex);

	/* a sanity binary that is missing is a failure with a reason, not a crash */
	o.sanity_path = "/nonexistent/cuda-sanity";
	rc = vgpu_executor_open("auto", &o, &ex, why, sizeof(why), err, sizeof(err));
	ck_assert_msg(rc == 0, "%s", err);
	ck_assert_msg(strstr(why, "cuda-sanity failed (cannot run /nonexistent/cuda-sanity: No such file")
		      != NULL, "%s", why);
	vgpu_executor_close(ex);
	assert_no_children();
}
END_TEST

START_TEST(test_select_specs)
{
	struct vgpu_exec_opts o = opts_for(worker);
	struct vgpu_executor *ex = NULL;
	char why[512], err[512];
	int rc;

	ck_assert_int_eq(vgpu_executor_open("bogus", &o, &ex, why, sizeof(why), err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "unknown executor 'bogus' (expected mock, cuda, auto or remote:DIR)");
	ck_assert_int_eq(vgpu_executor_open("remote:", &o, &ex, why, sizeof(why), err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(vgpu_executor_open("mock", &o, &ex, why, sizeof(why), err, sizeof(err)), 0);
	ck_assert_msg(strncmp(why, "executor mock", 13) == 0, "%s", why);
	vgpu_executor_close(ex);
	/* cuda through the worker: without CUDA (or a driver) a clear error, never a crash */
	rc = vgpu_executor_open("cuda", &o, &ex, why, sizeof(why), err, sizeof(err));
	if (rc == 0) {
		ck_assert_str_eq(ex->ops->slot_name(ex, 0), "cuda:0");
		vgpu_executor_close(ex);
	} else {
		ck_assert_msg(strncmp(err, "executor cuda: ", 15) == 0 && strlen(err) > 20, "%s", err);
	}
	assert_no_children();
}
END_TEST

/* --- closing, timeouts without a restart, and a worker that breaks the protocol -------- */

/* A shell script NAME in tmpdir running BODY; its path into PATH. */
static void write_script(char *path, size_t len, const char *name, const char *body)
{
	FILE *f;

	snprintf(path, len, "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	ck_assert(f != NULL);
	fprintf(f, "#!/bin/sh\n%s\n", body);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(path, 0755), 0);
}

static struct vgpu_executor *open_with(const char *worker_path)
{
	struct vgpu_exec_opts o = opts_for(worker_path);
	struct vgpu_executor *ex = NULL;
	char err[256];

	ck_assert_msg(vgpu_pool_open("mock", &o, &ex, err, sizeof(err)) == 0, "%s", err);
	return ex;
}

/* A busy worker does not see EOF: after the EOF wait it gets SIGTERM and dies of it. */
START_TEST(test_close_busy_worker_gets_sigterm)
{
	struct vgpu_executor *ex = open_mock();
	struct vgpu_exec_job j = simple_job(VGPU_OP_SPIN);
	uint64_t t0, took;

	j.job.args.ms = 20000;
	ck_assert_int_eq(ex->ops->submit(ex, 0, &j), 0);
	t0 = vgpu_now_ms();
	vgpu_executor_close(ex);
	took = vgpu_now_ms() - t0;
	ck_assert_msg(took >= 450 && took < 2400, "close took %llu ms", (unsigned long long)took);
	assert_no_children();
}
END_TEST

/* One that ignores SIGTERM too is killed after the grace. */
START_TEST(test_close_worker_ignoring_sigterm)
{
	char wrapper[512], body[9000];
	struct vgpu_executor *ex;
	struct vgpu_exec_job j = simple_job(VGPU_OP_SPIN);
	uint64_t t0, took;

	snprintf(body, sizeof(body), "trap '' TERM\nexec '%s' \"$@\"", worker);
	write_script(wrapper, sizeof(wrapper), "stubborn.sh", body);
	ex = open_with(wrapper);
	j.job.args.ms = 20000;
	ck_assert_int_eq(ex->ops->submit(ex, 0, &j), 0);
	t0 = vgpu_now_ms();
	vgpu_executor_close(ex);
	took = vgpu_now_ms() - t0;
	ck_assert_msg(took >= 2400 && took < 8000, "close took %llu ms", (unsigned long long)took);
	assert_no_children();
}
END_TEST

/* An idle pool's workers end on EOF, through their own exit (0), not by a signal: a
 * wrapper records each worker's exit status; SIGTERM would have killed the wrapper
 * before it could. */
START_TEST(test_close_idle_workers_exit_on_eof)
{
	char wrapper[512], body[17000], cmd[1200];
	struct vgpu_executor *ex;
	FILE *f;
	int n = 0;

	snprintf(body, sizeof(body), "case \"$*\" in *--count*) exec '%s' \"$@\";; esac\n"
		 "'%s' \"$@\"; echo $? > '%s/exit.'$$", worker, worker, tmpdir);
	write_script(wrapper, sizeof(wrapper), "recording.sh", body);
	setenv("VGPU_MOCK_DEVICES", "3", 1);
	ex = open_with(wrapper);
	unsetenv("VGPU_MOCK_DEVICES");
	ck_assert_int_eq(ex->nslots, 3);
	vgpu_executor_close(ex);
	assert_no_children();
	snprintf(cmd, sizeof(cmd), "cat '%s'/exit.*", tmpdir);
	f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(body, sizeof(body), f)) {
		ck_assert_str_eq(body, "0\n");
		n++;
	}
	pclose(f);
	ck_assert_int_eq(n, 3);
}
END_TEST

/* A timed-out job whose worker cannot be restarted right away: TIMEOUT says so, and the
 * slot's next job fails at once naming why it is down. */
START_TEST(test_timeout_restart_deferred)
{
	struct vgpu_executor *ex = open_mock();
	struct vgpu_exec_job j = simple_job(VGPU_OP_SPIN);
	struct vgpu_job_result res, res2;

	j.job.args.ms = 20000;
	j.deadline_ms = vgpu_now_ms() + 200;
	ck_assert_int_eq(fiu_enable("exec/pool/spawn", 1, NULL, 0), 0);
	run_job(ex, &j, &res);
	j = simple_job(VGPU_OP_PING);
	run_job(ex, &j, &res2);
	fiu_disable("exec/pool/spawn");   /* before any assertion: CK_FORK=no runs on */
	ck_assert_int_eq(res.status, VGPU_TIMEOUT);
	ck_assert_msg(strncmp(res.error, "job exceeded its ", 17) == 0 &&
		      strstr(res.error, " ms limit; worker killed; restart deferred: too many restarts; next attempt in "),
		      "%s", res.error);
	ck_assert_int_eq(res2.status, VGPU_EXEC_FAILED);
	ck_assert_msg(strstr(res2.error, "worker for mock is down (killed after a timeout; restart deferred") ==
		      res2.error, "%s", res2.error);
	vadd_ok(ex);
	vgpu_executor_close(ex);
	assert_no_children();
}
END_TEST

/* The slot API refuses slots it does not have, and an idle slot has nothing to reap. */
START_TEST(test_slot_api_bounds)
{
	struct vgpu_executor *ex = open_mock();
	struct vgpu_exec_job j = simple_job(VGPU_OP_PING);
	struct vgpu_job_result res;

	ck_assert_int_eq(ex->ops->submit(ex, 1, &j), -EINVAL);
	ck_assert_int_eq(ex->ops->submit(ex, -1, &j), -EINVAL);
	ck_assert_int_eq(ex->ops->submit(ex, 0, NULL), -EINVAL);
	ck_assert_int_eq(ex->ops->fd(ex, 1), -1);
	ck_assert_int_eq(ex->ops->reap(ex, 1, vgpu_now_ms(), &res), 0);
	ck_assert_int_eq(ex->ops->reap(ex, 0, vgpu_now_ms(), &res), 0);   /* idle */
	vgpu_executor_close(ex);
}
END_TEST

/* The fake worker: this program run as "test_pool --fake-worker ARGS" (see main), with
 * FAKE_MODE saying how it misbehaves once it has a job. */
static char self_exe[4096];

static void fake_script(char *path, size_t len, const char *mode)
{
	char body[9000];

	snprintf(body, sizeof(body), "FAKE_MODE=%s FAKE_FLAG='%s/started' exec '%s' --fake-worker \"$@\"", mode,
		 tmpdir, self_exe);
	write_script(path, len, mode, body);
}

static int fake_worker(int argc, char **argv)
{
	const char *mode = getenv("FAKE_MODE"), *flag = getenv("FAKE_FLAG");
	struct vgpu_wire_msg m;
	int fd = -1, fds[2];

	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--count") == 0) {
			printf("1\n");
			return 0;
		}
		if (strcmp(argv[i], "--fd") == 0 && i + 1 < argc)
			fd = atoi(argv[i + 1]);
	}
	if (fd < 3 || !mode)
		return 2;
	memset(&m, 0, sizeof(m));
	m.type = VGPU_WIRE_HELLO;
	if (strcmp(mode, "badhello") == 0 && flag && access(flag, F_OK) == 0) {
		snprintf(m.u.hello.error, sizeof(m.u.hello.error), "fake: init failed on purpose");
		vgpu_wire_send(fd, &m, NULL, 0);
		/* exit once the job that the pool queued is read: a socket closed with unread
		 * messages makes the pool's next recv ECONNRESET, which would hide the hello */
		vgpu_wire_recv(fd, &m, fds, 0);
		return 3;
	}
	if (flag)
		close(open(flag, O_CREAT | O_WRONLY, 0644));
	m.u.hello.ok = 1;
	snprintf(m.u.hello.device, sizeof(m.u.hello.device), "fake");
	vgpu_wire_send(fd, &m, NULL, 0);
	while (vgpu_wire_recv(fd, &m, fds, 0) == VGPU_WIRE_JOB) {
		uint64_t id = m.u.job.id;

		if (strcmp(mode, "badhello") == 0)
			return 1;                       /* dies with the job */
		if (strcmp(mode, "orphan") == 0) {
			/* exits without a result while a child of its own keeps the socket open
			 * (no EOF for the pool); the child leaves when the pool closes its end */
			if (fork() == 0) {
				while (vgpu_wire_recv(fd, &m, fds, 0) > 0)
					;
				_exit(0);
			}
			return 6;
		}
		if (strcmp(mode, "junk") == 0) {
			send(fd, "junk", 4, 0);         /* not a message */
			continue;
		}
		/* "stale": an old result first, then ours; the next job gets a JOB back */
		memset(&m, 0, sizeof(m));
		m.type = VGPU_WIRE_RESULT;
		m.u.result.id = id + 1000;
		m.u.result.res.status = VGPU_EXEC_FAILED;
		vgpu_wire_send(fd, &m, NULL, 0);
		m.u.result.id = id;
		m.u.result.res.status = VGPU_OK;
		vgpu_wire_send(fd, &m, NULL, 0);
		if (vgpu_wire_recv(fd, &m, fds, 0) != VGPU_WIRE_JOB)
			break;
		memset(&m, 0, sizeof(m));
		m.type = VGPU_WIRE_JOB;             /* with a descriptor the pool must close */
		m.u.job.fds = VGPU_WIRE_OUT_FD;
		fds[1] = memfd_create("fake", MFD_CLOEXEC);
		vgpu_wire_send(fd, &m, &fds[1], 1);
	}
	return 0;
}

START_TEST(test_worker_stale_result_and_wrong_message)
{
	char path[512];
	struct vgpu_executor *ex;
	struct vgpu_exec_job j = simple_job(VGPU_OP_PING);
	struct vgpu_job_result res;

	fake_script(path, sizeof(path), "stale");
	ex = open_with(path);
	j.deadline_ms = vgpu_now_ms() + 10000;
	run_job(ex, &j, &res);
	ck_assert_int_eq(res.status, VGPU_OK);   /* the stale EXEC_FAILED was dropped */
	run_job(ex, &j, &res);
	ck_assert_int_eq(res.status, VGPU_EXEC_FAILED);
	/* the pool closes the socket, then kills: the fake may see EOF and exit first */
	ck_assert_msg(strstr(res.error, "worker for mock died (signal 9 SIGKILL); restarted") == res.error ||
		      strstr(res.error, "worker for mock died (exit 0); restarted") == res.error, "%s", res.error);
	vgpu_executor_close(ex);
	assert_no_children();
}
END_TEST

START_TEST(test_worker_exits_but_socket_stays_open)
{
	char path[512];
	struct vgpu_executor *ex;
	struct vgpu_exec_job j = simple_job(VGPU_OP_PING);
	struct vgpu_job_result res;

	fake_script(path, sizeof(path), "orphan");
	ex = open_with(path);
	j.deadline_ms = vgpu_now_ms() + 20000;
	run_job(ex, &j, &res);
	ck_assert_int_eq(res.status, VGPU_EXEC_FAILED);
	ck_assert_msg(strstr(res.error, "worker for mock died (exit 6); restarted") == res.error, "%s", res.error);
	vgpu_executor_close(ex);
	assert_no_children();
}
END_TEST

START_TEST(test_backoff_doubles_to_a_cap)
{
	ck_assert_uint_eq(vgpu_pool_backoff_ms(0), 100);
	ck_assert_uint_eq(vgpu_pool_backoff_ms(1), 100);
	ck_assert_uint_eq(vgpu_pool_backoff_ms(2), 200);
	ck_assert_uint_eq(vgpu_pool_backoff_ms(4), 800);
	ck_assert_uint_eq(vgpu_pool_backoff_ms(8), 10000);
	ck_assert_uint_eq(vgpu_pool_backoff_ms(1000), 10000);
}
END_TEST

START_TEST(test_worker_sends_junk)
{
	char path[512];
	struct vgpu_executor *ex;
	struct vgpu_exec_job j = simple_job(VGPU_OP_PING);
	struct vgpu_job_result res;

	fake_script(path, sizeof(path), "junk");
	ex = open_with(path);
	run_job(ex, &j, &res);
	ck_assert_int_eq(res.status, VGPU_EXEC_FAILED);
	/* the pool closes the socket, then kills: the fake may see EOF and exit first */
	ck_assert_msg(strstr(res.error, "worker for mock died (signal 9 SIGKILL); restarted") == res.error ||
		      strstr(res.error, "worker for mock died (exit 0); restarted") == res.error, "%s", res.error);
	vgpu_executor_close(ex);
	assert_no_children();
}
END_TEST

/* A worker that dies with a job and whose replacement's init fails: the job fails with
 * the death, the next one with the replacement's own error; then backoff. */
START_TEST(test_replacement_hello_fails)
{
	char path[512];
	struct vgpu_executor *ex;
	struct vgpu_exec_job j = simple_job(VGPU_OP_PING);
	struct vgpu_job_result res;

	fake_script(path, sizeof(path), "badhello");
	ex = open_with(path);
	run_job(ex, &j, &res);
	ck_assert_int_eq(res.status, VGPU_EXEC_FAILED);
	ck_assert_msg(strstr(res.error, "worker for mock died (exit 1); restarted") == res.error, "%s", res.error);
	run_job(ex, &j, &res);
	ck_assert_int_eq(res.status, VGPU_EXEC_FAILED);
	ck_assert_msg(strstr(res.error, "worker for mock could not start: fake: init failed on purpose; next restart in ")
		      == res.error, "%s", res.error);
	run_job(ex, &j, &res);   /* backing off: fails at once, saying why */
	ck_assert_int_eq(res.status, VGPU_EXEC_FAILED);
	ck_assert_msg(strstr(res.error, "worker for mock is down (could not start: fake: init failed on purpose)") ==
		      res.error, "%s", res.error);
	vgpu_executor_close(ex);
	assert_no_children();
}
END_TEST

static Suite *pool_suite(void)
{
	Suite *s = suite_create("pool");
	TCase *tc = tcase_create("pool");
	TCase *ts = tcase_create("select");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_compute_matches_reference);
	tcase_add_test(tc, test_short_output_fails_cleanly);
	tcase_add_test(tc, test_timeout_kills_and_restarts);
	tcase_add_test(tc, test_job_caused_restarts_do_not_back_off);
	tcase_add_test(tc, test_crash_fails_job_then_recovers);
	tcase_add_test(tc, test_leak_is_reported);
	tcase_add_test(tc, test_idle_worker_death_is_transparent);
	tcase_add_test(tc, test_exiting_worker_is_replaced_before_next_job);
	tcase_add_test(tc, test_worker_that_cannot_restart);
	tcase_add_test(tc, test_fault_wire_send_is_a_dead_worker);
	tcase_add_test(tc, test_fault_spawn_fails_jobs_fast);
	tcase_add_test(tc, test_open_failures);
	tcase_add_test(tc, test_close_busy_worker_gets_sigterm);
	tcase_add_test(tc, test_close_worker_ignoring_sigterm);
	tcase_add_test(tc, test_close_idle_workers_exit_on_eof);
	tcase_add_test(tc, test_timeout_restart_deferred);
	tcase_add_test(tc, test_slot_api_bounds);
	tcase_add_test(tc, test_worker_stale_result_and_wrong_message);
	tcase_add_test(tc, test_worker_sends_junk);
	tcase_add_test(tc, test_worker_exits_but_socket_stays_open);
	tcase_add_test(tc, test_backoff_doubles_to_a_cap);
	tcase_add_test(tc, test_replacement_hello_fails);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(ts, setup, teardown);
	tcase_set_timeout(ts, 120);
	tcase_add_test(ts, test_select_auto_refuses_without_fallback);
	tcase_add_test(ts, test_select_auto_falls_back_to_mock);
	tcase_add_test(ts, test_select_specs);
	suite_add_tcase(s, ts);
	return s;
}

int main(int argc, char **argv)
{
	ssize_t n;

	if (argc > 1 && strcmp(argv[1], "--fake-worker") == 0)
		return fake_worker(argc, argv);
	n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	self_exe[n > 0 ? n : 0] = 0;
	signal(SIGPIPE, SIG_IGN);
	fiu_init(0);
	return tu_run(pool_suite(), CK_ENV);
}
