/* progress.c - vmN/status.txt (docs/PROTOCOL.md section 10): the mediator's heartbeat and
 * where the VM's request is (queued behind N jobs, running since, expected to take),
 * so that a waiting client can tell "mediator not running" from "queued" from "running".
 *
 * Bounded: a VM's status is written when it is first served, then by the ticks of the
 * event loop (at most every VGPU_PROGRESS_TICK_MS): its heartbeat every
 * VGPU_PROGRESS_PERIOD_MS (spread over the period by VM number), and a new state once it
 * has lasted VGPU_PROGRESS_LAZY_MS (a ping or a short job costs no write), at most once
 * per VGPU_PROGRESS_MIN_GAP_MS per VM, a new queue position alone at most once per
 * VGPU_PROGRESS_POSITION_GAP_MS. Published by temp+rename as the VM's uid (like its
 * outputs), without fsync: nobody needs it after a crash. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mediator_int.h"
#include "lib/log.h"
#include "lib/safeio.h"

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Jobs in the queue that pop() would take before JOB now. */
static uint64_t position_of(const struct vgpu_mediator *m, const struct job *job, uint64_t now_ms)
{
	int mine = vgpu_pq_effective(&m->queue, &job->item, now_ms);
	uint64_t n = 0;

	for (int p = 0; p < 3; p++)
		for (const struct vgpu_pq_item *it = m->queue.head[p].next; it != &m->queue.head[p]; it = it->next) {
			int eff;

			if (it == &job->item)
				continue;
			eff = vgpu_pq_effective(&m->queue, it, now_ms);
			if (eff > mine || (eff == mine && it->arrival < job->item.arrival))
				n++;
		}
	return n;
}

static int busy_slots(const struct vgpu_mediator *m, int *slotp, const struct job *job)
{
	int n = 0;

	for (int s = 0; s < m->nslots; s++) {
		n += m->slots[s] != NULL;
		if (job && m->slots[s] == job)
			*slotp = s;
	}
	return n;
}

/* Build and publish VM's status now. */
static void write_status(struct vgpu_mediator *m, struct vm *vm, uint64_t now_ms)
{
	struct vgpu_progress_vm *p = &vm->prog;
	struct vgpu_status_rec s;
	/* its own fault points (status/publish/...): a fault injected into the VM's
	 * response.txt publication must not be taken by a heartbeat */
	struct vgpu_publish_how how = { .chown = vm->has_uid, .uid = vm->uid, .gid = vm->gid, .nosync = 1,
					.faults = "status/publish" };
	const struct job *job = vm->job;
	uint64_t wall = wall_ms();
	char buf[1024];
	int slot = -1, len, rc;

	memset(&s, 0, sizeof(s));
	s.vm = vm->id;
	s.beat = m->prog.beat + 1;
	s.time_ms = wall;
	s.period_ms = VGPU_PROGRESS_PERIOD_MS;
	s.cap = (enum vgpu_prio)vm->cap;
	s.priority = s.cap;
	s.running = (uint64_t)busy_slots(m, &slot, job);
	s.answered = vm->st.answered_seq;
	snprintf(s.executor, sizeof(s.executor), "%s", m->cfg.ex->ops->name);
	s.since_ms = p->idle_since_wall_ms ? p->idle_since_wall_ms : wall;
	if (job) {
		uint64_t t_us = job->started_us ? job->started_us : job->enqueued_us, now_us = vgpu_now_us();

		s.state = job->started_us ? VGPU_PROGRESS_RUNNING : VGPU_PROGRESS_QUEUED;
		s.seq = job->req.seq;
		memcpy(s.nonce, job->req.nonce, sizeof(s.nonce));
		s.priority = (enum vgpu_prio)job->prio;
		s.since_ms = wall - (now_us > t_us ? (now_us - t_us) / 1000 : 0);
		if (s.state == VGPU_PROGRESS_QUEUED)
			s.position = position_of(m, job, now_ms);
		else if (slot >= 0)
			snprintf(s.executor, sizeof(s.executor), "%s", vgpu_executor_slot_name(m->cfg.ex, slot));
		if (p->x_exec_us && p->x_op == job->req.op && memcmp(&p->x_args, &job->req.args, sizeof(p->x_args)) == 0)
			s.expected_ms = (p->x_exec_us + 999) / 1000;
	}
	len = vgpu_status_rec_encode(&s, buf, sizeof(buf));
	if (len < 0) {
		/* an executor name out of the grammar: say nothing rather than something wrong */
		snprintf(s.executor, sizeof(s.executor), "unknown");
		len = vgpu_status_rec_encode(&s, buf, sizeof(buf));
	}
	p->last_write_ms = now_ms;
	if (!p->written)
		p->next_beat_ms = now_ms + VGPU_PROGRESS_PERIOD_MS / 2 + (vm->id * 37u) % (VGPU_PROGRESS_PERIOD_MS / 2);
	else
		p->next_beat_ms = now_ms + VGPU_PROGRESS_PERIOD_MS;
	p->written = 1;
	p->w_state = s.state;
	p->w_seq = s.seq;
	p->w_position = s.position;
	p->w_prio = (int)s.priority;
	p->w_cap = (int)s.cap;
	if (len < 0)
		return;
	rc = vgpu_publish_ex(vm->dirfd, VGPU_STATUS_FILE, buf, (size_t)len, NULL, 0, 0644, &how);
	if (rc < 0) {
		if (!p->warned++)
			vgpu_vm_warn(m, vm, "publishing %s: %s; clients cannot see the mediator's progress",
				     VGPU_STATUS_FILE, vgpu_safeio_strerror(rc));
		return;
	}
	p->warned = 0;
	m->prog.beat = s.beat;
	m->prog.writes++;
}

