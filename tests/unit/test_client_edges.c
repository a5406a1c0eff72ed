/* test_client_edges.c - libvgpu-client where a VM's directory goes wrong in the ways
 * test_client.c and test_client_hostile.c do not cover: each return code's text; a
 * VM directory that is a file or that vanishes mid-call; response.txt that is a socket,
 * a device, hard-linked, oversized or no record at all (pending, saying so); reads that
 * fail with ESTALE (pending up to VGPU_CLIENT_STALE_MS, then EIO), EACCES (EPERM) or EIO
 * (libfiu's safeio points); and a local lock that is not a regular file, a symbolic link,
 * or in a directory that is not there. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fiu.h>
#include <fiu-control.h>

#include "client/client.h"
#include "client/client_int.h"
#include "lib/record.h"
#include "lib/status.h"
#include "../common/testutil.h"

static char tdir[256], vmdir[300], lockdir[300], resp_path[400];

static void setup(void)
{
	snprintf(tdir, sizeof(tdir), "/tmp/vgpu-test-cedge-XXXXXX");
	ck_assert(mkdtemp(tdir) != NULL);
	snprintf(vmdir, sizeof(vmdir), "%s/vm3", tdir);
	snprintf(lockdir, sizeof(lockdir), "%s/locks", tdir);
	snprintf(resp_path, sizeof(resp_path), "%s/response.txt", vmdir);
	ck_assert_int_eq(mkdir(vmdir, 0755), 0);
	ck_assert_int_eq(mkdir(lockdir, 0700), 0);
}

static void teardown(void)
{
	char cmd[512];

	fiu_disable("safeio/read/open");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tdir);
	ck_assert_int_eq(system(cmd), 0);
}

static struct vgpu_client *open_client(int timeout_ms)
{
	struct vgpu_client_opts o = { .timeout_ms = timeout_ms, .lock_dir = lockdir, .poll_min_ms = 1,
				      .poll_max_ms = 10 };
	struct vgpu_client *c = NULL;
	char err[512];

	ck_assert_msg(vgpu_client_open(&c, vmdir, &o, err, sizeof(err)) == VGPU_CLIENT_OK, "%s", err);
	return c;
}

static struct vgpu_request ping_req(void)
{
	struct vgpu_request q;

	memset(&q, 0, sizeof(q));
	q.op = VGPU_OP_PING;
	q.output_file = -1;
	return q;
}

/* Start a ping and look once: the return code, with CALL's why in WHY. */
static int look_once(struct vgpu_client *c, char *why, size_t whylen, char *err, size_t errlen)
{
	struct vgpu_client_call call;
	struct vgpu_request q = ping_req();
	struct vgpu_response r;
	int rc;

	ck_assert_int_eq(vgpu_client_start(c, &call, &q, NULL, 0, err, errlen), VGPU_CLIENT_OK);
	rc = vgpu_client_poll(&call, &r, err, errlen);
	snprintf(why, whylen, "%s", call.why);
	vgpu_client_end(&call);
	return rc;
}

