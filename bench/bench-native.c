/* bench-native - one operation done natively with CUDA, timed: the baseline for
 * bench/run.sh, which times the same operation through the mediator.
 *
 * Each repetition does the work one mediated job of the same kind does, nothing more:
 *   seed:  cudaMalloc operands and result; generate the operands on the device; compute
 *          (the backend's own kernels; cuBLAS sgemm, TF32 off); reduce the result to its
 *          summary on the device (the backend's kernel, in double) and copy back only the
 *          summary (24 bytes, into pinned memory); free. No output crosses to the host,
 *          as for a mediated job answered with `output summary`.
 *   input: cudaMalloc; copy the operands from host memory (this program's own malloc'ed,
 *          already-touched pages: a plain native program); compute; copy the whole result
 *          back into host memory; summarise it on the CPU (vgpu_summarize, as the mediator
 *          does for a job whose output file the VM wants); free.
 * The CUDA context, the cuBLAS handle, the summary's scratch buffers (all made once per
 * context by the backend too) and one warm-up repetition are outside the timing.
 * Then the same repetitions again with the device buffers allocated once, before the
 * loop ("kept": what a native program that reuses its buffers pays, and what the
 * backend's device-memory cache aims at).
 *
 *   bench-native OP seed|input REPS N [M K]     OP: vadd saxpy sgemm (sgemm: M N K)
 * prints: op=OP mode=MODE size=... reps=R median_us=X min_us=Y kept_median_us=Z */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "exec/cuda_kernels.h"
#include "lib/opref.h"
#include "bench_time.h"

#define CK(call) do { cudaError_t e_ = (call); if (e_ != cudaSuccess) { \
	fprintf(stderr, "bench-native: %s: %s\n", #call, cudaGetErrorString(e_)); exit(1); } } while (0)

int main(int argc, char **argv)
{
	const char *op, *mode;
	size_t m = 0, n, k = 0, na, nb, nout;
	int reps, seeded;
	float *h_in, *h_out, *d_in, *d_out;
	void *d_scratch;
	struct vgpu_cuda_sums *d_sums, *h_sums;
	double *t, *tk;
	cublasHandle_t blas;
	struct vgpu_summary sum;
	const float one = 1.0f, zero = 0.0f, alpha = 1.5f;

	if (argc < 5) {
		fprintf(stderr, "usage: bench-native vadd|saxpy|sgemm seed|input REPS N [M K]\n");
		return 2;
	}
	op = argv[1];
	mode = argv[2];
	reps = atoi(argv[3]);
	seeded = strcmp(mode, "seed") == 0;
	if (strcmp(op, "sgemm") == 0) {
		if (argc < 7)
			return 2;
		m = strtoull(argv[4], NULL, 10);
		n = strtoull(argv[5], NULL, 10);
		k = strtoull(argv[6], NULL, 10);
		na = m * k; nb = k * n; nout = m * n;
	} else {
		n = strtoull(argv[4], NULL, 10);
		na = nb = nout = n;
	}
	h_in = malloc((na + nb) * sizeof(float));
	h_out = malloc(nout * sizeof(float));
	t = calloc((size_t)reps + 1, sizeof(double));
	tk = calloc((size_t)reps + 1, sizeof(double));
	if (!h_in || !h_out || !t || !tk || reps < 1)
		return 1;
	vgpu_gen_fill(h_in, na, 1, 0);
	vgpu_gen_fill(h_in + na, nb, 1, 1);
	memset(h_out, 0, nout * sizeof(float));   /* touched, like h_in */
	CK(cudaFree(NULL));
	CK(cudaMalloc(&d_scratch, VGPU_CUDA_SUM_SCRATCH_BYTES + sizeof(struct vgpu_cuda_sums)));
	d_sums = (struct vgpu_cuda_sums *)((char *)d_scratch + VGPU_CUDA_SUM_SCRATCH_BYTES);
	CK(cudaMallocHost((void **)&h_sums, sizeof(*h_sums)));
	if (cublasCreate(&blas) != CUBLAS_STATUS_SUCCESS || cublasSetMathMode(blas, CUBLAS_DEFAULT_MATH))
		return 1;

	for (int keep = 0; keep < 2; keep++) {
	if (keep) {
		CK(cudaMalloc((void **)&d_in, (na + nb) * sizeof(float)));
		CK(cudaMalloc((void **)&d_out, nout * sizeof(float)));
	}
	for (int r = -1; r < reps; r++) {       /* r = -1: warm-up, not timed */
		double t0 = now_us();
		if (!keep) {
			CK(cudaMalloc((void **)&d_in, (na + nb) * sizeof(float)));
			CK(cudaMalloc((void **)&d_out, nout * sizeof(float)));
		}
		if (seeded) {
			CK((cudaError_t)vgpu_cuda_gen(d_in, na, 1, 0, NULL));
			CK((cudaError_t)vgpu_cuda_gen(d_in + na, nb, 1, 1, NULL));
		} else {
			CK(cudaMemcpy(d_in, h_in, (na + nb) * sizeof(float), cudaMemcpyHostToDevice));
		}
		if (strcmp(op, "vadd") == 0) {
			CK((cudaError_t)vgpu_cuda_vadd(d_in, d_in + na, d_out, n, NULL));
		} else if (strcmp(op, "saxpy") == 0) {
			CK((cudaError_t)vgpu_cuda_saxpy(alpha, d_in, d_in + na, d_out, n, NULL));
		} else if (cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_N, (int)n, (int)m, (int)k, &one, d_in + na,
				       (int)n, d_in, (int)k, &zero, d_out, (int)n) != CUBLAS_STATUS_SUCCESS) {
			fprintf(stderr, "bench-native: cublasSgemm failed\n");
			return 1;
		}
		if (seeded) {
			CK((cudaError_t)vgpu_cuda_summary(d_out, nout, d_scratch, d_sums, NULL));
			CK(cudaMemcpy(h_sums, d_sums, sizeof(*h_sums), cudaMemcpyDeviceToHost));
			sum.count = nout;
			sum.sum = h_sums->sum;
			sum.l2 = sqrt(h_sums->sq);
			sum.first = h_sums->first;
		} else {
			CK(cudaMemcpy(h_out, d_out, nout * sizeof(float), cudaMemcpyDeviceToHost));
			vgpu_summarize(h_out, nout, &sum);
		}
		if (!keep) {
			CK(cudaFree(d_in));
			CK(cudaFree(d_out));
		}
		if (r >= 0)
			(keep ? tk : t)[r] = now_us() - t0;
	}
	if (keep) {
		CK(cudaFree(d_in));
		CK(cudaFree(d_out));
	}
	}
	qsort(t, (size_t)reps, sizeof(double), cmp_double);
	qsort(tk, (size_t)reps, sizeof(double), cmp_double);
	if (m)
		printf("op=%s mode=%s size=%zux%zux%zu reps=%d median_us=%.1f min_us=%.1f kept_median_us=%.1f sum=%.6g\n",
		       op, mode, m, n, k, reps, t[reps / 2], t[0], tk[reps / 2], sum.sum);
	else
		printf("op=%s mode=%s size=%zu reps=%d median_us=%.1f min_us=%.1f kept_median_us=%.1f sum=%.6g\n", op,
		       mode, n, reps, t[reps / 2], t[0], tk[reps / 2], sum.sum);
	cublasDestroy(blas);
	cudaFree(d_scratch);
	cudaFreeHost(h_sums);
	free(h_in);
	free(h_out);
	free(t);
	free(tk);
	return 0;
}
