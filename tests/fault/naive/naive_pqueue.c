/* naive_pqueue.c - the deliberately naive priority queue of naive_pqueue.h: the usual
 * array heap with a comparator on priority alone. A heap is not a stable order, so
 * equal priorities come out in no particular order; with NAIVE_PQ_INVERTED the
 * comparator's sign is flipped, as the errors log suspects. */
#include <errno.h>
#include <stdlib.h>

#include "naive_pqueue.h"

static int before(const struct naive_pq *q, const struct naive_job *a, const struct naive_job *b)
{
	int cmp = q->bug == NAIVE_PQ_INVERTED ? a->prio - b->prio : b->prio - a->prio;
	return cmp < 0;   /* a comes out first */
}

static void swap(struct naive_job *a, struct naive_job *b)
{
	struct naive_job t = *a;
	*a = *b;
	*b = t;
}

int naive_pq_init(struct naive_pq *q, size_t cap, enum naive_pq_bug bug)
{
	q->heap = calloc(cap ? cap : 1, sizeof(*q->heap));
	q->len = 0;
	q->cap = cap;
	q->bug = bug;
	return q->heap ? 0 : -ENOMEM;
}

void naive_pq_release(struct naive_pq *q)
{
	free(q->heap);
	q->heap = NULL;
	q->len = q->cap = 0;
}

int naive_pq_push(struct naive_pq *q, struct naive_job job)
{
	size_t i;

	if (q->len == q->cap)
		return -ENOSPC;
	i = q->len++;
	q->heap[i] = job;
	while (i > 0 && before(q, &q->heap[i], &q->heap[(i - 1) / 2])) {
		swap(&q->heap[i], &q->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	return 0;
}

int naive_pq_pop(struct naive_pq *q, struct naive_job *out)
{
	size_t i = 0;

	if (q->len == 0)
		return 0;
	*out = q->heap[0];
	q->heap[0] = q->heap[--q->len];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, best = i;
		if (l < q->len && before(q, &q->heap[l], &q->heap[best]))
			best = l;
		if (r < q->len && before(q, &q->heap[r], &q->heap[best]))
			best = r;
		if (best == i)
			break;
		swap(&q->heap[i], &q->heap[best]);
		i = best;
	}
	return 1;
}
