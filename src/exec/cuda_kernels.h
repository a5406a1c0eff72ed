/* cuda_kernels.h - the cuda backend's device code, as plain C calls (cuda_kernels.cu).
 *
 * For the cuda backend (backend_cuda_ops.c), cuda-sanity and the benchmark: each launcher
 * enqueues one kernel on STREAM and returns the launch's cudaError_t as an int
 * (0 = cudaSuccess); execution errors surface at the next synchronisation. Pointers
 * are device pointers. Built only when nvcc is found (VGPU_HAVE_CUDA). */
#ifndef VGPU_CUDA_KERNELS_H
#define VGPU_CUDA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* OUT[0..count) = vgpu_gen(seed, j, i): the generator of docs/PROTOCOL.md section 6. */
int vgpu_cuda_gen(float *out, size_t count, uint64_t seed, unsigned j, void *stream);
/* C = A + B (one rounding, like the CPU reference). */
int vgpu_cuda_vadd(const float *a, const float *b, float *c, size_t n, void *stream);
/* OUT = ALPHA * X + Y with one rounding (FMA), like the CPU reference. */
int vgpu_cuda_saxpy(float alpha, const float *x, const float *y, float *out, size_t n, void *stream);
/* The output summary (docs/PROTOCOL.md section 5) computed on the device, in double:
 * sum and sum of squares of V[0..n) and V[0] (0 when n is 0). */
struct vgpu_cuda_sums {
	double sum, sq;
	float first;
};
/* Partial sums per block of the first pass; the scratch buffer holds this many pairs. */
#define VGPU_CUDA_SUM_PARTS 1024
#define VGPU_CUDA_SUM_SCRATCH_BYTES (VGPU_CUDA_SUM_PARTS * 2 * sizeof(double))
/* Two launches: block partials into SCRATCH (device, VGPU_CUDA_SUM_SCRATCH_BYTES), then one
 * block folds them into *OUT (device). Deterministic: no atomics, a fixed tree order. */
int vgpu_cuda_summary(const float *v, size_t n, void *scratch, struct vgpu_cuda_sums *out, void *stream);
/* One thread busy-waits MS milliseconds on the global timer; *FLAG gets 1 when done.
 * Used by the test op "spin" so that the watchdog has something to kill. */
int vgpu_cuda_spin(uint64_t ms, int *flag, void *stream);

#ifdef __cplusplus
}
#endif

#endif
