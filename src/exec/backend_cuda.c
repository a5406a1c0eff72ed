/* exec_cuda_backend.c - vgpu_backend_cuda: runs jobs on one GPU inside a worker process.
 *
 * Each job's device memory comes from a per-job arena over the context's device-memory
 * cache (blocks a job frees are kept for the next job instead of cudaFree'd; bounded,
 * VGPU_CUDA_CACHE_BYTES); what the job leaves allocated is reclaimed and the job
 * answered LEAKED. cudaMemGetInfo before and after the job, less what the cache took
 * from the driver meanwhile, catches memory that escaped the arena (LEAKED too; the
 * device context is reset in place to reclaim it). VGPU_CUDA_PHASES=1 prints each
 * job's phases (host clock and device events) to stderr. Every CUDA and cuBLAS call is checked; a failure
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
#include <time.h>
#include <unistd.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "arena.h"
#include "backend.h"
#include "cuda_kernels.h"
#include "../lib/status.h"

#define WORKSPACE_BYTES    (32u << 20)   /* cuBLAS workspace, allocated once at init */
#define ESCAPE_TOLERANCE   (16u << 20)   /* cudaMemGetInfo noise: allocator granularity */
#define PIN_MIN            (1u << 20)    /* host buffers from here on are pinned for the copy */
#define STAGE_CHUNK        (8u << 20)    /* VGPU_CUDA_HOSTMEM=staging: two pinned chunks this large */
#define CACHE_MAX_BLOCKS   64            /* idle blocks the device-memory cache keeps at most */
#define DEV_GRAIN          (2u << 20)    /* cudaMalloc's granularity for large blocks */

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ  22
#define MADV_POPULATE_WRITE 23
#endif

/* How the job's host buffers (the worker's mappings of the mediator's memfds) meet the
 * copies: a fresh shared mapping faults page by page inside a pageable copy (~1 GB/s).
 * "register" pins them for the copy (cudaHostRegister: DMA at full speed), "populate"
 * only faults them in at once (madvise), "plain" does neither. VGPU_CUDA_HOSTMEM. */
enum hostmem_mode { HOSTMEM_REGISTER, HOSTMEM_POPULATE, HOSTMEM_PLAIN, HOSTMEM_STAGING };
static const char *const hostmem_names[] = { "register", "populate", "plain", "staging" };

/* The device-memory cache: every block the backend's jobs get from cudaMalloc, idle
 * (on the LRU list, free for the next job) or in use (lent to a job through its arena).
 * HELD counts both, in the bytes actually asked of cudaMalloc, so that the escape check
 * can subtract what the cache took from (or gave back to) the driver during a job. */
struct dev_block {
	void *ptr;
	size_t cap;                  /* bytes cudaMalloc'ed */
	struct dev_block *next;
};

struct dev_cache {
	struct dev_block *idle;      /* most recently freed first */
	struct dev_block *used;      /* lent to the running job */
	uint64_t held, idle_bytes, limit;
	unsigned idle_count;
	struct vgpu_cuda_cache_stats st;
};

/* One job's phases (VGPU_CUDA_PHASES=1): host clock in microseconds, device phases from
 * events recorded between them. */
struct phases {
	double meminfo0, alloc, prep, enqueue, wait, unprep, free, meminfo1, run;
	float gen_in, compute, summary, d2h;
	unsigned hits, misses;
};

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
	struct dev_cache cache;
	void *stage[2];            /* pinned staging chunks (HOSTMEM_STAGING) */
	cudaEvent_t stage_ev[2];
	int phases_on;             /* VGPU_CUDA_PHASES=1 */
	cudaEvent_t ev_in, ev_op, ev_sum;   /* phase boundaries on the device */
	struct phases ph;          /* the running job's */
};

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

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

/* --- the device-memory cache, the arena's allocator -------------------------------- */

/* What a request of BYTES asks of cudaMalloc: large blocks in its 2 MiB grain (what the
 * driver takes anyway), small ones in 256 bytes. */