void vgpu_progress_seen(struct vgpu_mediator *m, struct vm *vm)
{
	memset(&vm->prog, 0, sizeof(vm->prog));
	vm->prog.idle_since_wall_ms = wall_ms();
	vm->prog.seen_ms = vgpu_now_ms();
	write_status(m, vm, vm->prog.seen_ms);
}

void vgpu_progress_finished(struct vm *vm, const struct job *job, uint64_t exec_us)
{
	vm->prog.x_op = job->req.op;
	vm->prog.x_args = job->req.args;
	vm->prog.x_exec_us = exec_us ? exec_us : 1;
}

/* Is VM's status due at NOW_MS? */
static int due(const struct vgpu_mediator *m, struct vm *vm, uint64_t now_ms)
{
	struct vgpu_progress_vm *p = &vm->prog;
	const struct job *job = vm->job;
	enum vgpu_progress_state st = !job ? VGPU_PROGRESS_IDLE : job->started_us ? VGPU_PROGRESS_RUNNING
										 : VGPU_PROGRESS_QUEUED;
	int64_t seq = job ? job->req.seq : 0;

	if (st != p->state || seq != p->seq) {
		p->state = st;
		p->seq = seq;
		p->seen_ms = now_ms;
		if (st == VGPU_PROGRESS_IDLE)
			p->idle_since_wall_ms = wall_ms();
	}
	if (!p->written || now_ms >= p->next_beat_ms)
		return 1;
	if (now_ms - p->last_write_ms < VGPU_PROGRESS_MIN_GAP_MS || now_ms - p->seen_ms < VGPU_PROGRESS_LAZY_MS)
		return 0;
	if (st != p->w_state || seq != p->w_seq || vm->cap != p->w_cap || (job && job->prio != p->w_prio))
		return 1;
	return st == VGPU_PROGRESS_QUEUED && now_ms - p->last_write_ms >= VGPU_PROGRESS_POSITION_GAP_MS &&
	       position_of(m, job, now_ms) != p->w_position;
}

uint64_t vgpu_progress_tick(struct vgpu_mediator *m, uint64_t now_ms)
{
	if (now_ms < m->prog.next_tick_ms)
		return m->prog.next_tick_ms;
	m->prog.next_tick_ms = now_ms + VGPU_PROGRESS_TICK_MS;
	uint64_t next = now_ms + VGPU_PROGRESS_PERIOD_MS;

	for (size_t i = 0; i < m->nvms; i++) {
		struct vm *vm = m->vms[i];

		if (due(m, vm, now_ms))
			write_status(m, vm, now_ms);
		if (vm->prog.next_beat_ms < next)
			next = vm->prog.next_beat_ms;
		/* a state not written yet: look again once it may be */
		if (vm->prog.state != vm->prog.w_state || vm->prog.seq != vm->prog.w_seq) {
			uint64_t t = vm->prog.seen_ms + VGPU_PROGRESS_LAZY_MS;

			if (t < vm->prog.last_write_ms + VGPU_PROGRESS_MIN_GAP_MS)
				t = vm->prog.last_write_ms + VGPU_PROGRESS_MIN_GAP_MS;
			if (t < next)
				next = t;
		}
	}
	return next > m->prog.next_tick_ms ? next : m->prog.next_tick_ms;
}
