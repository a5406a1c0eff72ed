/* test_client_hostile.c - libvgpu-client in a hostile or broken VM directory (issue 10,
 * point 8, "client side"): response.txt a symlink, FIFO or directory; an answer whose
 * output size is forged; seq and answered at 2^63-1; the local lock found by every
 * client of a VM whatever its environment. A small answering thread stands in for the
 * mediator; each test says what the client did before the fix. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/client.h"
#include "lib/record.h"
#include "lib/safeio.h"
#include "lib/status.h"

#define FORGED_OUT_BYTES (64u << 20)

enum answer_mode {
	ANS_DELAYED_OK,      /* 150 ms after the request, answer OK by rename (over whatever is there) */
	ANS_FORGED_OUTPUT,   /* OK, naming a 64 MiB out-SEQ.bin (sparse) whatever the op */
	ANS_CONFLICT_MAX,    /* CONFLICT, with answered 2^63-1 */
	ANS_AFTER_RMDIR,     /* 150 ms after the request, rmdir response.txt, then answer OK */
};

static char tdir[256], vmdir[300], lockdir[300];
static struct {
	enum answer_mode mode;
	volatile int stop;
	int answers;
	pthread_t th;
} an;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(long ms)
{
	nanosleep(&(struct timespec){ ms / 1000, (ms % 1000) * 1000000L }, NULL);
}

/* Publish a response to Q (seq SEQ, nonce NONCE) as response.txt of DFD. */
static void answer(int dfd, const struct vgpu_request *q, int64_t seq, const char *nonce, int status,
		   int64_t answered, const struct vgpu_payload_ref *out)
{
	struct vgpu_response p;
	char buf[4096];
	int len;

	memset(&p, 0, sizeof(p));
	p.vm = q ? q->vm : 7;
	p.seq = seq;
	memcpy(p.nonce, nonce, 17);
	p.status = status;
	p.op = q ? q->op : VGPU_OP_PING;
	strcpy(p.executor, "mock");
	strcpy(p.result, status == VGPU_OK ? "pong" : "-");
	strcpy(p.error, status == VGPU_OK ? "-" : "forged");
	p.answered = answered;
	if (out)
		p.output = *out;
	len = vgpu_response_encode(&p, buf, sizeof(buf));
	ck_assert_int_gt(len, 0);
	ck_assert_int_eq(vgpu_publish(dfd, "response.txt", buf, (size_t)len, 0644), 0);
}

