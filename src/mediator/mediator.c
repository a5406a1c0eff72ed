/* mediator.c - the event loop: inotify + periodic rescan, dispatch from the priority
 * queue to the executor's slots, the watchdog's timers, and shutdown that finishes the
 * jobs in hand; reconfiguration, start-up and teardown. One turn of the loop is
 * vgpu_mediator_step(). The set of VM directories lives in vms.c, intake and answers in
 * intake.c and answer.c. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>
#include <fiu-local.h>

#include "mediator_int.h"
#include "await.h"
#include "lock.h"
#include "lib/log.h"
#include "lib/status.h"

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif

#define ROOT_EVENTS (IN_CREATE | IN_MOVED_TO | IN_ONLYDIR)
/* Work per turn of the loop (docs/SECURITY.md, "Flooding"): at most this many reads of
 * the inotify fd, and each VM's command.txt looked at once however many events it had. */
#define INOTIFY_READS_PER_TURN 16

static void handle_inotify(struct vgpu_mediator *m);

static void rescan(struct vgpu_mediator *m)
{
	/* The events already queued first: a record they announce is not one the rescan
	 * found on its own (which would take IN_CLOSE_WRITE back for nothing, vms.c). */
	if (!m->stopping)
		handle_inotify(m);
	vgpu_vms_drop_unlisted(m);
	vgpu_vms_drop_replaced(m);
	vgpu_vms_discover(m);
	for (size_t i = 0; i < m->nvms; i++) {
		struct vm *vm = m->vms[i];

		if (vm->unsaved)
			vgpu_answer_save_unsaved(m, vm);
		if (vm->resp_pending)
			vgpu_answer_republish(m, vm);
		vgpu_outputs_sweep(m, vm, 0);
		{
			/* a record this scan found and no event announced: a writer in place
			 * (or lost events): watch its closes again (vms.c) */
			const struct job *had = vm->job;
			uint64_t answered = m->stats.answered;

			vgpu_intake_scan(m, vm);
			if (!vm->watch_close && ((vm->job && vm->job != had) || m->stats.answered != answered))
				vgpu_vms_watch_close(m, vm, 1);
		}
	}
}

/* The VM watched by WD, or NULL: through m->wd_hint, checked, else the walk (which
 * notes what it found). */
static struct vm *vm_of_wd(struct vgpu_mediator *m, int wd)
{
	uint32_t *hint = &m->wd_hint[(unsigned)wd % (sizeof(m->wd_hint) / sizeof(m->wd_hint[0]))];

	if (*hint && *hint <= m->nvms && m->vms[*hint - 1]->wd == wd)
		return m->vms[*hint - 1];
	for (size_t i = 0; i < m->nvms; i++)
		if (m->vms[i]->wd == wd) {
			*hint = (uint32_t)(i + 1);
			return m->vms[i];
		}
	return NULL;
}

/* Read what inotify has (at most INOTIFY_READS_PER_TURN buffers: a VM renaming records
 * in a tight loop must not keep us here), note which VMs had command.txt events, then
 * look at each of those once, in the order of their first event. What is left is read
 * on the next turn, after dispatch. Work per event is O(1) in the number of VMs. */
static void handle_inotify(struct vgpu_mediator *m)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct vm *dirty = NULL, **tail = &dirty;
	ssize_t n;
	int reads = 0;

	while (reads++ < INOTIFY_READS_PER_TURN && (n = read(m->inofd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			struct vm *vm;

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				vgpu_warn("inotify queue overflowed; rescanning everything");
				m->next_rescan_ms = 0;
				continue;
			}
			if (ev->wd == -2)
				continue;
			if (ev->wd >= 0 && (vm = vm_of_wd(m, ev->wd))) {
				if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
					vm->wd = -1;   /* the rescan finds it again if it comes back */
				} else if (ev->len && strcmp(ev->name, "command.txt") == 0 && !vm->dirty) {
					if ((ev->mask & IN_MOVED_TO) && vm->watch_close)
						vgpu_vms_watch_close(m, vm, 0);   /* a writer by rename */
					vm->dirty = 1;
					vm->dirty_next = NULL;
					*tail = vm;
					tail = &vm->dirty_next;
				}
			}
			if (ev->len && (ev->mask & IN_ISDIR) && vgpu_vms_number(ev->name))
				vgpu_vms_add(m, ev->name);
		}
		/* Room left for the longest event: the queue was empty (no read to see EAGAIN;
		 * an event arriving now makes the fd readable for the next poll). */
		if ((size_t)n <= sizeof(buf) - sizeof(struct inotify_event) - NAME_MAX - 1)
			break;
	}
	while (dirty) {
		struct vm *vm = dirty;

		dirty = vm->dirty_next;
		vm->dirty = 0;
		vgpu_intake_scan(m, vm);
	}
}

