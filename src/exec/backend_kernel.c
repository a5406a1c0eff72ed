/* backend_kernel.c - vgpu_backend_cuda_kernel ("cuda-kernel"): the backend of a VM's
 * kernel worker, the vgpu-worker process that runs one VM's `kernel` jobs on one GPU
 * (docs/KERNELS.md section 4, "Isolation"). Only the driver API (cuda_module.c, through
 * dlopen): no CUDA runtime context, no cuBLAS, so a start costs cuInit and the VM's one
 * context. After a kernel fault the job is answered and run() returns < 0: the worker
 * exits, and the pool starts a new one for the VM's next kernel job. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_cuda_kernel.h"
#include "cuda_module.h"
#include "../lib/status.h"

struct kbe {
	int dev;
	void *kernels;        /* struct cu_kernels: the driver API and the VM's one context */
};

static int kbe_device_count(char *err, size_t errlen)
{
	snprintf(err, errlen, "cuda-kernel is started by the pool for one VM; ask --backend cuda --count");
	return -1;
}

static int kbe_init(void **ctxp, int dev, char *err, size_t errlen)
{
	struct kbe *b = calloc(1, sizeof(*b));
	struct cu_kernels *k;

	*ctxp = NULL;
	if (!b) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	b->dev = dev;
	if (vgpu_cu_kernels_open(&k, dev, err, errlen) < 0) {
		free(b);
		return -1;
	}
	k->max_ctxs = 1;              /* one VM per process: its one context */
	k->idle_ms = UINT64_MAX;      /* the pool reaps the whole process when idle */
	b->kernels = k;
	*ctxp = b;
	return 0;
}

static int kbe_run(void *ctx, const struct vgpu_job *job, struct vgpu_job_result *res)
{
	struct kbe *b = ctx;

	memset(res, 0, sizeof(*res));
	res->status = VGPU_OK;
	if (job->op != VGPU_OP_KERNEL) {
		vgpu_job_result_set(res, VGPU_EXEC_FAILED, "a VM's kernel worker runs only kernel jobs (op %d)",
				    (int)job->op);
		return 0;
	}
	if (vgpu_cu_kernel_job(&b->kernels, b->dev, job, res) == 0)
		return 0;
	/* A fault: CUDA errors of this kind are sticky, and on a GPU they can take more than
	 * the faulting context with them. The process goes; only this VM's jobs used it. */
	size_t len = strlen(res->error);
	snprintf(res->error + len, sizeof(res->error) - len, "; the VM's kernel worker ends");
	return -1;
}

/* vgpu-worker's payload buffers: registered once with the driver, in the VM's context,
 * by the first job that uses them (cuda_kernel_hostmem.c). */
static void *kbe_host_alloc(void *ctx, size_t bytes)
{
	return vgpu_cu_host_alloc(((struct kbe *)ctx)->kernels, bytes);
}

static void kbe_host_free(void *ctx, void *p, size_t bytes)
{
	vgpu_cu_host_free(((struct kbe *)ctx)->kernels, p, bytes);
}

static void kbe_fini(void *ctx)
{
	struct kbe *b = ctx;

	if (!b)
		return;
	vgpu_cu_kernel_close(&b->kernels);
	free(b);
}

const struct vgpu_backend_ops vgpu_backend_cuda_kernel = {
	.iversion = 2,
	.name = "cuda-kernel",
	.device_count = kbe_device_count,
	.init = kbe_init,
	.run = kbe_run,
	.fini = kbe_fini,
	.host_alloc = kbe_host_alloc,
	.host_free = kbe_host_free,
};
