/* backend_mock.c - vgpu_backend_mock: the CPU references of the op table (lib/op.h)
 * behind the backend interface, one device (or VGPU_MOCK_DEVICES), plus the test ops
 * (spin, leak, crash) that exercise the watchdog and leak checks without a GPU. Job
 * buffers come from a per-job arena. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/status.h"
#include "arena.h"
#include "backend.h"
#include "lib/opref.h"
#include "lib/clock.h"

struct mock_ctx {
	int dev;
	int unusable;              /* the VGPU_MOCK_TEST_UNUSABLE hook fired */
};

static int host_alloc(void *ctx, void **ptr, size_t bytes)
{
	(void)ctx;
	*ptr = malloc(bytes ? bytes : 1);
	return *ptr ? 0 : -ENOMEM;
}

static void host_free(void *ctx, void *ptr)
{
	(void)ctx;
	free(ptr);
}

/* One device, or VGPU_MOCK_DEVICES (1..16) to exercise the mediator's scheduling over
 * several workers, as with several GPUs, on a machine without any. */
#define MOCK_MAX_DEVICES 16

static int mock_devices(void)
{
	const char *s = getenv("VGPU_MOCK_DEVICES");
	char *end;
	long n;

	if (!s || !*s)
		return 1;
	n = strtol(s, &end, 10);
	return *end || n < 1 ? 1 : n > MOCK_MAX_DEVICES ? MOCK_MAX_DEVICES : (int)n;
}

static int mock_device_count(char *err, size_t errlen)
{
	if (errlen)
		err[0] = 0;
	return mock_devices();
}

static int mock_init(void **ctxp, int dev, char *err, size_t errlen)
{
	struct mock_ctx *c;

	if (dev < 0 || dev >= mock_devices()) {
		snprintf(err, errlen, "mock: no device %d (VGPU_MOCK_DEVICES=%d)", dev, mock_devices());
		return -ENODEV;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "mock: out of memory");
		return -ENOMEM;
	}
	c->dev = dev;
	*ctxp = c;
	return 0;
}