static void finish(struct vgpu_mediator *m, int s, const struct vgpu_job_result *res);

/* May the mediator answer a ping on SLOT itself (PROTOCOL.md s.5.2)? Only while the
 * executor says the slot's worker is up; one that cannot tell (Plan B) gets the ping. */
static int ping_inline(struct vgpu_mediator *m, int slot)
{
	struct vgpu_slot_info info;

	return vgpu_executor_slot_info(m->cfg.ex, slot, &info) == 0 && info.state &&
	       strcmp(info.state, "ready") == 0;
}

/* Fill idle slots from the queue. A ping takes its turn like any job but records no
 * intent (it runs nothing) and, while the slot's worker is up, is answered here. */
static void dispatch(struct vgpu_mediator *m)
{
	for (int s = 0; s < m->nslots && !m->stopping; s++) {
		struct vgpu_exec_job xj;
		struct job *job;
		struct vm *vm;
		uint64_t limit;
		int rc, effect;

		if (m->slots[s])
			continue;
		job = (struct job *)vgpu_pq_pop(&m->queue, vgpu_now_ms());
		if (!job)
			return;
		vm = job->vm;
		effect = job->req.op != VGPU_OP_PING;
		job->intent_us = vgpu_now_us();
		rc = effect ? vgpu_state_begin(m->statefd, vm->id, &vm->st, job->req.seq, job->req.nonce) : 0;
		if (rc < 0) {
			/* Without the intent on disk a crash could run it twice: don't run it. */
			vgpu_answer_error(m, vm, job->req.seq, job->req.nonce, job->req.op, VGPU_EXEC_FAILED,
					  "the mediator could not record the job before running it (%s)", strerror(-rc));
			vm->job = NULL;
			vgpu_job_free(job);
			continue;
		}
		fiu_do_on("mediator/crash/after-intent", raise(SIGKILL));
		limit = job->req.timeout_ms ? job->req.timeout_ms : m->cfg.default_job_ms;
		if (limit > m->cfg.max_job_ms)
			limit = m->cfg.max_job_ms;
		job->started_us = vgpu_now_us();
		job->intent_us = job->started_us - job->intent_us;
		job->deadline_ms = job->started_us / 1000 + limit;
		vgpu_job_to_exec(job, job->deadline_ms, &xj);
		vgpu_journal_add(&m->journal, "exec vm=%" PRIu32 " seq=%" PRId64 " nonce=%s slot=%d", vm->id,
				 job->req.seq, job->req.nonce, s);
		if (!effect && ping_inline(m, s)) {
			struct vgpu_job_result res = { .status = VGPU_OK };

			m->stats.executed++;
			vgpu_metrics_dispatched(&m->metrics, s);
			m->slots[s] = job;
			finish(m, s, &res);   /* frees the slot again: */
			s--;                  /* the next job may take it now */
			continue;
		}
		rc = vgpu_executor_submit(m->cfg.ex, s, &xj);
		if (rc < 0) {
			vgpu_answer_error(m, vm, job->req.seq, job->req.nonce, job->req.op, VGPU_EXEC_FAILED,
					  "executor %s refused the job (%s)", m->cfg.ex->ops->name, strerror(-rc));
			vm->job = NULL;
			vgpu_job_free(job);
			continue;
		}
		m->stats.executed++;
		vgpu_metrics_dispatched(&m->metrics, s);
		m->slots[s] = job;
		vgpu_await_started(m, job, vgpu_executor_fd(m->cfg.ex, s) >= 0);
	}
}

