/* test_arena.c - the per-job arena (src/exec/arena.c) with a counting allocator:
 * leaks are found, reclaimed and sized exactly; failures leave nothing behind; and the
 * mock backend turns a leak into LEAKED. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "exec/arena.h"
#include "exec/backend.h"
#include "lib/status.h"
#include "../common/testutil.h"

struct counter {
	int allocs, frees, fail_next;
	long long live;
	void *last_freed;
};

/* Stores the size in front of the block so that frees can be accounted. */
static int count_alloc(void *ctx, void **ptr, size_t bytes)
{
	struct counter *c = ctx;
	size_t *p;

	if (c->fail_next) {
		c->fail_next = 0;
		return -ENOSPC;
	}
	p = malloc(sizeof(size_t) + bytes);
	if (!p)
		return -ENOMEM;
	p[0] = bytes;
	c->allocs++;
	c->live += (long long)bytes;
	*ptr = p + 1;
	return 0;
}

static void count_free(void *ctx, void *ptr)
{
	struct counter *c = ctx;
	size_t *p = (size_t *)ptr - 1;

	c->frees++;
	c->live -= (long long)p[0];
	c->last_freed = ptr;
	free(p);
}

START_TEST(test_alloc_free_no_leak)
{
	struct counter c = { 0 };
	struct vgpu_arena a;
	void *x, *y;

	vgpu_arena_init(&a, count_alloc, count_free, &c);
	ck_assert_int_eq(vgpu_arena_alloc(&a, &x, 100), 0);
	ck_assert_int_eq(vgpu_arena_alloc(&a, &y, 28), 0);
	ck_assert_uint_eq(a.live_bytes, 128);
	vgpu_arena_free(&a, x);
	ck_assert(c.last_freed == x);
	ck_assert_uint_eq(a.live_bytes, 28);
	vgpu_arena_free(&a, y);
	ck_assert_uint_eq(a.live_bytes, 0);
	ck_assert_uint_eq(a.peak_bytes, 128);
	ck_assert_uint_eq(vgpu_arena_reclaim(&a), 0);
	ck_assert_int_eq(c.allocs, 2);
	ck_assert_int_eq(c.frees, 2);
	ck_assert_int_eq(c.live, 0);
}
END_TEST

START_TEST(test_leak_found_and_reclaimed)
{
	struct counter c = { 0 };
	struct vgpu_arena a;
	void *p[5];

	vgpu_arena_init(&a, count_alloc, count_free, &c);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(vgpu_arena_alloc(&a, &p[i], (size_t)(i + 1) * 1000), 0);
	vgpu_arena_free(&a, p[1]);      /* 2000 */
	vgpu_arena_free(&a, p[3]);      /* 4000 */
	ck_assert_int_eq(c.live, 9000);
	ck_assert_uint_eq(vgpu_arena_reclaim(&a), 9000);   /* 1000 + 3000 + 5000 */
	ck_assert_int_eq(c.live, 0);
	ck_assert_int_eq(c.frees, 5);
	ck_assert(a.blocks == NULL);
	ck_assert_uint_eq(a.live_bytes, 0);
	ck_assert_uint_eq(a.peak_bytes, 15000);
	/* reusable after reclaim */
	ck_assert_uint_eq(vgpu_arena_reclaim(&a), 0);
	ck_assert_int_eq(vgpu_arena_alloc(&a, &p[0], 7), 0);
	ck_assert_uint_eq(vgpu_arena_reclaim(&a), 7);
	ck_assert_int_eq(c.live, 0);
}
END_TEST

START_TEST(test_alloc_failure_tracks_nothing)
{
	struct counter c = { 0 };
	struct vgpu_arena a;
	void *p = (void *)&c;

	vgpu_arena_init(&a, count_alloc, count_free, &c);
	c.fail_next = 1;
	ck_assert_int_eq(vgpu_arena_alloc(&a, &p, 64), -ENOSPC);
	ck_assert(p == NULL);
	ck_assert_uint_eq(a.live_bytes, 0);
	ck_assert_uint_eq(vgpu_arena_reclaim(&a), 0);
	ck_assert_int_eq(c.frees, 0);
}
END_TEST

START_TEST(test_free_null_and_foreign)
{
	struct counter c = { 0 };
	struct vgpu_arena a;
	void *p;
	int foreign;

	vgpu_arena_init(&a, count_alloc, count_free, &c);
	ck_assert_int_eq(vgpu_arena_alloc(&a, &p, 16), 0);
	vgpu_arena_free(&a, NULL);
	vgpu_arena_free(&a, &foreign);   /* not from this arena: ignored, not freed */
	ck_assert_int_eq(c.frees, 0);
	vgpu_arena_free(&a, p);
	vgpu_arena_free(&a, p);          /* double free: second one is not ours any more */
	ck_assert_int_eq(c.frees, 1);
	ck_assert_uint_eq(vgpu_arena_reclaim(&a), 0);
}
END_TEST

START_TEST(test_mock_leak_is_leaked)
{
	struct vgpu_job job;
	struct vgpu_job_result res;
	void *ctx = NULL;
	char err[128];

	ck_assert_int_eq(vgpu_backend_mock.init(&ctx, 0, err, sizeof(err)), 0);
	memset(&job, 0, sizeof(job));
	job.op = VGPU_OP_LEAK;
	job.args.bytes = 123457;
	ck_assert_int_eq(vgpu_backend_mock.run(ctx, &job, &res), 0);
	ck_assert_int_eq(res.status, VGPU_LEAKED);
	ck_assert_uint_eq(res.leaked_bytes, 123457);
	ck_assert_str_eq(res.error, "job leaked 123457 bytes of device memory; reclaimed");

	/* a seeded vadd frees its operands: no leak */
	float out[64];
	memset(&job, 0, sizeof(job));
	job.op = VGPU_OP_VADD;
	job.args.n = 64;
	job.args.has_seed = 1;
	job.args.seed = 3;
	job.out = out;
	job.out_count = 64;
	ck_assert_int_eq(vgpu_backend_mock.run(ctx, &job, &res), 0);
	ck_assert_int_eq(res.status, VGPU_OK);
	ck_assert_uint_eq(res.leaked_bytes, 0);
	ck_assert_str_eq(res.error, "");
	vgpu_backend_mock.fini(ctx);
}
END_TEST

static Suite *arena_suite(void)
{
	Suite *s = suite_create("arena");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_alloc_free_no_leak);
	tcase_add_test(tc, test_leak_found_and_reclaimed);
	tcase_add_test(tc, test_alloc_failure_tracks_nothing);
	tcase_add_test(tc, test_free_null_and_foreign);
	tcase_add_test(tc, test_mock_leak_is_leaked);
	suite_add_tcase(s, tc);
	return s;
}

TU_CHECK_MAIN(arena_suite)
