/* test_wire.c - the pool <-> worker messages (src/exec/wire.c) over a real
 * SOCK_SEQPACKET socketpair: a job with its memfds arrives with them, in order; EOF,
 * nothing yet (MSG_DONTWAIT) and a gone peer are told apart; and everything malformed
 * (wrong size, magic, type, fds bits, descriptors the message should not have, or lacks)
 * is refused as -EBADMSG with the descriptors that came closed. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "exec/wire.h"
#include "../common/testutil.h"

static int sv[2];

static void setup(void)
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
}

static void teardown(void)
{
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
}

static int memfd_with(const char *text)
{
	int fd = memfd_create("t", MFD_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	return fd;
}

/* Send raw bytes with optional descriptors, bypassing vgpu_wire_send's checks. */
static void send_raw(const void *buf, size_t len, const int *fds, int nfds)
{
	union {
		char b[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds > 0) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, (size_t)nfds * sizeof(int));
	}
	ck_assert_int_eq(sendmsg(sv[0], &mh, 0), (ssize_t)len);
}

START_TEST(test_job_with_two_memfds)
{
	struct vgpu_wire_msg m, r;
	int fds[2] = { memfd_with("input"), memfd_with("output") }, got[2];
	char buf[16] = "";

	memset(&m, 0, sizeof(m));
	m.type = VGPU_WIRE_JOB;
	m.u.job.id = 77;
	m.u.job.fds = VGPU_WIRE_IN_FD | VGPU_WIRE_OUT_FD;
	ck_assert_int_eq(vgpu_wire_send(sv[0], &m, fds, 2), 0);
	ck_assert_uint_eq(m.magic, VGPU_WIRE_MAGIC);
	close(fds[0]);
	close(fds[1]);
	ck_assert_int_eq(vgpu_wire_recv(sv[1], &r, got, 0), VGPU_WIRE_JOB);
	ck_assert_uint_eq(r.u.job.id, 77);
	ck_assert_int_ge(got[0], 0);
	ck_assert_int_ge(got[1], 0);
	ck_assert_int_eq(fcntl(got[0], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	ck_assert_int_eq(pread(got[0], buf, sizeof(buf) - 1, 0), 5);
	ck_assert_str_eq(buf, "input");
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(pread(got[1], buf, sizeof(buf) - 1, 0), 6);
	ck_assert_str_eq(buf, "output");
	close(got[0]);
	close(got[1]);
}
END_TEST

START_TEST(test_job_with_output_only)
{
	struct vgpu_wire_msg m, r;
	int fd = memfd_with("o"), got[2];

	memset(&m, 0, sizeof(m));
	m.type = VGPU_WIRE_JOB;
	m.u.job.fds = VGPU_WIRE_OUT_FD;
	ck_assert_int_eq(vgpu_wire_send(sv[0], &m, &fd, 1), 0);
	close(fd);
	ck_assert_int_eq(vgpu_wire_recv(sv[1], &r, got, 0), VGPU_WIRE_JOB);
	ck_assert_int_eq(got[0], -1);   /* no input: the one descriptor is the output */
	ck_assert_int_ge(got[1], 0);
	close(got[1]);
}
END_TEST

START_TEST(test_hello_and_result_strings_terminated)
{
	struct vgpu_wire_msg m, r;
	int got[2];

	memset(&m, 'x', sizeof(m));
	m.type = VGPU_WIRE_HELLO;
	ck_assert_int_eq(vgpu_wire_send(sv[0], &m, NULL, 0), 0);
	ck_assert_int_eq(vgpu_wire_recv(sv[1], &r, got, 0), VGPU_WIRE_HELLO);
	ck_assert_uint_eq(strlen(r.u.hello.device), sizeof(r.u.hello.device) - 1);
	ck_assert_uint_eq(strlen(r.u.hello.error), sizeof(r.u.hello.error) - 1);
	ck_assert_int_eq(got[0], -1);
	ck_assert_int_eq(got[1], -1);

	memset(&m, 'y', sizeof(m));
	m.type = VGPU_WIRE_RESULT;
	ck_assert_int_eq(vgpu_wire_send(sv[0], &m, NULL, 0), 0);
	ck_assert_int_eq(vgpu_wire_recv(sv[1], &r, got, 0), VGPU_WIRE_RESULT);
	ck_assert_uint_eq(strlen(r.u.result.res.error), sizeof(r.u.result.res.error) - 1);
}
END_TEST

START_TEST(test_send_refuses_too_many_fds)
{
	struct vgpu_wire_msg m;
	int fds[3] = { 0, 1, 2 };

	memset(&m, 0, sizeof(m));
	m.type = VGPU_WIRE_JOB;
	ck_assert_int_eq(vgpu_wire_send(sv[0], &m, fds, 3), -EINVAL);
	ck_assert_int_eq(vgpu_wire_send(sv[0], &m, fds, -1), -EINVAL);
}
END_TEST

START_TEST(test_eof_again_and_gone_peer)
{
	struct vgpu_wire_msg m;
	int got[2];

	ck_assert_int_eq(vgpu_wire_recv(sv[1], &m, got, MSG_DONTWAIT), -EAGAIN);
	close(sv[0]);
	sv[0] = -1;
	ck_assert_int_eq(vgpu_wire_recv(sv[1], &m, got, 0), 0);
	memset(&m, 0, sizeof(m));
	m.type = VGPU_WIRE_RESULT;
	ck_assert_int_eq(vgpu_wire_send(sv[1], &m, NULL, 0), -EPIPE);   /* and no SIGPIPE */
	ck_assert_int_eq(vgpu_wire_recv(-1, &m, got, 0), -EBADF);
}
END_TEST

/* A malformed message is refused, and the descriptors it carried are closed. */
static void expect_refused(const struct vgpu_wire_msg *m, size_t len, int nfds)
{
	struct vgpu_wire_msg r;
	int fds[2], got[2] = { 5, 5 }, n;

	for (int i = 0; i < nfds; i++)
		fds[i] = memfd_with("x");
	send_raw(m, len, fds, nfds);
	n = vgpu_wire_recv(sv[1], &r, got, 0);
	ck_assert_int_eq(n, -EBADMSG);
	ck_assert_int_eq(got[0], -1);
	ck_assert_int_eq(got[1], -1);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);   /* ours; the received copies were closed by the refusal */
}

START_TEST(test_malformed_refused)
{
	struct vgpu_wire_msg m;
	int before = dup(0);

	ck_assert_int_ge(before, 0);
	close(before);

	memset(&m, 0, sizeof(m));
	m.magic = VGPU_WIRE_MAGIC;
	m.type = VGPU_WIRE_RESULT;
	expect_refused(&m, sizeof(m) - 1, 0);           /* short */
	m.magic = 0x12345678;
	expect_refused(&m, sizeof(m), 0);               /* bad magic */
	m.magic = VGPU_WIRE_MAGIC;
	m.type = 99;
	expect_refused(&m, sizeof(m), 1);               /* unknown type, with a descriptor */
	m.type = VGPU_WIRE_JOB;
	m.u.job.fds = 4;
	expect_refused(&m, sizeof(m), 0);               /* unknown fds bit */
	m.u.job.fds = VGPU_WIRE_IN_FD | VGPU_WIRE_OUT_FD;
	expect_refused(&m, sizeof(m), 1);               /* says two, carries one */
	m.u.job.fds = 0;
	expect_refused(&m, sizeof(m), 2);               /* says none, carries two */
	m.type = VGPU_WIRE_HELLO;
	expect_refused(&m, sizeof(m), 1);               /* a hello never carries any */

	/* nothing leaked: the lowest free descriptor is where it was */
	int after = dup(0);
	ck_assert_int_eq(after, before);
	close(after);
}
END_TEST

/* Control messages other than SCM_RIGHTS (credentials, when the receiver asks for them)
 * are skipped, not taken for descriptors. */
START_TEST(test_credentials_skipped)
{
	union {
		char b[CMSG_SPACE(sizeof(struct ucred))];
		struct cmsghdr align;
	} ctl;
	struct vgpu_wire_msg m, r;
	struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof(ctl.b) };
	struct ucred cr = { .pid = getpid(), .uid = getuid(), .gid = getgid() };
	struct cmsghdr *c;
	int one = 1, got[2];

	ck_assert_int_eq(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)), 0);
	memset(&m, 0, sizeof(m));
	m.magic = VGPU_WIRE_MAGIC;
	m.type = VGPU_WIRE_HELLO;
	memset(&ctl, 0, sizeof(ctl));
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_CREDENTIALS;
	c->cmsg_len = CMSG_LEN(sizeof(cr));
	memcpy(CMSG_DATA(c), &cr, sizeof(cr));
	ck_assert_int_eq(sendmsg(sv[0], &mh, 0), (ssize_t)sizeof(m));
	ck_assert_int_eq(vgpu_wire_recv(sv[1], &r, got, 0), VGPU_WIRE_HELLO);
	ck_assert_int_eq(got[0], -1);
	ck_assert_int_eq(got[1], -1);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("wire");
	TCase *tc = tcase_create("wire");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_job_with_two_memfds);
	tcase_add_test(tc, test_job_with_output_only);
	tcase_add_test(tc, test_hello_and_result_strings_terminated);
	tcase_add_test(tc, test_send_refuses_too_many_fds);
	tcase_add_test(tc, test_eof_again_and_gone_peer);
	tcase_add_test(tc, test_malformed_refused);
	tcase_add_test(tc, test_credentials_skipped);
	suite_add_tcase(s, tc);
	return s;
}

TU_CHECK_MAIN(suite)