static void finish(struct vgpu_mediator *m, int s, const struct vgpu_job_result *res)
{
	struct job *job = m->slots[s];
	struct vm *vm = job->vm;
	const char *name = vgpu_executor_slot_name(m->cfg.ex, s);
	uint64_t t = vgpu_now_us();

	m->slots[s] = NULL;
	fiu_do_on("mediator/crash/after-exec", raise(SIGKILL));
	vgpu_await_finished(m, job, t, res->exec_us);
	vgpu_answer_job(m, job, res, name);
	vgpu_await_phases(m, job, vgpu_now_us() - t);
	vgpu_progress_finished(vm, job, res->exec_us);
	vm->job = NULL;
	vgpu_job_free(job);
	vgpu_intake_waiters(m);    /* its payload bytes are free: the oldest waiting VM first */
	if (vm->cmd_waiting) {     /* its next command came while this one ran */
		vm->cmd_waiting = 0;
		vgpu_intake_scan(m, vm);
	}
}

static void reap_slots(struct vgpu_mediator *m, const struct pollfd *pfd, int first)
{
	uint64_t now = vgpu_now_ms();

	for (int s = 0; s < m->nslots; s++) {
		struct vgpu_job_result res;
		int ready, rc;

		if (!m->slots[s])
			continue;
		ready = pfd[first + s].fd < 0 || (pfd[first + s].revents != 0) || now >= m->slots[s]->deadline_ms;
		if (!ready)
			continue;
		memset(&res, 0, sizeof(res));
		rc = vgpu_executor_reap(m->cfg.ex, s, now, &res);
		if (rc == 1) {
			finish(m, s, &res);
		} else if (rc < 0) {
			memset(&res, 0, sizeof(res));
			res.status = VGPU_EXEC_FAILED;
			snprintf(res.error, sizeof(res.error), "executor %s lost the job (%s)", m->cfg.ex->ops->name,
				 strerror(-rc));
			finish(m, s, &res);
		}
	}
}

static int busy_slots(const struct vgpu_mediator *m)
{
	int n = 0;

	for (int s = 0; s < m->nslots; s++)
		n += m->slots[s] != NULL;
	return n;
}

int vgpu_mediator_step(struct vgpu_mediator *m, int max_wait_ms)
{
	struct pollfd *pfd = m->pfd;
	uint64_t now = vgpu_now_ms(), wake, beat, timeout_us;
	struct timespec ts;
	int timeout;

	if (m->stopping && busy_slots(m) == 0)
		return 0;
	if (!m->stopping && now >= m->next_rescan_ms) {
		rescan(m);
		m->next_rescan_ms = now + m->cfg.rescan_ms;
	}
	dispatch(m);
	/* Our own answers' renames into watched directories queued an IN_MOVED_TO each:
	 * read them now (with whatever else came meanwhile) instead of polling, which
	 * would return at once for them and cost a turn (one system call less per answer) */
	for (int i = 0; m->own_events && !m->stopping && i < 4; i++) {
		m->own_events = 0;
		handle_inotify(m);
		dispatch(m);
	}
	beat = vgpu_progress_tick(m, now);   /* status.txt: heartbeats, states (progress.c) */
	{
		uint64_t xt = vgpu_executor_tick(m->cfg.ex, now);   /* the executor's housekeeping */

		if (xt < beat)
			beat = xt;
	}

	/* sleep until an event, the next rescan, a job's deadline or an incomplete
	 * record's grace end; never a busy loop */
	wake = m->stopping ? now + 1000 : m->next_rescan_ms;
	if (beat < wake)
		wake = beat;
	pfd[0] = (struct pollfd){ .fd = m->pipe[0], .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = m->stopping ? -1 : m->inofd, .events = POLLIN };
	for (int s = 0; s < m->nslots; s++) {
		pfd[2 + s] = (struct pollfd){ .fd = -1 };
		if (!m->slots[s])
			continue;
		pfd[2 + s].fd = vgpu_executor_fd(m->cfg.ex, s);
		pfd[2 + s].events = POLLIN;
		if (m->slots[s]->deadline_ms < wake)
			wake = m->slots[s]->deadline_ms;
		if (pfd[2 + s].fd < 0 && now + 20 < wake)
			wake = now + 20;   /* executor without fd: poll it */
	}
	if (m->vm_timers) {   /* no walk over every VM per turn while none has a timer */
		int any = 0;

		for (size_t i = 0; i < m->nvms; i++) {
			const struct vm *vm = m->vms[i];

			if (vm->intake_after_ms) {   /* over its budget: nothing before then */
				if (vm->intake_after_ms < wake)
					wake = vm->intake_after_ms;
				any = 1;
			} else if (vm->incomplete_since_ms) {
				uint64_t t = vm->incomplete_since_ms + m->cfg.grace_ms;
				if (t < wake)
					wake = t;
				any = 1;
			}
		}
		m->vm_timers = any;
	}
	timeout = wake > now ? (int)(wake - now) : 0;
	if (max_wait_ms >= 0 && timeout > max_wait_ms)
		timeout = max_wait_ms;
	timeout_us = (uint64_t)timeout * 1000;
	if (m->spin_us)   /* no clock read per turn when no window can be open */
		timeout_us = vgpu_await_timeout(m, vgpu_now_us(), timeout_us);
	ts.tv_sec = (time_t)(timeout_us / 1000000);
	ts.tv_nsec = (long)(timeout_us % 1000000) * 1000;
	if (ppoll(pfd, (nfds_t)m->nslots + 2, &ts, NULL) < 0 && errno != EINTR) {
		vgpu_err("poll: %s", strerror(errno));
		sleep(1);
		return 1;
	}
	if (m->phases)
		m->woke_us = vgpu_now_us();
	if (pfd[0].revents) {
		char c[64];
		while (read(m->pipe[0], c, sizeof(c)) > 0)
			;
	}
	if (pfd[1].revents)
		handle_inotify(m);
	reap_slots(m, pfd, 2);
	if (m->vm_timers) {
		now = vgpu_now_ms();
		for (size_t i = 0; i < m->nvms && !m->stopping; i++) {
			const struct vm *vm = m->vms[i];

			if (vm->intake_after_ms ? now >= vm->intake_after_ms :
			    vm->incomplete_since_ms && now >= vm->incomplete_since_ms + m->cfg.grace_ms)
				vgpu_intake_scan(m, m->vms[i]);
		}
	}
	return 1;
}

