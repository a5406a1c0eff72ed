/* wire.c - the pool <-> worker messages over a SOCK_SEQPACKET socketpair: fixed-size
 * messages, a job's memfds as SCM_RIGHTS, anything malformed refused as -EBADMSG with its
 * descriptors closed. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <fiu-local.h>

#include "wire.h"

int vgpu_wire_send(int sock, struct vgpu_wire_msg *msg, const int *fds, int nfds)
{
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = msg, .iov_len = sizeof(*msg) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nfds < 0 || nfds > 2)
		return -EINVAL;
	fiu_return_on("exec/wire/send", -EPIPE);
	msg->magic = VGPU_WIRE_MAGIC;
	if (nfds > 0) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, (size_t)nfds * sizeof(int));
	}
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == sizeof(*msg) ? 0 : -EMSGSIZE;
}

static void close_fds(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

int vgpu_wire_recv(int sock, struct vgpu_wire_msg *msg, int fds[2], int flags)
{
	union {
		char buf[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = msg, .iov_len = sizeof(*msg) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	int got[4], ngot = 0, want = 0;
	ssize_t n;

	fds[0] = fds[1] = -1;
	do
		n = recvmsg(sock, &mh, flags | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k && ngot < 4; i++)
			memcpy(&got[ngot++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
	if (n == 0 && ngot == 0)
		return 0;
	if ((size_t)n != sizeof(*msg) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
	    msg->magic != VGPU_WIRE_MAGIC)
		goto bad;
	switch (msg->type) {
	case VGPU_WIRE_HELLO:
		msg->u.hello.device[sizeof(msg->u.hello.device) - 1] = 0;
		msg->u.hello.error[sizeof(msg->u.hello.error) - 1] = 0;
		break;
	case VGPU_WIRE_RESULT:
		msg->u.result.res.error[sizeof(msg->u.result.res.error) - 1] = 0;
		break;
	case VGPU_WIRE_JOB:
		if (msg->u.job.fds & ~(VGPU_WIRE_IN_FD | VGPU_WIRE_OUT_FD))
			goto bad;
		want = !!(msg->u.job.fds & VGPU_WIRE_IN_FD) + !!(msg->u.job.fds & VGPU_WIRE_OUT_FD);
		break;
	default:
		goto bad;
	}
	if (ngot != want)
		goto bad;
	if (want) {
		int i = 0;

		if (msg->u.job.fds & VGPU_WIRE_IN_FD)
			fds[0] = got[i++];
		if (msg->u.job.fds & VGPU_WIRE_OUT_FD)
			fds[1] = got[i++];
	}
	return (int)msg->type;
bad:
	close_fds(got, ngot);
	return -EBADMSG;
}

