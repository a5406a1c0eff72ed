// saxpy.cu - compiled to PTX at build time (nvcc -ptx -fmad=false, src/exec/cuda.mk):
// y[i] = a * x[i] + y[i] for i < n, without FMA so that it equals the CPU's float math.
// Parameters: f32 a, in x, inout y, u32 n.
extern "C" __global__ void saxpy(float a, const float *x, float *y, unsigned n)
{
	unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n)
		y[i] = a * x[i] + y[i];
}