int vgpu_mediator_run(struct vgpu_mediator *m)
{
	return vgpu_mediator_run_tick(m, 0, NULL, NULL);
}

int vgpu_mediator_run_tick(struct vgpu_mediator *m, int period_ms,
			   void (*tick)(struct vgpu_mediator *m, void *arg), void *arg)
{
	m->next_rescan_ms = 0;
	while (vgpu_mediator_step(m, tick ? period_ms : -1) > 0)
		if (tick)
			tick(m, arg);
	if (tick)
		tick(m, arg);
	vgpu_info("stopped: answered %" PRIu64 " (ok %" PRIu64 ", errors %" PRIu64 "), executed %" PRIu64
		  ", left queued %zu (read again on the next start)", m->stats.answered, m->stats.ok,
		  m->stats.errors, m->stats.executed, vgpu_pq_len(&m->queue));
	return 0;
}

void vgpu_mediator_stop(struct vgpu_mediator *m)
{
	int saved = errno;

	m->stopping = 1;
	if (write(m->pipe[1], "x", 1) < 0) {
		/* the pipe is full: a wake-up is pending already */
	}
	errno = saved;
}

void vgpu_mediator_wake(struct vgpu_mediator *m)
{
	int saved = errno;

	if (write(m->pipe[1], "w", 1) < 0) {
		/* the pipe is full: a wake-up is pending already */
	}
	errno = saved;
}

/* The limits' defaults where CFG leaves them 0. */
static void limits_defaults(struct vgpu_mediator_config *cfg)
{
	if (!cfg->rescan_ms)
		cfg->rescan_ms = 1000;
	if (!cfg->grace_ms)
		cfg->grace_ms = 2000;
	if (!cfg->default_job_ms)
		cfg->default_job_ms = 60000;
	if (!cfg->max_job_ms)
		cfg->max_job_ms = 600000;
	if (!cfg->max_payload)
		cfg->max_payload = 1ULL << 30;
	if (!cfg->output_ttl_ms)
		cfg->output_ttl_ms = 3600000;
	if (!cfg->max_vm_bytes)
		cfg->max_vm_bytes = cfg->max_payload > UINT64_MAX / 2 ? UINT64_MAX : 2 * cfg->max_payload;
	if (!cfg->max_queued_bytes)
		cfg->max_queued_bytes = cfg->max_payload > UINT64_MAX / 4 ? UINT64_MAX : 4 * cfg->max_payload;
	if (!cfg->max_vm_queued_bytes)
		cfg->max_vm_queued_bytes = cfg->max_payload > UINT64_MAX / 2 ? UINT64_MAX : 2 * cfg->max_payload;
	if (!cfg->reject_burst)
		cfg->reject_burst = 8;
	if (!cfg->reject_per_s)
		cfg->reject_per_s = 4;
}

