/* pool.c - the executor over worker processes: one vgpu-worker per device, each
 * hosting a backend (mock, cuda). The watchdog lives here: a job past its deadline gets
 * its worker SIGKILLed and restarted; a worker that dies is reaped and restarted, with
 * backoff when restarts fail. The mediator process itself never touches a device. */
#include <errno.h>
#include <stdarg.h>
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
#include "executor.h"
#include "../lib/clock.h"
#include "wire.h"

#define POOL_COUNT_TIMEOUT_MS  60000u   /* the device probe (a CUDA init can be slow) */
#define POOL_HELLO_TIMEOUT_MS  30000u   /* every worker's hello at open */
#define POOL_CLOSE_GRACE_MS     2000u   /* SIGTERM, then this, then SIGKILL */
#define POOL_BACKOFF_MIN_MS      100u
#define POOL_BACKOFF_MAX_MS    10000u
#define POOL_RAPID_WINDOW_MS    2000u   /* restarts closer than this count as rapid */
#define POOL_RAPID_LIMIT           5u   /* after this many rapid restarts, back off */
#define POOL_MAX_DEVICES          64

enum worker_state { W_DOWN, W_STARTING, W_READY };

struct slot {
	int dev;
	char name[32];             /* "mock", "cuda:0" */
	pid_t pid;                 /* 0: no worker */
	int sock;                  /* -1: no worker */
	enum worker_state state;
	char hello_err[256];       /* what a failing worker said in its hello */
	/* the running job */
	int busy;
	uint64_t job_id, submit_ms, deadline_ms;
	int have_pending;          /* failed without a worker: reap returns PENDING */
	struct vgpu_job_result pending;
	/* restarts */
	unsigned fails;            /* consecutive spawns that never said hello */
	unsigned rapid;            /* consecutive restarts within POOL_RAPID_WINDOW_MS */
	uint64_t last_spawn_ms, next_spawn_ms;
	char down_reason[320];
};

struct pool {
	struct vgpu_executor base; /* Base class. Must be first */
	char backend[16];
	char *worker_path;
	int devnull;
	int ready_fd;              /* an eventfd that is always readable */
	uint64_t next_id;
	struct slot *slots;
};

static uint64_t backoff_ms(unsigned n)
{
	uint64_t ms = POOL_BACKOFF_MIN_MS;

	while (n-- > 1 && ms < POOL_BACKOFF_MAX_MS)
		ms *= 2;
	return ms < POOL_BACKOFF_MAX_MS ? ms : POOL_BACKOFF_MAX_MS;
}

