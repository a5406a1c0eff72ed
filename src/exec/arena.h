/* arena.h - per-job accounting of (device) memory, to find what a job leaks.
 *
 * A backend allocates a job's buffers through an arena; at the end of the job the
 * arena reports what is still allocated, frees it, and the job is answered LEAKED.
 * The allocator itself is the backend's (malloc for mock, cudaMalloc for CUDA). */
#ifndef VGPU_ARENA_H
#define VGPU_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"

typedef int (*vgpu_arena_alloc_fn)(void *ctx, void **ptr, size_t bytes);
typedef void (*vgpu_arena_free_fn)(void *ctx, void *ptr);

struct vgpu_arena_block;

struct vgpu_arena {
	vgpu_arena_alloc_fn alloc;
	vgpu_arena_free_fn free;
	void *ctx;
	struct vgpu_arena_block *blocks;   /* outstanding allocations */
	uint64_t live_bytes, peak_bytes;
};

void vgpu_arena_init(struct vgpu_arena *a, vgpu_arena_alloc_fn alloc, vgpu_arena_free_fn free, void *ctx);
/* 0 or the allocator's negative error; *ptr is NULL on failure. */
int vgpu_arena_alloc(struct vgpu_arena *a, void **ptr, size_t bytes);
/* Free PTR (must come from this arena; NULL is ignored). */
void vgpu_arena_free(struct vgpu_arena *a, void *ptr);
/* Free everything still allocated; returns the bytes that were (the leak). */
uint64_t vgpu_arena_reclaim(struct vgpu_arena *a);
/* vgpu_arena_reclaim() at the end of a job, into its result: a leak sets leaked_bytes,
 * and an OK job becomes LEAKED "job leaked N bytes of device memory; reclaimed" (its
 * code is wrong even when its numbers are right). Returns the leak. */
uint64_t vgpu_arena_reclaim_job(struct vgpu_arena *a, struct vgpu_job_result *res);

/* A worker's payload buffer, kept from job to job (issue 13: no per-job allocation of
 * payload memory). It grows to the largest job seen (rounded up to 1 MiB) and is given
 * back when the worker ends. Its memory comes from the backend's host_alloc (CUDA:
 * pinned once) or, without one, from anonymous pages. */
struct vgpu_hostbuf {
	void *p;
	size_t cap;
	int from_backend;               /* P came from host_alloc: give it back with host_free */
	uint64_t grows;                 /* allocations made (for tests and logs) */
};

/* Make B hold at least BYTES (0: nothing to do). BE/CTX: the backend (may be NULL).
 * 0, or -ENOMEM (B unchanged). */
int vgpu_hostbuf_reserve(struct vgpu_hostbuf *b, size_t bytes, const struct vgpu_backend_ops *be, void *ctx);
/* Give B's memory back; B is empty after. */
void vgpu_hostbuf_release(struct vgpu_hostbuf *b, const struct vgpu_backend_ops *be, void *ctx);

#endif