static size_t dev_round(size_t bytes)
{
	size_t g = bytes >= DEV_GRAIN / 2 ? DEV_GRAIN : 256;
	if (bytes == 0)
		return 256;
	if (bytes > SIZE_MAX - g)
		return bytes;
	return (bytes + g - 1) / g * g;
}

/* The largest idle block a request of BYTES may take: its size bucket is [BYTES, this].
 * A quarter more for large blocks, twice for small ones; never more device memory
 * wasted per block than that. */
static size_t dev_bucket_max(size_t bytes)
{
	size_t r = dev_round(bytes);
	if (bytes < DEV_GRAIN / 2)
		return r * 2;
	return r > SIZE_MAX - r / 4 ? SIZE_MAX : dev_round(r + r / 4);
}

static void cache_release(struct dev_cache *c, struct dev_block *b)
{
	(void)cudaFree(b->ptr);   /* a failure means the context is gone; a restart frees it all */
	c->held -= b->cap;
	c->st.released_bytes += b->cap;
	free(b);
}

/* Give every idle block back to the driver. */
static void cache_flush(struct dev_cache *c)
{
	while (c->idle) {
		struct dev_block *b = c->idle;
		c->idle = b->next;
		c->idle_bytes -= b->cap;
		c->idle_count--;
		cache_release(c, b);
	}
}

/* Keep the idle blocks within the limit and the count: drop the least recently freed. */
static void cache_trim(struct dev_cache *c)
{
	while (c->idle && (c->idle_bytes > c->limit || c->idle_count > CACHE_MAX_BLOCKS)) {
		struct dev_block **pp = &c->idle, *b;
		while ((*pp)->next)
			pp = &(*pp)->next;
		b = *pp;
		*pp = NULL;
		c->idle_bytes -= b->cap;
		c->idle_count--;
		c->st.evictions++;
		cache_release(c, b);
	}
}

static int arena_cuda_alloc(void *ctx, void **ptr, size_t bytes)
{
	struct cuda_ctx *cx = ctx;
	struct dev_cache *c = &cx->cache;
	struct dev_block **best = NULL, **pp, *b;
	size_t lo = bytes ? bytes : 1, hi = dev_bucket_max(lo), cap;
	cudaError_t e;

	*ptr = NULL;
	/* Best fit in the bucket; among equals the most recently freed (first on the list). */
	for (pp = &c->idle; *pp; pp = &(*pp)->next)
		if ((*pp)->cap >= lo && (*pp)->cap <= hi && (!best || (*pp)->cap < (*best)->cap))
			best = pp;
	if (best) {
		b = *best;
		*best = b->next;
		c->idle_bytes -= b->cap;
		c->idle_count--;
		b->next = c->used;
		c->used = b;
		c->st.hits++;
		cx->ph.hits++;
		*ptr = b->ptr;
		return 0;
	}
	b = malloc(sizeof(*b));
	if (!b)
		return -ENOMEM;
	cap = dev_round(lo);
	e = cudaMalloc(&b->ptr, cap);
	if (e == cudaErrorMemoryAllocation && c->idle) {
		/* What the cache keeps must never make a job fail: give it back, try again. */
		(void)cudaGetLastError();
		cache_flush(c);
		c->st.flushes++;
		e = cudaMalloc(&b->ptr, cap);
	}
	if (e != cudaSuccess) {
		cx->alloc_err = e;
		free(b);
		return e == cudaErrorMemoryAllocation ? -ENOMEM : -EIO;
	}
	b->cap = cap;
	b->next = c->used;
	c->used = b;
	c->held += cap;
	c->st.misses++;
	cx->ph.misses++;
	*ptr = b->ptr;
	return 0;
}

/* A block the job freed (or the arena reclaimed) goes back to the cache, or to the
 * driver when the cache is off, full, or the block alone is over the limit. */
