/* client_wait.c - how vgpu_client_call() waits for its answer (docs/CLIENT.md, "Waiting"):
 * when to look at response.txt again, inotify where the directory is local, and what
 * vmN/status.txt (docs/PROTOCOL.md section 10) says: the mediator's heartbeat and where
 * our request is, for the timeout's message and the progress lines.
 *
 * The policy, by time E since the reference (the publish, or the start of our job's run
 * as status.txt tells it):
 *   E < 1 ms        look again at once (back to back; over NFS one round trip each;
 *                   from 200 us on yielding the CPU between looks, so that a mediator
 *                   or worker on the same CPU is not kept from answering);
 *   then            sleep max(250 us, E/32), at most poll_max_ms (100 ms): an answer is
 *                   seen at most E/32 (3 %) + 250 us after it is there;
 *   running, with an expected run time X: no look before X - X/32 (at most poll_max_ms
 *                   at a time); status.txt saying it was answered: look at once.
 * So one waiting VM makes at most 4000 looks a second after its first millisecond, 32/E
 * a second after 8 ms, and 10 a second past 3.2 s; status.txt is read at 100 ms, then
 * every 500 ms (2 a second). Where the directory is local (not NFS, FUSE, CIFS...),
 * an inotify watch wakes the waiter on every rename into it, and the looks above are a
 * fallback at max(10 ms, E/8). Never prints. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "client_int.h"
#include "../lib/safeio.h"

#define SPIN_US 1000              /* back-to-back looks this long after the reference */
#define MIN_SLEEP_US 250
#define YIELD_US 200              /* past this, each back-to-back look yields the CPU first */
#define RATE_SHIFT 5              /* sleep E >> 5 = E/32 */
#define INOTIFY_MIN_US 10000      /* fallback looks with inotify */
#define STATUS_FIRST_US 100000
#define STATUS_EVERY_US 500000

/* File systems whose changes made elsewhere inotify does not see. */
static int fs_is_remote(long type)
{
	switch ((unsigned long)type) {
	case 0x6969:        /* NFS */
	case 0x65735546:    /* FUSE (nfssim) */
	case 0xFF534D42:    /* CIFS */
	case 0xFE534D42:    /* SMB2 */
	case 0x517B:        /* SMB */
	case 0x01021997:    /* 9P */
	case 0x00C36400:    /* Ceph */
	case 0x47504653:    /* GPFS */
	case 0x5346414F:    /* AFS */
	case 0x0BD00BD0:    /* Lustre */
		return 1;
	}
	return 0;
}

void vgpu_client_set_wait(struct vgpu_client *c, int mode)
{
	c->wait_mode = mode;
	if (mode == VGPU_CLIENT_WAIT_POLL && c->inofd >= 0) {
		close(c->inofd);
		c->inofd = -1;
	}
}

void vgpu_client_set_progress(struct vgpu_client *c, vgpu_client_progress_fn fn, void *arg)
{
	c->progress = fn;
	c->progress_arg = arg;
}

/* The inotify watch on the VM directory, made on the first wait where it is local. */
static void inotify_setup(struct vgpu_client *c)
{
	struct statfs sf;

	if (c->inofd >= 0 || c->ino_tried || c->wait_mode == VGPU_CLIENT_WAIT_POLL)
		return;
	c->ino_tried = 1;
	if (c->wait_mode != VGPU_CLIENT_WAIT_INOTIFY && (fstatfs(c->dirfd, &sf) < 0 || fs_is_remote((long)sf.f_type)))
		return;
	c->inofd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (c->inofd < 0)
		return;
	if (inotify_add_watch(c->inofd, c->dir, IN_MOVED_TO | IN_ONLYDIR) < 0) {
		close(c->inofd);
		c->inofd = -1;
	}
}

static void inotify_drain(struct vgpu_client *c)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	while (c->inofd >= 0 && read(c->inofd, buf, sizeof(buf)) > 0)
		;
}

void vgpu_client_wait_init(struct vgpu_client_waiter *w, struct vgpu_client *c)
{
	memset(w, 0, sizeof(*w));
	w->c = c;
	inotify_setup(c);
	inotify_drain(c);    /* events of earlier calls */
}

void vgpu_client_wait_begin(struct vgpu_client_waiter *w, struct vgpu_client_call *call)
{
	w->call = call;
	w->t0_us = w->ref_us = vgpu_now_us();
	w->next_status_us = w->t0_us + STATUS_FIRST_US;
	w->next_progress_us = w->t0_us + 1000000;
	w->beat_at_us = w->t0_us;
}

static int ours(const struct vgpu_client_waiter *w)
{
	return w->have_status && w->st.seq == w->call->req->seq && strcmp(w->st.nonce, w->call->req->nonce) == 0;
}

