/* backend_cuda_ops.c - the cuda backend's ops: vadd and saxpy (kernels of
 * cuda_kernels.cu), sgemm (cuBLAS, TF32 off), the output's summary reduced on the device,
 * and the test ops spin and leak. Sizes come from the op table (lib/op.h). A job's device
 * buffers come from its arena and are freed on every path; the output is copied back
 * only when the job has an output buffer (job->out), else only its 24-byte summary. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cuda_int.h"

/* A device buffer for the job, from its arena; a failure names the allocation. */
static int job_alloc(struct cuda_job *js, void **ptr, size_t bytes, const char *what)
{
	struct cuda_ctx *cx = js->cx;
	char buf[96];
	double t0 = vgpu_cuda_phase_begin(cx);
	int rc;

	cx->cache.last_err = cudaSuccess;
	rc = vgpu_arena_alloc(&cx->arena, ptr, bytes);
	vgpu_cuda_phase_alloc_end(cx, t0);
	if (rc == 0)
		return 0;
	snprintf(buf, sizeof(buf), "cudaMalloc(%s, %zu bytes)", what, bytes);
	if (cx->cache.last_err != cudaSuccess)
		return vgpu_cuda_check(js, cx->cache.last_err, buf);
	return vgpu_cuda_job_fail(js, "%s: arena allocation failed (%s)", buf, strerror(-rc));
}

/* Inputs into device buffer D_IN: copied from the job, or generated on the device. */
static int job_inputs(struct cuda_job *js, const struct vgpu_job *job, float *d_in,
		      uint64_t first, uint64_t second)
{
	struct cuda_ctx *cx = js->cx;

	if (job->args.has_seed) {
		if (vgpu_cuda_check(js, (cudaError_t)vgpu_cuda_gen(d_in, first, job->args.seed, 0, cx->stream),
				    "launch gen"))
			return -1;
		return vgpu_cuda_check(js, (cudaError_t)vgpu_cuda_gen(d_in + first, second, job->args.seed, 1,
								      cx->stream), "launch gen");
	}
	return vgpu_cuda_copy_in(js, d_in, job->in, (first + second) * sizeof(float));
}

/* Enqueue the op itself: OUT from the operands in D_IN (FIRST floats, then the second). */
static int job_op(struct cuda_job *js, const struct vgpu_job *job, const float *d_in, uint64_t first,
		  float *d_out, uint64_t out_count)
{
	struct cuda_ctx *cx = js->cx;
	const struct vgpu_op_args *a = &job->args;
	/* Row-major C[m x n] = A[m x k] B[k x n] is, read column-major, C^T = B^T A^T:
	 * a column-major GEMM of (n x k)(k x m) with leading dimensions n, k, n. */
	const float one = 1.0f, zero = 0.0f;

	switch (job->op) {
	case VGPU_OP_VADD:
		return vgpu_cuda_check(js, (cudaError_t)vgpu_cuda_vadd(d_in, d_in + first, d_out, a->n, cx->stream),
				       "launch vadd");
	case VGPU_OP_SAXPY:
		return vgpu_cuda_check(js, (cudaError_t)vgpu_cuda_saxpy(a->alpha, d_in, d_in + first, d_out, a->n,
									cx->stream), "launch saxpy");
	case VGPU_OP_SGEMM:
		if (a->k == 0)
			return vgpu_cuda_check(js, cudaMemsetAsync(d_out, 0, out_count * sizeof(float), cx->stream),
					       "cudaMemsetAsync(output)");
		return vgpu_cuda_check_blas(js, cublasSgemm(cx->blas, CUBLAS_OP_N, CUBLAS_OP_N, (int)a->n, (int)a->m,
							    (int)a->k, &one, d_in + first, (int)a->n, d_in, (int)a->k,
							    &zero, d_out, (int)a->n), "cublasSgemm");
	default:
		return vgpu_cuda_job_fail(js, "bad job: op %d is not a compute op", (int)job->op);
	}
}

/* The summary, reduced on the device in double; only its 24 bytes come back when the
 * caller wants no output (job->out NULL), else the output too. Then the stop event. */