static void *answer_main(void *arg)
{
	int dfd = open(vmdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char buf[VGPU_RECORD_MAX];
	int64_t handled = 0;

	(void)arg;
	while (!an.stop) {
		struct vgpu_request q;
		struct vgpu_payload_ref out;
		size_t len;
		int fd;

		if (vgpu_safe_read(dfd, "command.txt", buf, sizeof(buf), &len, NULL) == 0 &&
		    vgpu_request_decode(buf, len, &q, NULL, 0) == VGPU_REC_OK && q.seq > handled) {
			handled = q.seq;
			/* counted before the answer is published: a client that sees it at
			 * once (it looks back to back for its first millisecond) may check the
			 * count before this thread runs again */
			an.answers++;
			switch (an.mode) {
			case ANS_DELAYED_OK:
				sleep_ms(150);
				answer(dfd, &q, q.seq, q.nonce, VGPU_OK, 0, NULL);
				break;
			case ANS_FORGED_OUTPUT:
				memset(&out, 0, sizeof(out));
				vgpu_payload_name(out.name, "out", q.seq);
				out.bytes = FORGED_OUT_BYTES;
				fd = openat(dfd, out.name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
				ck_assert_int_ge(fd, 0);
				ck_assert_int_eq(ftruncate(fd, FORGED_OUT_BYTES), 0);
				close(fd);
				answer(dfd, &q, q.seq, q.nonce, VGPU_OK, 0, &out);
				break;
			case ANS_AFTER_RMDIR:
				sleep_ms(150);
				ck_assert_int_eq(unlinkat(dfd, "response.txt", AT_REMOVEDIR), 0);
				answer(dfd, &q, q.seq, q.nonce, VGPU_OK, 0, NULL);
				break;
			case ANS_CONFLICT_MAX:
				answer(dfd, &q, q.seq, q.nonce, VGPU_CONFLICT, VGPU_SEQ_MAX, NULL);
				break;
			}
		}
		sleep_ms(1);
	}
	close(dfd);
	return NULL;
}

static void answer_start(enum answer_mode mode)
{
	an.mode = mode;
	an.stop = 0;
	ck_assert_int_eq(pthread_create(&an.th, NULL, answer_main, NULL), 0);
}

static void answer_stop(void)
{
	an.stop = 1;
	pthread_join(an.th, NULL);
}

static void setup(void)
{
	strcpy(tdir, "/tmp/test_client_hostile.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tdir));
	ck_assert_int_eq(chmod(tdir, 0755), 0);
	snprintf(vmdir, sizeof(vmdir), "%s/vm7", tdir);
	snprintf(lockdir, sizeof(lockdir), "%s/locks", tdir);
	ck_assert_int_eq(mkdir(vmdir, 0755), 0);
	ck_assert_int_eq(mkdir(lockdir, 0700), 0);
	memset(&an, 0, sizeof(an));
}

static void teardown(void)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tdir);
	ck_assert_int_eq(system(cmd), 0);
}

static struct vgpu_client_opts test_opts(int timeout_ms)
{
	struct vgpu_client_opts o = { .timeout_ms = timeout_ms, .lock_dir = lockdir, .poll_min_ms = 1,
				      .poll_max_ms = 20 };
	return o;
}

static int ping(struct vgpu_client *c, struct vgpu_response *r, char *err, size_t errlen)
{
	struct vgpu_request q;

	memset(&q, 0, sizeof(q));
	q.op = VGPU_OP_PING;
	q.output_file = -1;
	return vgpu_client_call(c, &q, NULL, 0, r, NULL, NULL, err, errlen);
}

static int exists(const char *name)
{
	char path[400];

	snprintf(path, sizeof(path), "%s/%s", vmdir, name);
	return access(path, F_OK) == 0;
}

static void make_symlink_response(void)
{
	char target[400], path[400];
	struct vgpu_request q = { .vm = 7, .op = VGPU_OP_PING };
	int dfd = open(tdir, O_RDONLY | O_DIRECTORY);

	/* what the link points at answers "our" seq: following it would accept it */
	answer(dfd, &q, 1, "0123456789abcdef", VGPU_OK, 0, NULL);
	close(dfd);
	snprintf(target, sizeof(target), "%s/response.txt", tdir);
	snprintf(path, sizeof(path), "%s/response.txt", vmdir);
	ck_assert_int_eq(symlink(target, path), 0);
}

/* 8.1: response.txt a symlink. Before: EIO (exit 6) at the first look, while the job
 * still ran. Now: not followed, not an answer; the mediator's rename replaces it and
 * the call gets its answer. */
START_TEST(test_response_symlink_replaced_by_answer)
{
	struct vgpu_client_opts o = test_opts(5000);
	struct vgpu_client *c;
	struct vgpu_response r;
	char err[1024];
	int rc;

	make_symlink_response();
	answer_start(ANS_DELAYED_OK);
	ck_assert_int_eq(vgpu_client_open(&c, vmdir, &o, err, sizeof(err)), VGPU_CLIENT_OK);
	rc = ping(c, &r, err, sizeof(err));
	ck_assert_msg(rc == VGPU_CLIENT_OK, "rc %d: %s", rc, err);
	ck_assert_int_eq(r.seq, 1);
	ck_assert_str_ne(r.nonce, "0123456789abcdef");
	vgpu_client_close(c);
	answer_stop();
}
END_TEST

/* 8.1: a symlink nobody replaces: EPROTO at the deadline, naming the file and what it is. */
START_TEST(test_response_symlink_unanswered)
{
	struct vgpu_client_opts o = test_opts(300);
	struct vgpu_client *c;
	struct vgpu_response r;
	char err[1024], want[400];
	uint64_t t0, took;

	make_symlink_response();
	ck_assert_int_eq(vgpu_client_open(&c, vmdir, &o, err, sizeof(err)), VGPU_CLIENT_OK);
	t0 = now_ms();
	ck_assert_int_eq(ping(c, &r, err, sizeof(err)), VGPU_CLIENT_EPROTO);
	took = now_ms() - t0;
	ck_assert_uint_ge(took, 300);
	ck_assert_uint_lt(took, 300 + 400);
	snprintf(want, sizeof(want), "%s/response.txt is a symbolic link", vmdir);
	ck_assert_msg(strstr(err, want) != NULL, "%s", err);
	vgpu_client_close(c);
}
END_TEST

/* 8.1: response.txt a FIFO. Before: polled until the deadline with "not a plain file",
 * never saying what it was. Now: no look ever blocks (O_NONBLOCK, fstat first), and the
 * deadline ends the call with EPROTO naming the FIFO. */
START_TEST(test_response_fifo_bounded)
{
	struct vgpu_client_opts o = test_opts(400);
	struct vgpu_client_call call;
	struct vgpu_client *c;
	struct vgpu_response r;
	struct vgpu_request q;
	char err[1024], path[400], want[500];
	uint64_t t0, took;

	snprintf(path, sizeof(path), "%s/response.txt", vmdir);
	ck_assert_int_eq(mkfifo(path, 0644), 0);
	ck_assert_int_eq(vgpu_client_open(&c, vmdir, &o, err, sizeof(err)), VGPU_CLIENT_OK);
	t0 = now_ms();
	ck_assert_int_eq(ping(c, &r, err, sizeof(err)), VGPU_CLIENT_EPROTO);
	took = now_ms() - t0;
	ck_assert_uint_ge(took, 400);
	ck_assert_uint_lt(took, 400 + 400);
	snprintf(want, sizeof(want), "%s is a FIFO", path);
	ck_assert_msg(strstr(err, want) != NULL, "%s", err);
	ck_assert_msg(strstr(err, "no answer for seq 1 within 0.4 s") != NULL, "%s", err);

	/* the core: one look is PENDING at once, call.why naming it */
	memset(&q, 0, sizeof(q));
	q.op = VGPU_OP_PING;
	q.output_file = -1;
	ck_assert_int_eq(vgpu_client_start(c, &call, &q, NULL, 0, err, sizeof(err)), VGPU_CLIENT_OK);
	t0 = now_ms();
	ck_assert_int_eq(vgpu_client_poll(&call, &r, err, sizeof(err)), VGPU_CLIENT_PENDING);
	ck_assert_uint_lt(now_ms() - t0, 100);
	ck_assert_msg(strstr(call.why, "FIFO") != NULL, "%s", call.why);
	vgpu_client_end(&call);
	vgpu_client_close(c);
}
END_TEST

/* 8.1: response.txt a directory. No rename replaces it, but the mediator keeps retrying
 * and someone may remove it (the e2e server-side fault tests do): keep polling, bounded
 * by the deadline. Before: EPROTO at the deadline saying only "not a plain file". Now: it
 * names the directory and the fix; removed in time, the answer comes. */
START_TEST(test_response_directory_bounded)
{
	struct vgpu_client_opts o = test_opts(400);
	struct vgpu_client *c;
	struct vgpu_response r;
	char err[1024], path[400], want[500];
	uint64_t t0, took;
	int rc;

	snprintf(path, sizeof(path), "%s/response.txt", vmdir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	ck_assert_int_eq(vgpu_client_open(&c, vmdir, &o, err, sizeof(err)), VGPU_CLIENT_OK);
	t0 = now_ms();
	ck_assert_int_eq(ping(c, &r, err, sizeof(err)), VGPU_CLIENT_EPROTO);
	took = now_ms() - t0;
	ck_assert_uint_ge(took, 400);
	ck_assert_uint_lt(took, 400 + 400);
	snprintf(want, sizeof(want), "%s is a directory", path);
	ck_assert_msg(strstr(err, want) && strstr(err, "rmdir"), "%s", err);
	vgpu_client_close(c);

	/* removed while the call waits: the (retried) answer arrives */
	snprintf(want, sizeof(want), "%s/command.txt", vmdir);
	ck_assert_int_eq(unlink(want), 0);
	o.timeout_ms = 5000;
	ck_assert_int_eq(vgpu_client_open(&c, vmdir, &o, err, sizeof(err)), VGPU_CLIENT_OK);
	answer_start(ANS_AFTER_RMDIR);
	rc = ping(c, &r, err, sizeof(err));
	ck_assert_msg(rc == VGPU_CLIENT_OK, "rc %d: %s", rc, err);
	ck_assert_int_eq(r.seq, 2);
	vgpu_client_close(c);
	answer_stop();
}
END_TEST

static long maxrss_kib(void)
{
	struct rusage ru;

	ck_assert_int_eq(getrusage(RUSAGE_SELF, &ru), 0);
	return ru.ru_maxrss;
}

/* 8.2: an answer naming 64 MiB of output for vadd 16 (64 bytes). Before: the call
 * allocated and read the 64 MiB, then failed on the CRC. Now: refused from the request's
 * own size before anything is allocated or read. */
START_TEST(test_forged_output_size_refused)
{
	struct vgpu_client_opts o = test_opts(5000);
	struct vgpu_client_call call;
	struct vgpu_client *c;
	struct vgpu_response r;
	struct vgpu_request q;
	char err[1024];
	void *out = (void *)&q;
	size_t out_bytes = 1;
	long rss0;
	int rc;

	answer_start(ANS_FORGED_OUTPUT);
	ck_assert_int_eq(vgpu_client_open(&c, vmdir, &o, err, sizeof(err)), VGPU_CLIENT_OK);
	memset(&q, 0, sizeof(q));
	q.op = VGPU_OP_VADD;
	q.args.n = 16;
	q.args.has_seed = 1;
	q.args.seed = 3;
	q.output_file = 1;
	rss0 = maxrss_kib();
	rc = vgpu_client_call(c, &q, NULL, 0, &r, &out, &out_bytes, err, sizeof(err));
	ck_assert_msg(rc == VGPU_CLIENT_EPROTO, "rc %d: %s", rc, err);
	ck_assert_ptr_null(out);
	ck_assert_uint_eq(out_bytes, 0);
	ck_assert_msg(strstr(err, "67108864 bytes") && strstr(err, "vadd") && strstr(err, "64 bytes"), "%s", err);
	ck_assert_msg(maxrss_kib() - rss0 < 16 * 1024, "the call grew by %ld KiB", maxrss_kib() - rss0);
	ck_assert(!exists("out-1.bin"));        /* end removed it */

	/* the core's collect checks against the request too, whatever size the caller trusts */
	ck_assert_int_eq(vgpu_client_start(c, &call, &q, NULL, 0, err, sizeof(err)), VGPU_CLIENT_OK);
	while ((rc = vgpu_client_poll(&call, &r, err, sizeof(err))) == VGPU_CLIENT_PENDING)
		sleep_ms(1);
	ck_assert_msg(rc == VGPU_CLIENT_OK, "rc %d: %s", rc, err);
	out = malloc(FORGED_OUT_BYTES);
	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(vgpu_client_collect(&call, &r, out, r.output.bytes, err, sizeof(err)), VGPU_CLIENT_EPROTO);
	ck_assert_msg(strstr(err, "64 bytes") != NULL, "%s", err);
	free(out);
	vgpu_client_end(&call);
	vgpu_client_close(c);
	answer_stop();
}
END_TEST

/* Forge response.txt (in vmdir) answering seq SEQ with ANSWERED. */
static void forge_response(int64_t seq, int status, int64_t answered)
{
	struct vgpu_request q = { .vm = 7, .op = VGPU_OP_PING };
	int dfd = open(vmdir, O_RDONLY | O_DIRECTORY);

	answer(dfd, &q, seq, seq ? "0123456789abcdef" : "0000000000000000", status, answered, NULL);
	close(dfd);
}

static void expect_exhausted(struct vgpu_client *c)
{
	struct vgpu_response r;
	char err[1024];

	ck_assert_int_eq(ping(c, &r, err, sizeof(err)), VGPU_CLIENT_EPROTO);
	ck_assert_msg(strstr(err, "vm7") && strstr(err, "sequence numbers are used up") &&
		      strstr(err, "9223372036854775807") && strstr(err, "docs/CLIENT.md"), "%s", err);
}

/* 8.3: seq or answered 2^63-1 in response.txt, in the lock file, or in a CONFLICT
 * answer. Before: max + 1 overflowed int64 (UB: UBSan stops the program). Now: a clear
 * EPROTO saying the VM's seqs are used up and what to do, with nothing sent. */
START_TEST(test_seq_space_exhausted)
{
	struct vgpu_client_opts o = test_opts(2000);
	struct vgpu_client *c;
	struct vgpu_response r;
	char err[1024];
	FILE *f;

	ck_assert_int_eq(vgpu_client_open(&c, vmdir, &o, err, sizeof(err)), VGPU_CLIENT_OK);
	forge_response(VGPU_SEQ_MAX, VGPU_OK, 0);
	expect_exhausted(c);
	ck_assert(!exists("command.txt"));
	forge_response(0, VGPU_BAD_REQUEST, VGPU_SEQ_MAX);
	expect_exhausted(c);
	ck_assert(!exists("command.txt"));

	/* the counter in the lock file */
	forge_response(5, VGPU_OK, 0);
	f = fopen(vgpu_client_lock_path(c), "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "seq 9223372036854775807\n");
	fclose(f);
	expect_exhausted(c);
	ck_assert(!exists("command.txt"));
	ck_assert_int_eq(unlink(vgpu_client_lock_path(c)), 0);

	/* a CONFLICT whose mark is the last seq: the resend above it cannot be */
	answer_start(ANS_CONFLICT_MAX);
	expect_exhausted(c);
	ck_assert_int_eq(an.answers, 1);
	answer_stop();

	/* once the forged mark is gone, the VM continues */
	ck_assert_int_eq(unlink(vgpu_client_lock_path(c)), 0);
	snprintf(err, sizeof(err), "%s/command.txt", vmdir);
	ck_assert_int_eq(unlink(err), 0);
	forge_response(10, VGPU_OK, 0);
	answer_start(ANS_DELAYED_OK);
	ck_assert_msg(ping(c, &r, err, sizeof(err)) == VGPU_CLIENT_OK, "%s", err);
	ck_assert_int_eq(r.seq, 11);
	answer_stop();
	vgpu_client_close(c);
}
END_TEST

/* One vgpu-client run in a child with its own environment (XDG_RUNTIME_DIR, HOME), the
 * default lock location and TIMEOUT_MS; exits with the call's rc. */
static pid_t client_in_env(const char *tag, int timeout_ms, uid_t uid)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct vgpu_client_opts o = { .timeout_ms = timeout_ms, .poll_max_ms = 20 };
		struct vgpu_client *c;
		struct vgpu_response r;
		char env[400], err[1024];
		int rc;

		if (uid != geteuid() && (setgid(uid) < 0 || setuid(uid) < 0))
			_exit(100);
		snprintf(env, sizeof(env), "%s/run-%s", tdir, tag);
		mkdir(env, 0700);
		setenv("XDG_RUNTIME_DIR", env, 1);
		snprintf(env, sizeof(env), "%s/home-%s", tdir, tag);
		mkdir(env, 0700);
		setenv("HOME", env, 1);
		if ((rc = vgpu_client_open(&c, vmdir, &o, err, sizeof(err))) == VGPU_CLIENT_OK) {
			rc = ping(c, &r, err, sizeof(err));
			vgpu_client_close(c);
		}
		_exit(rc);
	}
	return pid;
}

static int exit_code(pid_t pid)
{
	int status;

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* 8.4: two clients of one VM, one from an ssh login and one from cron (other
 * XDG_RUNTIME_DIR and HOME). Before: each took a lock in its own XDG_RUNTIME_DIR, both
 * sent, and the one overwritten timed out. Now: one lock per VM directory, so the second
 * waits for the first's lock (ELOCK within its timeout) and never sends. */
START_TEST(test_lock_shared_across_environments)
{
	struct vgpu_client_opts o = { .timeout_ms = 1000 };
	struct vgpu_client *c;
	char err[1024], path[PATH_MAX], dir[PATH_MAX], cmd[400];
	struct stat st;
	pid_t a, b;
	int i;

	ck_assert_int_eq(vgpu_client_open(&c, vmdir, &o, err, sizeof(err)), VGPU_CLIENT_OK);
	snprintf(path, sizeof(path), "%s", vgpu_client_lock_path(c));
	vgpu_client_close(c);
	ck_assert_msg(strncmp(path, tdir, strlen(tdir)) != 0 && strncmp(path, "/tmp/vgpu-client-", 17) != 0,
		      "%s", path);

	/* nobody answers: a holds the lock for its 2.5 s */
	a = client_in_env("ssh", 2500, geteuid());
	for (i = 0; i < 2000 && !exists("command.txt"); i++)
		sleep_ms(1);
	ck_assert(exists("command.txt"));
	snprintf(cmd, sizeof(cmd), "%s/command.txt", vmdir);
	ck_assert_int_eq(unlink(cmd), 0);
	b = client_in_env("cron", 300, geteuid());
	ck_assert_int_eq(exit_code(b), VGPU_CLIENT_ELOCK);
	ck_assert_msg(!exists("command.txt"), "the second client sent while the first waited");
	ck_assert_int_eq(exit_code(a), VGPU_CLIENT_ETIMEOUT);

	/* another user's client (root made the lock file): it may take the lock and store
	 * its counter (it times out, nobody answers; ELOCK would be a lock it cannot use) */
	if (geteuid() == 0) {
		ck_assert_int_eq(chmod(vmdir, 0777), 0);
		ck_assert_int_eq(chmod(tdir, 0777), 0);
		ck_assert_int_eq(exit_code(client_in_env("nobody", 200, 65534)), VGPU_CLIENT_ETIMEOUT);
	}

	/* the shared lock directory: a real directory, sticky when others may write it; the
	 * lock file as open as its directory */
	snprintf(dir, sizeof(dir), "%s", path);
	ck_assert_int_eq(lstat(dirname(dir), &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert(!(st.st_mode & 022) || (st.st_mode & S_ISVTX));
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	unlink(path);
}
END_TEST

/* 8.4, the lock's name: VM directories made one after another (each removed before the
 * next, so a freed inode may come back) each start at seq 1. A name from device and inode
 * alone gave a new directory the old one's counter (the e2e runs saw seqs 7.. for 1..). */
START_TEST(test_lock_new_directory_fresh_counter)
{
	struct vgpu_client_opts o = test_opts(30);
	struct vgpu_client *c;
	struct vgpu_response r;
	char err[1024], dir[400], cmd[500];

	for (int i = 0; i < 4; i++) {
		snprintf(dir, sizeof(dir), "%s/d%d", tdir, i);
		ck_assert_int_eq(mkdir(dir, 0755), 0);
		snprintf(dir, sizeof(dir), "%s/d%d/vm7", tdir, i);
		ck_assert_int_eq(mkdir(dir, 0755), 0);
		ck_assert_int_eq(vgpu_client_open(&c, dir, &o, err, sizeof(err)), VGPU_CLIENT_OK);
		ck_assert_int_eq(ping(c, &r, err, sizeof(err)), VGPU_CLIENT_ETIMEOUT);
		ck_assert_msg(vgpu_client_last_seq(c) == 1, "directory %d started at seq %" PRId64, i,
			      vgpu_client_last_seq(c));
		vgpu_client_close(c);
		snprintf(cmd, sizeof(cmd), "rm -rf '%s/d%d'", tdir, i);
		ck_assert_int_eq(system(cmd), 0);
	}
}
END_TEST

static Suite *hostile_suite(void)
{
	Suite *s = suite_create("client_hostile");
	TCase *tc = tcase_create("hostile");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_response_symlink_replaced_by_answer);
	tcase_add_test(tc, test_response_symlink_unanswered);
	tcase_add_test(tc, test_response_fifo_bounded);
	tcase_add_test(tc, test_response_directory_bounded);
	tcase_add_test(tc, test_forged_output_size_refused);
	tcase_add_test(tc, test_seq_space_exhausted);
	tcase_add_test(tc, test_lock_shared_across_environments);
	tcase_add_test(tc, test_lock_new_directory_fresh_counter);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(hostile_suite());
	int failed;

	umask(022);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
