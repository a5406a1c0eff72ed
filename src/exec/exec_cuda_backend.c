/* exec_cuda_backend.c - vgpu_backend_cuda: runs jobs on one GPU inside a worker process.
 *
 * Each job's device memory comes from a per-job arena over cudaMalloc/cudaFree; what
 * the job leaves allocated is reclaimed and the job answered LEAKED. cudaMemGetInfo
 * before and after the job catches memory that escaped the arena (LEAKED too; the
 * device context is reset in place to reclaim it). Every CUDA and cuBLAS call is checked; a failure
 * becomes EXEC_FAILED with the call, cudaGetErrorName and the error's text. Errors that
 * poison the context (illegal address, launch failure...) make run() return < 0 so the
 * worker restarts. Kernels: exec_cuda.cu; sgemm: cuBLAS with TF32 off. Every compute
 * job's output is summarised on the device (count, sum, l2, first: res->summary); a job
 * without an output buffer (job->out NULL) copies back only that summary. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "arena.h"
#include "backend.h"
#include "exec_cuda.h"
#include "../lib/status.h"

#define WORKSPACE_BYTES    (32u << 20)   /* cuBLAS workspace, allocated once at init */
#define ESCAPE_TOLERANCE   (16u << 20)   /* cudaMemGetInfo noise: allocator granularity */
#define PIN_MIN            (1u << 20)    /* host buffers from here on are pinned for the copy */

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ  22
#define MADV_POPULATE_WRITE 23
#endif

/* How the job's host buffers (the worker's mappings of the mediator's memfds) meet the
 * copies: a fresh shared mapping faults page by page inside a pageable copy (~1 GB/s).
 * "register" pins them for the copy (cudaHostRegister: DMA at full speed), "populate"
 * only faults them in at once (madvise), "plain" does neither. VGPU_CUDA_HOSTMEM. */
enum hostmem_mode { HOSTMEM_REGISTER, HOSTMEM_POPULATE, HOSTMEM_PLAIN };

struct cuda_ctx {
	int dev;
	cudaStream_t stream;
	cudaEvent_t ev_start, ev_stop;
	cublasHandle_t blas;
	void *workspace;
	void *sum_scratch;         /* the summary's block partials, then its result (device) */
	struct vgpu_cuda_sums *d_sums;
	struct vgpu_cuda_sums *h_sums;  /* pinned: the only bytes a summary-only job copies back */
	struct vgpu_arena arena;
	cudaError_t alloc_err;     /* the last cudaMalloc error seen by the arena */
	uint64_t escape_tolerance;
	int test_escape;           /* VGPU_CUDA_TEST_ESCAPE=1: "leak" bypasses the arena */
	enum hostmem_mode hostmem;
};

/* One job's error state: the first failure wins. */
struct job_state {
	struct cuda_ctx *cx;
	struct vgpu_job_result *res;
	int failed;
	cudaError_t cuda_err;      /* cudaSuccess unless a CUDA call failed */
};

static void errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void cuda_errf(char *err, size_t errlen, const char *what, cudaError_t e)
{
	errf(err, errlen, "%s: %s: %s", what, cudaGetErrorName(e), cudaGetErrorString(e));
}

/* Record a CUDA failure of WHAT in the job; returns 0 on success so callers can chain. */
static int job_cuda(struct job_state *js, cudaError_t e, const char *what)
{
	if (e == cudaSuccess)
		return 0;
	if (!js->failed) {
		js->failed = 1;
		js->cuda_err = e;
		js->res->status = VGPU_EXEC_FAILED;
		cuda_errf(js->res->error, sizeof(js->res->error), what, e);
	}
	return -1;
}

static int job_blas(struct job_state *js, cublasStatus_t s, const char *what)
{
	if (s == CUBLAS_STATUS_SUCCESS)
		return 0;
	if (!js->failed) {
		js->failed = 1;
		js->res->status = VGPU_EXEC_FAILED;
		errf(js->res->error, sizeof(js->res->error), "%s: %s: %s", what,
		     cublasGetStatusName(s), cublasGetStatusString(s));
	}
	return -1;
}

