/* cuda_err.c - error capture for the cuda backend: every CUDA and cuBLAS call is
 * checked, and a failure becomes text naming the call, the error's name and its
 * description ("cudaMalloc(input, N bytes): cudaErrorMemoryAllocation: out of memory").
 * A job keeps its first failure (EXEC_FAILED); after one, vgpu_cuda_context_broken()
 * tells a passing error from one that poisoned the context (the worker then restarts). */
#include <stdarg.h>
#include <stdio.h>

#include "cuda_int.h"
#include "../lib/status.h"

static void verrf(char *err, size_t errlen, const char *fmt, va_list ap)
{
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
}

void vgpu_cuda_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verrf(err, errlen, fmt, ap);
	va_end(ap);
}

void vgpu_cuda_err_call(char *err, size_t errlen, const char *what, cudaError_t e)
{
	vgpu_cuda_errf(err, errlen, "%s: %s: %s", what, cudaGetErrorName(e), cudaGetErrorString(e));
}

void vgpu_cuda_err_blas(char *err, size_t errlen, const char *what, cublasStatus_t s)
{
	vgpu_cuda_errf(err, errlen, "%s: %s: %s", what, cublasGetStatusName(s), cublasGetStatusString(s));
}

/* 1 when this is the job's first failure (now recorded as EXEC_FAILED). */
static int first_failure(struct cuda_job *js)
{
	if (js->failed)
		return 0;
	js->failed = 1;
	js->res->status = VGPU_EXEC_FAILED;
	return 1;
}

int vgpu_cuda_check(struct cuda_job *js, cudaError_t e, const char *what)
{
	if (e == cudaSuccess)
		return 0;
	if (first_failure(js)) {
		js->cuda_err = e;
		vgpu_cuda_err_call(js->res->error, sizeof(js->res->error), what, e);
	}
	return -1;
}

int vgpu_cuda_check_blas(struct cuda_job *js, cublasStatus_t s, const char *what)
{
	if (s == CUBLAS_STATUS_SUCCESS)
		return 0;
	if (first_failure(js))
		vgpu_cuda_err_blas(js->res->error, sizeof(js->res->error), what, s);
	return -1;
}

int vgpu_cuda_job_fail(struct cuda_job *js, const char *fmt, ...)
{
	va_list ap;

	if (first_failure(js)) {
		va_start(ap, fmt);
		verrf(js->res->error, sizeof(js->res->error), fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Non-sticky errors (a bad argument, an allocation that did not fit) are cleared by
 * cudaGetLastError(); sticky ones (illegal address, launch failure, ...) are returned
 * by every later call. */
int vgpu_cuda_context_broken(struct cuda_ctx *cx)
{
	(void)cudaGetLastError();
	if (cudaStreamSynchronize(cx->stream) != cudaSuccess)
		return 1;
	return cudaDeviceSynchronize() != cudaSuccess;
}
