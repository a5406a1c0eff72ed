/* test_await.c - the mediator's wait for a running job (src/mediator/await.c,
 * docs/MEDIATOR.md "Waiting for a job"): the window in which the loop looks without
 * sleeping opens only for a job whose VM ran a like job before (same op and sizes),
 * around that job's round trip, and closes after spin_us; outside it the loop sleeps as
 * before, and never longer than it was going to. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include "mediator/mediator_int.h"
#include "mediator/await.h"
#include "../common/testutil.h"

static struct vgpu_mediator m;
static struct vm vm;
static struct job job, *slots[2];

static void setup_with(uint64_t spin_us)
{
	memset(&m, 0, sizeof(m));
	memset(&vm, 0, sizeof(vm));
	memset(&job, 0, sizeof(job));
	slots[0] = slots[1] = NULL;
	m.slots = slots;
	m.nslots = 2;
	m.spin_us = spin_us;
	vm.id = 1;
	job.vm = &vm;
	job.req.op = VGPU_OP_VADD;
	job.req.args.n = 1 << 24;
}

/* VM's last like job took RTT_US through its slot; JOB starts at 1000000 us in slot 1. */
static void learned(uint64_t rtt_us)
{
	struct job prev = job;

	prev.started_us = 10;
	vgpu_await_finished(&m, &prev, 10 + rtt_us, rtt_us - 5);
	vm.prog.x_op = prev.req.op;
	vm.prog.x_args = prev.req.args;
	job.started_us = 1000000;
	vgpu_await_started(&m, &job, 1);
	slots[1] = &job;
}

START_TEST(test_window_around_the_learned_round_trip)
{
	setup_with(1000);
	learned(5000);
	ck_assert_uint_eq(vm.prog.x_rtt_us, 5000);
	ck_assert_uint_eq(job.spin_from_us, 1000000 + 4500);
	ck_assert_uint_eq(job.spin_to_us, 1000000 + 5500);
	/* another seed is a like job: same op and sizes */
	job.req.args.has_seed = 1;
	job.req.args.seed = 42;
	vgpu_await_started(&m, &job, 1);
	ck_assert_uint_eq(job.spin_from_us, 1000000 + 4500);
	/* before: sleep until the window, or less if the loop meant less */
	ck_assert_uint_eq(vgpu_await_timeout(&m, 1000100, 60000000), 4400);
	ck_assert_uint_eq(vgpu_await_timeout(&m, 1000100, 300), 300);
	/* inside: no sleep */
	ck_assert_uint_eq(vgpu_await_timeout(&m, 1004500, 60000000), 0);
	ck_assert_uint_eq(vgpu_await_timeout(&m, 1005499, 60000000), 0);
	/* after: the loop's own timeout again (the slot's descriptor still wakes it) */
	ck_assert_uint_eq(vgpu_await_timeout(&m, 1005500, 60000000), 60000000);
	ck_assert_uint_eq(vgpu_await_timeout(&m, 1009000, 7), 7);
}
END_TEST

START_TEST(test_short_job_spins_from_its_start)
{
	setup_with(1000);
	learned(200);
	ck_assert_uint_eq(job.spin_from_us, 1000000);
	ck_assert_uint_eq(vgpu_await_timeout(&m, 1000000, 60000000), 0);
	ck_assert_uint_eq(vgpu_await_timeout(&m, 1001000, 60000000), 60000000);
}
END_TEST

/* A slot without a descriptor (Plan B's remote) gets no window: looking without sleeping
 * would read the worker VM's files back to back. */
START_TEST(test_no_window_without_a_descriptor)
{
	setup_with(1000);
	learned(5000);
	vgpu_await_started(&m, &job, 0);
	ck_assert(!job.spin_on);
	ck_assert_uint_eq(vgpu_await_timeout(&m, 1004600, 60000000), 60000000);
}
END_TEST

/* A like job that ended past its window turns the window off (planned, not used) until
 * a like job ends inside it again; a job that ends inside keeps it on. */
START_TEST(test_window_off_after_a_miss)
{
	setup_with(1000);
	learned(5000);
	ck_assert(job.spin_on);
	vgpu_await_finished(&m, &job, 1000000 + 9000, 8990);      /* past 1005500: a miss */
	ck_assert_int_eq(vm.prog.spin_missed, 1);
	job.started_us = 2000000;
	vgpu_await_started(&m, &job, 1);                            /* predicted 9000 now */
	ck_assert_msg(!job.spin_on, "a window used right after a miss");
	ck_assert_uint_eq(job.spin_from_us, 2000000 + 8500);
	ck_assert_uint_eq(vgpu_await_timeout(&m, 2008600, 60000000), 60000000);
	vgpu_await_finished(&m, &job, 2000000 + 9100, 9000);       /* inside: a hit */
	ck_assert_int_eq(vm.prog.spin_missed, 0);
	job.started_us = 3000000;
	vgpu_await_started(&m, &job, 1);
	ck_assert(job.spin_on);
	ck_assert_uint_eq(vgpu_await_timeout(&m, 3008700, 60000000), 0);
}
END_TEST

START_TEST(test_no_window_without_a_like_job)
{
	/* off */
	setup_with(0);
	learned(5000);
	ck_assert_uint_eq(job.spin_to_us, 0);
	ck_assert_uint_eq(vgpu_await_timeout(&m, 1004600, 60000000), 60000000);
	/* first job of the VM */
	setup_with(1000);
	job.started_us = 1000000;
	vgpu_await_started(&m, &job, 1);
	slots[0] = &job;
	ck_assert_uint_eq(job.spin_to_us, 0);
	ck_assert_uint_eq(vgpu_await_timeout(&m, 1000000, 60000000), 60000000);
	/* the last job had other sizes, or another op */
	setup_with(1000);
	learned(5000);
	job.req.args.n = 1 << 20;
	vgpu_await_started(&m, &job, 1);
	ck_assert_uint_eq(job.spin_to_us, 0);
	ck_assert_uint_eq(vgpu_await_timeout(&m, 1004600, 60000000), 60000000);
	job.req.args.n = 1 << 24;
	job.req.args.alpha = 2.5f;                  /* other arguments than the sizes */
	vgpu_await_started(&m, &job, 1);
	ck_assert_uint_eq(job.spin_to_us, 0);
	job.req.args.alpha = 0;
	job.req.op = VGPU_OP_SAXPY;
	vgpu_await_started(&m, &job, 1);
	ck_assert_uint_eq(job.spin_to_us, 0);
}
END_TEST

static Suite *await_suite(void)
{
	Suite *s = suite_create("await");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_window_around_the_learned_round_trip);
	tcase_add_test(tc, test_short_job_spins_from_its_start);
	tcase_add_test(tc, test_no_window_without_a_like_job);
	tcase_add_test(tc, test_no_window_without_a_descriptor);
	tcase_add_test(tc, test_window_off_after_a_miss);
	suite_add_tcase(s, tc);
	return s;
}

TU_CHECK_MAIN(await_suite)