int vgpu_mediator_reconfigure(struct vgpu_mediator *m, const struct vgpu_mediator_config *cfg)
{
	struct vgpu_vm_cap *caps = NULL;
	struct vgpu_mediator_config keep = m->cfg;

	if (cfg->ncaps) {
		caps = malloc(cfg->ncaps * sizeof(*caps));
		if (!caps)
			return -ENOMEM;
		memcpy(caps, cfg->caps, cfg->ncaps * sizeof(*caps));
	}
	m->cfg = *cfg;
	m->cfg.root = keep.root;
	m->cfg.state_dir = keep.state_dir;
	m->cfg.journal = keep.journal;
	m->cfg.ex = keep.ex;
	m->cfg.caps = caps;
	limits_defaults(&m->cfg);
	free(m->owned_caps);
	m->owned_caps = caps;
	m->queue.aging_ms = m->cfg.aging_ms;
	for (size_t i = 0; i < m->nvms; i++) {
		int cap = vgpu_vms_cap_for(m, m->vms[i]->id);

		if (cap != m->vms[i]->cap)
			vgpu_info("vm%" PRIu32 ": priority cap %s (was %s)", m->vms[i]->id,
				  vgpu_prio_name((enum vgpu_prio)cap), vgpu_prio_name((enum vgpu_prio)m->vms[i]->cap));
		m->vms[i]->cap = cap;
		{
			const struct vgpu_vm_cap *c = vgpu_vms_config_of(m, m->vms[i]->id);
			int has_uid = c && c->has_uid;
			uid_t uid = c ? c->uid : 0;

			if (has_uid != m->vms[i]->has_uid || uid != m->vms[i]->uid)
				vgpu_info("vm%" PRIu32 ": owner uid %s%ld", m->vms[i]->id, has_uid ? "" : "not checked, was ",
					  (long)(has_uid ? uid : m->vms[i]->uid));
			m->vms[i]->has_uid = has_uid;
			m->vms[i]->uid = uid;
		}
	}
	m->next_rescan_ms = 0;    /* find newly listed VMs, drop unlisted ones, now */
	return 0;
}

/* Is the directory STATEFD below (or equal to) ROOTFD? Walks up with "..". */
static int state_inside_root(int rootfd, int statefd)
{
	struct stat root, st, up;
	int fd = dup(statefd), inside = 0;

	if (fd < 0 || fstat(rootfd, &root) < 0) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	for (int depth = 0; depth < 256 && fstat(fd, &st) == 0; depth++) {
		int parent;

		if (st.st_dev == root.st_dev && st.st_ino == root.st_ino) {
			inside = 1;
			break;
		}
		parent = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (parent < 0 || fstat(parent, &up) < 0 || (up.st_dev == st.st_dev && up.st_ino == st.st_ino)) {
			if (parent >= 0)
				close(parent);
			break;      /* reached / */
		}
		close(fd);
		fd = parent;
	}
	close(fd);
	return inside;
}

