/* exec_pool.c - the executor over worker processes: one vgpu-worker per device, each
 * hosting a backend (mock, cuda) named by vgpu_pool_open(). The watchdog lives here: a
 * job past its deadline gets its worker SIGKILLed and restarted; a worker that dies is
 * reaped and restarted (pool_worker.c), with backoff when restarts fail. The mediator
 * process itself never touches a device. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fiu-local.h>

#include "../lib/log.h"
#include "../lib/status.h"
#include "pool_int.h"
#include "proc.h"
#include "wire.h"
#include "../lib/clock.h"

#define POOL_COUNT_TIMEOUT_MS  60000u   /* the device probe (a CUDA init can be slow) */
#define POOL_HELLO_TIMEOUT_MS  30000u   /* every worker's hello at open */
#define POOL_CLOSE_EOF_MS        500u   /* EOF on its socket: an idle worker exits within this */
#define POOL_CLOSE_GRACE_MS     2000u   /* SIGTERM, then this, then SIGKILL */
#define POOL_MAX_DEVICES          64

static struct pool *to_pool(struct vgpu_executor *ex)
{
	return (struct pool *)ex;
}

static void fail_now(struct slot *s, uint64_t now)
{
	s->have_pending = 1;
	vgpu_job_result_set(&s->pending, VGPU_EXEC_FAILED, "worker for %s is down (%s); next restart in %llu ms",
			    s->name, s->down_reason[0] ? s->down_reason : "not running",
			    (unsigned long long)(s->next_spawn_ms > now ? s->next_spawn_ms - now : 0));
}

static int pool_submit(struct vgpu_executor *ex, int slot, const struct vgpu_exec_job *job)
{
	struct pool *p = to_pool(ex);
	struct slot *s;
	uint64_t now = vgpu_now_ms();
	int rc;

	if (slot < 0 || slot >= ex->nslots || !job)
		return -EINVAL;
	s = &p->slots[slot];
	if (s->busy)
		return -EBUSY;
	if ((job->in_bytes > 0 && fcntl(job->in_fd, F_GETFD) < 0) ||
	    (job->out_bytes > 0 && fcntl(job->out_fd, F_GETFD) < 0))
		return -EBADF;   /* the caller's mistake: never blamed on the worker */
	s->busy = 1;
	s->have_pending = 0;
	s->job_id = ++p->next_id;
	s->submit_ms = now;
	s->deadline_ms = job->deadline_ms;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (s->pid == 0) {
			rc = vgpu_pool_spawn(p, s, now);
			if (rc != 0) {
				if (rc != -EAGAIN) {
					snprintf(s->down_reason, sizeof(s->down_reason), "cannot start: %s", strerror(-rc));
					s->fails++;
					s->next_spawn_ms = now + vgpu_pool_backoff_ms(s->fails);
					vgpu_warn("worker for %s: %s", s->name, s->down_reason);
				}
				fail_now(s, now);
				return 0;
			}
			vgpu_warn("worker for %s started again (pid %d)", s->name, (int)s->pid);
		}
		rc = vgpu_pool_send_job(s, job);
		if (rc == 0)
			return 0;
		if (rc != -EPIPE && rc != -ECONNRESET && rc != -ENOTCONN) {
			/* not the worker's death (e.g. ENOMEM, ETOOMANYREFS): the job was not sent */
			vgpu_warn("worker for %s: send(job): %s", s->name, strerror(-rc));
			s->busy = 0;
			return rc;
		}
		/* it died while idle: not this job's fault; restart and try once more */
		vgpu_pool_worker_died(p, s, now, -1, NULL);
	}
	fail_now(s, now);
	return 0;
}

static int pool_fd(struct vgpu_executor *ex, int slot)
{
	struct pool *p = to_pool(ex);
	struct slot *s;

	if (slot < 0 || slot >= ex->nslots)
		return -1;
	s = &p->slots[slot];
	if (s->have_pending || s->sock < 0)
		return p->ready_fd;
	return s->sock;
}