static void set_result(struct vgpu_job_result *res, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_result(struct vgpu_job_result *res, int status, const char *fmt, ...)
{
	va_list ap;

	memset(res, 0, sizeof(*res));
	res->status = status;
	va_start(ap, fmt);
	vsnprintf(res->error, sizeof(res->error), fmt, ap);
	va_end(ap);
}

/* Start a worker for S (asynchronously: its hello is read later). 0 or -errno. */
static int spawn(struct pool *p, struct slot *s, uint64_t now)
{
	char devbuf[16], fdbuf[16];
	int sv[2];
	pid_t pid;

	if (now < s->next_spawn_ms)
		return -EAGAIN;
	fiu_return_on("exec/pool/spawn", -EAGAIN);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
		return -errno;
	snprintf(devbuf, sizeof(devbuf), "%d", s->dev);
	snprintf(fdbuf, sizeof(fdbuf), "%d", sv[1]);
	pid = fork();
	if (pid < 0) {
		int e = errno;

		close(sv[0]);
		close(sv[1]);
		return -e;
	}
	if (pid == 0) {
		char *argv[] = { p->worker_path, "--backend", p->backend, "--device", devbuf,
				 "--fd", fdbuf, NULL };

		vgpu_child_prepare(p->devnull, sv[1]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(sv[1]);
	s->sock = sv[0];
	s->pid = pid;
	s->state = W_STARTING;
	s->hello_err[0] = 0;
	s->rapid = s->last_spawn_ms && now - s->last_spawn_ms < POOL_RAPID_WINDOW_MS ? s->rapid + 1 : 0;
	s->last_spawn_ms = now;
	if (s->rapid >= POOL_RAPID_LIMIT)
		s->next_spawn_ms = now + backoff_ms(s->rapid - POOL_RAPID_LIMIT + 1);
	return 0;
}

/* Killed workers that did not die at once (a process stuck in the GPU driver can stay
 * in uninterruptible sleep for long): never waited on in the event loop, reaped later. */
#define POOL_MAX_ZOMBIES 64
static pid_t zombies[POOL_MAX_ZOMBIES];
static int nzombies;

static void reap_zombies(void)
{
	for (int i = 0; i < nzombies;) {
		pid_t r = waitpid(zombies[i], NULL, WNOHANG);

		if (r == zombies[i] || (r < 0 && errno == ECHILD))
			zombies[i] = zombies[--nzombies];
		else
			i++;
	}
}

/* SIGKILL PID and reap it, waiting at most ~100 ms; then leave it to reap_zombies().
 * Returns its wait status (or that of a SIGKILL when it is still dying). */
static int kill_and_reap(pid_t pid)
{
	int status = SIGKILL;   /* as waitpid() would encode "killed by SIGKILL" */

	kill(pid, SIGKILL);
	for (int i = 0; i < 100; i++) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid || (r < 0 && errno != EINTR))
			return status;
		struct timespec ts = { 0, 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	vgpu_warn("worker pid %d does not die after SIGKILL (stuck in the driver?); reaping it later", (int)pid);
	if (nzombies < POOL_MAX_ZOMBIES)
		zombies[nzombies++] = pid;
	else
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	return SIGKILL;
}

/* Kill and reap S's worker, close its socket. Returns its wait status, or REAPED_STATUS
 * when it was reaped before (>= 0). */
static int slot_down(struct slot *s, int kill_it, int reaped_status)
{
	int status = reaped_status;

	(void)kill_it;   /* killed either way: after EOF it is exiting or a zombie already */
	if (s->sock >= 0)
		close(s->sock);
	s->sock = -1;
	if (s->pid > 0 && reaped_status < 0)
		status = kill_and_reap(s->pid);
	s->pid = 0;
	s->state = W_DOWN;
	return status;
}

/* After S's worker went away: restart it now, unless it never got going (NEVER_READY)
 * or restarts keep failing, then back off. Describes what happened into TAIL. */
static void restart(struct pool *p, struct slot *s, uint64_t now, int never_ready, char *tail, size_t taillen)
{
	int rc;

	if (never_ready || s->fails) {
		/* not a job's fault: the worker never got going; back off */
		s->fails++;
		s->next_spawn_ms = now + backoff_ms(s->fails);
		snprintf(tail, taillen, "next restart in %llu ms",
			 (unsigned long long)(s->next_spawn_ms - now));
		return;
	}
	/* The worker had been serving: its end was a job's doing (watchdog, crash), not a
	 * worker that cannot start. Such restarts must not trip the rapid-restart backoff,
	 * or one VM's jobs could make every other VM's jobs fail while it lasts. */
	s->rapid = 0;
	s->last_spawn_ms = 0;
	rc = spawn(p, s, now);
	if (rc == 0) {
		snprintf(tail, taillen, "restarted");
		vgpu_warn("worker for %s restarted (pid %d)", s->name, (int)s->pid);
		return;
	}
	if (rc != -EAGAIN) {
		s->fails++;
		s->next_spawn_ms = now + backoff_ms(s->fails);
	}
	snprintf(tail, taillen, "restart %s: %s; next attempt in %llu ms",
		 rc == -EAGAIN ? "deferred" : "failed", rc == -EAGAIN ? "too many restarts" : strerror(-rc),
		 (unsigned long long)(s->next_spawn_ms > now ? s->next_spawn_ms - now : 0));
	vgpu_warn("worker for %s: %s", s->name, tail);
}

/* S's worker is gone (EOF, error, exit): reap it, restart it, fill RES (may be NULL). */
static void worker_died(struct pool *p, struct slot *s, uint64_t now, int reaped_status,
			struct vgpu_job_result *res)
{
	char how[64], tail[160];
	int was_starting = s->state == W_STARTING;
	int status = slot_down(s, 1, reaped_status);

	vgpu_describe_status(status, how, sizeof(how));
	restart(p, s, now, was_starting, tail, sizeof(tail));
	if (was_starting) {
		if (s->hello_err[0])
			snprintf(s->down_reason, sizeof(s->down_reason), "could not start: %s", s->hello_err);
		else
			snprintf(s->down_reason, sizeof(s->down_reason), "could not start (%s)", how);
		vgpu_warn("worker for %s %s; %s", s->name, s->down_reason, tail);
		if (res)
			set_result(res, VGPU_EXEC_FAILED, "worker for %s %s; %s", s->name, s->down_reason, tail);
	} else {
		snprintf(s->down_reason, sizeof(s->down_reason), "died (%s)", how);
		vgpu_warn("worker for %s %s; %s", s->name, s->down_reason, tail);
		if (res)
			set_result(res, VGPU_EXEC_FAILED, "worker for %s died (%s); %s", s->name, how, tail);
	}
}

/* Read what S's worker sent. 1: the running job's result is in RES (*EXITING set when
 * the worker said it exits after it); 0: nothing more now; -1: the worker is gone (EOF,
 * reset, or a message that breaks the protocol). */
static int drain(struct slot *s, struct vgpu_job_result *res, int *exiting)
{
	struct vgpu_wire_msg msg;
	int fds[2], rc;

	for (;;) {
		rc = vgpu_wire_recv(s->sock, &msg, fds, MSG_DONTWAIT);
		if (rc == -EAGAIN)
			return 0;
		if (rc <= 0) {
			if (rc < 0 && rc != -ECONNRESET)
				vgpu_warn("worker for %s: recv: %s", s->name, strerror(-rc));
			return -1;
		}
		if (rc == VGPU_WIRE_HELLO) {
			if (msg.u.hello.ok) {
				s->state = W_READY;
				s->fails = 0;
				s->hello_err[0] = 0;
				vgpu_info("worker for %s ready (pid %d, %s)", s->name, (int)s->pid, msg.u.hello.device);
			} else {
				snprintf(s->hello_err, sizeof(s->hello_err), "%s", msg.u.hello.error);
			}
		} else if (rc == VGPU_WIRE_RESULT) {
			if (s->busy && msg.u.result.id == s->job_id) {
				*res = msg.u.result.res;
				if (exiting)
					*exiting = msg.u.result.exiting != 0;
				return 1;
			}
			vgpu_debug("worker for %s: dropped a stale result (job %llu)", s->name,
				   (unsigned long long)msg.u.result.id);
		} else {
			if (fds[0] >= 0)
				close(fds[0]);
			if (fds[1] >= 0)
				close(fds[1]);
			vgpu_warn("worker for %s sent message type %d", s->name, rc);
			return -1;
		}
	}
}

static struct pool *to_pool(struct vgpu_executor *ex)
{
	return (struct pool *)ex;
}

static int send_job(struct slot *s, const struct vgpu_exec_job *job)
{
	struct vgpu_wire_msg msg;
	struct vgpu_wire_job *wj = &msg.u.job;
	int fds[2], nfds = 0;

	memset(&msg, 0, sizeof(msg));
	msg.type = VGPU_WIRE_JOB;
	wj->id = s->job_id;
	wj->op = (uint32_t)job->job.op;
	wj->args = job->job.args;
	wj->out_count = job->job.out_count;
	if (job->in_bytes > 0) {
		wj->in_bytes = job->in_bytes;
		wj->fds |= VGPU_WIRE_IN_FD;
		fds[nfds++] = job->in_fd;
	}
	if (job->out_bytes > 0) {
		wj->out_bytes = job->out_bytes;
		wj->fds |= VGPU_WIRE_OUT_FD;
		fds[nfds++] = job->out_fd;
	}
	return vgpu_wire_send(s->sock, &msg, fds, nfds);
}

static void fail_now(struct slot *s, uint64_t now)
{
	s->have_pending = 1;
	set_result(&s->pending, VGPU_EXEC_FAILED, "worker for %s is down (%s); next restart in %llu ms",
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
			rc = spawn(p, s, now);
			if (rc != 0) {
				if (rc != -EAGAIN) {
					snprintf(s->down_reason, sizeof(s->down_reason), "cannot start: %s", strerror(-rc));
					s->fails++;
					s->next_spawn_ms = now + backoff_ms(s->fails);
					vgpu_warn("worker for %s: %s", s->name, s->down_reason);
				}
				fail_now(s, now);
				return 0;
			}
			vgpu_warn("worker for %s started again (pid %d)", s->name, (int)s->pid);
		}
		rc = send_job(s, job);
		if (rc == 0)
			return 0;
		if (rc != -EPIPE && rc != -ECONNRESET && rc != -ENOTCONN) {
			/* not the worker's death (e.g. ENOMEM, ETOOMANYREFS): the job was not sent */
			vgpu_warn("worker for %s: send(job): %s", s->name, strerror(-rc));
			s->busy = 0;
			return rc;
		}
		/* it died while idle: not this job's fault; restart and try once more */
		worker_died(p, s, now, -1, NULL);
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

	reap_zombies();
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
	r = drain(s, res, &exiting);
	if (r == 0) {
		pid_t w = waitpid(s->pid, &status, WNOHANG);

		if (w == s->pid) {
			/* It exited; whatever it sent before is queued already. */
			r = drain(s, res, NULL);
			if (r == 1) {
				s->busy = 0;
				worker_died(p, s, now_ms, status, NULL);
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

		slot_down(s, 1, -1);
		restart(p, s, now_ms, 0, tail, sizeof(tail));
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
		worker_died(p, s, now_ms, status, res);
		s->busy = 0;
		return 1;
	}
	if (s->deadline_ms && now_ms >= s->deadline_ms) {
		char tail[160];
		uint64_t limit = s->deadline_ms > s->submit_ms ? s->deadline_ms - s->submit_ms : 0;

		vgpu_warn("worker for %s: job exceeded its %llu ms limit; killing worker pid %d",
			  s->name, (unsigned long long)limit, (int)s->pid);
		slot_down(s, 1, -1);
		restart(p, s, now_ms, 0, tail, sizeof(tail));   /* a hung job is the job's fault */
		if (s->pid == 0)
			snprintf(s->down_reason, sizeof(s->down_reason), "killed after a timeout; %s", tail);
		if (s->pid)
			set_result(res, VGPU_TIMEOUT, "job exceeded its %llu ms limit; worker killed and restarted",
				   (unsigned long long)limit);
		else
			set_result(res, VGPU_TIMEOUT, "job exceeded its %llu ms limit; worker killed; %s",
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

static void pool_close(struct vgpu_executor *ex)
{
	struct pool *p = to_pool(ex);
	uint64_t deadline = vgpu_now_ms() + POOL_CLOSE_GRACE_MS;
	int left = 0;

	if (!p)
		return;
	for (int i = 0; i < ex->nslots; i++) {
		struct slot *s = &p->slots[i];

		if (s->sock >= 0)
			close(s->sock);   /* an idle worker reads EOF and exits 0 */
		s->sock = -1;
		if (s->pid > 0) {
			kill(s->pid, SIGTERM);
			left++;
		}
	}
	while (left > 0) {
		for (int i = 0; i < ex->nslots; i++) {
			struct slot *s = &p->slots[i];
			int st;

			if (s->pid > 0 && waitpid(s->pid, &st, WNOHANG) == s->pid) {
				s->pid = 0;
				left--;
			}
		}
		if (left == 0 || vgpu_now_ms() >= deadline)
			break;
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	for (int i = 0; i < ex->nslots; i++) {
		struct slot *s = &p->slots[i];

		if (s->pid > 0) {
			vgpu_warn("worker for %s (pid %d) ignored SIGTERM; killing it", s->name, (int)s->pid);
			slot_down(s, 1, -1);
		}
	}
	reap_zombies();
	if (p->ready_fd >= 0)
		close(p->ready_fd);
	if (p->devnull >= 0)
		close(p->devnull);
	free(p->worker_path);
	free(p->slots);
	free(p);
}

static const struct vgpu_executor_ops pool_ops = {
	.iversion = 1,
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
			if (drain(s, &dummy, NULL) >= 0)
				continue;
			vgpu_describe_status(slot_down(s, 1, -1), how, sizeof(how));
			if (s->hello_err[0])
				snprintf(err, errlen, "worker for %s failed to start: %s", s->name, s->hello_err);
			else
				snprintf(err, errlen, "worker for %s failed to start (%s)", s->name, how);
			return -1;
		}
	}
}

int vgpu_pool_open(const struct vgpu_backend_ops *backend, const struct vgpu_exec_opts *opts,
		   struct vgpu_executor **exp, char *err, size_t errlen)
{
	struct pool *p;
	int n, rc;

	*exp = NULL;
	if (errlen)
		err[0] = 0;
	if (!backend || !backend->name || strlen(backend->name) >= sizeof(p->backend)) {
		snprintf(err, errlen, "no backend");
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
		if (strcmp(backend->name, "mock") == 0 && n == 1)
			snprintf(s->name, sizeof(s->name), "mock");
		else
			snprintf(s->name, sizeof(s->name), "%s:%d", backend->name, i);
		p->base.nslots = i + 1;
		rc = spawn(p, s, 0);
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
