/* test_worker.c - vgpu-worker ($VGPU_BUILD/vgpu-worker, default build/) spoken to
 * directly over its SOCK_SEQPACKET socket, as the pool does (docs/EXECUTOR.md): the
 * hello, a job's values through its memfds, every job it refuses with the message it
 * answers (descriptors that do not match the byte counts, a memfd shorter than the job
 * says, an output count that disagrees), a message of the wrong type (ignored), a
 * malformed one (exit 4), an init that fails (the error in the hello, exit 3), a device
 * the backend finds unusable (the result first, then exit 5), a pool that is gone before
 * the hello or the result (exit 4), and EOF (exit 0). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec/wire.h"
#include "lib/op.h"
#include "lib/status.h"
#include "../common/testutil.h"

static char worker[4096];
static char errpath[64];

struct wk {
	pid_t pid;
	int sock;
};

static void setup(void)
{
	const char *b = getenv("VGPU_BUILD");
	char rel[4096];
	int fd;

	snprintf(rel, sizeof(rel), "%s/vgpu-worker", b && b[0] ? b : "build");
	ck_assert_msg(realpath(rel, worker) != NULL, "no worker binary at %s (set VGPU_BUILD)", rel);
	snprintf(errpath, sizeof(errpath), "/tmp/vgpu-test-worker-XXXXXX");
	fd = mkstemp(errpath);
	ck_assert_int_ge(fd, 0);
	close(fd);
}

static void teardown(void)
{
	unlink(errpath);
}

/* Start the worker on DEV with ENV ("NAME=VALUE" or NULL) set; its stderr goes to
 * errpath. CLOSE_FIRST: our end is closed before it runs (a pool that is gone). */
static struct wk start(const char *dev, const char *env, int close_first)
{
	struct wk w;
	int sv[2];
	char fdarg[16];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	fcntl(sv[0], F_SETFD, FD_CLOEXEC);
	if (close_first) {
		close(sv[0]);
		sv[0] = -1;
	}
	snprintf(fdarg, sizeof(fdarg), "%d", sv[1]);
	w.pid = fork();
	ck_assert_int_ge(w.pid, 0);
	if (w.pid == 0) {
		int e = open(errpath, O_WRONLY | O_TRUNC);

		if (e >= 0)
			dup2(e, 2);
		if (env)
			putenv((char *)env);
		execl(worker, "vgpu-worker", "--backend", "mock", "--device", dev, "--fd", fdarg, (char *)NULL);
		_exit(126);
	}
	close(sv[1]);
	w.sock = sv[0];
	return w;
}

/* The worker's exit status, waiting at most 10 s (then it is killed: a failure). */
static int finish(struct wk *w)
{
	int st = 0;
	pid_t r = 0;

	if (w->sock >= 0)
		close(w->sock);
	w->sock = -1;
	TU_WAIT_FOR((r = waitpid(w->pid, &st, WNOHANG)) == w->pid, 10000);
	if (r != w->pid) {
		kill(w->pid, SIGKILL);
		waitpid(w->pid, &st, 0);
		ck_abort_msg("vgpu-worker did not exit within 10 s");
	}
	ck_assert_msg(WIFEXITED(st), "vgpu-worker died by signal %d", WTERMSIG(st));
	return WEXITSTATUS(st);
}

static char *stderr_text(void)
{
	static char buf[4096];
	int fd = open(errpath, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = 0;
	return buf;
}

static void expect_hello(struct wk *w, const char *device)
{
	struct vgpu_wire_msg m;
	int fds[2];

	ck_assert_int_eq(vgpu_wire_recv(w->sock, &m, fds, 0), VGPU_WIRE_HELLO);
	ck_assert_int_eq(m.u.hello.ok, 1);
	ck_assert_str_eq(m.u.hello.device, device);
	ck_assert_str_eq(m.u.hello.error, "");
}

static int memfd_floats(const float *v, size_t n, size_t bytes)
{
	int fd = memfd_create("job", MFD_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)bytes), 0);
	if (v)
		ck_assert_int_eq(pwrite(fd, v, n * sizeof(float), 0), (ssize_t)(n * sizeof(float)));
	return fd;
}

/* Send a job with the memfds IN and OUT (-1: none) and return its result. */
static struct vgpu_wire_result run_job(struct wk *w, struct vgpu_wire_job *j, int in, int out)
{
	struct vgpu_wire_msg m;
	int fds[2], n = 0, rfds[2];

