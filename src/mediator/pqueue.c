/* pqueue.c - three FIFO lists (low, medium, high) with aging; see pqueue.h.
 *
 * Within one list items are in arrival order, and aging is monotone in waiting time,
 * so the head of each list is that list's best item: pop compares three heads. */
#include "pqueue.h"

void vgpu_pq_init(struct vgpu_pq *q, uint64_t aging_ms)
{
	for (int p = 0; p < 3; p++)
		q->head[p].next = q->head[p].prev = &q->head[p];
	q->next_arrival = 1;
	q->aging_ms = aging_ms;
	q->len = 0;
}

static int clamp_prio(int prio)
{
	return prio < 0 ? 0 : prio > 2 ? 2 : prio;
}

void vgpu_pq_push(struct vgpu_pq *q, struct vgpu_pq_item *item, int prio, uint64_t now_ms)
{
	struct vgpu_pq_item *h = &q->head[clamp_prio(prio)];

	item->prio = clamp_prio(prio);
	item->arrival = q->next_arrival++;
	item->enqueued_ms = now_ms;
	item->prev = h->prev;
	item->next = h;
	h->prev->next = item;
	h->prev = item;
	q->len++;
}

int vgpu_pq_effective(const struct vgpu_pq *q, const struct vgpu_pq_item *item, uint64_t now_ms)
{
	uint64_t waited, steps;

	if (q->aging_ms == 0 || now_ms <= item->enqueued_ms)
		return item->prio;
	waited = now_ms - item->enqueued_ms;
	steps = waited / q->aging_ms;
	return steps >= 2 ? 2 : clamp_prio(item->prio + (int)steps);
}

struct vgpu_pq_item *vgpu_pq_peek(const struct vgpu_pq *q, uint64_t now_ms)
{
	const struct vgpu_pq_item *best = NULL;
	int best_eff = -1;

	for (int p = 2; p >= 0; p--) {
		const struct vgpu_pq_item *it = q->head[p].next;
		int eff;

		if (it == &q->head[p])
			continue;
		eff = vgpu_pq_effective(q, it, now_ms);
		if (eff > best_eff || (eff == best_eff && it->arrival < best->arrival)) {
			best = it;
			best_eff = eff;
		}
	}
	return (struct vgpu_pq_item *)best;
}

void vgpu_pq_remove(struct vgpu_pq *q, struct vgpu_pq_item *item)
{
	item->prev->next = item->next;
	item->next->prev = item->prev;
	item->next = item->prev = NULL;
	q->len--;
}

struct vgpu_pq_item *vgpu_pq_pop(struct vgpu_pq *q, uint64_t now_ms)
{
	struct vgpu_pq_item *it = vgpu_pq_peek(q, now_ms);

	if (it)
		vgpu_pq_remove(q, it);
	return it;
}
