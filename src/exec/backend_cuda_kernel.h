/* backend_cuda_kernel.h - the cuda backend's `kernel` op (backend_cuda_kernel.c): one
 * VM's PTX kernel in that VM's own context (cuda_module.h). docs/KERNELS.md. */
#ifndef VGPU_BACKEND_CUDA_KERNEL_H
#define VGPU_BACKEND_CUDA_KERNEL_H

#include "backend.h"

struct cuda_ctx;

/* Run the kernel job JOB and fill RES (OK, BAD_KERNEL, KERNEL_FAULT, EXEC_FAILED, ...).
 * Returns 0, or -1 when the worker's own (primary) context is unusable afterwards and
 * the worker must restart (backend.h's run()). */
int vgpu_cuda_kernel_run(struct cuda_ctx *cx, const struct vgpu_job *job, struct vgpu_job_result *res);

/* The same without the cuda backend (a VM's kernel worker, backend_kernel.c): *KERNELS
 * is the driver API and its contexts (struct cu_kernels, opened on the first job for
 * device DEV). Returns 1 when the kernel faulted (the VM's context is destroyed), else 0. */
int vgpu_cu_kernel_job(void **kernels, int dev, const struct vgpu_job *job, struct vgpu_job_result *res);
/* Free what vgpu_cu_kernel_job() opened in *KERNELS (its contexts, the library); sets it
 * NULL. Can't fail. */
void vgpu_cu_kernel_close(void **kernels);

/* Free what the kernel op holds in CX (its VM contexts). Can't fail. */
void vgpu_cuda_kernel_fini(struct cuda_ctx *cx);

#endif