static int job_results(struct cuda_job *js, const struct vgpu_job *job, const float *d_out, uint64_t out_count)
{
	struct cuda_ctx *cx = js->cx;

	if (vgpu_cuda_check(js, cudaGetLastError(), "kernel launch") || vgpu_cuda_phase_mark(js, CUDA_MARK_OP) ||
	    vgpu_cuda_check(js, (cudaError_t)vgpu_cuda_summary(d_out, out_count, cx->sum_scratch, cx->d_sums,
							       cx->stream), "launch summary") ||
	    vgpu_cuda_check(js, cudaMemcpyAsync(cx->h_sums, cx->d_sums, sizeof(*cx->h_sums), cudaMemcpyDeviceToHost,
						cx->stream), "cudaMemcpyAsync(summary, device to host)") ||
	    vgpu_cuda_phase_mark(js, CUDA_MARK_SUM))
		return -1;
	if (job->out && vgpu_cuda_copy_out(js, job->out, d_out, out_count * sizeof(float)))
		return -1;
	return vgpu_cuda_check(js, cudaEventRecord(cx->ev_stop, cx->stream), "cudaEventRecord(stop)");
}

/* Checks the job against the op's sizes, allocates *D_INP and *D_OUTP (the caller frees
 * them), registers the host buffers (*PINNED_*: the caller releases them) and runs. */
