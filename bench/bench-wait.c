/* bench-wait - the client's waiting policy against the floors, in one run, without a
 * mediator: a responder process answers each command.txt (inotify, decode, a job of
 * JOB_US, response.txt published by temp+rename) and the waiters below send requests
 * back to back and time each round trip (docs/CLIENT.md, "Waiting"; issue 13 point 3).
 *
 *   floor-inotify   publish command.txt, block on inotify for response.txt, read it
 *   floor-poll      publish, then open/read/close response.txt back to back (no sleep)
 *   old-backoff     publish, then look after 1, 2, 4 ... 100 ms (the policy before)
 *   client-inotify  vgpu_client_call(), VGPU_CLIENT_WAIT_INOTIFY
 *   client-poll     vgpu_client_call(), VGPU_CLIENT_WAIT_POLL (what a VM over NFS does)
 *   client-auto     vgpu_client_call() defaults (inotify here: a local directory)
 *
 *   bench-wait DIR JOB_US REPS
 * prints one line per waiter: median, p99 and mean round trip in us, looks per request
 * (the floors' and old-backoff's own count; the client's from its policy), and the
 * ratios the issue asks for. DIR should be on tmpfs (no fsync cost). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/client.h"
#include "lib/record.h"
#include "lib/safeio.h"
#include "lib/status.h"
#include "bench_time.h"

static void die(const char *what)
{
	perror(what);
	exit(1);
}

/* The responder: answer every new command.txt after JOB_US. */
static void responder(const char *dir, long job_us)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY), ino = inotify_init1(0);
	char ev[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	static char buf[VGPU_RECORD_MAX];
	int64_t last = 0;

	if (dfd < 0 || ino < 0 || inotify_add_watch(ino, dir, IN_MOVED_TO) < 0)
		die("responder");
	for (;;) {
		struct vgpu_request q;
		struct vgpu_response r;
		size_t len;
		int n;

		if (read(ino, ev, sizeof(ev)) <= 0)
			die("responder: inotify read");
		if (vgpu_safe_read(dfd, "command.txt", buf, sizeof(buf), &len, NULL) < 0 ||
		    vgpu_request_decode(buf, len, &q, NULL, 0) != VGPU_REC_OK || q.seq <= last)
			continue;
		last = q.seq;
		if (job_us > 0) {
			struct timespec ts = { job_us / 1000000, (job_us % 1000000) * 1000 };
			while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
				;
		}
		memset(&r, 0, sizeof(r));
		r.vm = q.vm;
		r.seq = q.seq;
		memcpy(r.nonce, q.nonce, sizeof(r.nonce));
		r.op = q.op;
		r.priority = q.priority;
		strcpy(r.executor, "mock");
		strcpy(r.result, "pong");
		strcpy(r.error, "-");
		n = vgpu_response_encode(&r, buf, sizeof(buf));
		if (n < 0 || vgpu_publish(dfd, "response.txt", buf, (size_t)n, 0644) < 0)
			die("responder: publish");
	}
}

static int64_t seq;   /* the floors' own seqs; the client's continue above them */

/* A floor's request: publish command.txt with the next seq. */
static void floor_send(int dfd, struct vgpu_request *q)
{
	static char buf[4096];
	int n;

	memset(q, 0, sizeof(*q));
	q->vm = 1;
	q->seq = ++seq;
	snprintf(q->nonce, sizeof(q->nonce), "%016" PRIx64, (uint64_t)((uint64_t)seq * UINT64_C(0x9e3779b97f4a7c15)));
	q->priority = VGPU_PRIO_HIGH;
	q->op = VGPU_OP_PING;
	q->output_file = -1;
	n = vgpu_request_encode(q, buf, sizeof(buf));
	if (n < 0 || vgpu_publish(dfd, "command.txt", buf, (size_t)n, 0644) < 0)
		die("floor: publish");
}

/* One look: is our answer there? */
static int floor_look(int dfd, const struct vgpu_request *q)
{
	static char buf[VGPU_RECORD_MAX];
	struct vgpu_response r;
	size_t len;

	return vgpu_safe_read(dfd, "response.txt", buf, sizeof(buf), &len, NULL) == 0 &&
	       vgpu_response_decode(buf, len, &r, NULL, 0) == VGPU_REC_OK && r.seq == q->seq &&
	       strcmp(r.nonce, q->nonce) == 0;
}

enum waiter { W_FLOOR_INOTIFY, W_FLOOR_POLL, W_OLD_BACKOFF, W_CLIENT_INOTIFY, W_CLIENT_POLL, W_CLIENT_AUTO, W_COUNT };
static const char *const names[W_COUNT] = { "floor-inotify", "floor-poll", "old-backoff", "client-inotify",
					    "client-poll", "client-auto" };

struct result {
	double p50, p99, mean, looks;
};

