/* naive_pqueue.h - ERRORS_LOG error 9's suspected bugs, on purpose: a binary heap of
 * jobs keyed on priority only (no arrival counter, so it is not FIFO within a priority)
 * and, optionally, with the comparison inverted (low served before high).
 * The negative control of tests/fault/err09_priority.c; never used by the product. */
#ifndef VGPU_NAIVE_PQUEUE_H
#define VGPU_NAIVE_PQUEUE_H

#include <stddef.h>

enum naive_pq_bug {
	NAIVE_PQ_PRIO_ONLY = 0,  /* "return b->prio - a->prio": right direction, no tie-break */
	NAIVE_PQ_INVERTED = 1,   /* "return a->prio - b->prio": the sign flipped */
};

struct naive_job {
	int prio;                /* 0 low, 1 medium, 2 high */
	int id;                  /* submission order, known to the test only */
};

struct naive_pq {
	struct naive_job *heap;
	size_t len, cap;
	enum naive_pq_bug bug;
};

/* CAP jobs at most; 0 or -ENOMEM. */
int naive_pq_init(struct naive_pq *q, size_t cap, enum naive_pq_bug bug);
void naive_pq_release(struct naive_pq *q);
/* 0, or -ENOSPC when full. */
int naive_pq_push(struct naive_pq *q, struct naive_job job);
/* 1 and *out, or 0 when empty. */
int naive_pq_pop(struct naive_pq *q, struct naive_job *out);

#endif
