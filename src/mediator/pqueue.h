/* pqueue.h - the job queue: high before medium before low, FIFO within a priority,
 * with aging so that a waiting job is never starved for long.
 *
 * Order is by the queue's own arrival counter, never a VM's clock. A job's effective
 * priority is its priority plus one level per AGING_MS it has waited (capped at high);
 * among equal effective priorities the earlier arrival wins. Bound (docs/HARNESS.md):
 * a job reaches high after 2*AGING_MS and is then behind only jobs that arrived earlier.
 * Intrusive: the caller embeds struct vgpu_pq_item in its own job struct. O(1) push/pop. */
#ifndef VGPU_PQUEUE_H
#define VGPU_PQUEUE_H

#include <stddef.h>
#include <stdint.h>

struct vgpu_pq_item {
	struct vgpu_pq_item *next, *prev;
	int prio;                 /* 0 low .. 2 high, as pushed */
	uint64_t arrival;         /* set by push: 1, 2, 3, ... */
	uint64_t enqueued_ms;     /* set by push */
};

struct vgpu_pq {
	struct vgpu_pq_item head[3];  /* circular list sentinels, one per priority */
	uint64_t next_arrival;
	uint64_t aging_ms;        /* 0: no aging */
	size_t len;
};

void vgpu_pq_init(struct vgpu_pq *q, uint64_t aging_ms);
/* Append ITEM at priority PRIO (0..2) at time NOW_MS. Can't fail. */
void vgpu_pq_push(struct vgpu_pq *q, struct vgpu_pq_item *item, int prio, uint64_t now_ms);
/* Remove and return the next item at NOW_MS, or NULL when empty. */
struct vgpu_pq_item *vgpu_pq_pop(struct vgpu_pq *q, uint64_t now_ms);
/* The item pop() would return, without removing it. */
struct vgpu_pq_item *vgpu_pq_peek(const struct vgpu_pq *q, uint64_t now_ms);
/* Remove ITEM (must be queued). */
void vgpu_pq_remove(struct vgpu_pq *q, struct vgpu_pq_item *item);
/* Effective priority of ITEM at NOW_MS. */
int vgpu_pq_effective(const struct vgpu_pq *q, const struct vgpu_pq_item *item, uint64_t now_ms);
static inline size_t vgpu_pq_len(const struct vgpu_pq *q) { return q->len; }

#endif