/* Read status.txt when due; remember when its heartbeat last moved. */
static void read_status(struct vgpu_client_waiter *w, uint64_t now)
{
	struct vgpu_client *c = w->c;
	struct vgpu_status_rec st;
	size_t len;
	int rc;

	if (now < w->next_status_us)
		return;
	w->next_status_us = now + STATUS_EVERY_US;
	w->status_reads++;
	rc = vgpu_safe_read(c->dirfd, VGPU_STATUS_FILE, c->buf, VGPU_RECORD_MAX, &len, NULL);
	if (rc == 0 && (rc = vgpu_status_rec_decode(c->buf, len, &st, NULL, 0)) == VGPU_REC_OK &&
	    st.vm == c->vm) {
		if (!w->have_status || st.beat != w->st.beat) {
			w->beat_at_us = now;
			w->beat_moved += w->have_status;
		}
		w->st = st;
		w->have_status = 1;
		w->status_rc = 0;
		w->st_read_us = now;
		if (ours(w) && st.state == VGPU_PROGRESS_RUNNING) {
			/* the run began (time_ms - since_ms) before the mediator wrote this */
			uint64_t ago_us = (st.time_ms > st.since_ms ? st.time_ms - st.since_ms : 0) * 1000;
			w->ref_us = now > ago_us ? now - ago_us : 0;
			if (w->ref_us < w->t0_us)
				w->ref_us = w->t0_us;
		}
		return;
	}
	w->status_rc = rc ? rc : -EINVAL;
}

int vgpu_client_heartbeat(struct vgpu_client *c, uint64_t *beat, uint64_t *period_ms)
{
	struct vgpu_status_rec st;
	size_t len;
	int rc = vgpu_safe_read(c->dirfd, VGPU_STATUS_FILE, c->buf, VGPU_RECORD_MAX, &len, NULL);

	if (rc < 0)
		return rc;
	if ((rc = vgpu_status_rec_decode(c->buf, len, &st, NULL, 0)) != VGPU_REC_OK)
		return rc;
	if (st.vm != c->vm)
		return VGPU_REC_MALFORMED;
	*beat = st.beat;
	*period_ms = st.period_ms;
	return 0;
}

/* Has the heartbeat stopped? 1 when it has not moved for twice its period plus a second
 * of our own clock (never before we watched that long), also when status.txt went away. */
int vgpu_client_wait_stale(const struct vgpu_client_waiter *w, uint64_t now)
{
	uint64_t period_ms = w->have_status ? w->st.period_ms : VGPU_CLIENT_BEAT_MS;

	return now - w->beat_at_us >= vgpu_client_silent_ms(period_ms) * 1000;
}

uint64_t vgpu_client_wait_next_us(struct vgpu_client_waiter *w, uint64_t now)
{
	const struct vgpu_client *c = w->c;
	uint64_t e, s, max_us = (uint64_t)c->poll_max_ms * 1000, min_us = c->poll_min_us;

	read_status(w, now);
	if (w->have_status && w->st.state == VGPU_PROGRESS_IDLE && w->st.answered >= w->call->req->seq &&
	    w->st_read_us == now)
		return 0;     /* answered: response.txt holds it (or will at once) */
	e = now > w->ref_us ? now - w->ref_us : 0;
	if (c->inofd < 0 && e < SPIN_US) {
		w->yield = e >= YIELD_US;
		return 0;
	}
	s = e >> RATE_SHIFT;
	if (c->inofd >= 0 && e / 8 > s)
		s = e / 8;
	if (s < min_us)
		s = min_us;
	if (c->inofd >= 0 && s < INOTIFY_MIN_US)
		s = INOTIFY_MIN_US;
	if (ours(w) && w->st.state == VGPU_PROGRESS_RUNNING && w->st.expected_ms) {
		uint64_t x = w->st.expected_ms * 1000, end = w->ref_us + x - x / 32;
		if (end > now && end - now > s)
			s = end - now;
	}
	return s < max_us ? s : max_us;
}

int vgpu_client_wait_sleep(struct vgpu_client_waiter *w, uint64_t us)
{
	struct vgpu_client *c = w->c;
	struct timespec ts = { .tv_sec = (time_t)(us / 1000000), .tv_nsec = (long)(us % 1000000) * 1000 };

	if (c->inofd >= 0) {
		struct pollfd p = { .fd = c->inofd, .events = POLLIN };
		int n = ppoll(&p, 1, &ts, NULL);

		if (n > 0) {
			inotify_drain(c);
			w->wakeups++;
		}
		return n > 0;
	}
	if (us)
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	else if (w->yield)
		sched_yield();    /* back to back, but a mediator on this CPU runs first */
	return 0;
}

