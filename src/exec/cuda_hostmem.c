/* cuda_hostmem.c - how the cuda backend copies between a job's host memory and the
 * device. The worker's payload buffers (vgpu-worker.c, arena.h's vgpu_hostbuf: the input
 * read into one, the output written from another, both kept from job to job) come from
 * vgpu_cuda_host_alloc(): pinned once (cudaHostAlloc), so no job registers or faults in
 * anything. Other host memory (tests, a buffer the pool could not pin): VGPU_CUDA_HOSTMEM
 * chooses: register (default: pin buffers of 1 MiB and more for the copy), populate
 * (fault them in at once), plain (neither), staging (two pinned 8 MiB chunks of the
 * worker, one filled or drained by the host while the other is copied); in the modes other
 * than register the payload buffers are plain pages too, as measured before. docs/GPU.md
 * has the measurements. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cuda_int.h"

#define STAGE_CHUNK (8u << 20)   /* staging: two pinned chunks this large */

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ  22
#define MADV_POPULATE_WRITE 23
#endif

static const char *const mode_names[] = {
	[CUDA_HOSTMEM_REGISTER] = "register", [CUDA_HOSTMEM_POPULATE] = "populate",
	[CUDA_HOSTMEM_PLAIN] = "plain", [CUDA_HOSTMEM_STAGING] = "staging",
};

void vgpu_cuda_hostmem_config(struct cuda_hostmem *hm)
{
	const char *env = getenv("VGPU_CUDA_HOSTMEM");

	hm->mode = CUDA_HOSTMEM_REGISTER;
	for (int m = CUDA_HOSTMEM_POPULATE; env && m <= CUDA_HOSTMEM_STAGING; m++)
		if (strcmp(env, mode_names[m]) == 0)
			hm->mode = (enum cuda_hostmem_mode)m;
}

const char *vgpu_cuda_hostmem_name(const struct cuda_hostmem *hm)
{
	return mode_names[hm->mode];
}

int vgpu_cuda_hostmem_setup(struct cuda_hostmem *hm, char *err, size_t errlen)
{
	cudaError_t e;

	if (hm->mode != CUDA_HOSTMEM_STAGING)
		return 0;
	for (int i = 0; i < 2; i++) {
		if ((e = cudaMallocHost(&hm->stage[i], STAGE_CHUNK)) != cudaSuccess) {
			vgpu_cuda_err_call(err, errlen, "cudaMallocHost(staging chunk)", e);
			return -1;
		}
		if ((e = cudaEventCreateWithFlags(&hm->stage_ev[i], cudaEventDisableTiming)) != cudaSuccess) {
			vgpu_cuda_err_call(err, errlen, "cudaEventCreate(staging)", e);
			return -1;
		}
	}
	return 0;
}

void vgpu_cuda_hostmem_teardown(struct cuda_hostmem *hm)
{
	for (int i = 0; i < 2; i++) {
		if (hm->stage[i])
			cudaFreeHost(hm->stage[i]);
		if (hm->stage_ev[i])
			cudaEventDestroy(hm->stage_ev[i]);
		hm->stage[i] = NULL;
		hm->stage_ev[i] = NULL;
	}
}

/* The pinned payload buffers handed out (a worker has two: input and output). */
#define HOST_POOL_MAX 4
static struct {
	void *p;
	size_t bytes;
} host_pool[HOST_POOL_MAX];

void *vgpu_cuda_host_alloc(void *ctx, size_t bytes)
{
	struct cuda_ctx *cx = ctx;
	void *p = NULL;

	if (cx->hostmem.mode != CUDA_HOSTMEM_REGISTER)
		return NULL;
	for (int i = 0; i < HOST_POOL_MAX; i++) {
		if (host_pool[i].p)
			continue;
		if (cudaHostAlloc(&p, bytes, cudaHostAllocDefault) != cudaSuccess) {
			(void)cudaGetLastError();   /* not sticky: the worker uses plain pages */
			return NULL;
		}
		host_pool[i].p = p;
		host_pool[i].bytes = bytes;
		return p;
	}
	return NULL;
}

void vgpu_cuda_host_free(void *ctx, void *p, size_t bytes)
{
	(void)ctx;
	(void)bytes;
	for (int i = 0; i < HOST_POOL_MAX; i++) {
		if (host_pool[i].p == p) {
			cudaFreeHost(p);
			host_pool[i].p = NULL;
			host_pool[i].bytes = 0;
			return;
		}
	}
}

/* Is [P, P+BYTES) inside a pinned payload buffer? */
static int in_host_pool(const void *p, size_t bytes)
{
	uintptr_t a = (uintptr_t)p;

	for (int i = 0; i < HOST_POOL_MAX; i++) {
		uintptr_t b = (uintptr_t)host_pool[i].p;

		if (host_pool[i].p && a >= b && bytes <= host_pool[i].bytes && a - b <= host_pool[i].bytes - bytes)
			return 1;
	}
	return 0;
}

