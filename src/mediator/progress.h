/* progress.h - vmN/status.txt: the mediator tells each VM that it is alive and where the
 * VM's request is (docs/PROTOCOL.md section 10). Not an API: only src/mediator. */
#ifndef VGPU_MEDIATOR_PROGRESS_H
#define VGPU_MEDIATOR_PROGRESS_H

#include <stdint.h>
#include "lib/op.h"
#include "lib/record_status.h"

/* The heartbeat: every VM's status.txt is rewritten at least this often (the clients'
 * VGPU_CLIENT_BEAT_MS, client.h). */
#define VGPU_PROGRESS_PERIOD_MS 2000
/* A state must last this long before it is written (a ping never costs a write) ... */
#define VGPU_PROGRESS_LAZY_MS 100
/* ... and a VM's status is written at most once per this (10 a second) ... */
#define VGPU_PROGRESS_MIN_GAP_MS 100
/* ... and a change of queue position alone at most once per this. */
#define VGPU_PROGRESS_POSITION_GAP_MS 1000
/* The VMs are looked at no more often than this (the loop's CPU stays flat). */
#define VGPU_PROGRESS_TICK_MS 10

struct vgpu_progress_vm {
	int written;                 /* status.txt written since we serve the VM */
	uint64_t next_beat_ms;       /* heartbeat due (monotonic) */
	uint64_t last_write_ms;
	/* what was written last */
	enum vgpu_progress_state w_state;
	int64_t w_seq;
	uint64_t w_position;
	int w_prio, w_cap;
	/* the state now, as the ticks saw it */
	enum vgpu_progress_state state;
	int64_t seq;
	uint64_t seen_ms;            /* monotonic: when the ticks first saw it */
	uint64_t idle_since_wall_ms;
	/* the VM's last finished job: its op, sizes and run time (expected_ms) */
	enum vgpu_op x_op;
	struct vgpu_op_args x_args;
	uint64_t x_exec_us;
	uint64_t x_rtt_us;           /* await.c: its round trip through the executor slot */
	int spin_missed;             /* await.c: it ended past its planned window */
	int warned;
};

/* The mediator's part: one per process. */
struct vgpu_progress {
	uint64_t beat;               /* last beat written (+1 per write) */
	uint64_t writes;             /* status.txt written */
	uint64_t next_tick_ms;
};

struct vgpu_mediator;
struct vm;
struct job;

/* A VM starts being served: its status.txt is written at once. */
void vgpu_progress_seen(struct vgpu_mediator *m, struct vm *vm);
/* JOB of its VM finished after EXEC_US of execution (expected_ms of the next like it). */
void vgpu_progress_finished(struct vm *vm, const struct job *job, uint64_t exec_us);
/* Write what is due (heartbeats, lazy state changes); at most every
 * VGPU_PROGRESS_TICK_MS. Returns when the next write may be due (monotonic ms). */
uint64_t vgpu_progress_tick(struct vgpu_mediator *m, uint64_t now_ms);

#endif
