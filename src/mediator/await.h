/* await.h - how the mediator waits for a running job's end (docs/MEDIATOR.md "Waiting
 * for a job"): sleep until shortly before the end its VM's last like job predicts, then
 * look without sleeping for at most spin_us, so that the answer does not also pay the
 * wake-up of a long sleep; and, with VGPU_MEDIATOR_PHASES=1, one line per job. */
#ifndef VGPU_MEDIATOR_AWAIT_H
#define VGPU_MEDIATOR_AWAIT_H

#include <stdint.h>

struct vgpu_mediator;
struct job;

/* The settings from the environment (VGPU_MEDIATOR_SPIN_US, VGPU_MEDIATOR_PHASES). */
void vgpu_await_init(struct vgpu_mediator *m);
/* JOB was handed to its slot at job->started_us: plan its window. HAS_FD: the slot has a
 * descriptor that says when it is done (no window for one that has none). */
void vgpu_await_started(struct vgpu_mediator *m, struct job *job, int has_fd);
/* How long step() may sleep at NOW_US (us), given TIMEOUT_US: 0 inside a running job's
 * window, up to the window's start before it. */
uint64_t vgpu_await_timeout(const struct vgpu_mediator *m, uint64_t now_us, uint64_t timeout_us);
/* JOB's slot answered at NOW_US after RUN_US in the executor: learn its round trip. */
void vgpu_await_finished(struct vgpu_mediator *m, struct job *job, uint64_t now_us, uint64_t exec_us);
/* With phases on: JOB's line, ANSWER_US spent answering it. */
void vgpu_await_phases(const struct vgpu_mediator *m, const struct job *job, uint64_t answer_us);

#endif
