/* exec_pool.c - the executor over worker processes: one vgpu-worker per device, each
 * hosting a backend (mock, cuda) named by vgpu_pool_open(), and for `kernel` jobs one per
 * VM and device (its kernel worker, pool_kernel.c) where the backend has a kernel backend.
 * The watchdog lives here: a job past its deadline gets its process SIGKILLed (a device's
 * worker is restarted at once, a kernel worker on its VM's next kernel job); a worker that
 * dies is reaped and restarted (pool_worker.c), with backoff when restarts fail. The
 * mediator process itself never touches a device. */
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
			    s->w.name, s->w.down_reason[0] ? s->w.down_reason : "not running",
			    (unsigned long long)(s->w.next_spawn_ms > now ? s->w.next_spawn_ms - now : 0));
}

static int is_kernel_worker(const struct slot *s, const struct wproc *w)
{
	return w != &s->w;
}

/* A kernel job: to its VM's own kernel worker (pool_kernel.c), started when needed. */
static int submit_kernel(struct pool *p, struct slot *s, const struct vgpu_exec_job *job, uint64_t now)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		struct wproc *w = vgpu_pool_kernel_worker(p, s, job, now);
		int rc;

		if (!w)
			return 0;   /* the pending result says why */
		s->cur = w;
		rc = vgpu_pool_send_job(w, s->job_id, job);
		if (rc == 0)
			return 0;
		if (rc != -EPIPE && rc != -ECONNRESET && rc != -ENOTCONN) {
			vgpu_warn("kernel worker %s: send(job): %s", w->name, strerror(-rc));
			s->cur = &s->w;
			s->busy = 0;
			return rc;
		}
		/* it died while idle: not this job's doing; a new one, once */
		vgpu_warn("kernel worker %s died while idle; starting a new one", w->name);
		vgpu_pool_kernel_drop(s, w, 1, -1);
	}
	s->have_pending = 1;
	vgpu_job_result_set(&s->pending, VGPU_EXEC_FAILED, "the kernel worker for this VM on %s died twice before "
			    "its job was sent", s->w.name);
	return 0;
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
	vgpu_pool_kernel_reap_idle(p, now);
	s->busy = 1;
	s->have_pending = 0;
	s->job_id = ++p->next_id;
	s->submit_ms = now;
	s->deadline_ms = job->deadline_ms;
	s->cur = &s->w;
	if (vgpu_pool_kernel_job(p, job))
		return submit_kernel(p, s, job, now);
	for (int attempt = 0; attempt < 2; attempt++) {
		if (s->w.pid == 0) {
			rc = vgpu_pool_spawn(p, &s->w, now);
			if (rc != 0) {
				if (rc != -EAGAIN) {
					snprintf(s->w.down_reason, sizeof(s->w.down_reason), "cannot start: %s", strerror(-rc));
					s->w.fails++;
					s->w.next_spawn_ms = now + vgpu_pool_backoff_ms(s->w.fails);
					vgpu_warn("worker for %s: %s", s->w.name, s->w.down_reason);
				}
				fail_now(s, now);
				return 0;
			}
			vgpu_warn("worker for %s started again (pid %d)", s->w.name, (int)s->w.pid);
		}
		rc = vgpu_pool_send_job(&s->w, s->job_id, job);
		if (rc == 0)
			return 0;
		if (rc != -EPIPE && rc != -ECONNRESET && rc != -ENOTCONN) {
			/* not the worker's death (e.g. ENOMEM, ETOOMANYREFS): the job was not sent */
			vgpu_warn("worker for %s: send(job): %s", s->w.name, strerror(-rc));
			s->busy = 0;
			return rc;
		}
		/* it died while idle: not this job's fault; restart and try once more */
		vgpu_pool_worker_died(p, &s->w, now, -1, NULL);
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
	if (s->have_pending || !s->cur || s->cur->sock < 0)
		return p->ready_fd;
	return s->cur->sock;
}

