/* naive_drain_server.c - see naive_drain_server.h: drain inotify, answer each event at
 * once, no per-VM bound, no lock. Deliberately naive; a negative control only. */
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
#include "naive_drain_server.h"

static void answer(int dfd, uint32_t vm, int64_t seq, const char *nonce, int status, const char *error)
{
	struct vgpu_response r;
	char buf[VGPU_RECORD_MAX];
	int len;

	memset(&r, 0, sizeof(r));
	r.vm = vm;
	r.seq = seq;
	snprintf(r.nonce, sizeof(r.nonce), "%s", nonce && strlen(nonce) == 16 ? nonce : "0000000000000000");
	r.status = status;
	r.op = status == VGPU_OK ? VGPU_OP_PING : VGPU_OP_NONE;
	r.priority = VGPU_PRIO_LOW;
	snprintf(r.executor, sizeof(r.executor), "naive");
	snprintf(r.result, sizeof(r.result), "%s", status == VGPU_OK ? "pong" : "-");
	snprintf(r.error, sizeof(r.error), "%s", error);
	len = vgpu_response_encode(&r, buf, sizeof(buf));
	if (len > 0)
		vgpu_publish(dfd, "response.txt", buf, (size_t)len, 0644);   /* fsync'd, every time */
}

static void handle(int dfd, uint32_t vm, int64_t *last, int jfd)
{
	char buf[VGPU_RECORD_MAX], err[256];
	struct vgpu_request q;
	size_t len = 0;
	int rc;

	if (vgpu_safe_read(dfd, "command.txt", buf, sizeof(buf), &len, NULL) < 0)
		return;
	memset(&q, 0, sizeof(q));
	rc = vgpu_request_decode(buf, len, &q, err, sizeof(err));
	if (rc != VGPU_REC_OK) {
		answer(dfd, vm, 0, NULL, rc == VGPU_REC_CORRUPT ? VGPU_CORRUPT : VGPU_BAD_REQUEST, "bad record");
		return;
	}
	if (q.seq <= *last)
		return;
	*last = q.seq;
	dprintf(jfd, "exec vm=%" PRIu32 " seq=%" PRId64 " nonce=%s\n", vm, q.seq, q.nonce);
	answer(dfd, vm, q.seq, q.nonce, VGPU_OK, "-");
}

int naive_drain_serve(const char *root, int vms, const char *journal, volatile sig_atomic_t *stop)
{
	int ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC), jfd;
	int *wd = calloc((size_t)vms + 1, sizeof(int)), *dfd = calloc((size_t)vms + 1, sizeof(int));
	int64_t *last = calloc((size_t)vms + 1, sizeof(int64_t));
	char path[512];

	if (ino < 0 || !wd || !dfd || !last)
		return -errno;
	jfd = open(journal, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	for (int v = 1; v <= vms; v++) {
		snprintf(path, sizeof(path), "%s/vm%d", root, v);
		wd[v] = inotify_add_watch(ino, path, IN_MOVED_TO | IN_CLOSE_WRITE);
		dfd[v] = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	while (!*stop) {
		struct pollfd p = { .fd = ino, .events = POLLIN };
		char ev[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		/* the naive part: read until the queue is empty, acting on every event */
		while (!*stop && (n = read(ino, ev, sizeof(ev))) > 0) {
			for (char *q = ev; q < ev + n;) {
				const struct inotify_event *e = (const struct inotify_event *)q;

				q += sizeof(*e) + e->len;
				if (!e->len || strcmp(e->name, "command.txt") != 0)
					continue;
				for (int v = 1; v <= vms; v++)
					if (wd[v] == e->wd)
						handle(dfd[v], (uint32_t)v, &last[v], jfd);
			}
		}
	}
	for (int v = 1; v <= vms; v++)
		if (dfd[v] >= 0)
			close(dfd[v]);
	close(ino);
	close(jfd);
	free(wd);
	free(dfd);
	free(last);
	return 0;
}

int naive_drain_exec_count(const char *journal, unsigned vm, long long seq)
{
	FILE *f = fopen(journal, "r");
	char line[256];
	int n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned v;
		long long s;

		if (sscanf(line, "exec vm=%u seq=%lld", &v, &s) == 2 && (!vm || v == vm) && (!seq || s == seq))
			n++;
	}
	fclose(f);
	return n;
}