static struct result run(enum waiter w, const char *dir, int reps)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY), ino = -1;
	double *t = calloc((size_t)reps + 1, sizeof(double)), sum = 0;
	char ev[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct vgpu_client *c = NULL;
	struct vgpu_client_opts o = { .timeout_ms = 60000, .no_lock = 1 };
	char err[512];
	uint64_t looks = 0;
	struct result res;

	if (dfd < 0 || !t)
		die("run");
	if (w == W_FLOOR_INOTIFY) {
		ino = inotify_init1(0);
		if (ino < 0 || inotify_add_watch(ino, dir, IN_MOVED_TO) < 0)
			die("inotify");
	}
	if (w >= W_CLIENT_INOTIFY) {
		if (vgpu_client_open(&c, dir, &o, err, sizeof(err)) != VGPU_CLIENT_OK) {
			fprintf(stderr, "bench-wait: %s\n", err);
			exit(1);
		}
		vgpu_client_set_wait(c, w == W_CLIENT_INOTIFY ? VGPU_CLIENT_WAIT_INOTIFY :
					w == W_CLIENT_POLL ? VGPU_CLIENT_WAIT_POLL : VGPU_CLIENT_WAIT_AUTO);
	}
	for (int i = -1; i < reps; i++) {      /* one warm-up */
		struct vgpu_request q;
		struct vgpu_response r;
		double t0 = now_us();

		if (c) {
			memset(&q, 0, sizeof(q));
			q.op = VGPU_OP_PING;
			q.priority = VGPU_PRIO_HIGH;
			q.output_file = -1;
			if (vgpu_client_call(c, &q, NULL, 0, &r, NULL, NULL, err, sizeof(err)) != VGPU_CLIENT_OK) {
				fprintf(stderr, "bench-wait: %s\n", err);
				exit(1);
			}
			seq = q.seq;
		} else {
			floor_send(dfd, &q);
			if (w == W_FLOOR_INOTIFY) {
				while (looks++, !floor_look(dfd, &q))
					if (read(ino, ev, sizeof(ev)) <= 0)
						die("inotify read");
			} else {
				long d = 1000;
				while (looks++, !floor_look(dfd, &q)) {
					if (w == W_OLD_BACKOFF) {
						struct timespec ts = { 0, d * 1000 };
						nanosleep(&ts, NULL);
						d = d * 2 < 100000 ? d * 2 : 100000;
					}
				}
			}
		}
		if (i >= 0) {
			t[i] = now_us() - t0;
			sum += t[i];
		} else {
			looks = 0;
		}
	}
	qsort(t, (size_t)reps, sizeof(double), cmp_double);
	res.p50 = t[reps / 2];
	res.p99 = t[(reps * 99) / 100 < reps ? (reps * 99) / 100 : reps - 1];
	res.mean = sum / reps;
	res.looks = c ? -1 : (double)looks / reps;
	if (c)
		vgpu_client_close(c);
	if (ino >= 0)
		close(ino);
	close(dfd);
	free(t);
	return res;
}

int main(int argc, char **argv)
{
	struct result r[W_COUNT];
	long job_us;
	int reps;
	pid_t pid;

	if (argc != 4 || (job_us = atol(argv[2])) < 0 || (reps = atoi(argv[3])) < 2) {
		fprintf(stderr, "usage: bench-wait DIR JOB_US REPS   (DIR is named vmN, e.g. /dev/shm/x/vm1)\n");
		return 2;
	}
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		responder(argv[1], job_us);
		_exit(0);
	}
	usleep(100000);     /* the responder's watch; a missed first request would hang: */
	{                   /* so prove it is there with one round trip first */
		struct vgpu_request q;
		int dfd = open(argv[1], O_RDONLY | O_DIRECTORY);
		double t0 = now_us();

		floor_send(dfd, &q);
		while (!floor_look(dfd, &q))
			if (now_us() - t0 > 5e6) {
				floor_send(dfd, &q);
				t0 = now_us();
			}
		close(dfd);
	}
	for (int w = 0; w < W_COUNT; w++)
		r[w] = run((enum waiter)w, argv[1], reps);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	printf("job_us=%ld reps=%d\n", job_us, reps);
	for (int w = 0; w < W_COUNT; w++) {
		printf("%-15s p50_us=%.1f p99_us=%.1f mean_us=%.1f", names[w], r[w].p50, r[w].p99, r[w].mean);
		if (r[w].looks >= 0)
			printf(" looks=%.1f", r[w].looks);
		printf("\n");
	}
	printf("ratio client-poll/floor-poll p50=%.3f mean=%.3f\n", r[W_CLIENT_POLL].p50 / r[W_FLOOR_POLL].p50,
	       r[W_CLIENT_POLL].mean / r[W_FLOOR_POLL].mean);
	printf("ratio client-poll/floor-inotify p50=%.3f mean=%.3f\n", r[W_CLIENT_POLL].p50 / r[W_FLOOR_INOTIFY].p50,
	       r[W_CLIENT_POLL].mean / r[W_FLOOR_INOTIFY].mean);
	printf("ratio client-auto/client-inotify p50=%.3f mean=%.3f\n", r[W_CLIENT_AUTO].p50 / r[W_CLIENT_INOTIFY].p50,
	       r[W_CLIENT_AUTO].mean / r[W_CLIENT_INOTIFY].mean);
	printf("ratio old-backoff/floor-inotify p50=%.3f mean=%.3f\n", r[W_OLD_BACKOFF].p50 / r[W_FLOOR_INOTIFY].p50,
	       r[W_OLD_BACKOFF].mean / r[W_FLOOR_INOTIFY].mean);
	return 0;
}