/* W, the process of S's job, is gone (EOF, error, exit; STATUS its wait status or -1):
 * the device's worker is restarted (pool_worker.c); a kernel worker's entry is freed and
 * the VM's next kernel job starts a new one. RES (may be NULL) says what happened. */
static void proc_gone(struct pool *p, struct slot *s, struct wproc *w, uint64_t now, int status,
		      struct vgpu_job_result *res)
{
	char how[64], name[sizeof(w->name)], hello[sizeof(w->hello_err)];
	int was_starting = w->state == W_STARTING;

	if (!is_kernel_worker(s, w)) {
		vgpu_pool_worker_died(p, w, now, status, res);
		return;
	}
	memcpy(name, w->name, sizeof(name));
	memcpy(hello, w->hello_err, sizeof(hello));
	vgpu_describe_status(vgpu_pool_kernel_drop(s, w, 1, status), how, sizeof(how));
	if (was_starting) {
		/* not the VM's doing: kernel workers do not start here; back off */
		s->kfails++;
		s->knext_spawn_ms = now + vgpu_pool_backoff_ms(s->kfails);
		vgpu_warn("kernel worker %s could not start (%s)%s%s", name, how, hello[0] ? ": " : "", hello);
		if (res)
			vgpu_job_result_set(res, VGPU_EXEC_FAILED, "kernel worker %s could not start: %s", name,
					    hello[0] ? hello : how);
		return;
	}
	vgpu_warn("kernel worker %s died (%s); the VM's next kernel job starts a new one", name, how);
	if (res)
		vgpu_job_result_set(res, VGPU_EXEC_FAILED, "kernel worker %s died (%s); the VM's next kernel job "
				    "starts a new one", name, how);
}

/* S's job took its process past the deadline: killed. */
static void watchdog(struct pool *p, struct slot *s, struct wproc *w, uint64_t now_ms, struct vgpu_job_result *res)
{
	char tail[160];
	uint64_t limit = s->deadline_ms > s->submit_ms ? s->deadline_ms - s->submit_ms : 0;

	vgpu_warn("worker for %s: job exceeded its %llu ms limit; killing worker pid %d", w->name,
		  (unsigned long long)limit, (int)w->pid);
	if (is_kernel_worker(s, w)) {
		/* only the VM's own process: the device's worker and the other VMs' go on */
		vgpu_pool_kernel_drop(s, w, 1, -1);
		vgpu_job_result_set(res, VGPU_TIMEOUT, "job exceeded its %llu ms limit; the VM's kernel worker was "
				    "killed", (unsigned long long)limit);
	} else {
		vgpu_pool_slot_down(w, 1, -1);
		vgpu_pool_restart(p, w, now_ms, 0, tail, sizeof(tail));   /* a hung job is the job's fault */
		if (w->pid == 0)
			snprintf(w->down_reason, sizeof(w->down_reason), "killed after a timeout; %s", tail);
		if (w->pid)
			vgpu_job_result_set(res, VGPU_TIMEOUT,
					    "job exceeded its %llu ms limit; worker killed and restarted",
					    (unsigned long long)limit);
		else
			vgpu_job_result_set(res, VGPU_TIMEOUT, "job exceeded its %llu ms limit; worker killed; %s",
					    (unsigned long long)limit, tail);
	}
	res->exec_us = (now_ms - s->submit_ms) * 1000u;
}

