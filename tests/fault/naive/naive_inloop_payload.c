/* naive_inloop_payload.c - see naive_inloop_payload.h: payload I/O in the event loop.
 * Deliberately naive; a negative control only. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "lib/record.h"
#include "lib/safeio.h"
#include "lib/status.h"
#include "naive_inloop_payload.h"

static void answer(int dfd, const struct vgpu_request *q, int status, const struct vgpu_payload_ref *out)
{
	struct vgpu_response r;
	char buf[VGPU_RECORD_MAX];
	int len;

	memset(&r, 0, sizeof(r));
	r.vm = q->vm;
	r.seq = q->seq;
	snprintf(r.nonce, sizeof(r.nonce), "%s", q->nonce);
	r.status = status;
	r.op = q->op;
	r.priority = VGPU_PRIO_LOW;
	snprintf(r.executor, sizeof(r.executor), "naive");
	snprintf(r.result, sizeof(r.result), "%s", q->op == VGPU_OP_PING ? "pong" : "count=0 sum=0 l2=0 first=0");
	snprintf(r.error, sizeof(r.error), "%s", status == VGPU_OK ? "-" : "payload");
	if (out)
		r.output = *out;
	len = vgpu_response_encode(&r, buf, sizeof(buf));
	if (len > 0)
		vgpu_publish(dfd, "response.txt", buf, (size_t)len, 0644);
}

static void handle(int dfd, int64_t *last)
{
	char buf[VGPU_RECORD_MAX], err[256];
	struct vgpu_request q;
	struct vgpu_payload_ref out;
	size_t len = 0, inlen = 0;
	void *in = NULL;
	int64_t outb;

	if (vgpu_safe_read(dfd, "command.txt", buf, sizeof(buf), &len, NULL) < 0)
		return;
	memset(&q, 0, sizeof(q));
	if (vgpu_request_decode(buf, len, &q, err, sizeof(err)) != VGPU_REC_OK || q.seq <= *last)
		return;
	*last = q.seq;
	if (!q.input.name[0]) {
		answer(dfd, &q, VGPU_OK, NULL);
		return;
	}
	/* the naive part: the whole payload read and checked here, in the loop */
	if (vgpu_safe_read_alloc(dfd, q.input.name, 1ULL << 31, &in, &inlen) < 0 || inlen != q.input.bytes ||
	    vgpu_crc32(in, inlen) != q.input.crc) {
		free(in);
		answer(dfd, &q, VGPU_BAD_PAYLOAD, NULL);
		return;
	}
	outb = vgpu_request_output_bytes(&q);
	memset(&out, 0, sizeof(out));
	vgpu_payload_name(out.name, "out", q.seq);
	out.bytes = outb > 0 && (size_t)outb <= inlen ? (uint64_t)outb : 0;
	out.crc = vgpu_crc32(in, out.bytes);
	/* ... and the output written and fsync'ed here too */
	if (vgpu_publish(dfd, out.name, in, out.bytes, 0644) < 0)
		out.name[0] = '\0';
	free(in);
	answer(dfd, &q, VGPU_OK, out.name[0] ? &out : NULL);
}

int naive_inloop_serve(const char *root, int vms, volatile sig_atomic_t *stop)
{
	int ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	int *dfd = calloc((size_t)vms + 1, sizeof(int));
	int64_t *last = calloc((size_t)vms + 1, sizeof(int64_t));
	char path[512];

	if (ino < 0 || !dfd || !last)
		return -errno;
	for (int v = 1; v <= vms; v++) {
		snprintf(path, sizeof(path), "%s/vm%d", root, v);
		inotify_add_watch(ino, path, IN_MOVED_TO | IN_CLOSE_WRITE);
		dfd[v] = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	while (!*stop) {
		struct pollfd p = { .fd = ino, .events = POLLIN };
		char ev[16384] __attribute__((aligned(__alignof__(struct inotify_event))));

		if (poll(&p, 1, 100) > 0)
			while (read(ino, ev, sizeof(ev)) > 0)
				;
		for (int v = 1; v <= vms; v++)
			if (dfd[v] >= 0)
				handle(dfd[v], &last[v]);
	}
	for (int v = 1; v <= vms; v++)
		if (dfd[v] >= 0)
			close(dfd[v]);
	close(ino);
	free(dfd);
	free(last);
	return 0;
}
