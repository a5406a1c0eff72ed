/* cuda_kernels.cu - the cuda backend's kernels: generator, vadd, saxpy, the output
 * summary (a two-pass reduction in double) and the spin test op.
 *
 * Only device code and its launchers live here; the backend's logic (arena, cuBLAS,
 * error handling) is plain C in backend_cuda*.c and cuda_*.c. The CPU reference
 * (lib/opref.c) rounds each element once from double; the kernels round once too: vadd
 * with one add, saxpy with one FMA (__fmaf_rn), so GPU and CPU agree to the last bit or
 * within one ulp. */
#include <cuda_runtime.h>

extern "C" {
#include "lib/opref.h"
}
#include "cuda_kernels.h"

#define THREADS_MAX 256
static const unsigned THREADS = THREADS_MAX;

/* Grid for a grid-stride loop over N elements: enough blocks to fill any current GPU,
 * never more than the elements need. */
static unsigned grid_for(size_t n)
{
	size_t blocks = (n + THREADS - 1) / THREADS;
	if (blocks > 65536)
		blocks = 65536;
	return blocks ? (unsigned)blocks : 1;
}

static int launch_result(void)
{
	return (int)cudaGetLastError();
}

__global__ void k_gen(float *out, size_t count, uint64_t seed, unsigned j)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
	     i += (size_t)gridDim.x * blockDim.x)
		out[i] = vgpu_gen(seed, j, i);
}

__global__ void k_vadd(const float *__restrict__ a, const float *__restrict__ b,
		       float *__restrict__ c, size_t n)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x)
		c[i] = __fadd_rn(a[i], b[i]);
}

__global__ void k_saxpy(float alpha, const float *__restrict__ x, const float *__restrict__ y,
			float *__restrict__ out, size_t n)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x)
		out[i] = __fmaf_rn(alpha, x[i], y[i]);
}

/* Block-wide sum of (S, Q) into thread 0's registers; THREADS threads. */
static __device__ void block_sum2(double &s, double &q)
{
	__shared__ double ss[THREADS_MAX], sq[THREADS_MAX];
	unsigned t = threadIdx.x;
	ss[t] = s;
	sq[t] = q;
	__syncthreads();
	for (unsigned w = blockDim.x / 2; w > 0; w /= 2) {
		if (t < w) {
			ss[t] += ss[t + w];
			sq[t] += sq[t + w];
		}
		__syncthreads();
	}
	s = ss[0];
	q = sq[0];
}

__global__ void k_sum_partial(const float *__restrict__ v, size_t n, double2 *__restrict__ part)
{
	double s = 0.0, q = 0.0;
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x) {
		double x = (double)v[i];
		s += x;
		q = fma(x, x, q);
	}
	block_sum2(s, q);
	if (threadIdx.x == 0)
		part[blockIdx.x] = make_double2(s, q);
}

__global__ void k_sum_final(const double2 *__restrict__ part, unsigned nparts, const float *__restrict__ v,
			    size_t n, struct vgpu_cuda_sums *out)
{
	double s = 0.0, q = 0.0;
	for (unsigned i = threadIdx.x; i < nparts; i += blockDim.x) {
		s += part[i].x;
		q += part[i].y;
	}
	block_sum2(s, q);
	if (threadIdx.x == 0) {
		out->sum = s;
		out->sq = q;
		out->first = n ? v[0] : 0.0f;
	}
}

static __device__ uint64_t globaltimer_ns(void)
{
	uint64_t t;
	asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
	return t;
}

__global__ void k_spin(uint64_t ns, int *flag)
{
	uint64_t start = globaltimer_ns();
	/* clock64() keeps the loop busy between the coarse globaltimer ticks. */
	long long c0 = clock64();
	while (globaltimer_ns() - start < ns) {
		while (clock64() - c0 < 1000)
			;
		c0 = clock64();
	}
	*flag = 1;
}

extern "C" int vgpu_cuda_gen(float *out, size_t count, uint64_t seed, unsigned j, void *stream)
{
	if (count == 0)
		return 0;
	k_gen<<<grid_for(count), THREADS, 0, (cudaStream_t)stream>>>(out, count, seed, j);
	return launch_result();
}

extern "C" int vgpu_cuda_vadd(const float *a, const float *b, float *c, size_t n, void *stream)
{
	if (n == 0)
		return 0;
	k_vadd<<<grid_for(n), THREADS, 0, (cudaStream_t)stream>>>(a, b, c, n);
	return launch_result();
}

extern "C" int vgpu_cuda_saxpy(float alpha, const float *x, const float *y, float *out, size_t n,
			       void *stream)
{
	if (n == 0)
		return 0;
	k_saxpy<<<grid_for(n), THREADS, 0, (cudaStream_t)stream>>>(alpha, x, y, out, n);
	return launch_result();
}

extern "C" int vgpu_cuda_summary(const float *v, size_t n, void *scratch, struct vgpu_cuda_sums *out,
				 void *stream)
{
	unsigned parts = n ? grid_for(n) : 1;
	if (parts > VGPU_CUDA_SUM_PARTS)
		parts = VGPU_CUDA_SUM_PARTS;
	k_sum_partial<<<parts, THREADS, 0, (cudaStream_t)stream>>>(v, n, (double2 *)scratch);
	int e = launch_result();
	if (e)
		return e;
	k_sum_final<<<1, THREADS, 0, (cudaStream_t)stream>>>((const double2 *)scratch, parts, v, n, out);
	return launch_result();
}

extern "C" int vgpu_cuda_spin(uint64_t ms, int *flag, void *stream)
{
	k_spin<<<1, 1, 0, (cudaStream_t)stream>>>(ms * 1000000ull, flag);
	return launch_result();
}