static int pool_reap(struct vgpu_executor *ex, int slot, uint64_t now_ms, struct vgpu_job_result *res)
{
	struct pool *p = to_pool(ex);
	struct slot *s;
	struct wproc *w;
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
	w = s->cur;
	if (w->sock < 0) {   /* cannot happen: a busy slot without pending has a worker */
		fail_now(s, now_ms);
		return pool_reap(ex, slot, now_ms, res);
	}
	r = vgpu_pool_drain(w, s->job_id, res, &exiting);
	if (r == 0) {
		pid_t wp = waitpid(w->pid, &status, WNOHANG);

		if (wp == w->pid) {
			/* It exited; whatever it sent before is queued already. */
			r = vgpu_pool_drain(w, s->job_id, res, NULL);
			if (r == 1) {
				s->busy = 0;
				proc_gone(p, s, w, now_ms, status, NULL);
				return 1;
			}
			r = -1;
		} else {
			status = -1;
		}
	}
	if (r == 1 && exiting && is_kernel_worker(s, w)) {
		/* The VM's kernel faulted: its process goes (it is exiting), nothing else. */
		vgpu_warn("kernel worker %s exits after its job (%s)", w->name, res->error);
		vgpu_pool_kernel_drop(s, w, 1, -1);
		s->kfails = 0;
		s->busy = 0;
		return 1;
	}
	if (r == 1 && exiting) {
		/* The worker answered, then exits (device unusable): take it down and start a
		 * fresh one now, so that the next job is not sent to the dying process. */
		char tail[160];

		vgpu_pool_slot_down(w, 1, -1);
		vgpu_pool_restart(p, w, now_ms, 0, tail, sizeof(tail));
		snprintf(w->down_reason, sizeof(w->down_reason), "exited: device unusable; %s", tail);
		vgpu_warn("worker for %s exits after its job (device unusable); %s", w->name, tail);
		s->busy = 0;
		return 1;
	}
	if (r == 1) {
		if (is_kernel_worker(s, w)) {
			w->used_ms = now_ms;
			s->kfails = 0;
		}
		s->busy = 0;
		return 1;
	}
	if (r < 0) {
		proc_gone(p, s, w, now_ms, status, res);
		s->busy = 0;
		return 1;
	}
	if (s->deadline_ms && now_ms >= s->deadline_ms) {
		watchdog(p, s, w, now_ms, res);
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
	return p->slots[slot].w.name;
}

/* Every process of the pool: the devices' workers and the kernel workers. */
static int nprocs(const struct pool *p, int i)
{
	return 1 + (p->slots[i].kw ? (int)p->kernel_max : 0);
}

static struct wproc *proc_at(struct pool *p, int i, int k)
{
	return k == 0 ? &p->slots[i].w : &p->slots[i].kw[k - 1];
}

/* Wait up to MS for the pool's workers to exit; returns how many are still running. */
static int wait_workers(struct pool *p, uint64_t ms)
{
	uint64_t deadline = vgpu_now_ms() + ms;

	for (;;) {
		int left = 0;

		for (int i = 0; i < p->base.nslots; i++)
			for (int k = 0; k < nprocs(p, i); k++) {
				struct wproc *w = proc_at(p, i, k);
				int st;

				if (w->pid > 0 && waitpid(w->pid, &st, WNOHANG) == w->pid)
					w->pid = 0;
				left += w->pid > 0;
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
	for (int i = 0; i < ex->nslots; i++)
		for (int k = 0; k < nprocs(p, i); k++) {
			struct wproc *w = proc_at(p, i, k);

			if (w->sock >= 0)
				close(w->sock);
			w->sock = -1;
			left += w->pid > 0;
		}
	if (left > 0 && wait_workers(p, POOL_CLOSE_EOF_MS) > 0) {
		for (int i = 0; i < ex->nslots; i++)
			for (int k = 0; k < nprocs(p, i); k++)
				if (proc_at(p, i, k)->pid > 0)
					kill(proc_at(p, i, k)->pid, SIGTERM);
		wait_workers(p, POOL_CLOSE_GRACE_MS);
	}
	for (int i = 0; i < ex->nslots; i++)
		for (int k = 0; k < nprocs(p, i); k++) {
			struct wproc *w = proc_at(p, i, k);

			if (w->pid > 0) {
				vgpu_warn("worker for %s (pid %d) ignored SIGTERM; killing it", w->name, (int)w->pid);
				vgpu_pool_slot_down(w, 1, -1);
			}
		}
	vgpu_pool_reap_zombies();
	if (p->ready_fd >= 0)
		close(p->ready_fd);
	if (p->devnull >= 0)
		close(p->devnull);
	for (int i = 0; p->slots && i < ex->nslots; i++)
		free(p->slots[i].kw);
	free(p->worker_path);
	free(p->slots);
	free(p);
}

static int pool_slot_info(struct vgpu_executor *ex, int slot, struct vgpu_slot_info *info)
{
	const struct slot *s = &((struct pool *)ex)->slots[slot];

	info->device = s->w.dev;
	info->state = s->w.state == W_READY ? "ready" : s->w.state == W_STARTING ? "starting" : "down";
	info->restarts = s->w.restarts;
	return 0;
}

/* Between jobs: reap retired workers, retire idle kernel workers. */
static uint64_t pool_tick(struct vgpu_executor *ex, uint64_t now_ms)
{
	vgpu_pool_reap_zombies();
	vgpu_pool_kernel_reap_idle(to_pool(ex), now_ms);
	return vgpu_pool_kernel_next_idle(to_pool(ex));
}

static const struct vgpu_executor_ops pool_ops = {
	.iversion = 3,
	.slot_info = pool_slot_info,
	.tick = pool_tick,
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
			if (p->slots[i].w.state == W_STARTING) {
				pfd[n].fd = p->slots[i].w.sock;
				pfd[n].events = POLLIN;
				map[n++] = i;
			}
		}
		if (n == 0)
			return 0;
		if (now >= deadline) {
			snprintf(err, errlen, "worker for %s did not start within %u ms", p->slots[map[0]].w.name,
				 POOL_HELLO_TIMEOUT_MS);
			return -1;
		}
		int r = poll(pfd, (nfds_t)n, (int)(deadline - now));
		if (r < 0 && errno != EINTR) {
			snprintf(err, errlen, "poll: %s", strerror(errno));
			return -1;
		}
		for (int j = 0; j < n && r > 0; j++) {
			struct wproc *s = &p->slots[map[j]].w;
			struct vgpu_job_result dummy;
			char how[64];

			if (!pfd[j].revents)
				continue;
			if (vgpu_pool_drain(s, 0, &dummy, NULL) >= 0)
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
	const char *kernel;
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
	kernel = opts->kernel_backend ? opts->kernel_backend : backend->kernel;
#ifndef VGPU_NO_TEST_OPS
	/* test builds: a mock pool with kernel workers over a stand-in driver (tests/cli) */
	if (!opts->kernel_backend && getenv("VGPU_TEST_KERNEL_BACKEND"))
		kernel = getenv("VGPU_TEST_KERNEL_BACKEND");
#endif
	if (kernel && kernel[0]) {
		if (!vgpu_backend_info_find(kernel)) {
			snprintf(err, errlen, "unknown kernel backend '%s'", kernel);
			free(p);
			return -EINVAL;
		}
		snprintf(p->kbackend, sizeof(p->kbackend), "%s", kernel);
	}
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

		s->w.dev = i;
		s->w.sock = -1;
		s->w.backend = p->backend;
		s->cur = &s->w;
		if (backend->bare_single && n == 1)
			snprintf(s->w.name, sizeof(s->w.name), "%s", backend->name);
		else
			snprintf(s->w.name, sizeof(s->w.name), "%s:%d", backend->name, i);
		p->base.nslots = i + 1;
		rc = vgpu_pool_spawn(p, &s->w, 0);
		if (rc != 0) {
			snprintf(err, errlen, "cannot start the worker for %s: %s", s->w.name, strerror(-rc));
			pool_close(&p->base);
			return rc;
		}
	}
	if (vgpu_pool_kernel_setup(p) != 0) {
		pool_close(&p->base);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
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
