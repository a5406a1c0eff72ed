/* backend_cuda.c - vgpu_backend_cuda: runs jobs on one GPU inside a worker process.
 *
 * The life cycle (init sets up the context, stream, events, cuBLAS with its own
 * workspace, and warms every kernel up; fini) and run(): the op (backend_cuda_ops.c)
 * between the leak checks (cuda_leak.c), with its phases (cuda_phases.c). A failure
 * that poisons the context makes run() return < 0 so that the worker restarts. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_cuda_kernel.h"
#include "cuda_int.h"
#include "../lib/status.h"

#define WORKSPACE_BYTES (32u << 20)   /* cuBLAS workspace, allocated once at init */

static int cuda_device_count(char *err, size_t errlen)
{
	int n = 0;
	cudaError_t e = cudaGetDeviceCount(&n);
	if (e != cudaSuccess) {
		vgpu_cuda_err_call(err, errlen, "cudaGetDeviceCount", e);
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
		vgpu_cuda_err_call(err, errlen, "cudaMalloc(warm-up)", e);
		return -1;
	}
	if ((e = cudaMalloc((void **)&flag, sizeof(int))) != cudaSuccess) {
		vgpu_cuda_err_call(err, errlen, "cudaMalloc(warm-up flag)", e);
		goto out;
	}
	if ((e = (cudaError_t)vgpu_cuda_gen(buf, 2 * dim * dim, 1, 0, cx->stream)) ||
	    (e = (cudaError_t)vgpu_cuda_vadd(buf, buf + dim, buf + 2 * dim, dim, cx->stream)) ||
	    (e = (cudaError_t)vgpu_cuda_saxpy(2.0f, buf, buf + dim, buf + 2 * dim, dim, cx->stream)) ||
	    (e = (cudaError_t)vgpu_cuda_summary(buf, dim, cx->sum_scratch, cx->d_sums, cx->stream)) ||
	    (e = (cudaError_t)vgpu_cuda_spin(0, flag, cx->stream))) {
		vgpu_cuda_err_call(err, errlen, "warm-up kernel launch", e);
		goto out;
	}
	s = cublasSgemm(cx->blas, CUBLAS_OP_N, CUBLAS_OP_N, dim, dim, dim, &one, buf, dim,
			buf + dim * dim, dim, &zero, buf + 2 * dim * dim, dim);
	if (s != CUBLAS_STATUS_SUCCESS) {
		vgpu_cuda_err_blas(err, errlen, "cublasSgemm(warm-up)", s);
		goto out;
	}
	if ((e = cudaStreamSynchronize(cx->stream)) != cudaSuccess) {
		vgpu_cuda_err_call(err, errlen, "cudaStreamSynchronize(warm-up)", e);
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
	vgpu_cuda_cache_destroy(&cx->cache);
	vgpu_cuda_hostmem_teardown(&cx->hostmem);
	vgpu_cuda_phases_teardown(&cx->ph);
	if (cx->blas)
		cublasDestroy(cx->blas);
	/* Made after the context: without one, cudaFree(NULL) would create it. */
	if (cx->workspace || cx->sum_scratch || cx->h_sums) {
		cudaFree(cx->workspace);      /* NULL: no-op */
		cudaFree(cx->sum_scratch);
		cudaFreeHost(cx->h_sums);
	}
	if (cx->ev_stop)
		cudaEventDestroy(cx->ev_stop);
	if (cx->ev_start)
		cudaEventDestroy(cx->ev_start);
	if (cx->stream)
		cudaStreamDestroy(cx->stream);
	cx->blas = NULL;
	cx->workspace = cx->sum_scratch = NULL;
	cx->d_sums = cx->h_sums = NULL;
	cx->ev_start = cx->ev_stop = NULL;
	cx->stream = NULL;
}

/* The summary's scratch and result on the device, and a pinned result on the host: once
 * per context, so that jobs allocate nothing for it. */
static int summary_setup(struct cuda_ctx *cx, char *err, size_t errlen)
{
	cudaError_t e;

	if ((e = cudaMalloc(&cx->sum_scratch, VGPU_CUDA_SUM_SCRATCH_BYTES + sizeof(struct vgpu_cuda_sums)))
	    != cudaSuccess) {
		vgpu_cuda_err_call(err, errlen, "cudaMalloc(summary scratch)", e);
		return -1;
	}
	cx->d_sums = (struct vgpu_cuda_sums *)((char *)cx->sum_scratch + VGPU_CUDA_SUM_SCRATCH_BYTES);
	if ((e = cudaMallocHost((void **)&cx->h_sums, sizeof(*cx->h_sums))) != cudaSuccess) {
		vgpu_cuda_err_call(err, errlen, "cudaMallocHost(summary)", e);
		return -1;
	}
	return 0;
}

/* Context, stream, events, cuBLAS with its workspace, the cache, warm-up. 0 or -1 with ERR. */
static int ctx_setup(struct cuda_ctx *cx, char *err, size_t errlen)
{
	cudaError_t e;
	cublasStatus_t s;

	if ((e = cudaSetDevice(cx->dev)) != cudaSuccess) {
		vgpu_cuda_err_call(err, errlen, "cudaSetDevice", e);
		return -1;
	}
	if ((e = cudaFree(NULL)) != cudaSuccess) {     /* creates the context */
		vgpu_cuda_err_call(err, errlen, "cudaFree(NULL) (context creation)", e);
		return -1;
	}
	if ((e = cudaStreamCreateWithFlags(&cx->stream, cudaStreamNonBlocking)) != cudaSuccess) {
		vgpu_cuda_err_call(err, errlen, "cudaStreamCreateWithFlags", e);
		return -1;
	}
	if ((e = cudaEventCreate(&cx->ev_start)) != cudaSuccess ||
	    (e = cudaEventCreate(&cx->ev_stop)) != cudaSuccess) {
		vgpu_cuda_err_call(err, errlen, "cudaEventCreate", e);
		return -1;
	}
	if (vgpu_cuda_phases_setup(&cx->ph, err, errlen) < 0 || vgpu_cuda_hostmem_setup(&cx->hostmem, err, errlen) < 0)
		return -1;
	if ((s = cublasCreate(&cx->blas)) != CUBLAS_STATUS_SUCCESS) {
		vgpu_cuda_err_blas(err, errlen, "cublasCreate", s);
		return -1;
	}
	/* Our own workspace, allocated once: otherwise cuBLAS allocates one inside the first
	 * sgemm job, which would look like escaped memory. TF32 stays off: default math. */
	if ((e = cudaMalloc(&cx->workspace, WORKSPACE_BYTES)) != cudaSuccess) {
		vgpu_cuda_err_call(err, errlen, "cudaMalloc(cuBLAS workspace)", e);
		return -1;
	}
	if (summary_setup(cx, err, errlen) < 0)
		return -1;
	if ((s = cublasSetStream(cx->blas, cx->stream)) != CUBLAS_STATUS_SUCCESS ||
	    (s = cublasSetWorkspace(cx->blas, cx->workspace, WORKSPACE_BYTES)) != CUBLAS_STATUS_SUCCESS ||
	    (s = cublasSetMathMode(cx->blas, CUBLAS_DEFAULT_MATH)) != CUBLAS_STATUS_SUCCESS) {
		vgpu_cuda_err_blas(err, errlen, "cublasSet*", s);
		return -1;
	}
	if (vgpu_cuda_cache_setup(&cx->cache, err, errlen) < 0)
		return -1;
	return cuda_warmup(cx, err, errlen);
}

int vgpu_cuda_ctx_reset(struct cuda_ctx *cx, char *why, size_t whylen)
{
	ctx_teardown(cx);
	if (cudaDeviceReset() != cudaSuccess)
		return -1;
	return ctx_setup(cx, why, whylen);
}

static void cuda_fini(void *ctx)
{
	struct cuda_ctx *cx = ctx;
	if (!cx)
		return;
	vgpu_cuda_kernel_fini(cx);
	ctx_teardown(cx);
	free(cx);
}

static int cuda_init(void **ctxp, int dev, char *err, size_t errlen)
{
	struct cuda_ctx *cx;
	cudaError_t e;
	int count = 0;

	*ctxp = NULL;
	if ((e = cudaGetDeviceCount(&count)) != cudaSuccess) {
		vgpu_cuda_err_call(err, errlen, "cudaGetDeviceCount", e);
		return -1;
	}
	if (dev < 0 || dev >= count) {
		vgpu_cuda_errf(err, errlen, "no CUDA device %d (%d visible)", dev, count);
		return -1;
	}
	cx = calloc(1, sizeof(*cx));
	if (!cx) {
		vgpu_cuda_errf(err, errlen, "out of memory");
		return -1;
	}
	cx->dev = dev;
	vgpu_cuda_leak_config(&cx->leak);
	vgpu_cuda_hostmem_config(&cx->hostmem);
	vgpu_cuda_phases_config(&cx->ph);
	if (ctx_setup(cx, err, errlen) < 0) {
		cuda_fini(cx);
		return -1;
	}
	*ctxp = cx;
	return 0;
}

/* A job that uses the device: the op between the leak checks. */
static int cuda_run_in(struct cuda_ctx *cx, const struct vgpu_job *job, struct vgpu_job_result *res)
{
	struct cuda_job js = { .cx = cx, .res = res, .failed = 0, .cuda_err = cudaSuccess };
	struct cuda_leak_snap snap;
	uint64_t escaped;
	char why[160] = "";
	int broken = 0;

	vgpu_cuda_leak_begin(cx, &snap);
	vgpu_arena_init(&cx->arena, vgpu_cuda_cache_alloc, vgpu_cuda_cache_free, &cx->cache);
	vgpu_cuda_run_op(&js, job);
	if (js.cuda_err != cudaSuccess)
		broken = vgpu_cuda_context_broken(cx);
	vgpu_cuda_leak_reclaim(cx, res);
	if (broken) {
		size_t len = strlen(res->error);
		snprintf(res->error + len, sizeof(res->error) - len, "; CUDA context unusable, worker restarts");
		return -1;
	}
	escaped = vgpu_cuda_leak_escaped(cx, &snap, res);
	if (!escaped)
		return 0;
	/* Only a new context gives that memory back; if that fails the worker restarts. */
	if (vgpu_cuda_ctx_reset(cx, why, sizeof(why)) < 0) {
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
	return 0;
}

static int cuda_run(void *ctx, const struct vgpu_job *job, struct vgpu_job_result *res)
{
	struct cuda_ctx *cx = ctx;
	struct cuda_job js = { .cx = cx, .res = res, .failed = 0, .cuda_err = cudaSuccess };
	double t0;
	int rc;

	memset(res, 0, sizeof(*res));
	res->status = VGPU_OK;

	switch (job->op) {
	case VGPU_OP_PING:
		/* Proves the context still answers. */
		if (vgpu_cuda_check(&js, cudaStreamSynchronize(cx->stream), "cudaStreamSynchronize(ping)"))
			return vgpu_cuda_context_broken(cx) ? -1 : 0;
		return 0;
	case VGPU_OP_KERNEL:     /* the VM's own context, its own checks (backend_cuda_kernel.c) */
		return vgpu_cuda_kernel_run(cx, job, res);
	case VGPU_OP_CRASH:
		signal(SIGSEGV, SIG_DFL);
		raise(SIGSEGV);
		vgpu_cuda_job_fail(&js, "crash: raise(SIGSEGV) returned");
		return 0;
	default:
		break;
	}
	vgpu_cuda_phases_start(cx);
	t0 = vgpu_cuda_phase_begin(cx);
	rc = cuda_run_in(cx, job, res);
	vgpu_cuda_phase_end(cx, CUDA_PH_RUN, t0);
	vgpu_cuda_phases_print(cx, job, res);
	return rc;
}

const struct vgpu_backend_ops vgpu_backend_cuda = {
	.iversion = 2,
	.name = "cuda",
	.device_count = cuda_device_count,
	.init = cuda_init,
	.run = cuda_run,
	.fini = cuda_fini,
	.host_alloc = vgpu_cuda_host_alloc,
	.host_free = vgpu_cuda_host_free,
};