START_TEST(test_strerror_every_code)
{
	static const struct { int rc; const char *text; } t[] = {
		{ VGPU_CLIENT_PENDING, "no answer yet" },
		{ VGPU_CLIENT_OK, "ok" },
		{ VGPU_CLIENT_ESTATUS, "the mediator answered with an error status" },
		{ VGPU_CLIENT_EUSAGE, "bad arguments" },
		{ VGPU_CLIENT_ETIMEOUT, "timeout: no answer" },
		{ VGPU_CLIENT_EPERM, "permission denied (root_squash?)" },
		{ VGPU_CLIENT_ENODIR, "VM directory missing (export not mounted?)" },
		{ VGPU_CLIENT_EIO, "I/O error" },
		{ VGPU_CLIENT_EPROTO, "protocol error (unreadable or forged answer, or another writer)" },
		{ VGPU_CLIENT_ELOCK, "could not take the local lock" },
		{ 99, "unknown error" },
		{ -7, "unknown error" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		ck_assert_str_eq(vgpu_client_strerror(t[i].rc), t[i].text);
	ck_assert_int_eq(vgpu_client_last_seq(NULL), 0);
	ck_assert_int_eq(vgpu_client_fail(NULL, 0, VGPU_CLIENT_EIO, "%s", "nowhere to say it"), VGPU_CLIENT_EIO);
}
END_TEST

START_TEST(test_dir_is_a_file)
{
	struct vgpu_client_opts o = { .lock_dir = lockdir };
	struct vgpu_client *c = (struct vgpu_client *)1;
	char err[512], path[400], want[600];

	snprintf(path, sizeof(path), "%s/vm4", tdir);
	close(open(path, O_CREAT | O_WRONLY, 0644));
	ck_assert_int_eq(vgpu_client_open(&c, path, &o, err, sizeof(err)), VGPU_CLIENT_ENODIR);
	ck_assert_ptr_null(c);
	snprintf(want, sizeof(want), "%s is not a directory: give the VM's directory vmN", path);
	ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(test_dir_vanishes_while_waiting)
{
	struct vgpu_client *c = open_client(1000);
	struct vgpu_client_call call;
	struct vgpu_request q = ping_req();
	struct vgpu_response r;
	char err[512], want[600], cmd[512];

	ck_assert_int_eq(vgpu_client_start(c, &call, &q, NULL, 0, err, sizeof(err)), VGPU_CLIENT_OK);
	ck_assert_int_eq(vgpu_client_poll(&call, &r, err, sizeof(err)), VGPU_CLIENT_PENDING);
	ck_assert_str_eq(call.why, "");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", vmdir);
	ck_assert_int_eq(system(cmd), 0);
	/* a local file system still resolves "." in a removed directory: waiting goes on
	 * (NFS says ENOENT there: "vanished"); the next request cannot be written at all */
	ck_assert_int_eq(vgpu_client_poll(&call, &r, err, sizeof(err)), VGPU_CLIENT_PENDING);
	vgpu_client_end(&call);
	ck_assert_int_eq(vgpu_client_start(c, &call, &q, NULL, 0, err, sizeof(err)), VGPU_CLIENT_ENODIR);
	snprintf(want, sizeof(want), "cannot create command.txt: VM directory %s missing", vmdir);
	ck_assert_msg(strstr(err, want) != NULL, "%s", err);
	vgpu_client_close(c);
}
END_TEST

START_TEST(test_response_socket_device_links_size_garbage)
{
	struct vgpu_client *c = open_client(1000);
	char why[512], err[512], other[400];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s;

	/* a socket */
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(s, 0);
	ck_assert_uint_lt(strlen(resp_path), sizeof(sa.sun_path));
	memcpy(sa.sun_path, resp_path, strlen(resp_path) + 1);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(look_once(c, why, sizeof(why), err, sizeof(err)), VGPU_CLIENT_PENDING);
	ck_assert_msg(strstr(why, "/response.txt is a socket, not an answer") != NULL, "%s", why);
	close(s);
	unlink(resp_path);

	/* a device (only root may make one) */
	if (mknod(resp_path, S_IFCHR | 0644, makedev(1, 3)) == 0) {
		ck_assert_int_eq(look_once(c, why, sizeof(why), err, sizeof(err)), VGPU_CLIENT_PENDING);
		ck_assert_msg(strstr(why, "/response.txt is a device, not an answer") != NULL, "%s", why);
		unlink(resp_path);
	}

	/* a file with a second name: not one the mediator published */
	s = open(resp_path, O_CREAT | O_WRONLY, 0644);
	ck_assert_int_eq(write(s, "x\n", 2), 2);
	close(s);
	snprintf(other, sizeof(other), "%s/elsewhere", tdir);
	ck_assert_int_eq(link(resp_path, other), 0);
	ck_assert_int_eq(look_once(c, why, sizeof(why), err, sizeof(err)), VGPU_CLIENT_PENDING);
	ck_assert_msg(strstr(why, "/response.txt is a file with 2 hard links, not an answer") != NULL, "%s", why);
	unlink(other);

	/* larger than any record */
	ck_assert_int_eq(truncate(resp_path, VGPU_RECORD_MAX + 100), 0);
	ck_assert_int_eq(look_once(c, why, sizeof(why), err, sizeof(err)), VGPU_CLIENT_PENDING);
	snprintf(other, sizeof(other), "/response.txt is %d bytes, over the %d a record may have", VGPU_RECORD_MAX + 100,
		 VGPU_RECORD_MAX);
	ck_assert_msg(strstr(why, other) != NULL, "%s", why);

	/* a plain file that is no record */
	ck_assert_int_eq(truncate(resp_path, 0), 0);
	s = open(resp_path, O_WRONLY);
	ck_assert_int_eq(write(s, "hello\n", 6), 6);
	close(s);
	ck_assert_int_eq(look_once(c, why, sizeof(why), err, sizeof(err)), VGPU_CLIENT_PENDING);
	ck_assert_msg(strncmp(why, "response.txt is unreadable (", 28) == 0, "%s", why);

	/* the blocking call gives up at its deadline, EPROTO, saying what it saw */
	{
		struct vgpu_request q = ping_req();
		struct vgpu_response r;

		ck_assert_int_eq(vgpu_client_call(c, &q, NULL, 0, &r, NULL, NULL, err, sizeof(err)), VGPU_CLIENT_EPROTO);
		ck_assert_msg(strstr(err, "response.txt is unreadable") != NULL, "%s", err);
	}
	vgpu_client_close(c);
}
END_TEST

START_TEST(test_stale_reads_then_eio)
{
	struct vgpu_client *c = open_client(10000);
	struct vgpu_client_call call;
	struct vgpu_request q = ping_req();
	struct vgpu_response r;
	char err[512], want[600];
	uint64_t t0;
	int rc;

	ck_assert_int_eq(vgpu_client_start(c, &call, &q, NULL, 0, err, sizeof(err)), VGPU_CLIENT_OK);
	ck_assert_int_eq(fiu_enable("safeio/read/open", 1, (void *)(intptr_t)ESTALE, 0), 0);
	t0 = tu_now_ms();
	ck_assert_int_eq(vgpu_client_poll(&call, &r, err, sizeof(err)), VGPU_CLIENT_PENDING);
	ck_assert_str_eq(call.why, "response.txt: stale file handle (replaced on the server); retrying");
	snprintf(want, sizeof(want), "reading %s/response.txt: ", vmdir);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0 && strstr(err, "; retrying"), "%s", err);
	/* pending while it lasts less than VGPU_CLIENT_STALE_MS, then EIO */
	ck_assert(TU_WAIT_FOR((rc = vgpu_client_poll(&call, &r, err, sizeof(err))) != VGPU_CLIENT_PENDING,
			      VGPU_CLIENT_STALE_MS + 3000));
	ck_assert_int_eq(rc, VGPU_CLIENT_EIO);
	ck_assert_uint_ge(tu_now_ms() - t0, VGPU_CLIENT_STALE_MS);
	snprintf(want, sizeof(want), " for %d ms", VGPU_CLIENT_STALE_MS);
	ck_assert_msg(strstr(err, want) != NULL, "%s", err);
	fiu_disable("safeio/read/open");
	/* a good read in between starts the count again */
	ck_assert_int_eq(vgpu_client_poll(&call, &r, err, sizeof(err)), VGPU_CLIENT_PENDING);
	ck_assert_int_eq(call.stale_since_ms, 0);
	vgpu_client_end(&call);
	vgpu_client_close(c);
}
END_TEST

START_TEST(test_read_eacces_and_eio)
{
	struct vgpu_client *c = open_client(10000);
	struct vgpu_client_call call;
	struct vgpu_request q = ping_req();
	struct vgpu_response r;
	char err[512], want[600];

	ck_assert_int_eq(vgpu_client_start(c, &call, &q, NULL, 0, err, sizeof(err)), VGPU_CLIENT_OK);
	ck_assert_int_eq(fiu_enable("safeio/read/open", 1, (void *)(intptr_t)EACCES, 0), 0);
	ck_assert_int_eq(vgpu_client_poll(&call, &r, err, sizeof(err)), VGPU_CLIENT_EPERM);
	snprintf(want, sizeof(want), "cannot read %s/response.txt: ", vmdir);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
	fiu_disable("safeio/read/open");   /* enabling it again without this leaks in libfiu */
	ck_assert_int_eq(fiu_enable("safeio/read/open", 1, (void *)(intptr_t)EIO, 0), 0);
	ck_assert_int_eq(vgpu_client_poll(&call, &r, err, sizeof(err)), VGPU_CLIENT_EIO);
	snprintf(want, sizeof(want), "reading %s/response.txt: ", vmdir);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
	fiu_disable("safeio/read/open");
	vgpu_client_end(&call);
	vgpu_client_close(c);
}
END_TEST

START_TEST(test_lock_not_a_file)
{
	struct vgpu_client *c = open_client(300);
	struct vgpu_request q = ping_req();
	struct vgpu_response r;
	char err[1024], want[PATH_MAX + 200], path[PATH_MAX];

	snprintf(path, sizeof(path), "%s", c->lock_path);
	ck_assert_msg(strncmp(path, lockdir, strlen(lockdir)) == 0, "%s", path);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	ck_assert_int_eq(vgpu_client_call(c, &q, NULL, 0, &r, NULL, NULL, err, sizeof(err)), VGPU_CLIENT_ELOCK);
	snprintf(want, sizeof(want), "cannot open lock file %s: ", path);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0 || strstr(err, "is not a regular file"), "%s", err);
	ck_assert_int_eq(rmdir(path), 0);

	ck_assert_int_eq(mkfifo(path, 0600), 0);    /* opens (O_RDWR), but is no regular file */
	ck_assert_int_eq(vgpu_client_call(c, &q, NULL, 0, &r, NULL, NULL, err, sizeof(err)), VGPU_CLIENT_ELOCK);
	snprintf(want, sizeof(want), "lock file %s is not a regular file", path);
	ck_assert_str_eq(err, want);
	ck_assert_int_eq(unlink(path), 0);

	ck_assert_int_eq(symlink("/etc/passwd", path), 0);   /* never followed */
	ck_assert_int_eq(vgpu_client_call(c, &q, NULL, 0, &r, NULL, NULL, err, sizeof(err)), VGPU_CLIENT_ELOCK);
	snprintf(want, sizeof(want), "cannot open lock file %s: %s", path, strerror(ELOOP));
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
	vgpu_client_close(c);
}
END_TEST

START_TEST(test_lock_dir_missing)
{
	char missing[400], err[512], want[600];
	struct vgpu_client_opts o = { .lock_dir = missing };
	struct vgpu_client *c = NULL;

	snprintf(missing, sizeof(missing), "%s/no-locks", tdir);
	ck_assert_int_eq(vgpu_client_open(&c, vmdir, &o, err, sizeof(err)), VGPU_CLIENT_ELOCK);
	ck_assert_ptr_null(c);
	snprintf(want, sizeof(want), "lock directory %s is not a directory (--lock-dir)", missing);
	ck_assert_str_eq(err, want);
}
END_TEST

/* The lock file is kept open across a handle's calls (docs/CLIENT.md step 1), flocked
 * only during one: released, another handle takes it; removed and made anew under its
 * name (held there by another client), the kept descriptor locks nothing: ELOCK. */
START_TEST(test_lock_kept_file_replaced)
{
	struct vgpu_client *c = open_client(200), *c2 = open_client(200);
	char err[512];
	int fd;

	ck_assert_int_eq(vgpu_client_lock_take(c, vgpu_now_ms() + 200, err, sizeof(err)), VGPU_CLIENT_OK);
	ck_assert_int_eq(vgpu_client_lock_take(c2, vgpu_now_ms() + 50, err, sizeof(err)), VGPU_CLIENT_ELOCK);
	vgpu_client_lock_release(c);
	ck_assert_int_ge(c->lockfd, 0);                  /* kept for the next call */
	ck_assert_int_eq(vgpu_client_lock_take(c2, vgpu_now_ms() + 200, err, sizeof(err)), VGPU_CLIENT_OK);
	vgpu_client_lock_release(c2);
	vgpu_client_close(c2);

	ck_assert_int_eq(unlink(c->lock_path), 0);
	fd = open(c->lock_path, O_CREAT | O_EXCL | O_RDWR, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(flock(fd, LOCK_EX), 0);         /* another client, on the new file */
	ck_assert_int_eq(vgpu_client_lock_take(c, vgpu_now_ms() + 100, err, sizeof(err)), VGPU_CLIENT_ELOCK);
	ck_assert_msg(strstr(err, "still held") != NULL, "%s", err);
	close(fd);
	ck_assert_int_eq(vgpu_client_lock_take(c, vgpu_now_ms() + 200, err, sizeof(err)), VGPU_CLIENT_OK);
	vgpu_client_close(c);
}
END_TEST

/* A fork's child shares the parent's open lock file, and flock() locks are per open
 * file: the child must open its own, or it would hold the lock the parent holds. */
START_TEST(test_lock_kept_after_fork)
{
	struct vgpu_client *c = open_client(200);
	char err[512];
	int status;
	pid_t pid;

	ck_assert_int_eq(vgpu_client_lock_take(c, vgpu_now_ms() + 200, err, sizeof(err)), VGPU_CLIENT_OK);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(vgpu_client_lock_take(c, vgpu_now_ms() + 100, err, sizeof(err)) == VGPU_CLIENT_ELOCK ? 0 : 1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "the child took the lock its parent holds (status %d)", status);
	vgpu_client_lock_release(c);
	vgpu_client_close(c);
}
END_TEST

/* The nonce's hash is SipHash-2-4: the reference vector (key 00..0f, message 00..07). */
START_TEST(test_nonce_siphash_vector)
{
	const uint64_t key[2] = { 0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL };

	ck_assert_uint_eq(vgpu_client_siphash_u64(key, 0x0706050403020100ULL), 0x93f5f5799a932462ULL);
}
END_TEST

static int is_nonce(const char *n)
{
	if (strlen(n) != 16)
		return 0;
	for (const char *p = n; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return 0;
	return 1;
}

/* Nonces without a getrandom per request: 16 lowercase hex digits, distinct across one
 * handle's requests and between handles; a forked child draws its own key, so its next
 * nonce is not its parent's next one. */
START_TEST(test_nonce_per_handle_and_fork)
{
	enum { N = 2000 };
	static char seen[N][17];
	struct vgpu_client *c = open_client(50), *d = open_client(50);
	char mine[17], child[17] = "", other[17];
	int pfd[2], status;
	pid_t pid;

	for (int i = 0; i < N; i++) {
		vgpu_client_make_nonce(c, seen[i]);
		ck_assert_msg(is_nonce(seen[i]), "nonce '%s'", seen[i]);
		for (int j = 0; j < i; j++)
			ck_assert_msg(strcmp(seen[i], seen[j]) != 0, "nonce %d repeats nonce %d: %s", i, j, seen[i]);
	}
	vgpu_client_make_nonce(d, other);
	for (int j = 0; j < N; j++)
		ck_assert_msg(strcmp(other, seen[j]) != 0, "two handles made the same nonce %s", other);
	ck_assert_int_eq(pipe(pfd), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		vgpu_client_make_nonce(c, mine);
		_exit(write(pfd[1], mine, 17) == 17 ? 0 : 1);
	}
	close(pfd[1]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(read(pfd[0], child, sizeof(child)), 17);
	close(pfd[0]);
	vgpu_client_make_nonce(c, mine);
	ck_assert_msg(is_nonce(child), "child's nonce '%s'", child);
	ck_assert_msg(strcmp(mine, child) != 0, "a forked child made its parent's next nonce %s", mine);
	vgpu_client_close(c);
	vgpu_client_close(d);
}
END_TEST

/* The lock file's "seq N\n" is where the numbering goes on (taken by the call); any other
 * content counts as no seq at all. */
static int64_t seq_after_lock_content(const char *content)
{
	struct vgpu_client *c = open_client(50);
	struct vgpu_request q = ping_req();
	struct vgpu_response r;
	char err[512];
	int64_t seq;
	int fd = open(c->lock_path, O_CREAT | O_TRUNC | O_WRONLY, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
	ck_assert_int_eq(vgpu_client_call(c, &q, NULL, 0, &r, NULL, NULL, err, sizeof(err)), VGPU_CLIENT_ETIMEOUT);
	seq = vgpu_client_last_seq(c);
	vgpu_client_close(c);
	return seq;
}

START_TEST(test_lock_file_garbage_is_zero)
{
	static const char *const junk[] = { "junk\n", "seq 5x\n", "seq -3\n", "seq" };

	ck_assert_int_eq(seq_after_lock_content("seq 41\n"), 42);
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
		ck_assert_msg(seq_after_lock_content(junk[i]) == 1, "lock file '%s'", junk[i]);
}
END_TEST

/* poll_max below poll_min is raised to it. */
START_TEST(test_poll_bounds_ordered)
{
	struct vgpu_client_opts o = { .lock_dir = lockdir, .poll_min_ms = 50, .poll_max_ms = 10 };
	struct vgpu_client *c = NULL;
	char err[512];

	ck_assert_int_eq(vgpu_client_open(&c, vmdir, &o, err, sizeof(err)), VGPU_CLIENT_OK);
	ck_assert_int_eq(c->poll_min_ms, 50);
	ck_assert_int_eq(c->poll_max_ms, 50);
	vgpu_client_close(c);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("client_edges");
	TCase *tc = tcase_create("edges");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_strerror_every_code);
	tcase_add_test(tc, test_dir_is_a_file);
	tcase_add_test(tc, test_dir_vanishes_while_waiting);
	tcase_add_test(tc, test_response_socket_device_links_size_garbage);
	tcase_add_test(tc, test_stale_reads_then_eio);
	tcase_add_test(tc, test_read_eacces_and_eio);
	tcase_add_test(tc, test_lock_not_a_file);
	tcase_add_test(tc, test_lock_dir_missing);
	tcase_add_test(tc, test_lock_kept_file_replaced);
	tcase_add_test(tc, test_lock_kept_after_fork);
	tcase_add_test(tc, test_nonce_siphash_vector);
	tcase_add_test(tc, test_nonce_per_handle_and_fork);
	tcase_add_test(tc, test_lock_file_garbage_is_zero);
	tcase_add_test(tc, test_poll_bounds_ordered);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	fiu_init(0);
	return tu_run(suite(), CK_ENV);
}
