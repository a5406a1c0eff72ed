/* pingtime.c - see pingtime.h: a VM's pings timed from publish to answer. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/record.h"
#include "lib/safeio.h"
#include "lib/status.h"
#include "../e2e/e2e_util.h"
#include "harness.h"
#include "pingtime.h"

static double ms_since(const struct timespec *t0)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)(ts.tv_sec - t0->tv_sec) * 1e3 + (double)(ts.tv_nsec - t0->tv_nsec) / 1e6;
}

double pt_ping(const struct e2e_env *env, uint32_t vm, int64_t seq, int prio, int bound_ms, uint64_t *rng,
	       int *status)
{
	char dir[400], buf[VGPU_RECORD_MAX];
	struct vgpu_request q;
	struct vgpu_response a;
	struct timespec t0;
	int dfd, len;

	memset(&q, 0, sizeof(q));
	q.vm = vm;
	q.seq = seq;
	snprintf(q.nonce, sizeof(q.nonce), "%016" PRIx64, h_rand(rng));
	q.op = VGPU_OP_PING;
	q.priority = prio;
	q.output_file = -1;
	len = vgpu_request_encode(&q, buf, sizeof(buf));
	e2e_server_vmdir(env, vm, dir, sizeof(dir));
	if (len < 0 || (dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (vgpu_publish(dfd, "command.txt", buf, (size_t)len, 0644) < 0) {
		close(dfd);
		return -1;
	}
	for (;;) {
		size_t n = 0;
		double ms = ms_since(&t0);

		if (vgpu_safe_read(dfd, "response.txt", buf, sizeof(buf), &n, NULL) == 0 &&
		    vgpu_response_decode(buf, n, &a, NULL, 0) == VGPU_REC_OK && a.seq == seq &&
		    strcmp(a.nonce, q.nonce) == 0) {
			close(dfd);
			*status = a.status;
			return ms_since(&t0);
		}
		if (ms > bound_ms)
			break;
		usleep(200);
	}
	close(dfd);
	return -1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void series_add(struct pt_series *s, double ms, int status)
{
	__atomic_fetch_add(&s->n, 1, __ATOMIC_RELAXED);
	if (ms >= 0 && status == VGPU_OK) {
		int k = __atomic_fetch_add(&s->answered, 1, __ATOMIC_RELAXED);

		if (k < s->cap)
			s->v[k] = ms;
	}
}

void pt_series_ping(struct pt_series *s, const struct e2e_env *env, uint32_t vm, int64_t *seq, int n, int bound_ms,
		    int giveup, uint64_t *rng, int (*done)(void *), void *arg)
{
	int miss = 0;

	for (int i = 0; (n ? i < n : !(done && done(arg))) && __atomic_load_n(&s->n, __ATOMIC_RELAXED) < s->cap &&
			miss < giveup; i++) {
		int st = -1;
		double ms = pt_ping(env, vm, (*seq)++, VGPU_PRIO_MEDIUM, bound_ms, rng, &st);

		series_add(s, ms, st);
		miss = ms >= 0 && st == VGPU_OK ? 0 : miss + 1;
	}
}

struct pt_lat pt_lat_of(struct pt_series *s)
{
	struct pt_lat l = { .n = s->n, .answered = s->answered < s->cap ? s->answered : s->cap };

	if (l.answered) {
		qsort(s->v, (size_t)l.answered, sizeof(double), cmp_double);
		l.p50 = s->v[(l.answered - 1) / 2];
		l.max = s->v[l.answered - 1];
	}
	{
		int k = (int)((l.n * 99 + 99) / 100) - 1;      /* the ceil(0.99 n)-th, 0-based */
		l.p99 = k >= 0 && k < l.answered ? s->v[k] : 1e9;
	}
	return l;
}

struct pt_lat pt_pings(const struct e2e_env *env, uint32_t vm, int64_t *seq, int n, int bound_ms, int giveup,
		       uint64_t *rng, int (*done)(void *), void *arg)
{
	struct pt_series s = { .cap = n ? n : 100000 };
	struct pt_lat l = { .p99 = 1e9 };      /* no room: nothing measured */

	if (!(s.v = calloc((size_t)s.cap, sizeof(double))))
		return l;
	pt_series_ping(&s, env, vm, seq, n, bound_ms, giveup, rng, done, arg);
	l = pt_lat_of(&s);
	free(s.v);
	return l;
}

void pt_forget(const struct e2e_env *env, uint32_t vms)
{
	static const char *const names[] = { "command.txt", "response.txt" };

	for (uint32_t v = 1; v <= vms; v++) {
		char d[400], p[500];

		e2e_server_vmdir(env, v, d, sizeof(d));
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			snprintf(p, sizeof(p), "%s/%s", d, names[i]);
			unlink(p);
		}
	}
}

static const char *ms_or_none(double ms, char *buf, size_t cap)
{
	if (ms >= 1e9)
		snprintf(buf, cap, "unanswered");
	else
		snprintf(buf, cap, "%.1f ms", ms);
	return buf;
}

void pt_print(const char *what, const struct pt_lat *l)
{
	char p99[32], max[32];

	printf("  %s: %d pings, %d answered; p50 %.1f ms, p99 %s, max %s (of those answered)\n", what, l->n,
	       l->answered, l->p50, ms_or_none(l->p99, p99, sizeof(p99)), ms_or_none(l->max, max, sizeof(max)));
}
