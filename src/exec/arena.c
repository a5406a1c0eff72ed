/* arena.c - per-job accounting of a backend's allocations, to find what a job leaks.
 *
 * A linked list of outstanding blocks over the backend's allocator; reclaim frees what
 * is left and reports its size. The list nodes themselves are host malloc. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include <fiu-local.h>

#include "arena.h"
#include "../lib/status.h"

struct vgpu_arena_block {
	void *ptr;
	size_t bytes;
	struct vgpu_arena_block *next;
};

void vgpu_arena_init(struct vgpu_arena *a, vgpu_arena_alloc_fn alloc, vgpu_arena_free_fn free_fn, void *ctx)
{
	a->alloc = alloc;
	a->free = free_fn;
	a->ctx = ctx;
	a->blocks = NULL;
	a->live_bytes = 0;
	a->peak_bytes = 0;
}

int vgpu_arena_alloc(struct vgpu_arena *a, void **ptr, size_t bytes)
{
	struct vgpu_arena_block *b;
	int rc;

	*ptr = NULL;
	fiu_return_on("exec/arena/alloc", -ENOMEM);
	b = malloc(sizeof(*b));
	if (!b)
		return -ENOMEM;
	rc = a->alloc(a->ctx, ptr, bytes);
	if (rc != 0 || !*ptr) {
		free(b);
		*ptr = NULL;
		return rc ? rc : -ENOMEM;
	}
	b->ptr = *ptr;
	b->bytes = bytes;
	b->next = a->blocks;
	a->blocks = b;
	a->live_bytes += bytes;
	if (a->live_bytes > a->peak_bytes)
		a->peak_bytes = a->live_bytes;
	return 0;
}

void vgpu_arena_free(struct vgpu_arena *a, void *ptr)
{
	struct vgpu_arena_block **pp;

	if (!ptr)
		return;
	for (pp = &a->blocks; *pp; pp = &(*pp)->next) {
		struct vgpu_arena_block *b = *pp;

		if (b->ptr == ptr) {
			*pp = b->next;
			a->live_bytes -= b->bytes;
			a->free(a->ctx, b->ptr);
			free(b);
			return;
		}
	}
	/* Not ours: freeing it with our allocator could corrupt someone else's heap. */
}

uint64_t vgpu_arena_reclaim(struct vgpu_arena *a)
{
	uint64_t leaked = 0;

	while (a->blocks) {
		struct vgpu_arena_block *b = a->blocks;

		a->blocks = b->next;
		leaked += b->bytes;
		a->free(a->ctx, b->ptr);
		free(b);
	}
	a->live_bytes = 0;
	return leaked;
}

uint64_t vgpu_arena_reclaim_job(struct vgpu_arena *a, struct vgpu_job_result *res)
{
	uint64_t leaked = vgpu_arena_reclaim(a);

	if (leaked) {
		res->leaked_bytes = leaked;
		if (res->status == VGPU_OK) {
			res->status = VGPU_LEAKED;
			snprintf(res->error, sizeof(res->error), "job leaked %llu bytes of device memory; reclaimed",
				 (unsigned long long)leaked);
		}
	}
	return leaked;
}

#define HOSTBUF_ROUND ((size_t)1 << 20)

int vgpu_hostbuf_reserve(struct vgpu_hostbuf *b, size_t bytes, const struct vgpu_backend_ops *be, void *ctx)
{
	size_t cap;
	void *p = NULL;
	int from_backend = 0;

	if (bytes <= b->cap)
		return 0;
	if (bytes > SIZE_MAX - HOSTBUF_ROUND)
		return -ENOMEM;
	cap = (bytes + HOSTBUF_ROUND - 1) & ~(HOSTBUF_ROUND - 1);
	/* the old one first: the worker never needs both, and a pinned old one must not
	 * stay pinned beside the new one */
	vgpu_hostbuf_release(b, be, ctx);
	if (be && be->iversion >= 2 && be->host_alloc && (p = be->host_alloc(ctx, cap)))
		from_backend = 1;
	if (!p) {
		p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return -ENOMEM;
	}
	b->p = p;
	b->cap = cap;
	b->from_backend = from_backend;
	b->grows++;
	return 0;
}

void vgpu_hostbuf_release(struct vgpu_hostbuf *b, const struct vgpu_backend_ops *be, void *ctx)
{
	if (b->p) {
		if (b->from_backend)
			be->host_free(ctx, b->p, b->cap);
		else
			munmap(b->p, b->cap);
	}
	b->p = NULL;
	b->cap = 0;
	b->from_backend = 0;
}
