/* await.c - waiting for a running job's end (await.h, docs/MEDIATOR.md "Waiting for a
 * job"). The loop sleeps in ppoll on the slot's descriptor; after a sleep as long as a GPU
 * job the wake-up itself costs tens of microseconds (the CPU's idle states), paid on every
 * answer. So, as the block layer's hybrid polling does, the loop sleeps only until
 * shortly before the end that the VM's last like job (same op and sizes) predicts, then
 * looks without sleeping, for at most spin_us; past the window it sleeps again. Nothing
 * else changes: each look is a full ppoll of every descriptor, so other VMs' requests are
 * read as promptly as when it sleeps. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

#include "await.h"
#include "lib/env.h"
#include "lib/op.h"
#include "mediator_int.h"

#define SPIN_DEFAULT_US 0
#define SPIN_MAX_US 10000

void vgpu_await_init(struct vgpu_mediator *m)
{
	m->spin_us = vgpu_env_u64("VGPU_MEDIATOR_SPIN_US", SPIN_DEFAULT_US, 0, SPIN_MAX_US);
	m->phases = vgpu_env_u64("VGPU_MEDIATOR_PHASES", 0, 0, 1) == 1;
	if (m->spin_us)   /* wake at the window's start, not up to 50 us after it */
		(void)prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
}

/* Was the VM's last finished job like JOB: the same op and arguments, the seed aside
 * (a kernel job's arguments include its entry, grid and buffers)? */
static int like_last(const struct vgpu_progress_vm *p, const struct job *job)
{
	struct vgpu_op_args a = p->x_args, b = job->req.args;

	a.has_seed = b.has_seed = 0;
	a.seed = b.seed = 0;
	return p->x_rtt_us && p->x_op == job->req.op && memcmp(&a, &b, sizeof(a)) == 0;
}

void vgpu_await_started(struct vgpu_mediator *m, struct job *job, int has_fd)
{
	const struct vgpu_progress_vm *p = &job->vm->prog;
	uint64_t expect, half = m->spin_us / 2;

	job->spin_from_us = job->spin_to_us = 0;
	job->spin_on = 0;
	/* No window without a descriptor to look at (Plan B's remote slot is reaped by
	 * reading the worker VM's files: looking without sleeping would be NFS reads back
	 * to back), nor without a like job to go by. */
	if (!m->spin_us || !has_fd || !like_last(p, job))
		return;
	expect = p->x_rtt_us;
	job->spin_from_us = job->started_us + (expect > half ? expect - half : 0);
	job->spin_to_us = job->spin_from_us + m->spin_us;
	/* After a job that ended past its window (it cost the whole spin_us for nothing)
	 * the window is only planned, not used, until a like job ends inside it again: a VM
	 * whose like jobs vary in length cannot make each of them cost spin_us. */
	job->spin_on = !p->spin_missed;
}

uint64_t vgpu_await_timeout(const struct vgpu_mediator *m, uint64_t now_us, uint64_t timeout_us)
{
	for (int s = 0; s < m->nslots && m->spin_us; s++) {
		const struct job *job = m->slots[s];

		if (!job || !job->spin_on || now_us >= job->spin_to_us)
			continue;
		if (now_us >= job->spin_from_us)
			return 0;
		if (job->spin_from_us - now_us < timeout_us)
			timeout_us = job->spin_from_us - now_us;
	}
	return timeout_us;
}

void vgpu_await_finished(struct vgpu_mediator *m, struct job *job, uint64_t now_us, uint64_t exec_us)
{
	(void)m;
	job->rtt_us = now_us > job->started_us ? now_us - job->started_us : 1;
	job->exec_us = exec_us;
	job->vm->prog.x_rtt_us = job->rtt_us ? job->rtt_us : 1;
	if (job->spin_to_us)   /* a window was planned: did the job end before its end? */
		job->vm->prog.spin_missed = now_us >= job->spin_to_us;
}

void vgpu_await_phases(const struct vgpu_mediator *m, const struct job *job, uint64_t answer_us)
{
	uint64_t now;

	if (!m->phases)
		return;
	now = vgpu_now_us();
	fprintf(stderr,
		"vgpu-mediator-phases: vm=%" PRIu32 " seq=%" PRId64 " op=%s queue_us=%" PRIu64 " intent_us=%" PRIu64
		" rtt_us=%" PRIu64 " exec_us=%" PRIu64 " answer_us=%" PRIu64 " window_us=%" PRIu64
		" woke_us=%" PRIu64 "\n",
		job->vm->id, job->req.seq, vgpu_op_name(job->req.op),
		job->started_us > job->enqueued_us ? job->started_us - job->enqueued_us : 0, job->intent_us,
		job->rtt_us, job->exec_us, answer_us, job->spin_on ? job->spin_to_us - job->spin_from_us : 0,
		m->woke_us && now > m->woke_us ? now - m->woke_us : 0);
}
