/* test_pqueue.c - the priority queue against a reference model.
 *
 * The model is the rule written as plainly as possible (scan everything, take the
 * highest effective priority, earliest arrival); thousands of seeded random operation
 * sequences must agree with it. VGPU_SEED=N replays one seed. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include "mediator/pqueue.h"
#include "../common/testutil.h"

struct job {
	struct vgpu_pq_item item;   /* first: the queue hands back this pointer */
	int id;
	int queued;
};

static uint64_t rng_state;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

START_TEST(test_order_without_aging)
{
	struct vgpu_pq q;
	struct job j[6];
	int prios[6] = { 0, 1, 2, 0, 2, 1 };
	int expect[6] = { 2, 4, 1, 5, 0, 3 };

	vgpu_pq_init(&q, 0);
	for (int i = 0; i < 6; i++) {
		j[i].id = i;
		vgpu_pq_push(&q, &j[i].item, prios[i], 100);
	}
	ck_assert_uint_eq(vgpu_pq_len(&q), 6);
	for (int i = 0; i < 6; i++) {
		struct job *got = (struct job *)vgpu_pq_pop(&q, 100 + (uint64_t)i * 1000000);
		ck_assert_ptr_nonnull(got);
		ck_assert_int_eq(got->id, expect[i]);
	}
	ck_assert_ptr_null(vgpu_pq_pop(&q, 0));
	ck_assert_uint_eq(vgpu_pq_len(&q), 0);
}
END_TEST

/* The user's own verification test: submit low, medium, high; get high, medium, low. */
START_TEST(test_user_verification_order)
{
	struct vgpu_pq q;
	struct job lo = { .id = 0 }, me = { .id = 1 }, hi = { .id = 2 };

	vgpu_pq_init(&q, 10000);
	vgpu_pq_push(&q, &lo.item, 0, 1);
	vgpu_pq_push(&q, &me.item, 1, 2);
	vgpu_pq_push(&q, &hi.item, 2, 3);
	ck_assert_int_eq(((struct job *)vgpu_pq_pop(&q, 4))->id, 2);
	ck_assert_int_eq(((struct job *)vgpu_pq_pop(&q, 5))->id, 1);
	ck_assert_int_eq(((struct job *)vgpu_pq_pop(&q, 6))->id, 0);
}
END_TEST

/* Aging bound: a low job waiting 2*aging is served before any high job that arrived
 * after it, however many keep coming. */
START_TEST(test_aging_bounds_starvation)
{
	struct vgpu_pq q;
	static struct job flood[1000];
	struct job lo = { .id = -1 };
	uint64_t now = 0;
	int served_at = -1, k = 0;

	vgpu_pq_init(&q, 100);
	vgpu_pq_push(&q, &lo.item, 0, now);
	for (int i = 0; i < 1000 && served_at < 0; i++) {
		flood[i].id = i;
		vgpu_pq_push(&q, &flood[i].item, 2, now);
		now += 10;  /* each job "runs" 10 ms, one high arrives per job */
		struct job *got = (struct job *)vgpu_pq_pop(&q, now);
		if (got->id == -1)
			served_at = k;
		k++;
	}
	ck_assert_int_ge(served_at, 0);
	/* it becomes high at t=200 ms; 20 high jobs ran before it at most */
	ck_assert_int_le(served_at, 21);
	ck_assert_int_gt(served_at, 5);   /* and aging did not make it jump the queue early */
	while (vgpu_pq_pop(&q, now))
		;
}
END_TEST

START_TEST(test_remove_middle)
{
	struct vgpu_pq q;
	struct job j[3] = { { .id = 0 }, { .id = 1 }, { .id = 2 } };

	vgpu_pq_init(&q, 0);
	for (int i = 0; i < 3; i++)
		vgpu_pq_push(&q, &j[i].item, 1, 0);
	vgpu_pq_remove(&q, &j[1].item);
	ck_assert_int_eq(((struct job *)vgpu_pq_pop(&q, 0))->id, 0);
	ck_assert_int_eq(((struct job *)vgpu_pq_pop(&q, 0))->id, 2);
	ck_assert_ptr_null(vgpu_pq_peek(&q, 0));
}
END_TEST

/* The reference model: linear scan. */
static struct job *model_pick(struct job *jobs, int n, const struct vgpu_pq *q, uint64_t now)
{
	struct job *best = NULL;
	int beff = -1;

	for (int i = 0; i < n; i++) {
		if (!jobs[i].queued)
			continue;
		int eff = jobs[i].item.prio;
		if (q->aging_ms) {
			uint64_t w = now - jobs[i].item.enqueued_ms;
			eff += (int)(w / q->aging_ms > 2 ? 2 : w / q->aging_ms);
			if (eff > 2)
				eff = 2;
		}
		if (eff > beff || (eff == beff && jobs[i].item.arrival < best->item.arrival)) {
			best = &jobs[i];
			beff = eff;
		}
	}
	return best;
}

static void run_sequence(uint64_t seed)
{
	enum { N = 200 };
	struct job jobs[N];
	struct vgpu_pq q;
	uint64_t now = 0;
	int pushed = 0;

	rng_state = seed * 2654435761u + 1;
	vgpu_pq_init(&q, rnd() % 3 == 0 ? 0 : 1 + rnd() % 50);
	for (int step = 0; step < 400; step++) {
		now += rnd() % 20;
		if (pushed < N && (rnd() % 3 != 0 || vgpu_pq_len(&q) == 0)) {
			jobs[pushed].id = pushed;
			jobs[pushed].queued = 1;
			vgpu_pq_push(&q, &jobs[pushed].item, (int)(rnd() % 3), now);
			pushed++;
		} else {
			struct job *want = model_pick(jobs, pushed, &q, now);
			struct job *got = (struct job *)vgpu_pq_pop(&q, now);
			ck_assert_msg(want == got, "seed %llu step %d: queue gave %d, model %d",
				      (unsigned long long)seed, step, got ? got->id : -1, want ? want->id : -1);
			if (got)
				got->queued = 0;
		}
	}
	while (vgpu_pq_len(&q)) {
		struct job *want = model_pick(jobs, pushed, &q, now);
		struct job *got = (struct job *)vgpu_pq_pop(&q, now);
		ck_assert_msg(want == got, "seed %llu drain: queue gave %d, model %d",
			      (unsigned long long)seed, got ? got->id : -1, want ? want->id : -1);
		got->queued = 0;
	}
}

START_TEST(test_against_model)
{
	const char *env = getenv("VGPU_SEED");

	if (env) {
		run_sequence(strtoull(env, NULL, 10));
		return;
	}
	for (uint64_t seed = 1; seed <= 3000; seed++)
		run_sequence(seed);
}
END_TEST

static Suite *pqueue_suite(void)
{
	Suite *s = suite_create("pqueue");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_order_without_aging);
	tcase_add_test(tc, test_user_verification_order);
	tcase_add_test(tc, test_aging_bounds_starvation);
	tcase_add_test(tc, test_remove_middle);
	tcase_add_test(tc, test_against_model);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

TU_CHECK_MAIN(pqueue_suite)
