/* cuda_leak.c - the cuda backend's leak checks. What a job leaves in its arena is taken
 * back into the cache and the job answered LEAKED (exact: the arena knows every block
 * it lent). Memory allocated around the arena is seen by cudaMemGetInfo before and after
 * the job, less what the cache took from the driver meanwhile: beyond the tolerance the
 * job is LEAKED too, and a context reset in place gives that memory back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_int.h"
#include "../lib/env.h"
#include "../lib/status.h"

#define ESCAPE_TOLERANCE (16u << 20)   /* cudaMemGetInfo noise: the allocator's granularity */

void vgpu_cuda_leak_config(struct cuda_leak *lk)
{
	const char *env;

	lk->escape_tolerance = vgpu_env_u64("VGPU_CUDA_ESCAPE_TOLERANCE", ESCAPE_TOLERANCE, 0, UINT64_MAX);
	lk->test_escape = (env = getenv("VGPU_CUDA_TEST_ESCAPE")) && strcmp(env, "1") == 0;
}

void vgpu_cuda_leak_begin(struct cuda_ctx *cx, struct cuda_leak_snap *snap)
{
	size_t total = 0;
	double t0 = vgpu_cuda_phase_begin(cx);

	snap->free0 = 0;
	snap->have_free0 = cudaMemGetInfo(&snap->free0, &total) == cudaSuccess;
	vgpu_cuda_phase_end(cx, CUDA_PH_MEMINFO0, t0);
	snap->held0 = cx->cache.held;
}

void vgpu_cuda_leak_reclaim(struct cuda_ctx *cx, struct vgpu_job_result *res)
{
	double t0 = vgpu_cuda_phase_begin(cx);

	vgpu_arena_reclaim_job(&cx->arena, res);
	vgpu_cuda_phase_end(cx, CUDA_PH_FREE, t0);
}

/* Memory the arena did not see: the device's free memory fell by more than the cache
 * took from the driver during the job (held1 - held0: blocks it cudaMalloc'ed, less
 * those it gave back; a job's blocks are all back in the cache or freed by now). This
 * assumes the worker owns its GPU: one worker per GPU, nothing else on it. */
uint64_t vgpu_cuda_leak_escaped(struct cuda_ctx *cx, const struct cuda_leak_snap *snap,
				struct vgpu_job_result *res)
{
	size_t free1 = 0, total = 0;
	double t0 = vgpu_cuda_phase_begin(cx);
	int64_t fell, took;
	uint64_t escaped;

	if (!snap->have_free0 || cudaMemGetInfo(&free1, &total) != cudaSuccess)
		return 0;
	vgpu_cuda_phase_end(cx, CUDA_PH_MEMINFO1, t0);
	fell = (int64_t)snap->free0 - (int64_t)free1;
	took = (int64_t)cx->cache.held - (int64_t)snap->held0;
	if (fell - took <= (int64_t)cx->leak.escape_tolerance)
		return 0;
	escaped = (uint64_t)(fell - took);
	res->leaked_bytes += escaped;
	res->status = VGPU_LEAKED;
	return escaped;
}