static int job_compute_in(struct cuda_job *js, const struct vgpu_job *job, float **d_inp, float **d_outp,
			  int *pinned_in, int *pinned_out)
{
	struct cuda_ctx *cx = js->cx;
	const struct vgpu_op_desc *d = vgpu_op_get(job->op);
	uint64_t operand[VGPU_OP_OPERANDS] = { 0 }, in_count, out_count;
	float ms = 0;
	double t0;

	if (!d || !d->sizes)
		return vgpu_cuda_job_fail(js, "bad job: op %d is not a compute op", (int)job->op);
	if (d->sizes(&job->args, operand, &out_count) < 0 ||
	    __builtin_add_overflow(operand[0], operand[1], &in_count))
		return vgpu_cuda_job_fail(js, "bad job: sizes overflow (n=%llu m=%llu k=%llu)",
					  (unsigned long long)job->args.n, (unsigned long long)job->args.m,
					  (unsigned long long)job->args.k);
	if (!job->args.has_seed && (!job->in || job->in_count < in_count))
		return vgpu_cuda_job_fail(js, "bad job: input holds %zu floats, %s needs %llu",
					  job->in ? job->in_count : 0, d->name, (unsigned long long)in_count);
	/* job->out NULL: summary only (the output stays on the device); out_count still says
	 * how large the output is, and must agree with the op. */
	if (job->out_count < out_count)
		return vgpu_cuda_job_fail(js, "bad job: output holds %zu floats, %s needs %llu", job->out_count,
					  d->name, (unsigned long long)out_count);
	if (in_count > SIZE_MAX / sizeof(float) || out_count > SIZE_MAX / sizeof(float))
		return vgpu_cuda_job_fail(js, "bad job: too large");
	if (job->op == VGPU_OP_SGEMM && (job->args.m > INT_MAX || job->args.n > INT_MAX || job->args.k > INT_MAX))
		return vgpu_cuda_job_fail(js, "bad job: sgemm sizes above %d are not supported by cublasSgemm",
					  INT_MAX);
	if (out_count == 0) {     /* empty problem: nothing to run, nothing to write */
		js->res->has_summary = 1;
		return 0;
	}

	if (job_alloc(js, (void **)d_inp, in_count ? in_count * sizeof(float) : 1, "input") ||
	    job_alloc(js, (void **)d_outp, out_count * sizeof(float), "output"))
		return -1;
	t0 = vgpu_cuda_phase_begin(cx);
	if (!job->args.has_seed)
		*pinned_in = vgpu_cuda_host_prepare(&cx->hostmem, job->in, in_count * sizeof(float), 1);
	*pinned_out = vgpu_cuda_host_prepare(&cx->hostmem, job->out, out_count * sizeof(float), 0);
	vgpu_cuda_phase_end(cx, CUDA_PH_PREP, t0);

	t0 = vgpu_cuda_phase_begin(cx);
	if (vgpu_cuda_check(js, cudaEventRecord(cx->ev_start, cx->stream), "cudaEventRecord(start)") ||
	    job_inputs(js, job, *d_inp, operand[0], operand[1]) || vgpu_cuda_phase_mark(js, CUDA_MARK_IN) ||
	    job_op(js, job, *d_inp, operand[0], *d_outp, out_count) ||
	    job_results(js, job, *d_outp, out_count))
		return -1;
	vgpu_cuda_phase_end(cx, CUDA_PH_ENQUEUE, t0);

	t0 = vgpu_cuda_phase_begin(cx);
	if (vgpu_cuda_check(js, cudaEventSynchronize(cx->ev_stop), "cudaEventSynchronize(job)") ||
	    vgpu_cuda_check(js, cudaEventElapsedTime(&ms, cx->ev_start, cx->ev_stop), "cudaEventElapsedTime"))
		return -1;
	vgpu_cuda_phase_end(cx, CUDA_PH_WAIT, t0);
	if (vgpu_cuda_phases_collect(js))
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
static int job_compute(struct cuda_job *js, const struct vgpu_job *job)
{
	struct cuda_ctx *cx = js->cx;
	float *d_in = NULL, *d_out = NULL;
	int pinned_in = 0, pinned_out = 0;
	int rc = job_compute_in(js, job, &d_in, &d_out, &pinned_in, &pinned_out);
	double t0 = vgpu_cuda_phase_begin(cx);

	vgpu_cuda_host_release(job->in, pinned_in);
	vgpu_cuda_host_release(job->out, pinned_out);
	vgpu_cuda_phase_end(cx, CUDA_PH_UNPREP, t0);
	t0 = vgpu_cuda_phase_begin(cx);
	vgpu_arena_free(&cx->arena, d_in);
	vgpu_arena_free(&cx->arena, d_out);
	vgpu_cuda_phase_end(cx, CUDA_PH_FREE, t0);
	return rc;
}

/* One thread busy-waits on the device: what the pool's watchdog kills. */
static int job_spin(struct cuda_job *js, const struct vgpu_job *job)
{
	struct cuda_ctx *cx = js->cx;
	int *d_flag = NULL, flag = 0;
	float ms = 0;
	int rc = -1;

	if (job_alloc(js, (void **)&d_flag, sizeof(int), "spin flag") ||
	    vgpu_cuda_check(js, cudaMemsetAsync(d_flag, 0, sizeof(int), cx->stream), "cudaMemsetAsync(flag)") ||
	    vgpu_cuda_check(js, cudaEventRecord(cx->ev_start, cx->stream), "cudaEventRecord(start)") ||
	    vgpu_cuda_check(js, (cudaError_t)vgpu_cuda_spin(job->args.ms, d_flag, cx->stream), "launch spin") ||
	    vgpu_cuda_check(js, cudaEventRecord(cx->ev_stop, cx->stream), "cudaEventRecord(stop)") ||
	    vgpu_cuda_check(js, cudaMemcpyAsync(&flag, d_flag, sizeof(int), cudaMemcpyDeviceToHost, cx->stream),
			    "cudaMemcpyAsync(flag)") ||
	    vgpu_cuda_check(js, cudaStreamSynchronize(cx->stream), "cudaStreamSynchronize(spin)") ||
	    vgpu_cuda_check(js, cudaEventElapsedTime(&ms, cx->ev_start, cx->ev_stop), "cudaEventElapsedTime"))
		goto out;
	js->res->exec_us = (uint64_t)(ms * 1000.0f + 0.5f);
	rc = flag == 1 ? 0 : vgpu_cuda_job_fail(js, "spin kernel finished without setting its flag");
out:
	vgpu_arena_free(&cx->arena, d_flag);
	return rc;
}

/* Device memory allocated, touched and never freed: what the leak checks find. */
static int job_leak(struct cuda_job *js, const struct vgpu_job *job)
{
	struct cuda_ctx *cx = js->cx;
	void *p = NULL;
	size_t bytes = job->args.bytes ? (size_t)job->args.bytes : 1;

	if (cx->leak.test_escape) {
		/* Deliberately around the arena: only cudaMemGetInfo can see this one. */
		if (vgpu_cuda_check(js, cudaMalloc(&p, bytes), "cudaMalloc(leak, outside the arena)"))
			return -1;
	} else if (job_alloc(js, &p, bytes, "leak")) {
		return -1;
	}
	/* Touch it, as a real buggy job would, and never free it. */
	return vgpu_cuda_check(js, cudaMemsetAsync(p, 0x5a, bytes, cx->stream), "cudaMemsetAsync(leak)") ||
	       vgpu_cuda_check(js, cudaStreamSynchronize(cx->stream), "cudaStreamSynchronize(leak)");
}

void vgpu_cuda_run_op(struct cuda_job *js, const struct vgpu_job *job)
{
	switch (job->op) {
	case VGPU_OP_VADD:
	case VGPU_OP_SAXPY:
	case VGPU_OP_SGEMM:
		job_compute(js, job);
		break;
	case VGPU_OP_SPIN:
		job_spin(js, job);
		break;
	case VGPU_OP_LEAK:
		job_leak(js, job);
		break;
	default:
		vgpu_cuda_job_fail(js, "op %s is not supported by the cuda backend", vgpu_op_name(job->op));
		break;
	}
}
