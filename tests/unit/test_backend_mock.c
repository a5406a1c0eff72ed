/* test_backend_mock.c - the mock backend (src/exec/backend_mock.c) in-process, as
 * vgpu-worker hosts it: its device count (VGPU_MOCK_DEVICES), init of a device it does
 * not have, each op's values against the op table's CPU references (from an input and
 * from a seed, with and without an output buffer), every refusal with its message
 * (short input, short output, sizes that overflow, memory it cannot get, an unknown op),
 * the test ops (spin's time, leak's LEAKED, crash's SIGSEGV) and the unusable-device
 * hook that makes run() < 0. */
#include <check.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec/backend.h"
#include "lib/op.h"
#include "lib/opref.h"
#include "lib/status.h"
#include "../common/testutil.h"

static const struct vgpu_backend_ops *be = &vgpu_backend_mock;
static void *ctx;

static void setup(void)
{
	char err[128] = "x";

	unsetenv("VGPU_MOCK_DEVICES");
	unsetenv("VGPU_MOCK_TEST_UNUSABLE");
	ctx = NULL;
	ck_assert_int_eq(be->init(&ctx, 0, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(ctx);
}

static void teardown(void)
{
	unsetenv("VGPU_MOCK_TEST_UNUSABLE");
	be->fini(ctx);
	ctx = NULL;
}

static struct vgpu_job job_of(enum vgpu_op op)
{
	struct vgpu_job j;

	memset(&j, 0, sizeof(j));
	j.op = op;
	return j;
}

START_TEST(test_identity_and_device_count)
{
	char err[64] = "junk";

	ck_assert_int_eq(be->iversion, 1);
	ck_assert_str_eq(be->name, "mock");
	ck_assert_int_eq(be->device_count(err, sizeof(err)), 1);
	ck_assert_str_eq(err, "");
	setenv("VGPU_MOCK_DEVICES", "5", 1);
	ck_assert_int_eq(be->device_count(err, sizeof(err)), 5);
	setenv("VGPU_MOCK_DEVICES", "99", 1);
	ck_assert_int_eq(be->device_count(err, sizeof(err)), 16);   /* capped */
	setenv("VGPU_MOCK_DEVICES", "0", 1);
	ck_assert_int_eq(be->device_count(err, sizeof(err)), 1);
	setenv("VGPU_MOCK_DEVICES", "3x", 1);
	ck_assert_int_eq(be->device_count(err, sizeof(err)), 1);
	setenv("VGPU_MOCK_DEVICES", "", 1);
	ck_assert_int_eq(be->device_count(NULL, 0), 1);
	unsetenv("VGPU_MOCK_DEVICES");
}
END_TEST

START_TEST(test_init_no_such_device)
{
	void *c = (void *)1;
	char err[128] = "";

	ck_assert_int_lt(be->init(&c, 1, err, sizeof(err)), 0);
	ck_assert_str_eq(err, "mock: no device 1 (VGPU_MOCK_DEVICES=1)");
	ck_assert_int_lt(be->init(&c, -1, err, sizeof(err)), 0);
	ck_assert_str_eq(err, "mock: no device -1 (VGPU_MOCK_DEVICES=1)");
	setenv("VGPU_MOCK_DEVICES", "4", 1);
	ck_assert_int_eq(be->init(&c, 3, err, sizeof(err)), 0);
	be->fini(c);
	ck_assert_int_lt(be->init(&c, 4, err, sizeof(err)), 0);
	ck_assert_str_eq(err, "mock: no device 4 (VGPU_MOCK_DEVICES=4)");
	unsetenv("VGPU_MOCK_DEVICES");
	be->fini(NULL);   /* fini of nothing is harmless */
}
END_TEST

START_TEST(test_ping)
{
	struct vgpu_job j = job_of(VGPU_OP_PING);
	struct vgpu_job_result r;

	memset(&r, 0x5a, sizeof(r));
	ck_assert_int_eq(be->run(ctx, &j, &r), 0);
	ck_assert_int_eq(r.status, VGPU_OK);
	ck_assert_str_eq(r.error, "");
	ck_assert_int_eq(r.has_summary, 0);
	ck_assert_uint_eq(r.leaked_bytes, 0);
}
END_TEST

START_TEST(test_vadd_from_input)
{
	float in[8] = { 1, 2, 3, 4, 10, 20, 30, 40 }, out[4] = { 0 };
	struct vgpu_job j = job_of(VGPU_OP_VADD);
	struct vgpu_job_result r;

	j.args.n = 4;
	j.in = in;
	j.in_count = 8;
	j.out = out;
	j.out_count = 4;
	ck_assert_int_eq(be->run(ctx, &j, &r), 0);
	ck_assert_int_eq(r.status, VGPU_OK);
	for (int i = 0; i < 4; i++)
		ck_assert_float_eq(out[i], 11.0f * (float)(i + 1));
	ck_assert_int_eq(r.has_summary, 1);
	ck_assert_uint_eq(r.leaked_bytes, 0);
}
END_TEST

/* Field by field: the struct has padding. */
static void same_summary(const struct vgpu_summary *a, const struct vgpu_summary *b)
{
	ck_assert_uint_eq(a->count, b->count);
	ck_assert(a->sum == b->sum);
	ck_assert(a->l2 == b->l2);
	ck_assert(a->first == b->first);
}

/* A seeded job, with and without an output buffer, equals the op table's reference on
 * the generated operands, and the summary-only run summarises the same values. */
static void check_seeded(enum vgpu_op op, struct vgpu_op_args a)
{
	const struct vgpu_op_desc *d = vgpu_op_get(op);
	uint64_t counts[VGPU_OP_OPERANDS] = { 0 }, outc;
	const float *ops[VGPU_OP_OPERANDS] = { NULL, NULL };
	float *want, *got, *gen[VGPU_OP_OPERANDS] = { NULL, NULL };
	struct vgpu_job j = job_of(op);
	struct vgpu_job_result r, r2;
	struct vgpu_summary ws;

	a.has_seed = 1;
	ck_assert_int_eq(d->sizes(&a, counts, &outc), 0);
	for (int i = 0; i < VGPU_OP_OPERANDS && counts[i]; i++) {
		gen[i] = malloc(counts[i] * sizeof(float));
		vgpu_gen_fill(gen[i], counts[i], a.seed, (unsigned)i);
		ops[i] = gen[i];
	}
	want = calloc(outc, sizeof(float));
	got = calloc(outc, sizeof(float));
	d->ref(&a, ops, want);
	vgpu_summarize(want, outc, &ws);

	j.args = a;
	j.out = got;
	j.out_count = outc;
	ck_assert_int_eq(be->run(ctx, &j, &r), 0);
	ck_assert_msg(r.status == VGPU_OK, "%s: %s", d->name, r.error);
	ck_assert_int_eq(memcmp(got, want, outc * sizeof(float)), 0);

	j.out = NULL;   /* summary only: the backend keeps the output to itself */
	ck_assert_int_eq(be->run(ctx, &j, &r2), 0);
	ck_assert_int_eq(r2.status, VGPU_OK);
	ck_assert_int_eq(r2.has_summary, 1);
	same_summary(&r2.summary, &ws);
	same_summary(&r.summary, &ws);
	ck_assert_uint_eq(r2.leaked_bytes, 0);
	for (int i = 0; i < VGPU_OP_OPERANDS; i++)
		free(gen[i]);
	free(want);
	free(got);
}

START_TEST(test_seeded_ops_match_reference)
{
	struct vgpu_op_args a;

	memset(&a, 0, sizeof(a));
	a.n = 1000;
	a.seed = 7;
	check_seeded(VGPU_OP_VADD, a);
	a.alpha = -2.5f;
	check_seeded(VGPU_OP_SAXPY, a);
	memset(&a, 0, sizeof(a));
	a.m = 7;
	a.n = 5;
	a.k = 3;
	a.seed = 42;
	check_seeded(VGPU_OP_SGEMM, a);
}
END_TEST

START_TEST(test_short_input)
{
	float in[3] = { 1, 2, 3 }, out[4];
	struct vgpu_job j = job_of(VGPU_OP_VADD);
	struct vgpu_job_result r;

	j.args.n = 4;
	j.in = in;
	j.in_count = 3;
	j.out = out;
	j.out_count = 4;
	ck_assert_int_eq(be->run(ctx, &j, &r), 0);
	ck_assert_int_eq(r.status, VGPU_EXEC_FAILED);
	ck_assert_str_eq(r.error, "mock: input holds 3 floats, the op needs 8");
	j.in = NULL;   /* no input and no seed */
	ck_assert_int_eq(be->run(ctx, &j, &r), 0);
	ck_assert_int_eq(r.status, VGPU_EXEC_FAILED);
	ck_assert_str_eq(r.error, "mock: input holds 0 floats, the op needs 8");
	ck_assert_uint_eq(r.leaked_bytes, 0);
}
END_TEST

START_TEST(test_short_output)
{
	float out[4];
	struct vgpu_job j = job_of(VGPU_OP_SGEMM);
	struct vgpu_job_result r;

	j.args.m = 2;
	j.args.n = 3;
	j.args.k = 4;
	j.args.has_seed = 1;
	j.out = out;
	j.out_count = 4;
	ck_assert_int_eq(be->run(ctx, &j, &r), 0);
	ck_assert_int_eq(r.status, VGPU_EXEC_FAILED);
	ck_assert_str_eq(r.error, "mock: output holds 4 floats, the op needs 6");
}
END_TEST

START_TEST(test_sizes_overflow)
{
	struct vgpu_job j = job_of(VGPU_OP_SGEMM);
	struct vgpu_job_result r;

	j.args.m = j.args.n = j.args.k = UINT64_C(1) << 40;
	j.args.has_seed = 1;
	j.out_count = SIZE_MAX;
	ck_assert_int_eq(be->run(ctx, &j, &r), 0);
	ck_assert_int_eq(r.status, VGPU_EXEC_FAILED);
	ck_assert_str_eq(r.error, "mock: sgemm sizes overflow");
}
END_TEST

START_TEST(test_cannot_allocate)
{
	struct vgpu_job j = job_of(VGPU_OP_VADD);
	struct vgpu_job_result r;
	char want[128];

	/* summary only: the backend's own output buffer of 2^58 floats cannot be had */
	j.args.n = UINT64_C(1) << 58;
	j.args.has_seed = 1;
	j.out_count = (size_t)j.args.n;
	ck_assert_int_eq(be->run(ctx, &j, &r), 0);
	ck_assert_int_eq(r.status, VGPU_EXEC_FAILED);
	snprintf(want, sizeof(want), "mock: cannot allocate %llu output floats", (unsigned long long)j.args.n);
	ck_assert_str_eq(r.error, want);

	/* the caller's output buffer, but operands of 2^60 bytes cannot be had; the output
	 * is not touched (nothing was computed) */
	{
		float out1[1] = { 42.0f };

		j = job_of(VGPU_OP_VADD);
		j.args.n = UINT64_C(1) << 58;
		j.args.has_seed = 1;
		j.out = out1;
		j.out_count = (size_t)j.args.n;
		ck_assert_int_eq(be->run(ctx, &j, &r), 0);
		ck_assert_int_eq(r.status, VGPU_EXEC_FAILED);
		snprintf(want, sizeof(want), "mock: cannot allocate %llu bytes for operand 0",
			 (unsigned long long)(j.args.n * sizeof(float)));
		ck_assert_str_eq(r.error, want);
		ck_assert(out1[0] == 42.0f);
		ck_assert_uint_eq(r.leaked_bytes, 0);
	}

	j = job_of(VGPU_OP_LEAK);
	j.args.bytes = UINT64_C(1) << 62;
	ck_assert_int_eq(be->run(ctx, &j, &r), 0);
	ck_assert_int_eq(r.status, VGPU_EXEC_FAILED);
	snprintf(want, sizeof(want), "mock: leak: cannot allocate %llu bytes", (unsigned long long)j.args.bytes);
	ck_assert_str_eq(r.error, want);
	ck_assert_uint_eq(r.leaked_bytes, 0);
}
END_TEST

/* No GPU: a kernel job is answered UNSUPPORTED, whatever it holds, and nothing runs. */
START_TEST(test_kernel_unsupported)
{
	struct vgpu_job j = job_of(VGPU_OP_KERNEL);
	struct vgpu_job_result r;

	ck_assert_int_eq(be->run(ctx, &j, &r), 0);
	ck_assert_int_eq(r.status, VGPU_UNSUPPORTED);
	ck_assert_str_eq(r.error, "op kernel is not supported by this executor (mock: no GPU)");
	ck_assert(!r.has_summary);
}
END_TEST

START_TEST(test_unknown_op)
{
	struct vgpu_job j = job_of(VGPU_OP_COUNT);
	struct vgpu_job_result r;

	ck_assert_int_eq(be->run(ctx, &j, &r), 0);
	ck_assert_int_eq(r.status, VGPU_EXEC_FAILED);
	char want[64];
	snprintf(want, sizeof(want), "mock: op %d is not supported", (int)VGPU_OP_COUNT);
	ck_assert_str_eq(r.error, want);
	j.op = VGPU_OP_NONE;
	ck_assert_int_eq(be->run(ctx, &j, &r), 0);
	ck_assert_str_eq(r.error, "mock: op 0 is not supported");
}
END_TEST

START_TEST(test_spin_and_leak)
{
	struct vgpu_job j = job_of(VGPU_OP_SPIN);
	struct vgpu_job_result r;
	uint64_t t0 = tu_now_ms();

	j.args.ms = 30;
	ck_assert_int_eq(be->run(ctx, &j, &r), 0);
	ck_assert_int_eq(r.status, VGPU_OK);
	ck_assert_uint_ge(r.exec_us, 30000);
	ck_assert_uint_ge(tu_now_ms() - t0, 30);

	j = job_of(VGPU_OP_LEAK);
	j.args.bytes = 4096;
	ck_assert_int_eq(be->run(ctx, &j, &r), 0);
	ck_assert_int_eq(r.status, VGPU_LEAKED);
	ck_assert_uint_eq(r.leaked_bytes, 4096);
	ck_assert_msg(strstr(r.error, "leaked 4096 bytes") != NULL, "%s", r.error);
}
END_TEST

START_TEST(test_crash_raises_sigsegv)
{
	struct vgpu_job j = job_of(VGPU_OP_CRASH);
	struct vgpu_job_result r;

	be->run(ctx, &j, &r);   /* does not return */
	ck_abort_msg("crash returned: %s", r.error);
}
END_TEST

START_TEST(test_unusable_hook)
{
	struct vgpu_job j = job_of(VGPU_OP_PING);
	struct vgpu_job_result r;
	uint64_t t0;

	setenv("VGPU_MOCK_TEST_UNUSABLE", "vadd", 1);
	ck_assert_int_eq(be->run(ctx, &j, &r), 0);   /* another op: untouched */
	ck_assert_int_eq(r.status, VGPU_OK);
	setenv("VGPU_MOCK_TEST_UNUSABLE", "ping", 1);
	ck_assert_int_lt(be->run(ctx, &j, &r), 0);
	ck_assert_int_eq(r.status, VGPU_EXEC_FAILED);
	ck_assert_str_eq(r.error, "mock: device unusable (VGPU_MOCK_TEST_UNUSABLE=ping)");
	/* fini lingers like a CUDA teardown after a sticky error */
	t0 = tu_now_ms();
	be->fini(ctx);
	ctx = NULL;
	ck_assert_uint_ge(tu_now_ms() - t0, 250);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("backend_mock");
	TCase *tc = tcase_create("mock");
	const char *fork = getenv("CK_FORK");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_identity_and_device_count);
	tcase_add_test(tc, test_init_no_such_device);
	tcase_add_test(tc, test_ping);
	tcase_add_test(tc, test_vadd_from_input);
	tcase_add_test(tc, test_seeded_ops_match_reference);
	tcase_add_test(tc, test_short_input);
	tcase_add_test(tc, test_short_output);
	tcase_add_test(tc, test_sizes_overflow);
	tcase_add_test(tc, test_cannot_allocate);
	tcase_add_test(tc, test_unknown_op);
	tcase_add_test(tc, test_kernel_unsupported);
	tcase_add_test(tc, test_spin_and_leak);
	tcase_add_test(tc, test_unusable_hook);
	if (!fork || strcmp(fork, "no") != 0)   /* a signal test needs Check's fork */
		tcase_add_test_raise_signal(tc, test_crash_raises_sigsegv, SIGSEGV);
	suite_add_tcase(s, tc);
	return s;
}

TU_CHECK_MAIN(suite)