/* "1 job" / "3 jobs" */
static const char *jobs(uint64_t n)
{
	return n == 1 ? "job" : "jobs";
}

int vgpu_client_wait_explain(const struct vgpu_client_waiter *w, uint64_t now, char *buf, size_t n)
{
	const struct vgpu_status_rec *s = &w->st;
	double beat_age = (double)(now - w->beat_at_us) / 1e6;

	if (!w->have_status) {
		if (w->status_rc == -ENOENT || w->status_rc == 0)
			snprintf(buf, n, "vgpu-mediator has not written %s/%s: is vgpu-mediator running on the host and "
				 "serving this directory (root the exported directory, vm%" PRIu32 " in it)?", w->c->dir,
				 VGPU_STATUS_FILE, w->c->vm);
		else
			snprintf(buf, n, "%s/%s is unreadable (%s): is vgpu-mediator running on the host and serving "
				 "this directory?", w->c->dir, VGPU_STATUS_FILE,
				 w->status_rc <= VGPU_REC_INCOMPLETE && w->status_rc >= VGPU_REC_UNKNOWN_OP
					 ? "not a status record" : vgpu_safeio_strerror(w->status_rc));
		return VGPU_WAIT_NO_MEDIATOR;
	}
	if (vgpu_client_wait_stale(w, now)) {
		snprintf(buf, n, "vgpu-mediator is not running (no heartbeat in %s for %.0f s; it beats every %.0f s)",
			 VGPU_STATUS_FILE, beat_age, s->period_ms / 1000.0);
		return VGPU_WAIT_NO_MEDIATOR;
	}
	/* Ours, or an earlier request of this VM still in the mediator's hands (one that
	 * timed out: the mediator takes this VM's next request after it). */
	if (ours(w) || (s->state != VGPU_PROGRESS_IDLE && s->seq < w->call->req->seq)) {
		double in_state = (double)(s->time_ms > s->since_ms ? s->time_ms - s->since_ms : 0) / 1000.0 +
				  (double)(now - w->beat_at_us) / 1e6;    /* + since we first saw this write */
		size_t k = 0;
		int code;

		if (!ours(w))
			k = (size_t)snprintf(buf, n, "waiting for this VM's earlier seq %" PRId64 ", which is ", s->seq);
		if (k >= n)
			k = n ? n - 1 : 0;
		if (s->state == VGPU_PROGRESS_QUEUED) {
			snprintf(buf + k, n - k, "queued behind %" PRIu64 " %s (%" PRIu64 " ahead in the queue, %" PRIu64
				 " running) for %.1f s at priority %s (this VM's cap: %s)", s->position + s->running,
				 jobs(s->position + s->running), s->position, s->running, in_state,
				 vgpu_prio_name(s->priority), vgpu_prio_name(s->cap));
			code = VGPU_WAIT_QUEUED;
		} else if (strcmp(s->executor, "remote") == 0) {
			snprintf(buf + k, n - k, "waiting on Plan B: running on the GPU worker VM for %.1f s (the mediator "
				 "answers UNAVAILABLE once the worker's heartbeat stops)", in_state);
			code = VGPU_WAIT_PLANB;
		} else {
			snprintf(buf + k, n - k, "running for %.1f s on %s", in_state, s->executor);
			if (s->expected_ms && strlen(buf) < n)
				snprintf(buf + strlen(buf), n - strlen(buf), " (the last like it took %.1f s)",
					 s->expected_ms / 1000.0);
			code = VGPU_WAIT_RUNNING;
		}
		return code;
	}
	if (s->answered >= w->call->req->seq) {
		snprintf(buf, n, "vgpu-mediator answered seq %" PRId64 " but %s/response.txt does not show it yet "
			 "(NFS caches? docs/XEN.md mount options)", w->call->req->seq, w->c->dir);
		return VGPU_WAIT_ANSWERED;
	}
	snprintf(buf, n, "vgpu-mediator is running (heartbeat %.0f s ago) but has not taken seq %" PRId64 " yet "
		 "(its log says why for vm%" PRIu32 ")", beat_age, w->call->req->seq, w->c->vm);
	return VGPU_WAIT_NOT_TAKEN;
}

void vgpu_client_wait_progress(struct vgpu_client_waiter *w, uint64_t now)
{
	char line[512];

	if (!w->c->progress || now < w->next_progress_us)
		return;
	w->next_progress_us = now + 1000000;
	w->next_status_us = now;    /* fresh for the line */
	read_status(w, now);
	vgpu_client_wait_explain(w, now, line, sizeof(line));
	w->c->progress(w->call->req->seq, (double)(now - w->t0_us) / 1e6, line, w->c->progress_arg);
}
