/* cuda_phases.c - the cuda backend's profile of each job (VGPU_CUDA_PHASES=1): host-clock
 * time of each step of run() and device time between events marked on the stream, as one
 * "vgpu-cuda-phases:" line per job on the worker's stderr (the mediator's log), with the
 * cache's hits, misses, held and idle bytes. bench/phases.py folds the lines into medians.
 * With phases off nothing is timed or marked beyond the job's own start and stop events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cuda_int.h"
#include "../lib/status.h"
#include "../lib/clock.h"

void vgpu_cuda_phases_config(struct cuda_phases *ph)
{
	const char *env = getenv("VGPU_CUDA_PHASES");

	ph->on = env && strcmp(env, "1") == 0;
}

int vgpu_cuda_phases_setup(struct cuda_phases *ph, char *err, size_t errlen)
{
	cudaError_t e;

	for (int m = 0; m < CUDA_MARK_COUNT; m++)
		if ((e = cudaEventCreate(&ph->ev[m])) != cudaSuccess) {
			vgpu_cuda_err_call(err, errlen, "cudaEventCreate", e);
			return -1;
		}
	return 0;
}

void vgpu_cuda_phases_teardown(struct cuda_phases *ph)
{
	for (int m = 0; m < CUDA_MARK_COUNT; m++) {
		if (ph->ev[m])
			cudaEventDestroy(ph->ev[m]);
		ph->ev[m] = NULL;
	}
}

void vgpu_cuda_phases_start(struct cuda_ctx *cx)
{
	struct cuda_phases *ph = &cx->ph;

	memset(ph->host_us, 0, sizeof(ph->host_us));
	memset(ph->dev_ms, 0, sizeof(ph->dev_ms));
	ph->hits0 = cx->cache.st.hits;
	ph->misses0 = cx->cache.st.misses;
	ph->hits = ph->misses = 0;
}

double vgpu_cuda_phase_begin(const struct cuda_ctx *cx)
{
	return cx->ph.on ? (double)vgpu_now_us() : 0;
}

void vgpu_cuda_phase_end(struct cuda_ctx *cx, enum cuda_phase p, double t0)
{
	if (cx->ph.on)
		cx->ph.host_us[p] += (double)vgpu_now_us() - t0;
}

/* Counted here, not at the print: an escape's context reset zeroes the cache's counters. */
void vgpu_cuda_phase_alloc_end(struct cuda_ctx *cx, double t0)
{
	if (!cx->ph.on)
		return;
	vgpu_cuda_phase_end(cx, CUDA_PH_ALLOC, t0);
	cx->ph.hits = (unsigned)(cx->cache.st.hits - cx->ph.hits0);
	cx->ph.misses = (unsigned)(cx->cache.st.misses - cx->ph.misses0);
}

int vgpu_cuda_phase_mark(struct cuda_job *js, enum cuda_mark m)
{
	if (!js->cx->ph.on)
		return 0;
	return vgpu_cuda_check(js, cudaEventRecord(js->cx->ph.ev[m], js->cx->stream), "cudaEventRecord(phase)");
}

int vgpu_cuda_phases_collect(struct cuda_job *js)
{
	struct cuda_ctx *cx = js->cx;
	cudaEvent_t ev[CUDA_MARK_COUNT + 2] = { cx->ev_start };

	if (!cx->ph.on)
		return 0;
	for (int m = 0; m < CUDA_MARK_COUNT; m++)
		ev[m + 1] = cx->ph.ev[m];
	ev[CUDA_MARK_COUNT + 1] = cx->ev_stop;
	for (int i = 0; i <= CUDA_MARK_COUNT; i++)
		if (vgpu_cuda_check(js, cudaEventElapsedTime(&cx->ph.dev_ms[i], ev[i], ev[i + 1]),
				    "cudaEventElapsedTime"))
			return -1;
	return 0;
}

void vgpu_cuda_phases_print(struct cuda_ctx *cx, const struct vgpu_job *job, const struct vgpu_job_result *res)
{
	const double *h = cx->ph.host_us;
	const float *d = cx->ph.dev_ms;

	if (!cx->ph.on)
		return;
	fprintf(stderr,
		"vgpu-cuda-phases: op=%s n=%llu m=%llu k=%llu input=%s out=%s hostmem=%s status=%s "
		"run_us=%.1f meminfo0_us=%.1f alloc_us=%.1f hits=%u misses=%u prep_us=%.1f enqueue_us=%.1f "
		"wait_us=%.1f gen_in_us=%.1f compute_us=%.1f summary_us=%.1f d2h_us=%.1f exec_us=%llu "
		"unprep_us=%.1f free_us=%.1f meminfo1_us=%.1f held=%llu idle=%llu\n",
		vgpu_op_name(job->op), (unsigned long long)job->args.n, (unsigned long long)job->args.m,
		(unsigned long long)job->args.k, job->args.has_seed ? "seed" : "payload", job->out ? "copy" : "summary",
		vgpu_cuda_hostmem_name(&cx->hostmem), vgpu_status_name(res->status), h[CUDA_PH_RUN],
		h[CUDA_PH_MEMINFO0], h[CUDA_PH_ALLOC], cx->ph.hits, cx->ph.misses, h[CUDA_PH_PREP], h[CUDA_PH_ENQUEUE],
		h[CUDA_PH_WAIT], d[0] * 1000.0, d[1] * 1000.0, d[2] * 1000.0, d[3] * 1000.0,
		(unsigned long long)res->exec_us, h[CUDA_PH_UNPREP], h[CUDA_PH_FREE], h[CUDA_PH_MEMINFO1],
		(unsigned long long)cx->cache.held, (unsigned long long)cx->cache.idle_bytes);
}
