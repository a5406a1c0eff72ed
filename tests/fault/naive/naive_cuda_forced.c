/* naive_cuda_forced.c - see naive_cuda_forced.h. Under nvcc: the naive program, forcing
 * CUDA without checking; under cc: the parser of its output. Deliberately wrong; ERR05's
 * negative control only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "naive_cuda_forced.h"

#ifdef __CUDACC__

#include <cuda_runtime.h>

static void trace(const char *name, cudaError_t e)
{
	printf("naive-cuda: call %s rc %d %s\n", name, (int)e, cudaGetErrorString(e));
}

__global__ static void vadd(const float *a, const float *b, float *c, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n)
		c[i] = a[i] + b[i];
}

int main(void)
{
	const int n = NAIVE_CUDA_N;
	size_t bytes = n * sizeof(float);
	float *a = (float *)malloc(bytes), *b = (float *)malloc(bytes), *c = (float *)calloc(n, sizeof(float));
	float *da = NULL, *db = NULL, *dc = NULL;
	int count = 0, wrong = 0;

	/* The return codes are printed for the harness to count; the code acts on none. */
	trace("cudaGetDeviceCount", cudaGetDeviceCount(&count));
	printf("naive-cuda: devices %d\n", count);
	for (int i = 0; i < n; i++) {
		a[i] = (float)i;
		b[i] = 2.0f * (float)i;
	}
	trace("cudaMalloc", cudaMalloc((void **)&da, bytes));
	trace("cudaMalloc", cudaMalloc((void **)&db, bytes));
	trace("cudaMalloc", cudaMalloc((void **)&dc, bytes));
	trace("cudaMemcpy", cudaMemcpy(da, a, bytes, cudaMemcpyHostToDevice));
	trace("cudaMemcpy", cudaMemcpy(db, b, bytes, cudaMemcpyHostToDevice));
	vadd<<<(n + 255) / 256, 256>>>(da, db, dc, n);
	trace("vadd<<<>>>", cudaPeekAtLastError());
	trace("cudaMemcpy", cudaMemcpy(c, dc, bytes, cudaMemcpyDeviceToHost));
	for (int i = 0; i < n; i++)
		if (c[i] != a[i] + b[i])
			wrong++;
	printf("naive-cuda: result wrong %d of %d first %.9g expected %.9g\n", wrong, n, c[1], a[1] + b[1]);
	/* "checking only at the end" */
	cudaError_t e = cudaDeviceSynchronize();
	printf("naive-cuda: late-check rc %d %s\n", (int)e, cudaGetErrorString(e));
	cudaFree(da);
	cudaFree(db);
	cudaFree(dc);
	free(a);
	free(b);
	free(c);
	printf("naive-cuda: done\n");
	return 0;
}

#else

int naive_cuda_parse(const char *output, struct naive_cuda_report *rep)
{
	const char *p = output;
	int found = 0;

	memset(rep, 0, sizeof(*rep));
	rep->devices = -1;
	while (p && *p) {
		const char *nl = strchr(p, '\n');
		char line[400], name[64];
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		int rc, off = 0;

		if (len >= sizeof(line))
			len = sizeof(line) - 1;
		memcpy(line, p, len);
		line[len] = '\0';
		p = nl ? nl + 1 : NULL;
		if (strncmp(line, "naive-cuda: ", 12) != 0)
			continue;
		found = 1;
		if (sscanf(line, "naive-cuda: call %63s rc %d %n", name, &rc, &off) == 2) {
			rep->calls++;
			if (rc != 0 && rep->failed_calls++ == 0)
				snprintf(rep->first_msg, sizeof(rep->first_msg), "%.63s: %.140s", name, line + off);
		} else if (sscanf(line, "naive-cuda: devices %d", &rep->devices) == 1) {
			;
		} else if (sscanf(line, "naive-cuda: result wrong %d of %d first %lf expected %lf", &rep->wrong, &rep->n,
				  &rep->first, &rep->expected) == 4) {
			;
		} else if (sscanf(line, "naive-cuda: late-check rc %d", &rep->late_rc) == 1) {
			;
		} else if (strcmp(line, "naive-cuda: done") == 0) {
			rep->done = 1;
		}
	}
	return found ? 0 : -1;
}

#endif