	memset(&m, 0, sizeof(m));
	m.type = VGPU_WIRE_JOB;
	j->fds = (in >= 0 ? VGPU_WIRE_IN_FD : 0) | (out >= 0 ? VGPU_WIRE_OUT_FD : 0);
	m.u.job = *j;
	if (in >= 0)
		fds[n++] = in;
	if (out >= 0)
		fds[n++] = out;
	ck_assert_int_eq(vgpu_wire_send(w->sock, &m, fds, n), 0);
	ck_assert_int_eq(vgpu_wire_recv(w->sock, &m, rfds, 0), VGPU_WIRE_RESULT);
	ck_assert_uint_eq(m.u.result.id, j->id);
	return m.u.result;
}

START_TEST(test_hello_job_eof)
{
	struct wk w = start("0", NULL, 0);
	float in[6] = { 1, 2, 3, 10, 20, 30 }, out[3];
	struct vgpu_wire_job j;
	struct vgpu_wire_result r;
	int fi = memfd_floats(in, 6, sizeof(in)), fo = memfd_floats(NULL, 0, sizeof(out));

	expect_hello(&w, "mock:0");
	memset(&j, 0, sizeof(j));
	j.id = 1;
	j.op = VGPU_OP_VADD;
	j.args.n = 3;
	j.in_bytes = sizeof(in);
	j.out_bytes = sizeof(out);
	j.out_count = 3;
	r = run_job(&w, &j, fi, fo);
	ck_assert_msg(r.res.status == VGPU_OK, "%s", r.res.error);
	ck_assert_int_eq(r.exiting, 0);
	ck_assert_int_eq(pread(fo, out, sizeof(out), 0), (ssize_t)sizeof(out));
	ck_assert_float_eq(out[0], 11.0f);
	ck_assert_float_eq(out[1], 22.0f);
	ck_assert_float_eq(out[2], 33.0f);

	/* summary only: no output memfd, out_count says how many */
	memset(&j, 0, sizeof(j));
	j.id = 2;
	j.op = VGPU_OP_SAXPY;
	j.args.n = 100;
	j.args.alpha = 2;
	j.args.has_seed = 1;
	j.args.seed = 3;
	j.out_count = 100;
	r = run_job(&w, &j, -1, -1);
	ck_assert_msg(r.res.status == VGPU_OK, "%s", r.res.error);
	ck_assert_int_eq(r.res.has_summary, 1);
	close(fi);
	close(fo);
	ck_assert_int_eq(finish(&w), 0);
}
END_TEST

START_TEST(test_refused_jobs)
{
	struct wk w = start("0", NULL, 0);
	struct vgpu_wire_job j;
	struct vgpu_wire_result r;
	int small = memfd_floats(NULL, 0, 16), out4 = memfd_floats(NULL, 0, 16);

	expect_hello(&w, "mock:0");
	memset(&j, 0, sizeof(j));
	j.id = 10;
	j.op = VGPU_OP_VADD;
	j.args.n = 4;
	j.in_bytes = 0;            /* an input memfd, but no input bytes */
	j.out_bytes = 16;
	r = run_job(&w, &j, small, out4);
	ck_assert_int_eq(r.res.status, VGPU_EXEC_FAILED);
	ck_assert_str_eq(r.res.error, "worker: job 10: files do not match its byte counts");

	j.id = 11;
	j.in_bytes = 32;           /* the input memfd holds 16 */
	r = run_job(&w, &j, small, out4);
	ck_assert_int_eq(r.res.status, VGPU_EXEC_FAILED);
	ck_assert_str_eq(r.res.error, "input file holds 16 bytes, the job says 32");

	j.id = 12;
	j.in_bytes = 0;
	j.args.has_seed = 1;
	j.out_bytes = 64;          /* vadd 4 has 16 bytes of output: no stale bytes written */
	r = run_job(&w, &j, -1, out4);
	ck_assert_int_eq(r.res.status, VGPU_EXEC_FAILED);
	ck_assert_str_eq(r.res.error, "worker: job 12: output file of 64 bytes, op vadd needs 4 floats");

	j.id = 13;
	j.out_bytes = 16;
	j.out_count = 5;           /* 16 bytes are 4 floats */
	r = run_job(&w, &j, -1, out4);
	ck_assert_int_eq(r.res.status, VGPU_EXEC_FAILED);
	ck_assert_str_eq(r.res.error, "worker: job 13: output file of 16 bytes, the job says 5 floats");

	/* a job the backend refuses: its message comes back as is */
	j.id = 14;
	j.out_count = 0;
	j.args.n = 8;
	r = run_job(&w, &j, -1, out4);
	ck_assert_int_eq(r.res.status, VGPU_EXEC_FAILED);
	ck_assert_str_eq(r.res.error, "worker: job 14: output file of 16 bytes, op vadd needs 8 floats");
	close(small);
	close(out4);
	ck_assert_int_eq(finish(&w), 0);
}
END_TEST