static int pool_reap(struct vgpu_executor *ex, int slot, uint64_t now_ms, struct vgpu_job_result *res)
{
	struct pool *p = to_pool(ex);
	struct slot *s;
	int r, status = -1, exiting = 0;

	vgpu_pool_reap_zombies();
	if (slot < 0 || slot >= ex->nslots)
		return 0;
	s = &p->slots[slot];
	if (!s->busy)
		return 0;
	if (s->have_pending) {
		*res = s->pending;
		s->have_pending = 0;
		s->busy = 0;
		return 1;
	}
	if (s->sock < 0) {   /* cannot happen: a busy slot without pending has a worker */
		fail_now(s, now_ms);
		return pool_reap(ex, slot, now_ms, res);
	}
	r = vgpu_pool_drain(s, res, &exiting);
	if (r == 0) {
		pid_t w = waitpid(s->pid, &status, WNOHANG);

		if (w == s->pid) {
			/* It exited; whatever it sent before is queued already. */
			r = vgpu_pool_drain(s, res, NULL);
			if (r == 1) {
				s->busy = 0;
				vgpu_pool_worker_died(p, s, now_ms, status, NULL);
				return 1;
			}
			r = -1;
		} else {
			status = -1;
		}
	}
	if (r == 1 && exiting) {
		/* The worker answered, then exits (device unusable): take it down and start a
		 * fresh one now, so that the next job is not sent to the dying process. */
		char tail[160];

		vgpu_pool_slot_down(s, 1, -1);
		vgpu_pool_restart(p, s, now_ms, 0, tail, sizeof(tail));
		snprintf(s->down_reason, sizeof(s->down_reason), "exited: device unusable; %s", tail);
		vgpu_warn("worker for %s exits after its job (device unusable); %s", s->name, tail);
		s->busy = 0;
		return 1;
	}
	if (r == 1) {
		s->busy = 0;
		return 1;
	}
	if (r < 0) {
		vgpu_pool_worker_died(p, s, now_ms, status, res);
		s->busy = 0;
		return 1;
	}
	if (s->deadline_ms && now_ms >= s->deadline_ms) {
		char tail[160];
		uint64_t limit = s->deadline_ms > s->submit_ms ? s->deadline_ms - s->submit_ms : 0;

		vgpu_warn("worker for %s: job exceeded its %llu ms limit; killing worker pid %d",
			  s->name, (unsigned long long)limit, (int)s->pid);
		vgpu_pool_slot_down(s, 1, -1);
		vgpu_pool_restart(p, s, now_ms, 0, tail, sizeof(tail));   /* a hung job is the job's fault */
		if (s->pid == 0)
			snprintf(s->down_reason, sizeof(s->down_reason), "killed after a timeout; %s", tail);
		if (s->pid)
			vgpu_job_result_set(res, VGPU_TIMEOUT,
					    "job exceeded its %llu ms limit; worker killed and restarted",
					    (unsigned long long)limit);
		else
			vgpu_job_result_set(res, VGPU_TIMEOUT, "job exceeded its %llu ms limit; worker killed; %s",
					    (unsigned long long)limit, tail);
		res->exec_us = (now_ms - s->submit_ms) * 1000u;
		s->busy = 0;
		return 1;
	}
	return 0;
}

static const char *pool_slot_name(struct vgpu_executor *ex, int slot)
{
	struct pool *p = to_pool(ex);

	if (slot < 0 || slot >= ex->nslots)
		return "?";
	return p->slots[slot].name;
}

