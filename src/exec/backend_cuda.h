/* backend_cuda.h - what the cuda backend (vgpu_backend_cuda, backend.h) shows beyond the
 * backend interface: its device-memory cache's statistics, for the GPU tests and the
 * benchmark. Built only when nvcc is found (VGPU_HAVE_CUDA). docs/GPU.md. */
#ifndef VGPU_BACKEND_CUDA_H
#define VGPU_BACKEND_CUDA_H

#include <stdint.h>

/* The cuda backend's device-memory cache (cuda_devcache.c): CTX is the backend's
 * context (vgpu_backend_cuda.init's *ctxp).
 * held: bytes the cache has from cudaMalloc now (idle + lent to a running job);
 * idle: of those, free for the next job; limit: the most it keeps idle. Can't fail. */
struct vgpu_cuda_cache_stats {
	uint64_t held_bytes, idle_bytes, limit_bytes;
	uint64_t hits, misses;        /* allocations served from the cache / by cudaMalloc */
	uint64_t evictions, flushes;  /* idle blocks dropped for the limit; cache emptied to fit */
	uint64_t released_bytes;      /* given back to the driver (cudaFree) in all */
};
void vgpu_cuda_cache_stats(void *ctx, struct vgpu_cuda_cache_stats *st);

#endif
