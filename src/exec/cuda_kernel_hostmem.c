/* cuda_kernel_hostmem.c - a kernel worker's payload buffers, registered with the driver
 * once (cuda_module.h; docs/KERNELS.md section 5). vgpu-worker reads a job's input into,
 * and writes its output from, two buffers kept from job to job (arena.h, vgpu_hostbuf);
 * in a VM's kernel worker they come from here: anonymous pages, registered
 * (cuMemHostRegister) by the first job that runs with them, once the VM's context exists
 * and is current. That job's copies and every later job's are then DMA from pinned
 * memory, with no registration per job (one costs about 0.19 ms per MiB on the H200,
 * more than it saves on one copy). A registered buffer is unregistered when vgpu-worker
 * gives it back (the worker retires, or the buffer grows for a larger job) or before its
 * context is destroyed. At most VGPU_KERNEL_PIN_BYTES are registered; a buffer over that,
 * or one the driver refuses (logged once), stays pageable: its copies still work. */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "cuda_module.h"
#include "../lib/env.h"
#include "../lib/log.h"

void *vgpu_cu_host_alloc(struct cu_kernels *k, size_t bytes)
{
	void *p;

	if (!k || !bytes)
		return NULL;
	for (int i = 0; i < VGPU_KERNEL_HOSTBUFS; i++) {
		struct cu_hostbuf *h = &k->host[i];

		if (h->p)
			continue;
		p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return NULL;
		memset(h, 0, sizeof(*h));
		h->p = p;
		h->bytes = bytes;
		return p;
	}
	return NULL;
}

/* H's registration undone, in its context (pushed for the call: the worker calls this
 * between jobs, with no context current). After a sticky fault the call fails; the
 * context's destruction, which follows, releases it. */
static void unregister(struct cu_kernels *k, struct cu_hostbuf *h)
{
	CUcontext popped;
	int pushed;

	if (!h->ctx)
		return;
	pushed = k->api.CtxPushCurrent(h->ctx) == CUDA_SUCCESS;
	if (k->api.MemHostUnregister && k->api.MemHostUnregister(h->p) == CUDA_SUCCESS)
		k->host_unregs++;
	if (pushed)
		k->api.CtxPopCurrent(&popped);
	k->host_pinned -= h->bytes;
	h->ctx = NULL;
}

void vgpu_cu_host_free(struct cu_kernels *k, void *p, size_t bytes)
{
	(void)bytes;
	for (int i = 0; k && p && i < VGPU_KERNEL_HOSTBUFS; i++) {
		struct cu_hostbuf *h = &k->host[i];

		if (h->p != p)
			continue;
		unregister(k, h);
		munmap(h->p, h->bytes);
		memset(h, 0, sizeof(*h));
		return;
	}
}

void vgpu_cu_host_pin(struct cu_kernels *k, struct cu_vmctx *v)
{
	uint64_t max = 0;
	int have_max = 0;
	char why[160];
	CUresult e;

	for (int i = 0; i < VGPU_KERNEL_HOSTBUFS; i++) {
		struct cu_hostbuf *h = &k->host[i];

		if (!h->p || h->ctx || h->failed)
			continue;      /* none, registered already (once), or refused for good */
		if (!have_max) {
			max = vgpu_env_u64("VGPU_KERNEL_PIN_BYTES", VGPU_KERNEL_PIN_DEFAULT, 0, UINT64_MAX);
			have_max = 1;
		}
		if (h->bytes > max || k->host_pinned > max - h->bytes)
			continue;      /* over the bound: pageable (tried again when others go) */
		e = k->api.MemHostRegister ? k->api.MemHostRegister(h->p, h->bytes, 0) : CUDA_ERROR_NOT_SUPPORTED;
		if (e == CUDA_SUCCESS) {
			h->ctx = v->ctx;
			k->host_pinned += h->bytes;
			k->host_regs++;
			continue;
		}
		h->failed = 1;
		if (!k->host_warned) {
			k->host_warned = 1;
			vgpu_warn("cuMemHostRegister(payload buffer, %zu bytes): %s; this kernel worker's copies go from "
				  "pageable memory", h->bytes, k->api.MemHostRegister ? vgpu_cu_strerror(k, e, why, sizeof(why))
				  : "libcuda.so.1 has no cuMemHostRegister_v2");
		}
	}
}

void vgpu_cu_host_forget(struct cu_kernels *k, struct cu_vmctx *v)
{
	for (int i = 0; v->ctx && i < VGPU_KERNEL_HOSTBUFS; i++)
		if (k->host[i].p && k->host[i].ctx == v->ctx)
			unregister(k, &k->host[i]);
}

int vgpu_cu_host_is_pinned(const struct cu_kernels *k, const struct cu_vmctx *v, const void *p, size_t bytes)
{
	uintptr_t a = (uintptr_t)p;

	for (int i = 0; p && v && v->ctx && i < VGPU_KERNEL_HOSTBUFS; i++) {
		const struct cu_hostbuf *h = &k->host[i];
		uintptr_t b = (uintptr_t)h->p;

		if (h->p && h->ctx == v->ctx && a >= b && bytes <= h->bytes && a - b <= h->bytes - bytes)
			return 1;
	}
	return 0;
}