/* Wait up to MS for the slots' workers to exit; returns how many are still running. */
static int wait_workers(struct pool *p, uint64_t ms)
{
	uint64_t deadline = vgpu_now_ms() + ms;

	for (;;) {
		int left = 0;

		for (int i = 0; i < p->base.nslots; i++) {
			struct slot *s = &p->slots[i];
			int st;

			if (s->pid > 0 && waitpid(s->pid, &st, WNOHANG) == s->pid)
				s->pid = 0;
			left += s->pid > 0;
		}
		if (left == 0 || vgpu_now_ms() >= deadline)
			return left;
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

/* EOF first: an idle worker reads it and exits 0 through its own orderly end (its backend's
 * fini, exit handlers); a busy or stuck one gets SIGTERM, then SIGKILL. */
static void pool_close(struct vgpu_executor *ex)
{
	struct pool *p = to_pool(ex);
	int left = 0;

	if (!p)
		return;
	for (int i = 0; i < ex->nslots; i++) {
		struct slot *s = &p->slots[i];

		if (s->sock >= 0)
			close(s->sock);
		s->sock = -1;
		left += s->pid > 0;
	}
	if (left > 0 && wait_workers(p, POOL_CLOSE_EOF_MS) > 0) {
		for (int i = 0; i < ex->nslots; i++)
			if (p->slots[i].pid > 0)
				kill(p->slots[i].pid, SIGTERM);
		wait_workers(p, POOL_CLOSE_GRACE_MS);
	}
	for (int i = 0; i < ex->nslots; i++) {
		struct slot *s = &p->slots[i];

		if (s->pid > 0) {
			vgpu_warn("worker for %s (pid %d) ignored SIGTERM; killing it", s->name, (int)s->pid);
			vgpu_pool_slot_down(s, 1, -1);
		}
	}
	vgpu_pool_reap_zombies();
	if (p->ready_fd >= 0)
		close(p->ready_fd);
	if (p->devnull >= 0)
		close(p->devnull);
	free(p->worker_path);
	free(p->slots);
	free(p);
}

static int pool_slot_info(struct vgpu_executor *ex, int slot, struct vgpu_slot_info *info)
{
	const struct slot *s = &((struct pool *)ex)->slots[slot];

	info->device = s->dev;
	info->state = s->state == W_READY ? "ready" : s->state == W_STARTING ? "starting" : "down";
	info->restarts = s->restarts;
	return 0;
}

static const struct vgpu_executor_ops pool_ops = {
	.iversion = 2,
	.slot_info = pool_slot_info,
	.name = "pool",
	.submit = pool_submit,
	.fd = pool_fd,
	.reap = pool_reap,
	.slot_name = pool_slot_name,
	.close = pool_close,
};

/* Ask a worker how many devices BACKEND has (in a child: no device in this process). */
static int probe_count(const char *worker, const char *backend, char *err, size_t errlen)
{
	char *argv[] = { (char *)worker, "--backend", (char *)backend, "--count", NULL };
	char out[256], how[64];
	int status, rc;
	char *end;
	long n;

	rc = vgpu_run_capture(argv, POOL_COUNT_TIMEOUT_MS, out, sizeof(out), &status);
	if (rc == -ETIMEDOUT) {
		snprintf(err, errlen, "%s --backend %s --count: no answer within %u ms", worker, backend,
			 POOL_COUNT_TIMEOUT_MS);
		return rc;
	}
	if (rc < 0) {
		snprintf(err, errlen, "cannot run %s: %s", worker, strerror(-rc));
		return rc;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		vgpu_describe_status(status, how, sizeof(how));
		snprintf(err, errlen, "%s", out[0] ? out : how);
		return -ENODEV;
	}
	errno = 0;
	n = strtol(out, &end, 10);
	if (errno || end == out || *end || n < 0) {
		snprintf(err, errlen, "%s --backend %s --count: unexpected answer '%s'", worker, backend, out);
		return -EPROTO;
	}
	if (n == 0) {
		snprintf(err, errlen, "backend %s: no devices", backend);
		return -ENODEV;
	}
	return n > POOL_MAX_DEVICES ? POOL_MAX_DEVICES : (int)n;
}

/* At open: wait for every worker's hello. 0, or -1 with ERR naming the first failure. */
static int wait_hellos(struct pool *p, char *err, size_t errlen)
{
	uint64_t deadline = vgpu_now_ms() + POOL_HELLO_TIMEOUT_MS;

	for (;;) {
		struct pollfd pfd[POOL_MAX_DEVICES];
		int n = 0, map[POOL_MAX_DEVICES];
		uint64_t now = vgpu_now_ms();

		for (int i = 0; i < p->base.nslots; i++) {
			if (p->slots[i].state == W_STARTING) {
				pfd[n].fd = p->slots[i].sock;
				pfd[n].events = POLLIN;
				map[n++] = i;
			}
		}
		if (n == 0)
			return 0;
		if (now >= deadline) {
			snprintf(err, errlen, "worker for %s did not start within %u ms", p->slots[map[0]].name,
				 POOL_HELLO_TIMEOUT_MS);
			return -1;
		}
		int r = poll(pfd, (nfds_t)n, (int)(deadline - now));
		if (r < 0 && errno != EINTR) {
			snprintf(err, errlen, "poll: %s", strerror(errno));
			return -1;
		}
		for (int j = 0; j < n && r > 0; j++) {
			struct slot *s = &p->slots[map[j]];
			struct vgpu_job_result dummy;
			char how[64];

			if (!pfd[j].revents)
				continue;
			if (vgpu_pool_drain(s, &dummy, NULL) >= 0)
				continue;
			vgpu_describe_status(vgpu_pool_slot_down(s, 1, -1), how, sizeof(how));
			if (s->hello_err[0])
				snprintf(err, errlen, "worker for %s failed to start: %s", s->name, s->hello_err);
			else
				snprintf(err, errlen, "worker for %s failed to start (%s)", s->name, how);
			return -1;
		}
	}
}

int vgpu_pool_open(const char *backend_name, const struct vgpu_exec_opts *opts,
		   struct vgpu_executor **exp, char *err, size_t errlen)
{
	const struct vgpu_backend_info *backend = vgpu_backend_info_find(backend_name);
	struct pool *p;
	int n, rc;

	*exp = NULL;
	if (errlen)
		err[0] = 0;
	if (!backend) {
		snprintf(err, errlen, "unknown backend '%s'", backend_name ? backend_name : "(none)");
		return -EINVAL;
	}
	if (!opts || !opts->worker_path || !opts->worker_path[0]) {
		snprintf(err, errlen, "no worker binary configured (vgpu-worker)");
		return -EINVAL;
	}
	n = probe_count(opts->worker_path, backend->name, err, errlen);
	if (n < 0)
		return n;
	p = calloc(1, sizeof(*p));
	if (!p)
		goto fail_nomem;
	p->base.ops = &pool_ops;
	p->base.nslots = 0;      /* grows as slots are set up, so close() sees only those */
	p->devnull = p->ready_fd = -1;
	snprintf(p->backend, sizeof(p->backend), "%s", backend->name);
	p->worker_path = strdup(opts->worker_path);
	p->slots = calloc((size_t)n, sizeof(*p->slots));
	if (!p->worker_path || !p->slots)
		goto fail_close;
	p->devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	p->ready_fd = eventfd(1, EFD_CLOEXEC);
	if (p->devnull < 0 || p->ready_fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", p->devnull < 0 ? "open(/dev/null)" : "eventfd", strerror(-rc));
		pool_close(&p->base);
		return rc;
	}
	for (int i = 0; i < n; i++) {
		struct slot *s = &p->slots[i];

		s->dev = i;
		s->sock = -1;
		if (backend->bare_single && n == 1)
			snprintf(s->name, sizeof(s->name), "%s", backend->name);
		else
			snprintf(s->name, sizeof(s->name), "%s:%d", backend->name, i);
		p->base.nslots = i + 1;
		rc = vgpu_pool_spawn(p, s, 0);
		if (rc != 0) {
			snprintf(err, errlen, "cannot start the worker for %s: %s", s->name, strerror(-rc));
			pool_close(&p->base);
			return rc;
		}
	}
	if (wait_hellos(p, err, errlen) != 0) {
		pool_close(&p->base);
		return -ENODEV;
	}
	*exp = &p->base;
	return 0;
fail_close:
	pool_close(&p->base);
fail_nomem:
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}