START_TEST(test_wrong_type_ignored_then_malformed_exits)
{
	struct wk w = start("0", NULL, 0);
	struct vgpu_wire_msg m;
	struct vgpu_wire_job j;
	struct vgpu_wire_result r;
	char junk[10] = "junk";

	expect_hello(&w, "mock:0");
	memset(&m, 0, sizeof(m));
	m.type = VGPU_WIRE_HELLO;  /* the pool never sends one: logged and skipped */
	ck_assert_int_eq(vgpu_wire_send(w.sock, &m, NULL, 0), 0);
	memset(&j, 0, sizeof(j));
	j.id = 5;
	j.op = VGPU_OP_PING;
	r = run_job(&w, &j, -1, -1);
	ck_assert_int_eq(r.res.status, VGPU_OK);
	ck_assert_ptr_nonnull(strstr(stderr_text(), "recv(job): unexpected message type"));

	ck_assert_int_eq(send(w.sock, junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
	ck_assert_int_eq(finish(&w), 4);
	ck_assert_msg(strstr(stderr_text(), "recv(job): Bad message") != NULL, "%s", stderr_text());
}
END_TEST

START_TEST(test_init_fails_in_hello)
{
	struct wk w = start("2", "VGPU_MOCK_DEVICES=2", 0);
	struct vgpu_wire_msg m;
	int fds[2];

	ck_assert_int_eq(vgpu_wire_recv(w.sock, &m, fds, 0), VGPU_WIRE_HELLO);
	ck_assert_int_eq(m.u.hello.ok, 0);
	ck_assert_int_eq(m.u.hello.dev, 2);
	ck_assert_str_eq(m.u.hello.error, "mock: no device 2 (VGPU_MOCK_DEVICES=2)");
	ck_assert_int_eq(finish(&w), 3);
	ck_assert_ptr_nonnull(strstr(stderr_text(), "mock: no device 2"));
}
END_TEST

START_TEST(test_unusable_device_result_then_exit)
{
	struct wk w = start("0", "VGPU_MOCK_TEST_UNUSABLE=ping", 0);
	struct vgpu_wire_job j;
	struct vgpu_wire_result r;
	struct vgpu_wire_msg m;
	int fds[2];

	expect_hello(&w, "mock:0");
	memset(&j, 0, sizeof(j));
	j.id = 9;
	j.op = VGPU_OP_PING;
	r = run_job(&w, &j, -1, -1);
	ck_assert_int_eq(r.exiting, 1);
	ck_assert_int_eq(r.res.status, VGPU_EXEC_FAILED);
	ck_assert_str_eq(r.res.error, "mock: device unusable (VGPU_MOCK_TEST_UNUSABLE=ping)");
	/* it exits on its own, without waiting for EOF */
	ck_assert_int_eq(vgpu_wire_recv(w.sock, &m, fds, 0), 0);
	ck_assert_int_eq(finish(&w), 5);
	ck_assert_ptr_nonnull(strstr(stderr_text(), "mock:0: device unusable (-1); exiting"));
}
END_TEST

START_TEST(test_pool_gone_before_hello)
{
	struct wk w = start("0", NULL, 1);

	ck_assert_int_eq(finish(&w), 4);
	ck_assert_msg(strstr(stderr_text(), "send(hello): ") != NULL, "%s", stderr_text());
}
END_TEST

START_TEST(test_pool_gone_before_result)
{
	struct wk w = start("0", NULL, 0);
	struct vgpu_wire_msg m;

	expect_hello(&w, "mock:0");
	memset(&m, 0, sizeof(m));
	m.type = VGPU_WIRE_JOB;
	m.u.job.id = 3;
	m.u.job.op = VGPU_OP_SPIN;
	m.u.job.args.ms = 300;
	ck_assert_int_eq(vgpu_wire_send(w.sock, &m, NULL, 0), 0);
	ck_assert_int_eq(finish(&w), 4);   /* closes our end while it spins */
	ck_assert_msg(strstr(stderr_text(), "send(result): ") != NULL, "%s", stderr_text());
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("worker");
	TCase *tc = tcase_create("worker");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_hello_job_eof);
	tcase_add_test(tc, test_refused_jobs);
	tcase_add_test(tc, test_wrong_type_ignored_then_malformed_exits);
	tcase_add_test(tc, test_init_fails_in_hello);
	tcase_add_test(tc, test_unusable_device_result_then_exit);
	tcase_add_test(tc, test_pool_gone_before_hello);
	tcase_add_test(tc, test_pool_gone_before_result);
	suite_add_tcase(s, tc);
	return s;
}

TU_CHECK_MAIN(suite)
