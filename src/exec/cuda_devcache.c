/* cuda_devcache.c - the cuda backend's device-memory cache, the allocator under each
 * job's arena: a block a job frees goes to an idle list instead of cudaFree, and the next
 * allocation takes the smallest idle block of its size bucket, else cudaMalloc. Idle
 * bytes are bounded (VGPU_CUDA_CACHE_BYTES, default half the device; 0: off) and what the
 * cache keeps never fails a job: an allocation that does not fit empties it first. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_int.h"
#include "../lib/env.h"

#define CACHE_MAX_BLOCKS   64            /* idle blocks the cache keeps at most */
#define DEV_GRAIN          (2u << 20)    /* cudaMalloc's granularity for large blocks */

struct cuda_dev_block {
	void *ptr;
	size_t cap;                          /* bytes cudaMalloc'ed */
	struct cuda_dev_block *next;
};

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

static void cache_release(struct cuda_devcache *c, struct cuda_dev_block *b)
{
	(void)cudaFree(b->ptr);   /* a failure means the context is gone; a restart frees it all */
	c->held -= b->cap;
	c->st.released_bytes += b->cap;
	free(b);
}

/* Take the idle block at *PP off the idle list. */
static struct cuda_dev_block *idle_take(struct cuda_devcache *c, struct cuda_dev_block **pp)
{
	struct cuda_dev_block *b = *pp;

	*pp = b->next;
	c->idle_bytes -= b->cap;
	c->idle_count--;
	return b;
}

/* Give every idle block back to the driver. */
static void cache_flush(struct cuda_devcache *c)
{
	while (c->idle)
		cache_release(c, idle_take(c, &c->idle));
}

/* Keep the idle blocks within the limit and the count: drop the least recently freed. */
static void cache_trim(struct cuda_devcache *c)
{
	while (c->idle && (c->idle_bytes > c->limit || c->idle_count > CACHE_MAX_BLOCKS)) {
		struct cuda_dev_block **pp = &c->idle;
		while ((*pp)->next)
			pp = &(*pp)->next;
		c->st.evictions++;
		cache_release(c, idle_take(c, pp));
	}
}

int vgpu_cuda_cache_alloc(void *cache, void **ptr, size_t bytes)
{
	struct cuda_devcache *c = cache;
	struct cuda_dev_block **best = NULL, **pp, *b;
	size_t lo = bytes ? bytes : 1, hi = dev_bucket_max(lo), cap;
	cudaError_t e;

	*ptr = NULL;
	/* Best fit in the bucket; among equals the most recently freed (first on the list). */
	for (pp = &c->idle; *pp; pp = &(*pp)->next)
		if ((*pp)->cap >= lo && (*pp)->cap <= hi && (!best || (*pp)->cap < (*best)->cap))
			best = pp;
	if (best) {
		b = idle_take(c, best);
		b->next = c->used;
		c->used = b;
		c->st.hits++;
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
		c->last_err = e;
		free(b);
		return e == cudaErrorMemoryAllocation ? -ENOMEM : -EIO;
	}
	b->cap = cap;
	b->next = c->used;
	c->used = b;
	c->held += cap;
	c->st.misses++;
	*ptr = b->ptr;
	return 0;
}

/* A block the job freed (or the arena reclaimed) goes back to the cache, or to the
 * driver when the cache is off, full, or the block alone is over the limit. */
void vgpu_cuda_cache_free(void *cache, void *ptr)
{
	struct cuda_devcache *c = cache;
	struct cuda_dev_block **pp, *b;

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

int vgpu_cuda_cache_setup(struct cuda_devcache *c, char *err, size_t errlen)
{
	size_t fr = 0, tot = 0;
	cudaError_t e;

	if ((e = cudaMemGetInfo(&fr, &tot)) != cudaSuccess) {
		vgpu_cuda_err_call(err, errlen, "cudaMemGetInfo", e);
		return -1;
	}
	memset(c, 0, sizeof(*c));
	c->limit = vgpu_env_u64("VGPU_CUDA_CACHE_BYTES", tot / 2, 0, UINT64_MAX);
	return 0;
}

void vgpu_cuda_cache_destroy(struct cuda_devcache *c)
{
	cache_flush(c);
	while (c->used) {
		struct cuda_dev_block *b = c->used;
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