static void arena_cuda_free(void *ctx, void *ptr)
{
	struct cuda_ctx *cx = ctx;
	struct dev_cache *c = &cx->cache;
	struct dev_block **pp, *b;

	for (pp = &c->used; *pp; pp = &(*pp)->next)
		if ((*pp)->ptr == ptr)
			break;
	if (!*pp) {
		(void)cudaFree(ptr);      /* not ours (cannot happen: the arena checks) */
		return;
	}
	b = *pp;
	*pp = b->next;
	if (b->cap > c->limit) {
		cache_release(c, b);
		return;
	}
	b->next = c->idle;
	c->idle = b;
	c->idle_bytes += b->cap;
	c->idle_count++;
	cache_trim(c);
}

/* Everything back to the driver: blocks still lent too (only at teardown, when no job runs). */
static void cache_destroy(struct dev_cache *c)
{
	cache_flush(c);
	while (c->used) {
		struct dev_block *b = c->used;
		c->used = b->next;
		cache_release(c, b);
	}
}

void vgpu_cuda_cache_stats(void *ctx, struct vgpu_cuda_cache_stats *st)
{
	struct cuda_ctx *cx = ctx;
	*st = cx->cache.st;
	st->held_bytes = cx->cache.held;
	st->idle_bytes = cx->cache.idle_bytes;
	st->limit_bytes = cx->cache.limit;
}