int vgpu_mediator_new(struct vgpu_mediator **mp, const struct vgpu_mediator_config *cfg,
		      char *err, size_t errlen)
{
	struct vgpu_mediator *m = calloc(1, sizeof(*m));
	struct statfs sfs;
	int rc;

	*mp = NULL;
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	m->cfg = *cfg;
	m->rootfd = m->statefd = m->inofd = m->lockfd = m->pipe[0] = m->pipe[1] = -1;
	m->journal.fd = -1;
	m->closer.pipe[0] = m->closer.pipe[1] = -1;
	limits_defaults(&m->cfg);
	vgpu_pq_init(&m->queue, m->cfg.aging_ms);

	m->rootfd = open(cfg->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (m->rootfd < 0) {
		snprintf(err, errlen, "--root %s: %s", cfg->root, strerror(errno));
		goto fail;
	}
	if (fstatfs(m->rootfd, &sfs) == 0 && sfs.f_type == TMPFS_MAGIC)
		vgpu_warn("--root %s is on tmpfs: every VM directory and answer is lost at a reboot, and some "
			  "NFS servers export it only with an explicit fsid= (ERRORS_LOG error 2); export a "
			  "directory on a real file system and symlink to it", cfg->root);
	m->statefd = vgpu_state_open_dir(cfg->state_dir);
	if (m->statefd < 0) {
		snprintf(err, errlen, "--state %s: %s", cfg->state_dir, strerror(-m->statefd));
		goto fail;
	}
	if (state_inside_root(m->rootfd, m->statefd)) {
		/* VMs could read or replace the answers that make them exactly-once */
		snprintf(err, errlen, "--state %s is inside --root %s (the export): keep it on local disk "
			 "outside, e.g. /var/lib/vgpu-mediator", cfg->state_dir, cfg->root);
		goto fail;
	}
	{
		/* One mediator per state directory and per root: a second one would run every
		 * request again (PROTOCOL.md s.7). */
		int holder = 0;

		m->lockfd = vgpu_lock_take(m->statefd, "lock", &holder);
		if (m->lockfd < 0) {
			rc = m->lockfd;
			m->lockfd = -1;
			if (rc == -EBUSY)
				snprintf(err, errlen, "--state %s is in use by another vgpu-mediator (pid %d): two "
					 "mediators would run every request twice; stop that one first", cfg->state_dir,
					 holder);
			else
				snprintf(err, errlen, "--state %s: lock: %s", cfg->state_dir, strerror(-rc));
			goto fail_busy;
		}
		rc = vgpu_lock_take(m->rootfd, NULL, &holder);
		if (rc == -EBUSY) {
			snprintf(err, errlen, "--root %s is served by another vgpu-mediator (pid %d, with another "
				 "--state): two mediators would run every request twice; stop that one first",
				 cfg->root, holder);
			goto fail_busy;
		}
		if (rc < 0)
			vgpu_warn("--root %s: lock: %s; not protected against a second mediator", cfg->root,
				  strerror(-rc));
	}
	rc = vgpu_journal_init(&m->journal, cfg->journal);
	if (rc < 0) {
		snprintf(err, errlen, "--journal %s: %s", cfg->journal, strerror(-rc));
		goto fail;
	}
	m->inofd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (m->inofd < 0) {
		snprintf(err, errlen, "inotify_init1: %s", strerror(errno));
		goto fail;
	}
	if (inotify_add_watch(m->inofd, cfg->root, ROOT_EVENTS) < 0)
		vgpu_warn("--root %s: inotify_add_watch: %s; new VM directories are found by the rescan",
			  cfg->root, strerror(errno));
	if (pipe2(m->pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe2: %s", strerror(errno));
		goto fail;
	}
	m->nslots = cfg->ex->nslots;
	m->slots = calloc((size_t)m->nslots, sizeof(*m->slots));
	m->pfd = calloc((size_t)m->nslots + 2, sizeof(*m->pfd));
	m->rec_in = malloc(VGPU_RECORD_MAX);
	m->rec_out = malloc(VGPU_RECORD_MAX);
	vgpu_await_init(m);
	if (!m->slots || !m->pfd || !m->rec_in || !m->rec_out || vgpu_metrics_init(&m->metrics, m->nslots) < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if ((rc = vgpu_closer_start(&m->closer)) < 0)
		vgpu_warn("closer thread: %s; big files are closed in the loop", strerror(-rc));
	vgpu_vms_discover(m);
	*mp = m;
	return 0;
fail_busy:
	vgpu_mediator_free(m);
	return -EBUSY;
fail:
	vgpu_mediator_free(m);
	return -1;
}

void vgpu_mediator_free(struct vgpu_mediator *m)
{
	struct vgpu_pq_item *it;

	if (!m)
		return;
	while ((it = vgpu_pq_pop(&m->queue, 0)))
		vgpu_job_free((struct job *)it);
	for (int s = 0; s < m->nslots; s++)
		vgpu_job_free(m->slots[s]);
	vgpu_closer_stop(&m->closer);
	free(m->slots);
	free(m->pfd);
	free(m->rec_in);
	free(m->rec_out);
	free(m->problems);
	free(m->owned_caps);
	vgpu_metrics_release(&m->metrics);
	for (size_t i = 0; i < m->nvms; i++)
		vgpu_vms_close(m, m->vms[i]);
	free(m->vms);
	if (m->rootfd >= 0)
		close(m->rootfd);
	if (m->statefd >= 0)
		close(m->statefd);
	if (m->lockfd >= 0)
		close(m->lockfd);
	if (m->inofd >= 0)
		close(m->inofd);
	vgpu_journal_release(&m->journal);
	if (m->pipe[0] >= 0)
		close(m->pipe[0]);
	if (m->pipe[1] >= 0)
		close(m->pipe[1]);
	free(m);
}
