/* pool_worker.c - one worker process of the pool (a device's worker or a VM's kernel
 * worker): its vgpu-worker process (fork, exec with the socketpair's end), killing and
 * reaping it (a worker stuck in the driver is reaped later), retiring it (EOF, reaped
 * later), restarting it (at once after a job's doing, with backoff when it cannot start),
 * and the messages it sends and is sent (wire.h). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
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

#define POOL_BACKOFF_MIN_MS      100u
#define POOL_BACKOFF_MAX_MS    10000u
#define POOL_RAPID_WINDOW_MS    2000u   /* restarts closer than this count as rapid */
#define POOL_RAPID_LIMIT           5u   /* after this many rapid restarts, back off */
#define POOL_RETIRE_GRACE_MS    2000u   /* a retired worker has this long to end in order */

uint64_t vgpu_pool_backoff_ms(unsigned n)
{
	uint64_t ms = POOL_BACKOFF_MIN_MS;

	while (n-- > 1 && ms < POOL_BACKOFF_MAX_MS)
		ms *= 2;
	return ms < POOL_BACKOFF_MAX_MS ? ms : POOL_BACKOFF_MAX_MS;
}

/* Start a worker for S (asynchronously: its hello is read later). 0 or -errno. */
int vgpu_pool_spawn(struct pool *p, struct wproc *s, uint64_t now)
{
	char devbuf[16], fdbuf[16], vmbuf[16];
	int sv[2];
	pid_t pid;

	if (now < s->next_spawn_ms)
		return -EAGAIN;
	fiu_return_on("exec/pool/spawn", -EAGAIN);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
		return -errno;
	snprintf(devbuf, sizeof(devbuf), "%d", s->dev);
	snprintf(fdbuf, sizeof(fdbuf), "%d", sv[1]);
	snprintf(vmbuf, sizeof(vmbuf), "%u", s->vm);
	pid = fork();
	if (pid < 0) {
		int e = errno;

		close(sv[0]);
		close(sv[1]);
		return -e;
	}
	if (pid == 0) {
		char *argv[] = { p->worker_path, "--backend", (char *)s->backend, "--device", devbuf,
				 "--fd", fdbuf, s->vm ? "--vm" : NULL, vmbuf, NULL };

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
		s->next_spawn_ms = now + vgpu_pool_backoff_ms(s->rapid - POOL_RAPID_LIMIT + 1);
	return 0;
}

/* Killed workers that did not die at once (a process stuck in the GPU driver can stay
 * in uninterruptible sleep for long): never waited on in the event loop, reaped later. */
#define POOL_MAX_ZOMBIES 64
static pid_t zombies[POOL_MAX_ZOMBIES];
static uint64_t zombie_kill_ms[POOL_MAX_ZOMBIES];   /* retired: SIGKILL then; 0: killed */
static int nzombies;

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void vgpu_pool_reap_zombies(void)
{
	uint64_t now = 0;

	for (int i = 0; i < nzombies;) {
		pid_t r = waitpid(zombies[i], NULL, WNOHANG);

		if (r == zombies[i] || (r < 0 && errno == ECHILD)) {
			zombies[i] = zombies[nzombies - 1];
			zombie_kill_ms[i] = zombie_kill_ms[--nzombies];
			continue;
		}
		if (zombie_kill_ms[i] && (now ? now : (now = mono_ms())) >= zombie_kill_ms[i]) {
			vgpu_warn("retired worker pid %d did not end within %u ms; killing it", (int)zombies[i],
				  POOL_RETIRE_GRACE_MS);
			kill(zombies[i], SIGKILL);
			zombie_kill_ms[i] = 0;
		}
		i++;
	}
}

/* Leave PID to vgpu_pool_reap_zombies(); KILL_MS: when to SIGKILL it (0: it was). */
static void add_zombie(pid_t pid, uint64_t kill_ms)
{
	int status;

	if (nzombies < POOL_MAX_ZOMBIES) {
		zombie_kill_ms[nzombies] = kill_ms;
		zombies[nzombies++] = pid;
		return;
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

void vgpu_pool_retire(struct wproc *w)
{
	if (w->sock >= 0)
		close(w->sock);
	w->sock = -1;
	if (w->pid > 0)
		add_zombie(w->pid, mono_ms() + POOL_RETIRE_GRACE_MS);
	w->pid = 0;
	w->state = W_DOWN;
}

/* SIGKILL PID and reap it, waiting at most ~100 ms; then leave it to vgpu_pool_reap_zombies().
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
	add_zombie(pid, 0);
	return SIGKILL;
}

/* Kill and reap S's worker, close its socket. Returns its wait status, or REAPED_STATUS
 * when it was reaped before (>= 0). */
int vgpu_pool_slot_down(struct wproc *s, int kill_it, int reaped_status)
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
void vgpu_pool_restart(struct pool *p, struct wproc *s, uint64_t now, int never_ready, char *tail,
		       size_t taillen)
{
	int rc;

	s->restarts++;
	if (never_ready || s->fails) {
		/* not a job's fault: the worker never got going; back off */
		s->fails++;
		s->next_spawn_ms = now + vgpu_pool_backoff_ms(s->fails);
		snprintf(tail, taillen, "next restart in %llu ms",
			 (unsigned long long)(s->next_spawn_ms - now));
		return;
	}
	/* The worker had been serving: its end was a job's doing (watchdog, crash), not a
	 * worker that cannot start. Such restarts must not trip the rapid-restart backoff,
	 * or one VM's jobs could make every other VM's jobs fail while it lasts. */
	s->rapid = 0;
	s->last_spawn_ms = 0;
	rc = vgpu_pool_spawn(p, s, now);
	if (rc == 0) {
		snprintf(tail, taillen, "restarted");
		vgpu_warn("worker for %s restarted (pid %d)", s->name, (int)s->pid);
		return;
	}
	if (rc != -EAGAIN) {
		s->fails++;
		s->next_spawn_ms = now + vgpu_pool_backoff_ms(s->fails);
	}
	snprintf(tail, taillen, "restart %s: %s; next attempt in %llu ms",
		 rc == -EAGAIN ? "deferred" : "failed", rc == -EAGAIN ? "too many restarts" : strerror(-rc),
		 (unsigned long long)(s->next_spawn_ms > now ? s->next_spawn_ms - now : 0));
	vgpu_warn("worker for %s: %s", s->name, tail);
}

/* S's worker is gone (EOF, error, exit): reap it, restart it, fill RES (may be NULL). */
void vgpu_pool_worker_died(struct pool *p, struct wproc *s, uint64_t now, int reaped_status,
			   struct vgpu_job_result *res)
{
	char how[64], tail[160];
	int was_starting = s->state == W_STARTING;
	int status = vgpu_pool_slot_down(s, 1, reaped_status);

	vgpu_describe_status(status, how, sizeof(how));
	vgpu_pool_restart(p, s, now, was_starting, tail, sizeof(tail));
	if (was_starting) {
		if (s->hello_err[0])
			snprintf(s->down_reason, sizeof(s->down_reason), "could not start: %s", s->hello_err);
		else
			snprintf(s->down_reason, sizeof(s->down_reason), "could not start (%s)", how);
		vgpu_warn("worker for %s %s; %s", s->name, s->down_reason, tail);
		if (res)
			vgpu_job_result_set(res, VGPU_EXEC_FAILED, "worker for %s %s; %s", s->name, s->down_reason,
					    tail);
	} else {
		snprintf(s->down_reason, sizeof(s->down_reason), "died (%s)", how);
		vgpu_warn("worker for %s %s; %s", s->name, s->down_reason, tail);
		if (res)
			vgpu_job_result_set(res, VGPU_EXEC_FAILED, "worker for %s died (%s); %s", s->name, how, tail);
	}
}

/* Read what S's worker sent. 1: the running job's result is in RES (*EXITING set when
 * the worker said it exits after it); 0: nothing more now; -1: the worker is gone (EOF,
 * reset, or a message that breaks the protocol). */
int vgpu_pool_drain(struct wproc *s, uint64_t job_id, struct vgpu_job_result *res, int *exiting)
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
			if (job_id && msg.u.result.id == job_id) {
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

int vgpu_pool_send_job(struct wproc *s, uint64_t job_id, const struct vgpu_exec_job *job)
{
	struct vgpu_wire_msg msg;
	struct vgpu_wire_job *wj = &msg.u.job;
	int fds[2], nfds = 0;

	memset(&msg, 0, sizeof(msg));
	msg.type = VGPU_WIRE_JOB;
	wj->id = job_id;
	wj->op = (uint32_t)job->job.op;
	wj->args = job->job.args;
	wj->out_count = job->job.out_count;
	if (job->in_bytes > 0) {
		wj->in_bytes = job->in_bytes;
		wj->fds |= VGPU_WIRE_IN_FD;
		wj->in_check = job->in_check != 0;
		wj->in_crc = job->in_crc;
		fds[nfds++] = job->in_fd;
	}
	if (job->out_bytes > 0) {
		wj->out_bytes = job->out_bytes;
		wj->fds |= VGPU_WIRE_OUT_FD;
		fds[nfds++] = job->out_fd;
	}
	return vgpu_wire_send(s->sock, &msg, fds, nfds);
}