int vgpu_cuda_host_prepare(struct cuda_hostmem *hm, const void *p, size_t bytes, int readonly)
{
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t start, end;

	if (!p || bytes < VGPU_CUDA_PIN_MIN || hm->mode == CUDA_HOSTMEM_PLAIN || in_host_pool(p, bytes))
		return 0;       /* pinned once already: the copy is DMA, nothing to do per job */
	/* staging: the copies go through our pinned chunks; fault the pages in at once. */
	if (hm->mode == CUDA_HOSTMEM_REGISTER &&
	    cudaHostRegister((void *)p, bytes, readonly ? cudaHostRegisterReadOnly : cudaHostRegisterDefault)
	    == cudaSuccess)
		return 1;
	(void)cudaGetLastError();      /* not sticky; fall back to faulting the pages in */
	start = (uintptr_t)p & ~(uintptr_t)(page - 1);
	end = (uintptr_t)p + bytes;
	(void)madvise((void *)start, end - start, readonly ? MADV_POPULATE_READ : MADV_POPULATE_WRITE);
	return 0;
}

void vgpu_cuda_host_release(const void *p, int registered)
{
	if (registered)
		(void)cudaHostUnregister((void *)p);
}

/* Host to device through the two pinned chunks. The host fills one chunk while the
 * other is copied; a chunk is refilled once its copy is done. */
static int stage_h2d(struct cuda_job *js, void *dev, const void *host, size_t bytes)
{
	struct cuda_ctx *cx = js->cx;
	struct cuda_hostmem *hm = &cx->hostmem;
	size_t off, len;
	unsigned i;

	for (off = 0, i = 0; off < bytes; off += len, i++) {
		unsigned b = i & 1;
		len = bytes - off < STAGE_CHUNK ? bytes - off : STAGE_CHUNK;
		if (i >= 2 && vgpu_cuda_check(js, cudaEventSynchronize(hm->stage_ev[b]),
					      "cudaEventSynchronize(staging)"))
			return -1;
		memcpy(hm->stage[b], (const char *)host + off, len);
		if (vgpu_cuda_check(js, cudaMemcpyAsync((char *)dev + off, hm->stage[b], len, cudaMemcpyHostToDevice,
							cx->stream), "cudaMemcpyAsync(input chunk, host to device)") ||
		    vgpu_cuda_check(js, cudaEventRecord(hm->stage_ev[b], cx->stream), "cudaEventRecord(staging)"))
			return -1;
	}
	return 0;
}

/* Device to host through the chunks: chunk i+2 is copied into a chunk while the host
 * moves chunk i out of it into the job's memory. */
static int stage_d2h(struct cuda_job *js, void *host, const void *dev, size_t bytes)
{
	struct cuda_ctx *cx = js->cx;
	struct cuda_hostmem *hm = &cx->hostmem;
	size_t n = (bytes + STAGE_CHUNK - 1) / STAGE_CHUNK;

	for (size_t i = 0; i < n + 2; i++) {
		if (i >= 2) {       /* chunk i-2 is (being) copied into stage[i & 1]: move it out */
			size_t j = i - 2, off = j * STAGE_CHUNK;
			size_t len = bytes - off < STAGE_CHUNK ? bytes - off : STAGE_CHUNK;
			if (vgpu_cuda_check(js, cudaEventSynchronize(hm->stage_ev[j & 1]),
					    "cudaEventSynchronize(staging)"))
				return -1;
			memcpy((char *)host + off, hm->stage[j & 1], len);
		}
		if (i < n) {
			size_t off = i * STAGE_CHUNK;
			size_t len = bytes - off < STAGE_CHUNK ? bytes - off : STAGE_CHUNK;
			if (vgpu_cuda_check(js, cudaMemcpyAsync(hm->stage[i & 1], (const char *)dev + off, len,
								cudaMemcpyDeviceToHost, cx->stream),
					    "cudaMemcpyAsync(output chunk, device to host)") ||
			    vgpu_cuda_check(js, cudaEventRecord(hm->stage_ev[i & 1], cx->stream),
					    "cudaEventRecord(staging)"))
				return -1;
		}
	}
	return 0;
}

int vgpu_cuda_copy_in(struct cuda_job *js, void *dev, const void *host, size_t bytes)
{
	if (js->cx->hostmem.mode == CUDA_HOSTMEM_STAGING && bytes >= VGPU_CUDA_PIN_MIN)
		return stage_h2d(js, dev, host, bytes);
	return vgpu_cuda_check(js, cudaMemcpyAsync(dev, host, bytes, cudaMemcpyHostToDevice, js->cx->stream),
			       "cudaMemcpyAsync(input, host to device)");
}

int vgpu_cuda_copy_out(struct cuda_job *js, void *host, const void *dev, size_t bytes)
{
	if (js->cx->hostmem.mode == CUDA_HOSTMEM_STAGING && bytes >= VGPU_CUDA_PIN_MIN)
		return stage_d2h(js, host, dev, bytes);
	return vgpu_cuda_check(js, cudaMemcpyAsync(host, dev, bytes, cudaMemcpyDeviceToHost, js->cx->stream),
			       "cudaMemcpyAsync(output, device to host)");
}