static void mock_fini(void *ctx)
{
	struct mock_ctx *c = ctx;

	/* After the unusable hook, linger like a CUDA teardown does, so that a job sent to
	 * this exiting worker would be lost: the pool must not send one. */
	if (c && c->unusable) {
		struct timespec ts = { 0, 300 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	free(ctx);
}

static int fail(struct vgpu_job_result *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct vgpu_job_result *res, const char *fmt, ...)
{
	va_list ap;

	res->status = VGPU_EXEC_FAILED;
	va_start(ap, fmt);
	vsnprintf(res->error, sizeof(res->error), fmt, ap);
	va_end(ap);
	return -1;
}

/* Operands: the job's input, or generated into arena buffers for a seeded job.
 * COUNTS[j] floats for operand j (0: unused). */
static int get_operands(const struct vgpu_job *job, struct vgpu_arena *ar, const float *ops[VGPU_OP_OPERANDS],
			const uint64_t counts[VGPU_OP_OPERANDS], struct vgpu_job_result *res)
{
	uint64_t total = 0;

	for (int i = 0; i < VGPU_OP_OPERANDS; i++) {
		ops[i] = NULL;
		if (__builtin_add_overflow(total, counts[i], &total))
			return fail(res, "mock: operand sizes overflow");
	}
	if (!job->args.has_seed) {
		if (!job->in || job->in_count < total)
			return fail(res, "mock: input holds %llu floats, the op needs %llu",
				    (unsigned long long)(job->in ? job->in_count : 0),
				    (unsigned long long)total);
		size_t off = 0;
		for (int i = 0; i < VGPU_OP_OPERANDS; i++) {
			ops[i] = job->in + off;
			off += counts[i];
		}
		return 0;
	}
	for (int i = 0; i < VGPU_OP_OPERANDS && counts[i]; i++) {
		void *p;
		size_t bytes;

		if (counts[i] > SIZE_MAX / sizeof(float))
			return fail(res, "mock: operand %d too large (%llu floats)", i, (unsigned long long)counts[i]);
		bytes = counts[i] * sizeof(float);
		if (vgpu_arena_alloc(ar, &p, bytes) != 0)
			return fail(res, "mock: cannot allocate %zu bytes for operand %d", bytes, i);
		vgpu_gen_fill(p, counts[i], job->args.seed, (unsigned)i);
		ops[i] = p;
	}
	return 0;
}

static void put_operands(const struct vgpu_job *job, struct vgpu_arena *ar, const float *ops[VGPU_OP_OPERANDS])
{
	if (!job->args.has_seed)
		return;
	for (int i = 0; i < VGPU_OP_OPERANDS; i++)
		if (ops[i])
			vgpu_arena_free(ar, (void *)ops[i]);
}

/* The output buffer: the caller's, or (summary only: job->out NULL) one of our own
 * from the arena, like device memory that is never copied back. */
static int get_out(const struct vgpu_job *job, struct vgpu_arena *ar, size_t need, float **out,
		   struct vgpu_job_result *res)
{
	void *p;

	if (job->out_count < need)
		return fail(res, "mock: output holds %llu floats, the op needs %llu",
			    (unsigned long long)job->out_count, (unsigned long long)need);
	if (job->out) {
		*out = job->out;
		return 0;
	}
	if (need > SIZE_MAX / sizeof(float) || vgpu_arena_alloc(ar, &p, need * sizeof(float)) != 0)
		return fail(res, "mock: cannot allocate %llu output floats", (unsigned long long)need);
	*out = p;
	return 0;
}

/* Summarise OUT for the answer's "result", then release it if it was ours. */
static void put_out(const struct vgpu_job *job, struct vgpu_arena *ar, float *out, size_t count,
		    struct vgpu_job_result *res)
{
	vgpu_summarize(out, count, &res->summary);
	res->has_summary = 1;
	if (out != job->out)
		vgpu_arena_free(ar, out);
}

static void spin(uint64_t ms)
{
	uint64_t end = vgpu_now_us() + ms * 1000u;
	volatile uint64_t sink = 0;

	/* Busy, like a kernel that does not return: it never sleeps. */
	while (vgpu_now_us() < end)
		sink++;
}

/* A data op (lib/op.h): its CPU reference on the operands, into the output. */
static void run_data_op(const struct vgpu_op_desc *d, const struct vgpu_job *job, struct vgpu_arena *ar,
			struct vgpu_job_result *res)
{
	const float *ops[VGPU_OP_OPERANDS];
	uint64_t counts[VGPU_OP_OPERANDS] = { 0 }, outc;
	float *out = NULL;

	if (d->sizes(&job->args, counts, &outc) < 0 || outc > SIZE_MAX) {
		fail(res, "mock: %s sizes overflow", d->name);
		return;
	}
	if (get_out(job, ar, (size_t)outc, &out, res))
		return;
	if (get_operands(job, ar, ops, counts, res)) {
		put_out(job, ar, out, 0, res);
		return;
	}
	d->ref(&job->args, ops, out);
	put_operands(job, ar, ops);
	put_out(job, ar, out, (size_t)outc, res);
}

static void run_op(const struct vgpu_job *job, struct vgpu_arena *ar, struct vgpu_job_result *res)
{
	const struct vgpu_op_desc *d = vgpu_op_get(job->op);
	void *p;

	if (job->op == VGPU_OP_KERNEL) {   /* no device to run PTX on (PROTOCOL.md 5.1) */
		vgpu_job_result_set(res, VGPU_UNSUPPORTED, "op kernel is not supported by this executor (mock: no GPU)");
		return;
	}
	if (d && (d->flags & VGPU_OPF_DATA)) {
		run_data_op(d, job, ar, res);
		return;
	}
	switch (job->op) {
	case VGPU_OP_PING:
		return;
	case VGPU_OP_SPIN:
		spin(job->args.ms);
		return;
	case VGPU_OP_LEAK:
		if (vgpu_arena_alloc(ar, &p, job->args.bytes) != 0) {
			fail(res, "mock: leak: cannot allocate %llu bytes", (unsigned long long)job->args.bytes);
			return;
		}
		memset(p, 0xa5, job->args.bytes);   /* make the pages real, like a device write */
		return;                        /* not freed: the end-of-job reclaim finds it */
	case VGPU_OP_CRASH:
		signal(SIGSEGV, SIG_DFL);
		raise(SIGSEGV);
		fail(res, "mock: crash: SIGSEGV did not kill the worker");
		return;
	default:
		fail(res, "mock: op %d is not supported", (int)job->op);
		return;
	}
}

static int mock_run(void *ctx, const struct vgpu_job *job, struct vgpu_job_result *res)
{
	struct mock_ctx *c = ctx;
	struct vgpu_arena ar;
	uint64_t t0;

	memset(res, 0, sizeof(*res));
	res->status = VGPU_OK;
	vgpu_arena_init(&ar, host_alloc, host_free, NULL);
	t0 = vgpu_now_us();
	run_op(job, &ar, res);
	vgpu_arena_reclaim_job(&ar, res);
	res->exec_us = vgpu_now_us() - t0;
	/* Test hook: VGPU_MOCK_TEST_UNUSABLE=OP makes every OP job report the device
	 * unusable (run() < 0, as the cuda backend does after a sticky CUDA error), so the
	 * worker's exit-after-result path can be tested without a GPU. */
	const char *unusable = getenv("VGPU_MOCK_TEST_UNUSABLE");
	if (unusable && *unusable && strcmp(unusable, vgpu_op_name(job->op)) == 0) {
		fail(res, "mock: device unusable (VGPU_MOCK_TEST_UNUSABLE=%s)", unusable);
		c->unusable = 1;
		return -1;
	}
	return 0;
}

const struct vgpu_backend_ops vgpu_backend_mock = {
	.iversion = 1,
	.name = "mock",
	.device_count = mock_device_count,
	.init = mock_init,
	.run = mock_run,
	.fini = mock_fini,
};