static int job_alloc(struct job_state *js, void **ptr, size_t bytes, const char *what)
{
	char buf[96];
	double t0 = js->cx->phases_on ? now_us() : 0;
	int rc;
	js->cx->alloc_err = cudaSuccess;
	rc = vgpu_arena_alloc(&js->cx->arena, ptr, bytes);
	if (js->cx->phases_on)
		js->cx->ph.alloc += now_us() - t0;
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
		if (!mul_ok(job->args.n, 2, in))
			return -1;
		*out = job->args.n;
		return 0;
	case VGPU_OP_SGEMM:
		if (!mul_ok(job->args.m, job->args.k, &a) || !mul_ok(job->args.k, job->args.n, &b) ||
		    __builtin_add_overflow(a, b, in) || !mul_ok(job->args.m, job->args.n, out))
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
	/* staging: the copies go through our pinned chunks; fault the pages in at once. */
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

/* VGPU_CUDA_HOSTMEM=staging: host to device through the two pinned chunks. The host
 * fills one chunk while the other is copied; a chunk is refilled once its copy is done. */
static int stage_h2d(struct job_state *js, void *dev, const void *host, size_t bytes)
{
	struct cuda_ctx *cx = js->cx;
	size_t off, len;
	unsigned i;

	for (off = 0, i = 0; off < bytes; off += len, i++) {
		unsigned b = i & 1;
		len = bytes - off < STAGE_CHUNK ? bytes - off : STAGE_CHUNK;
		if (i >= 2 && job_cuda(js, cudaEventSynchronize(cx->stage_ev[b]), "cudaEventSynchronize(staging)"))
			return -1;
		memcpy(cx->stage[b], (const char *)host + off, len);
		if (job_cuda(js, cudaMemcpyAsync((char *)dev + off, cx->stage[b], len, cudaMemcpyHostToDevice,
						 cx->stream), "cudaMemcpyAsync(input chunk, host to device)") ||
		    job_cuda(js, cudaEventRecord(cx->stage_ev[b], cx->stream), "cudaEventRecord(staging)"))
			return -1;
	}
	return 0;
}

/* Device to host through the chunks: chunk i+2 is copied into a chunk while the host
 * moves chunk i out of it into the job's memory. */
static int stage_d2h(struct job_state *js, void *host, const void *dev, size_t bytes)
{
	struct cuda_ctx *cx = js->cx;
	size_t n = (bytes + STAGE_CHUNK - 1) / STAGE_CHUNK;

	for (size_t i = 0; i < n + 2; i++) {
		if (i >= 2) {       /* chunk i-2 is (being) copied into stage[i & 1]: move it out */
			size_t j = i - 2, off = j * STAGE_CHUNK;
			size_t len = bytes - off < STAGE_CHUNK ? bytes - off : STAGE_CHUNK;
			if (job_cuda(js, cudaEventSynchronize(cx->stage_ev[j & 1]), "cudaEventSynchronize(staging)"))
				return -1;
			memcpy((char *)host + off, cx->stage[j & 1], len);
		}
		if (i < n) {
			size_t off = i * STAGE_CHUNK;
			size_t len = bytes - off < STAGE_CHUNK ? bytes - off : STAGE_CHUNK;
			if (job_cuda(js, cudaMemcpyAsync(cx->stage[i & 1], (const char *)dev + off, len,
							 cudaMemcpyDeviceToHost, cx->stream),
				     "cudaMemcpyAsync(output chunk, device to host)") ||
			    job_cuda(js, cudaEventRecord(cx->stage_ev[i & 1], cx->stream), "cudaEventRecord(staging)"))
				return -1;
		}
	}
	return 0;
}

/* Inputs into device buffer D_IN: copied from the job, or generated on the device. */
static int job_inputs(struct job_state *js, const struct vgpu_job *job, float *d_in,
		      uint64_t first, uint64_t second)
{
	struct cuda_ctx *cx = js->cx;
	size_t bytes = (first + second) * sizeof(float);
	if (job->args.has_seed) {
		if (job_cuda(js, (cudaError_t)vgpu_cuda_gen(d_in, first, job->args.seed, 0, cx->stream),
			     "launch gen"))
			return -1;
		return job_cuda(js, (cudaError_t)vgpu_cuda_gen(d_in + first, second, job->args.seed, 1,
							      cx->stream), "launch gen");
	}
	if (cx->hostmem == HOSTMEM_STAGING && bytes >= PIN_MIN)
		return stage_h2d(js, d_in, job->in, bytes);
	return job_cuda(js, cudaMemcpyAsync(d_in, job->in, bytes, cudaMemcpyHostToDevice, cx->stream),
			"cudaMemcpyAsync(input, host to device)");
}

/* Record a phase boundary (VGPU_CUDA_PHASES=1 only). */
static int phase_mark(struct job_state *js, cudaEvent_t ev)
{
	if (!js->cx->phases_on)
		return 0;
	return job_cuda(js, cudaEventRecord(ev, js->cx->stream), "cudaEventRecord(phase)");
}

static int job_compute_in(struct job_state *js, const struct vgpu_job *job, float **d_inp, float **d_outp,
			  int *pinned_in, int *pinned_out)
{
	struct cuda_ctx *cx = js->cx;
	uint64_t in_count, out_count, first, second;
	float *d_in, *d_out;
	float ms = 0;
	double t0, t1;

	if (op_sizes(job, &in_count, &out_count) < 0)
		return job_bad(js, "bad job: sizes overflow (n=%llu m=%llu k=%llu)",
			       (unsigned long long)job->args.n, (unsigned long long)job->args.m,
			       (unsigned long long)job->args.k);
	if (!job->args.has_seed && (!job->in || job->in_count < in_count))
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
		if (job->args.m > INT_MAX || job->args.n > INT_MAX || job->args.k > INT_MAX)
			return job_bad(js, "bad job: sgemm sizes above %d are not supported by cublasSgemm", INT_MAX);
		first = job->args.m * job->args.k;
		second = job->args.k * job->args.n;
	} else {
		first = second = job->args.n;
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
	t0 = now_us();
	if (!job->args.has_seed)
		*pinned_in = host_prepare(cx, job->in, in_count * sizeof(float), 1);
	*pinned_out = host_prepare(cx, job->out, out_count * sizeof(float), 0);
	t1 = now_us();
	cx->ph.prep += t1 - t0;
	if (job_cuda(js, cudaEventRecord(cx->ev_start, cx->stream), "cudaEventRecord(start)") ||
	    job_inputs(js, job, d_in, first, second) || phase_mark(js, cx->ev_in))
		return -1;

	switch (job->op) {
	case VGPU_OP_VADD:
		if (job_cuda(js, (cudaError_t)vgpu_cuda_vadd(d_in, d_in + first, d_out, job->args.n, cx->stream),
			     "launch vadd"))
			return -1;
		break;
	case VGPU_OP_SAXPY:
		if (job_cuda(js, (cudaError_t)vgpu_cuda_saxpy(job->args.alpha, d_in, d_in + first, d_out, job->args.n,
							      cx->stream), "launch saxpy"))
			return -1;
		break;
	case VGPU_OP_SGEMM: {
		/* Row-major C[m x n] = A[m x k] B[k x n] is, read column-major, C^T = B^T A^T:
		 * a column-major GEMM of (n x k)(k x m) with leading dimensions n, k, n. */
		const float one = 1.0f, zero = 0.0f;
		if (job->args.k == 0) {
			if (job_cuda(js, cudaMemsetAsync(d_out, 0, out_count * sizeof(float), cx->stream),
				     "cudaMemsetAsync(output)"))
				return -1;
			break;
		}
		if (job_blas(js, cublasSgemm(cx->blas, CUBLAS_OP_N, CUBLAS_OP_N, (int)job->args.n, (int)job->args.m,
					     (int)job->args.k, &one, d_in + first, (int)job->args.n, d_in, (int)job->args.k,
					     &zero, d_out, (int)job->args.n), "cublasSgemm"))
			return -1;
		break;
	}
	default:
		return job_bad(js, "bad job: op %d is not a compute op", (int)job->op);
	}

	/* The summary, reduced on the device in double; only its 24 bytes come back when the
	 * caller wants no output (job->out NULL), else the output too. */
	if (job_cuda(js, cudaGetLastError(), "kernel launch") || phase_mark(js, cx->ev_op) ||
	    job_cuda(js, (cudaError_t)vgpu_cuda_summary(d_out, out_count, cx->sum_scratch, cx->d_sums, cx->stream),
		     "launch summary") ||
	    job_cuda(js, cudaMemcpyAsync(cx->h_sums, cx->d_sums, sizeof(*cx->h_sums), cudaMemcpyDeviceToHost,
					 cx->stream), "cudaMemcpyAsync(summary, device to host)") ||
	    phase_mark(js, cx->ev_sum))
		return -1;
	if (job->out && cx->hostmem == HOSTMEM_STAGING && out_count * sizeof(float) >= PIN_MIN) {
		if (stage_d2h(js, job->out, d_out, out_count * sizeof(float)))
			return -1;
	} else if (job->out && job_cuda(js, cudaMemcpyAsync(job->out, d_out, out_count * sizeof(float),
							   cudaMemcpyDeviceToHost, cx->stream),
					"cudaMemcpyAsync(output, device to host)")) {
		return -1;
	}
	if (job_cuda(js, cudaEventRecord(cx->ev_stop, cx->stream), "cudaEventRecord(stop)"))
		return -1;
	t0 = now_us();
	cx->ph.enqueue += t0 - t1;
	if (job_cuda(js, cudaEventSynchronize(cx->ev_stop), "cudaEventSynchronize(job)") ||
	    job_cuda(js, cudaEventElapsedTime(&ms, cx->ev_start, cx->ev_stop), "cudaEventElapsedTime"))
		return -1;
	cx->ph.wait += now_us() - t0;
	if (cx->phases_on &&
	    (job_cuda(js, cudaEventElapsedTime(&cx->ph.gen_in, cx->ev_start, cx->ev_in), "cudaEventElapsedTime") ||
	     job_cuda(js, cudaEventElapsedTime(&cx->ph.compute, cx->ev_in, cx->ev_op), "cudaEventElapsedTime") ||
	     job_cuda(js, cudaEventElapsedTime(&cx->ph.summary, cx->ev_op, cx->ev_sum), "cudaEventElapsedTime") ||
	     job_cuda(js, cudaEventElapsedTime(&cx->ph.d2h, cx->ev_sum, cx->ev_stop), "cudaEventElapsedTime")))
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
	double t0 = now_us(), t1;
	if (pinned_in)
		(void)cudaHostUnregister((void *)job->in);
	if (pinned_out)
		(void)cudaHostUnregister(job->out);
	t1 = now_us();
	js->cx->ph.unprep += t1 - t0;
	vgpu_arena_free(&js->cx->arena, d_in);
	vgpu_arena_free(&js->cx->arena, d_out);
	js->cx->ph.free += now_us() - t1;
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
	    job_cuda(js, (cudaError_t)vgpu_cuda_spin(job->args.ms, d_flag, cx->stream), "launch spin") ||
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
	size_t bytes = job->args.bytes ? (size_t)job->args.bytes : 1;

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

static void phases_print(struct cuda_ctx *cx, const struct vgpu_job *job, const struct vgpu_job_result *res)
{
	const struct phases *p = &cx->ph;
	fprintf(stderr,
		"vgpu-cuda-phases: op=%s n=%llu m=%llu k=%llu input=%s out=%s hostmem=%s status=%s "
		"run_us=%.1f meminfo0_us=%.1f alloc_us=%.1f hits=%u misses=%u prep_us=%.1f enqueue_us=%.1f "
		"wait_us=%.1f gen_in_us=%.1f compute_us=%.1f summary_us=%.1f d2h_us=%.1f exec_us=%llu "
		"unprep_us=%.1f free_us=%.1f meminfo1_us=%.1f held=%llu idle=%llu\n",
		vgpu_op_name(job->op), (unsigned long long)job->args.n, (unsigned long long)job->args.m,
		(unsigned long long)job->args.k, job->args.has_seed ? "seed" : "payload", job->out ? "copy" : "summary",
		hostmem_names[cx->hostmem], vgpu_status_name(res->status), p->run, p->meminfo0, p->alloc, p->hits,
		p->misses, p->prep, p->enqueue, p->wait, p->gen_in * 1000.0, p->compute * 1000.0,
		p->summary * 1000.0, p->d2h * 1000.0, (unsigned long long)res->exec_us, p->unprep, p->free,
		p->meminfo1, (unsigned long long)cx->cache.held, (unsigned long long)cx->cache.idle_bytes);
}

static int cuda_run_in(struct cuda_ctx *cx, const struct vgpu_job *job, struct vgpu_job_result *res)
{
	struct job_state js = { .cx = cx, .res = res, .failed = 0, .cuda_err = cudaSuccess };
	size_t free0 = 0, free1 = 0, total = 0;
	uint64_t leaked, held0;
	int broken = 0, have_free0;
	double t0;

	t0 = now_us();
	have_free0 = cudaMemGetInfo(&free0, &total) == cudaSuccess;
	cx->ph.meminfo0 = now_us() - t0;
	held0 = cx->cache.held;
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
	t0 = now_us();
	leaked = vgpu_arena_reclaim(&cx->arena);
	cx->ph.free += now_us() - t0;
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
	/* Memory the arena did not see: the device's free memory fell by more than the cache
	 * took from the driver during the job (held1 - held0: blocks it cudaMalloc'ed, less
	 * those it gave back; a job's blocks are all back in the cache or freed by now). */
	t0 = now_us();
	if (have_free0 && cudaMemGetInfo(&free1, &total) == cudaSuccess) {
		int64_t fell = (int64_t)free0 - (int64_t)free1;
		int64_t took = (int64_t)cx->cache.held - (int64_t)held0;
		cx->ph.meminfo1 = now_us() - t0;
		if (fell - took > (int64_t)cx->escape_tolerance) {
			uint64_t escaped = (uint64_t)(fell - took);
			char why[160] = "";
			res->leaked_bytes += escaped;
			res->status = VGPU_LEAKED;
			/* Only a new context gives that memory back: reset the device and set up
			 * again in place; if that fails the worker restarts (run() < 0). */
			ctx_teardown(cx);
			if (cudaDeviceReset() != cudaSuccess || ctx_setup(cx, why, sizeof(why)) < 0) {
				snprintf(res->error, sizeof(res->error),
					 "device free memory fell by %llu bytes during the job outside its arena "
					 "(cudaMemGetInfo); context reset failed (%.100s); worker restarts",
					 (unsigned long long)escaped, why);
				return -1;
			}
			snprintf(res->error, sizeof(res->error),
				 "device free memory fell by %llu bytes during the job outside its arena "
				 "(cudaMemGetInfo); reclaimed by resetting the device context",
				 (unsigned long long)escaped);
		}
	}
	return 0;
}

static int cuda_run(void *ctx, const struct vgpu_job *job, struct vgpu_job_result *res)
{
	struct cuda_ctx *cx = ctx;
	struct job_state js = { .cx = cx, .res = res, .failed = 0, .cuda_err = cudaSuccess };
	double t0;
	int rc;

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
	memset(&cx->ph, 0, sizeof(cx->ph));
	t0 = now_us();
	rc = cuda_run_in(cx, job, res);
	cx->ph.run = now_us() - t0;
	if (cx->phases_on)
		phases_print(cx, job, res);
	return rc;
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
	cache_destroy(&cx->cache);
	for (int i = 0; i < 2; i++) {
		if (cx->stage[i])
			cudaFreeHost(cx->stage[i]);
		if (cx->stage_ev[i])
			cudaEventDestroy(cx->stage_ev[i]);
		cx->stage[i] = NULL;
		cx->stage_ev[i] = NULL;
	}
	if (cx->ev_in)
		cudaEventDestroy(cx->ev_in);
	if (cx->ev_op)
		cudaEventDestroy(cx->ev_op);
	if (cx->ev_sum)
		cudaEventDestroy(cx->ev_sum);
	cx->ev_in = cx->ev_op = cx->ev_sum = NULL;
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
	    (e = cudaEventCreate(&cx->ev_stop)) != cudaSuccess ||
	    (e = cudaEventCreate(&cx->ev_in)) != cudaSuccess ||
	    (e = cudaEventCreate(&cx->ev_op)) != cudaSuccess ||
	    (e = cudaEventCreate(&cx->ev_sum)) != cudaSuccess) {
		cuda_errf(err, errlen, "cudaEventCreate", e);
		return -1;
	}
	if (cx->hostmem == HOSTMEM_STAGING) {
		for (int i = 0; i < 2; i++) {
			if ((e = cudaMallocHost(&cx->stage[i], STAGE_CHUNK)) != cudaSuccess) {
				cuda_errf(err, errlen, "cudaMallocHost(staging chunk)", e);
				return -1;
			}
			if ((e = cudaEventCreateWithFlags(&cx->stage_ev[i], cudaEventDisableTiming)) != cudaSuccess) {
				cuda_errf(err, errlen, "cudaEventCreate(staging)", e);
				return -1;
			}
		}
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
	/* The cache keeps at most VGPU_CUDA_CACHE_BYTES idle (0: off), default half the
	 * device's memory. */
	{
		size_t fr = 0, tot = 0;
		const char *env = getenv("VGPU_CUDA_CACHE_BYTES");
		if ((e = cudaMemGetInfo(&fr, &tot)) != cudaSuccess) {
			cuda_errf(err, errlen, "cudaMemGetInfo", e);
			return -1;
		}
		memset(&cx->cache, 0, sizeof(cx->cache));
		cx->cache.limit = env && *env ? strtoull(env, NULL, 0) : tot / 2;
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
	else if (env && strcmp(env, "staging") == 0)
		cx->hostmem = HOSTMEM_STAGING;
	if ((env = getenv("VGPU_CUDA_PHASES")) && strcmp(env, "1") == 0)
		cx->phases_on = 1;

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