static int job_bad(struct job_state *js, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int job_bad(struct job_state *js, const char *fmt, ...)
{
	va_list ap;
	if (!js->failed) {
		js->failed = 1;
		js->res->status = VGPU_EXEC_FAILED;
		va_start(ap, fmt);
		vsnprintf(js->res->error, sizeof(js->res->error), fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* --- the arena's allocator ------------------------------------------------------- */

static int arena_cuda_alloc(void *ctx, void **ptr, size_t bytes)
{
	struct cuda_ctx *cx = ctx;
	cudaError_t e = cudaMalloc(ptr, bytes ? bytes : 1);
	if (e != cudaSuccess) {
		cx->alloc_err = e;
		*ptr = NULL;
		return e == cudaErrorMemoryAllocation ? -ENOMEM : -EIO;
	}
	return 0;
}

static void arena_cuda_free(void *ctx, void *ptr)
{
	(void)ctx;
	/* A failure here means the context is gone; the worker restart frees it all. */
	(void)cudaFree(ptr);
}

static int job_alloc(struct job_state *js, void **ptr, size_t bytes, const char *what)
{
	char buf[96];
	int rc;
	js->cx->alloc_err = cudaSuccess;
	rc = vgpu_arena_alloc(&js->cx->arena, ptr, bytes);
	if (rc == 0)
		return 0;
	snprintf(buf, sizeof(buf), "cudaMalloc(%s, %zu bytes)", what, bytes);
	if (js->cx->alloc_err != cudaSuccess)
		return job_cuda(js, js->cx->alloc_err, buf);
	return job_bad(js, "%s: arena allocation failed (%s)", buf, strerror(-rc));
}

/* --- sizes ------------------------------------------------------------------------ */

static int mul_ok(uint64_t a, uint64_t b, uint64_t *r)
{
	return !__builtin_mul_overflow(a, b, r);
}

/* Floats of input and output for a compute op; -1 on overflow. */
static int op_sizes(const struct vgpu_job *job, uint64_t *in, uint64_t *out)
{
	uint64_t a, b;
	switch (job->op) {
	case VGPU_OP_VADD:
	case VGPU_OP_SAXPY:
		if (!mul_ok(job->n, 2, in))
			return -1;
		*out = job->n;
		return 0;
	case VGPU_OP_SGEMM:
		if (!mul_ok(job->m, job->k, &a) || !mul_ok(job->k, job->n, &b) ||
		    __builtin_add_overflow(a, b, in) || !mul_ok(job->m, job->n, out))
			return -1;
		return 0;
	default:
		*in = *out = 0;
		return 0;
	}
}

/* --- the ops ---------------------------------------------------------------------- */

/* Prepare host buffer P for a copy (see enum hostmem_mode). Returns 1 when P was
 * registered (the caller unregisters it), 0 otherwise; never fails the job: the copy
 * works on pageable memory too, only slower. */
static int host_prepare(struct cuda_ctx *cx, const void *p, size_t bytes, int readonly)
{
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t start, end;

	if (!p || bytes < PIN_MIN || cx->hostmem == HOSTMEM_PLAIN)
		return 0;
	if (cx->hostmem == HOSTMEM_REGISTER &&
	    cudaHostRegister((void *)p, bytes, readonly ? cudaHostRegisterReadOnly : cudaHostRegisterDefault)
	    == cudaSuccess)
		return 1;
	(void)cudaGetLastError();      /* not sticky; fall back to faulting the pages in */
	start = (uintptr_t)p & ~(uintptr_t)(page - 1);
	end = (uintptr_t)p + bytes;
	(void)madvise((void *)start, end - start, readonly ? MADV_POPULATE_READ : MADV_POPULATE_WRITE);
	return 0;
}

/* Inputs into device buffer D_IN: copied from the job, or generated on the device. */
static int job_inputs(struct job_state *js, const struct vgpu_job *job, float *d_in,
		      uint64_t first, uint64_t second)
{
	struct cuda_ctx *cx = js->cx;
	if (job->has_seed) {
		if (job_cuda(js, (cudaError_t)vgpu_cuda_gen(d_in, first, job->seed, 0, cx->stream),
			     "launch gen"))
			return -1;
		return job_cuda(js, (cudaError_t)vgpu_cuda_gen(d_in + first, second, job->seed, 1,
							      cx->stream), "launch gen");
	}
	return job_cuda(js, cudaMemcpyAsync(d_in, job->in, (first + second) * sizeof(float),
					    cudaMemcpyHostToDevice, cx->stream),
			"cudaMemcpyAsync(input, host to device)");
}

static int job_compute_in(struct job_state *js, const struct vgpu_job *job, float **d_inp, float **d_outp,
			  int *pinned_in, int *pinned_out)
{
	struct cuda_ctx *cx = js->cx;
	uint64_t in_count, out_count, first, second;
	float *d_in, *d_out;
	float ms = 0;

	if (op_sizes(job, &in_count, &out_count) < 0)
		return job_bad(js, "bad job: sizes overflow (n=%llu m=%llu k=%llu)",
			       (unsigned long long)job->n, (unsigned long long)job->m,
			       (unsigned long long)job->k);
	if (!job->has_seed && (!job->in || job->in_count < in_count))
		return job_bad(js, "bad job: input holds %zu floats, %s needs %llu", job->in ? job->in_count : 0,
			       vgpu_op_name(job->op), (unsigned long long)in_count);
	/* job->out NULL: summary only (the output stays on the device); out_count still says
	 * how large the output is, and must agree with the op. */
	if (job->out_count < out_count)
		return job_bad(js, "bad job: output holds %zu floats, %s needs %llu", job->out_count,
			       vgpu_op_name(job->op), (unsigned long long)out_count);
	if (in_count > SIZE_MAX / sizeof(float) || out_count > SIZE_MAX / sizeof(float))
		return job_bad(js, "bad job: too large");
	if (job->op == VGPU_OP_SGEMM) {
		if (job->m > INT_MAX || job->n > INT_MAX || job->k > INT_MAX)
			return job_bad(js, "bad job: sgemm sizes above %d are not supported by cublasSgemm", INT_MAX);
		first = job->m * job->k;
		second = job->k * job->n;
	} else {
		first = second = job->n;
	}
	if (out_count == 0) {     /* empty problem: nothing to run, nothing to write */
		js->res->has_summary = 1;
		return 0;
	}

	if (job_alloc(js, (void **)d_inp, in_count ? in_count * sizeof(float) : 1, "input") ||
	    job_alloc(js, (void **)d_outp, out_count * sizeof(float), "output"))
		return -1;
	d_in = *d_inp;
	d_out = *d_outp;
	if (!job->has_seed)
		*pinned_in = host_prepare(cx, job->in, in_count * sizeof(float), 1);
	*pinned_out = host_prepare(cx, job->out, out_count * sizeof(float), 0);
	if (job_cuda(js, cudaEventRecord(cx->ev_start, cx->stream), "cudaEventRecord(start)") ||
	    job_inputs(js, job, d_in, first, second))
		return -1;

	switch (job->op) {
	case VGPU_OP_VADD:
		if (job_cuda(js, (cudaError_t)vgpu_cuda_vadd(d_in, d_in + first, d_out, job->n, cx->stream),
			     "launch vadd"))
			return -1;
		break;
	case VGPU_OP_SAXPY:
		if (job_cuda(js, (cudaError_t)vgpu_cuda_saxpy(job->alpha, d_in, d_in + first, d_out, job->n,
							      cx->stream), "launch saxpy"))
			return -1;
		break;
	case VGPU_OP_SGEMM: {
		/* Row-major C[m x n] = A[m x k] B[k x n] is, read column-major, C^T = B^T A^T:
		 * a column-major GEMM of (n x k)(k x m) with leading dimensions n, k, n. */
		const float one = 1.0f, zero = 0.0f;
		if (job->k == 0) {
			if (job_cuda(js, cudaMemsetAsync(d_out, 0, out_count * sizeof(float), cx->stream),
				     "cudaMemsetAsync(output)"))
				return -1;
			break;
		}
		if (job_blas(js, cublasSgemm(cx->blas, CUBLAS_OP_N, CUBLAS_OP_N, (int)job->n, (int)job->m,
					     (int)job->k, &one, d_in + first, (int)job->n, d_in, (int)job->k,
					     &zero, d_out, (int)job->n), "cublasSgemm"))
			return -1;
		break;
	}
	default:
		return job_bad(js, "bad job: op %d is not a compute op", (int)job->op);
	}

	/* The summary, reduced on the device in double; only its 24 bytes come back when the
	 * caller wants no output (job->out NULL), else the output too. */
	if (job_cuda(js, cudaGetLastError(), "kernel launch") ||
	    job_cuda(js, (cudaError_t)vgpu_cuda_summary(d_out, out_count, cx->sum_scratch, cx->d_sums, cx->stream),
		     "launch summary") ||
	    job_cuda(js, cudaMemcpyAsync(cx->h_sums, cx->d_sums, sizeof(*cx->h_sums), cudaMemcpyDeviceToHost,
					 cx->stream), "cudaMemcpyAsync(summary, device to host)"))
		return -1;
	if (job->out && job_cuda(js, cudaMemcpyAsync(job->out, d_out, out_count * sizeof(float),
						    cudaMemcpyDeviceToHost, cx->stream),
				 "cudaMemcpyAsync(output, device to host)"))
		return -1;
	if (job_cuda(js, cudaEventRecord(cx->ev_stop, cx->stream), "cudaEventRecord(stop)") ||
	    job_cuda(js, cudaEventSynchronize(cx->ev_stop), "cudaEventSynchronize(job)") ||
	    job_cuda(js, cudaEventElapsedTime(&ms, cx->ev_start, cx->ev_stop), "cudaEventElapsedTime"))
		return -1;
	js->res->exec_us = (uint64_t)(ms * 1000.0f + 0.5f);
	js->res->has_summary = 1;
	js->res->summary.count = out_count;
	js->res->summary.sum = cx->h_sums->sum;
	js->res->summary.l2 = sqrt(cx->h_sums->sq);
	js->res->summary.first = cx->h_sums->first;
	return 0;
}

/* The buffers are freed on every path (a failed job is not a leaking job); what a job
 * forgets is found by vgpu_arena_reclaim(). */
static int job_compute(struct job_state *js, const struct vgpu_job *job)
{
	float *d_in = NULL, *d_out = NULL;
	int pinned_in = 0, pinned_out = 0;
	int rc = job_compute_in(js, job, &d_in, &d_out, &pinned_in, &pinned_out);
	if (pinned_in)
		(void)cudaHostUnregister((void *)job->in);
	if (pinned_out)
		(void)cudaHostUnregister(job->out);
	vgpu_arena_free(&js->cx->arena, d_in);
	vgpu_arena_free(&js->cx->arena, d_out);
	return rc;
}

static int job_spin(struct job_state *js, const struct vgpu_job *job)
{
	struct cuda_ctx *cx = js->cx;
	int *d_flag = NULL, flag = 0;
	float ms = 0;
	int rc = -1;

	if (job_alloc(js, (void **)&d_flag, sizeof(int), "spin flag") ||
	    job_cuda(js, cudaMemsetAsync(d_flag, 0, sizeof(int), cx->stream), "cudaMemsetAsync(flag)") ||
	    job_cuda(js, cudaEventRecord(cx->ev_start, cx->stream), "cudaEventRecord(start)") ||
	    job_cuda(js, (cudaError_t)vgpu_cuda_spin(job->ms, d_flag, cx->stream), "launch spin") ||
	    job_cuda(js, cudaEventRecord(cx->ev_stop, cx->stream), "cudaEventRecord(stop)") ||
	    job_cuda(js, cudaMemcpyAsync(&flag, d_flag, sizeof(int), cudaMemcpyDeviceToHost, cx->stream),
		     "cudaMemcpyAsync(flag)") ||
	    job_cuda(js, cudaStreamSynchronize(cx->stream), "cudaStreamSynchronize(spin)") ||
	    job_cuda(js, cudaEventElapsedTime(&ms, cx->ev_start, cx->ev_stop), "cudaEventElapsedTime"))
		goto out;
	js->res->exec_us = (uint64_t)(ms * 1000.0f + 0.5f);
	rc = flag == 1 ? 0 : job_bad(js, "spin kernel finished without setting its flag");
out:
	vgpu_arena_free(&cx->arena, d_flag);
	return rc;
}

static int job_leak(struct job_state *js, const struct vgpu_job *job)
{
	struct cuda_ctx *cx = js->cx;
	void *p = NULL;
	size_t bytes = job->bytes ? (size_t)job->bytes : 1;

	if (cx->test_escape) {
		/* Deliberately around the arena: only cudaMemGetInfo can see this one. */
		if (job_cuda(js, cudaMalloc(&p, bytes), "cudaMalloc(leak, outside the arena)"))
			return -1;
	} else if (job_alloc(js, &p, bytes, "leak")) {
		return -1;
	}
	/* Touch it, as a real buggy job would, and never free it. */
	return job_cuda(js, cudaMemsetAsync(p, 0x5a, bytes, cx->stream), "cudaMemsetAsync(leak)") ||
	       job_cuda(js, cudaStreamSynchronize(cx->stream), "cudaStreamSynchronize(leak)");
}

/* After a failed CUDA call: is the context still usable? Non-sticky errors (a bad
 * argument, an allocation that did not fit) are cleared by cudaGetLastError(); sticky
 * ones (illegal address, launch failure, ...) are returned by every later call. */
static int context_broken(struct cuda_ctx *cx)
{
	(void)cudaGetLastError();
	if (cudaStreamSynchronize(cx->stream) != cudaSuccess)
		return 1;
	return cudaDeviceSynchronize() != cudaSuccess;
}

static void ctx_teardown(struct cuda_ctx *cx);
static int ctx_setup(struct cuda_ctx *cx, char *err, size_t errlen);

static int cuda_run(void *ctx, const struct vgpu_job *job, struct vgpu_job_result *res)
{
	struct cuda_ctx *cx = ctx;
	struct job_state js = { .cx = cx, .res = res, .failed = 0, .cuda_err = cudaSuccess };
	size_t free0 = 0, free1 = 0, total = 0;
	uint64_t leaked;
	int broken = 0, have_free0;

	memset(res, 0, sizeof(*res));
	res->status = VGPU_OK;

	switch (job->op) {
	case VGPU_OP_PING:
		/* Proves the context still answers. */
		if (job_cuda(&js, cudaStreamSynchronize(cx->stream), "cudaStreamSynchronize(ping)"))
			return context_broken(cx) ? -1 : 0;
		return 0;
	case VGPU_OP_CRASH:
		signal(SIGSEGV, SIG_DFL);
		raise(SIGSEGV);
		job_bad(&js, "crash: raise(SIGSEGV) returned");
		return 0;
	default:
		break;
	}

	have_free0 = cudaMemGetInfo(&free0, &total) == cudaSuccess;
	vgpu_arena_init(&cx->arena, arena_cuda_alloc, arena_cuda_free, cx);

	switch (job->op) {
	case VGPU_OP_VADD:
	case VGPU_OP_SAXPY:
	case VGPU_OP_SGEMM:
		job_compute(&js, job);
		break;
	case VGPU_OP_SPIN:
		job_spin(&js, job);
		break;
	case VGPU_OP_LEAK:
		job_leak(&js, job);
		break;
	default:
		job_bad(&js, "op %s is not supported by the cuda backend", vgpu_op_name(job->op));
		break;
	}

	if (js.cuda_err != cudaSuccess)
		broken = context_broken(cx);
	leaked = vgpu_arena_reclaim(&cx->arena);
	if (leaked) {
		res->leaked_bytes = leaked;
		if (res->status == VGPU_OK) {
			res->status = VGPU_LEAKED;
			snprintf(res->error, sizeof(res->error),
				 "job leaked %llu bytes of device memory; reclaimed",
				 (unsigned long long)leaked);
		}
	}
	if (broken) {
		size_t len = strlen(res->error);
		snprintf(res->error + len, sizeof(res->error) - len, "; CUDA context unusable, worker restarts");
		return -1;
	}
	/* Memory the arena did not see: compare the device's free memory with before. */
	if (have_free0 && cudaMemGetInfo(&free1, &total) == cudaSuccess && free1 < free0 &&
	    free0 - free1 > cx->escape_tolerance) {
		uint64_t escaped = free0 - free1;
		char why[160] = "";
		res->leaked_bytes += escaped;
		res->status = VGPU_LEAKED;
		/* Only a new context gives that memory back: reset the device and set up again
		 * in place; if that fails the worker restarts (run() < 0). */
		ctx_teardown(cx);
		if (cudaDeviceReset() != cudaSuccess || ctx_setup(cx, why, sizeof(why)) < 0) {
			snprintf(res->error, sizeof(res->error),
				 "device free memory fell by %llu bytes during the job outside its arena "
				 "(cudaMemGetInfo); context reset failed (%s); worker restarts",
				 (unsigned long long)escaped, why);
			return -1;
		}
		snprintf(res->error, sizeof(res->error),
			 "device free memory fell by %llu bytes during the job outside its arena "
			 "(cudaMemGetInfo); reclaimed by resetting the device context",
			 (unsigned long long)escaped);
	}
	return 0;
}

/* --- life cycle ------------------------------------------------------------------- */

static int cuda_device_count(char *err, size_t errlen)
{
	int n = 0;
	cudaError_t e = cudaGetDeviceCount(&n);
	if (e != cudaSuccess) {
		cuda_errf(err, errlen, "cudaGetDeviceCount", e);
		return -1;
	}
	return n;
}

/* Run every kernel and a small sgemm once, so that module loading and cuBLAS's own
 * set-up happen here and not inside a job (where they would look like escaped memory
 * and distort exec_us). */
static int cuda_warmup(struct cuda_ctx *cx, char *err, size_t errlen)
{
	const int dim = 64;
	const float one = 1.0f, zero = 0.0f;
	float *buf = NULL;
	int *flag = NULL;
	cudaError_t e;
	cublasStatus_t s;
	int rc = -1;

	if ((e = cudaMalloc((void **)&buf, 3 * dim * dim * sizeof(float))) != cudaSuccess) {
		cuda_errf(err, errlen, "cudaMalloc(warm-up)", e);
		return -1;
	}
	if ((e = cudaMalloc((void **)&flag, sizeof(int))) != cudaSuccess) {
		cuda_errf(err, errlen, "cudaMalloc(warm-up flag)", e);
		goto out;
	}
	if ((e = (cudaError_t)vgpu_cuda_gen(buf, 2 * dim * dim, 1, 0, cx->stream)) ||
	    (e = (cudaError_t)vgpu_cuda_vadd(buf, buf + dim, buf + 2 * dim, dim, cx->stream)) ||
	    (e = (cudaError_t)vgpu_cuda_saxpy(2.0f, buf, buf + dim, buf + 2 * dim, dim, cx->stream)) ||
	    (e = (cudaError_t)vgpu_cuda_summary(buf, dim, cx->sum_scratch, cx->d_sums, cx->stream)) ||
	    (e = (cudaError_t)vgpu_cuda_spin(0, flag, cx->stream))) {
		cuda_errf(err, errlen, "warm-up kernel launch", e);
		goto out;
	}
	s = cublasSgemm(cx->blas, CUBLAS_OP_N, CUBLAS_OP_N, dim, dim, dim, &one, buf, dim,
			buf + dim * dim, dim, &zero, buf + 2 * dim * dim, dim);
	if (s != CUBLAS_STATUS_SUCCESS) {
		errf(err, errlen, "cublasSgemm(warm-up): %s: %s", cublasGetStatusName(s), cublasGetStatusString(s));
		goto out;
	}
	if ((e = cudaStreamSynchronize(cx->stream)) != cudaSuccess) {
		cuda_errf(err, errlen, "cudaStreamSynchronize(warm-up)", e);
		goto out;
	}
	rc = 0;
out:
	cudaFree(flag);
	cudaFree(buf);
	return rc;
}

/* Release what ctx_setup() made (not the struct). */
static void ctx_teardown(struct cuda_ctx *cx)
{
	if (cx->blas)
		cublasDestroy(cx->blas);
	if (cx->workspace)
		cudaFree(cx->workspace);
	if (cx->sum_scratch)
		cudaFree(cx->sum_scratch);
	if (cx->h_sums)
		cudaFreeHost(cx->h_sums);
	if (cx->ev_stop)
		cudaEventDestroy(cx->ev_stop);
	if (cx->ev_start)
		cudaEventDestroy(cx->ev_start);
	if (cx->stream)
		cudaStreamDestroy(cx->stream);
	cx->blas = NULL;
	cx->workspace = NULL;
	cx->sum_scratch = NULL;
	cx->d_sums = NULL;
	cx->h_sums = NULL;
	cx->ev_start = cx->ev_stop = NULL;
	cx->stream = NULL;
}

static void cuda_fini(void *ctx)
{
	struct cuda_ctx *cx = ctx;
	if (!cx)
		return;
	ctx_teardown(cx);
	free(cx);
}

/* Context, stream, events, cuBLAS with its workspace, warm-up. 0 or -1 with ERR. */
static int ctx_setup(struct cuda_ctx *cx, char *err, size_t errlen)
{
	cudaError_t e;
	cublasStatus_t s;

	if ((e = cudaSetDevice(cx->dev)) != cudaSuccess) {
		cuda_errf(err, errlen, "cudaSetDevice", e);
		return -1;
	}
	if ((e = cudaFree(NULL)) != cudaSuccess) {     /* creates the context */
		cuda_errf(err, errlen, "cudaFree(NULL) (context creation)", e);
		return -1;
	}
	if ((e = cudaStreamCreateWithFlags(&cx->stream, cudaStreamNonBlocking)) != cudaSuccess) {
		cuda_errf(err, errlen, "cudaStreamCreateWithFlags", e);
		return -1;
	}
	if ((e = cudaEventCreate(&cx->ev_start)) != cudaSuccess ||
	    (e = cudaEventCreate(&cx->ev_stop)) != cudaSuccess) {
		cuda_errf(err, errlen, "cudaEventCreate", e);
		return -1;
	}
	if ((s = cublasCreate(&cx->blas)) != CUBLAS_STATUS_SUCCESS) {
		errf(err, errlen, "cublasCreate: %s: %s", cublasGetStatusName(s), cublasGetStatusString(s));
		return -1;
	}
	/* Our own workspace, allocated once: otherwise cuBLAS allocates one inside the first
	 * sgemm job, which would look like escaped memory. TF32 stays off: default math. */
	if ((e = cudaMalloc(&cx->workspace, WORKSPACE_BYTES)) != cudaSuccess) {
		cuda_errf(err, errlen, "cudaMalloc(cuBLAS workspace)", e);
		return -1;
	}
	/* The summary's scratch and result on the device, and a pinned result on the host:
	 * once per context, so that jobs allocate nothing for it. */
	if ((e = cudaMalloc(&cx->sum_scratch, VGPU_CUDA_SUM_SCRATCH_BYTES + sizeof(struct vgpu_cuda_sums)))
	    != cudaSuccess) {
		cuda_errf(err, errlen, "cudaMalloc(summary scratch)", e);
		return -1;
	}
	cx->d_sums = (struct vgpu_cuda_sums *)((char *)cx->sum_scratch + VGPU_CUDA_SUM_SCRATCH_BYTES);
	if ((e = cudaMallocHost((void **)&cx->h_sums, sizeof(*cx->h_sums))) != cudaSuccess) {
		cuda_errf(err, errlen, "cudaMallocHost(summary)", e);
		return -1;
	}
	if ((s = cublasSetStream(cx->blas, cx->stream)) != CUBLAS_STATUS_SUCCESS ||
	    (s = cublasSetWorkspace(cx->blas, cx->workspace, WORKSPACE_BYTES)) != CUBLAS_STATUS_SUCCESS ||
	    (s = cublasSetMathMode(cx->blas, CUBLAS_DEFAULT_MATH)) != CUBLAS_STATUS_SUCCESS) {
		errf(err, errlen, "cublasSet*: %s: %s", cublasGetStatusName(s), cublasGetStatusString(s));
		return -1;
	}
	return cuda_warmup(cx, err, errlen);
}

static int cuda_init(void **ctxp, int dev, char *err, size_t errlen)
{
	struct cuda_ctx *cx;
	cudaError_t e;
	int count = 0;
	const char *env;

	*ctxp = NULL;
	if ((e = cudaGetDeviceCount(&count)) != cudaSuccess) {
		cuda_errf(err, errlen, "cudaGetDeviceCount", e);
		return -1;
	}
	if (dev < 0 || dev >= count) {
		errf(err, errlen, "no CUDA device %d (%d visible)", dev, count);
		return -1;
	}
	cx = calloc(1, sizeof(*cx));
	if (!cx) {
		errf(err, errlen, "out of memory");
		return -1;
	}
	cx->dev = dev;
	cx->escape_tolerance = ESCAPE_TOLERANCE;
	if ((env = getenv("VGPU_CUDA_ESCAPE_TOLERANCE")) && *env)
		cx->escape_tolerance = strtoull(env, NULL, 10);
	if ((env = getenv("VGPU_CUDA_TEST_ESCAPE")) && strcmp(env, "1") == 0)
		cx->test_escape = 1;
	cx->hostmem = HOSTMEM_REGISTER;
	if ((env = getenv("VGPU_CUDA_HOSTMEM")) && strcmp(env, "populate") == 0)
		cx->hostmem = HOSTMEM_POPULATE;
	else if (env && strcmp(env, "plain") == 0)
		cx->hostmem = HOSTMEM_PLAIN;

	if (ctx_setup(cx, err, errlen) < 0)
		goto fail;
	*ctxp = cx;
	return 0;
fail:
	cuda_fini(cx);
	return -1;
}

const struct vgpu_backend_ops vgpu_backend_cuda = {
	.iversion = 1,
	.name = "cuda",
	.device_count = cuda_device_count,
	.init = cuda_init,
	.run = cuda_run,
	.fini = cuda_fini,
};
