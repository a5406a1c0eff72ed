/* cudart_probe.c - ERR05 where there is no nvcc: the real CUDA runtime library (libcudart
 * from the distribution's archive, fetched by scripts/cudart-fetch.sh), loaded with
 * dlopen by a program built with cc; no CUDA header or toolkit is needed.
 *
 *   cudart-probe naive LIB    ERR05's naive control, the no-nvcc twin of
 *                             naive/naive_cuda_forced.c: CUDA forced without checking a
 *                             single return code; prints the lines of naive_cuda_forced.h
 *                             ("naive-cuda: ...") and exits 0. A C program cannot launch
 *                             the vadd kernel: the result is read back from the device
 *                             buffer the kernel would have filled.
 *   cudart-probe sanity LIB   the sanity gate's first steps as cuda-sanity takes them
 *                             (runtime and driver versions, device count), with its
 *                             output format and exit codes (docs/GPU.md): 2 no or old
 *                             driver, 3 no device; 6 when CUDA answers but this program
 *                             cannot run a kernel. ERR05 installs it as the mediator's
 *                             cuda-sanity.
 * Exit 1: usage, or LIB could not be loaded (the message says why). */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../naive/naive_cuda_forced.h"

/* The few runtime entry points used, by their documented C signatures. */
typedef int (*fn_count)(int *);
typedef int (*fn_version)(int *);
typedef int (*fn_malloc)(void **, size_t);
typedef int (*fn_memcpy)(void *, const void *, size_t, int);
typedef int (*fn_free)(void *);
typedef int (*fn_void)(void);
typedef const char *(*fn_str)(int);

enum { H2D = 1, D2H = 2 };                         /* cudaMemcpyKind */
enum { ERR_NO_DEVICE = 100, ERR_INVALID_DEVICE = 101 };

static struct {
	fn_count get_device_count;
	fn_version runtime_version, driver_version;
	fn_malloc malloc_;
	fn_memcpy memcpy_;
	fn_free free_;
	fn_void sync, peek;
	fn_str name, string;
} rt;

static int load(const char *lib)
{
	void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		fprintf(stderr, "cudart-probe: cannot load %s: %s\n", lib, dlerror());
		return -1;
	}
#define SYM(field, name) \
	do { \
		*(void **)&rt.field = dlsym(h, name); \
		if (!rt.field) { \
			fprintf(stderr, "cudart-probe: %s has no %s\n", lib, name); \
			return -1; \
		} \
	} while (0)
	SYM(get_device_count, "cudaGetDeviceCount");
	SYM(runtime_version, "cudaRuntimeGetVersion");
	SYM(driver_version, "cudaDriverGetVersion");
	SYM(malloc_, "cudaMalloc");
	SYM(memcpy_, "cudaMemcpy");
	SYM(free_, "cudaFree");
	SYM(sync, "cudaDeviceSynchronize");
	SYM(peek, "cudaPeekAtLastError");
	SYM(name, "cudaGetErrorName");
	SYM(string, "cudaGetErrorString");
#undef SYM
	return 0;
}

static void trace(const char *name, int e)
{
	printf("naive-cuda: call %s rc %d %s\n", name, e, rt.string(e));
}

static int naive(void)
{
	const int n = NAIVE_CUDA_N;
	size_t bytes = n * sizeof(float);
	float *a = malloc(bytes), *b = malloc(bytes), *c = calloc(n, sizeof(float));
	void *da = NULL, *db = NULL, *dc = NULL;
	int count = 0, wrong = 0;

	if (!a || !b || !c)
		return 1;
	/* Every return code is printed for the harness to count; the code acts on none. */
	trace("cudaGetDeviceCount", rt.get_device_count(&count));
	printf("naive-cuda: devices %d\n", count);
	for (int i = 0; i < n; i++) {
		a[i] = (float)i;
		b[i] = 2.0f * (float)i;
	}
	trace("cudaMalloc", rt.malloc_(&da, bytes));
	trace("cudaMalloc", rt.malloc_(&db, bytes));
	trace("cudaMalloc", rt.malloc_(&dc, bytes));
	trace("cudaMemcpy", rt.memcpy_(da, a, bytes, H2D));
	trace("cudaMemcpy", rt.memcpy_(db, b, bytes, H2D));
	trace("vadd(not-launched:cc)", rt.peek());
	trace("cudaMemcpy", rt.memcpy_(c, dc, bytes, D2H));
	for (int i = 0; i < n; i++)
		if (c[i] != a[i] + b[i])
			wrong++;
	printf("naive-cuda: result wrong %d of %d first %.9g expected %.9g\n", wrong, n, c[1], a[1] + b[1]);
	int e = rt.sync();      /* "checking only at the end" */
	printf("naive-cuda: late-check rc %d %s\n", e, rt.string(e));
	rt.free_(da);
	rt.free_(db);
	rt.free_(dc);
	free(a);
	free(b);
	free(c);
	printf("naive-cuda: done\n");
	return 0;
}

static void version_str(int v, char *buf, size_t cap)
{
	if (v == 0)
		snprintf(buf, cap, "none");
	else
		snprintf(buf, cap, "%d.%d", v / 1000, (v % 1000) / 10);
}

static int sanity(const char *lib)
{
	int rv = 0, dv = 0, count = 0, e, rc = 0;
	char rs[32], ds[32];

	/* As cuda-sanity: the device count first, so that its error is the first line
	 * (vgpu-mediator --executor auto quotes the first line). */
	e = rt.get_device_count(&count);
	if (e != 0) {
		printf("cuda-sanity: cudaGetDeviceCount: %s: %s\n", rt.name(e), rt.string(e));
		rc = e == ERR_NO_DEVICE || e == ERR_INVALID_DEVICE ? 3 : 2;
	}
	rt.runtime_version(&rv);
	rt.driver_version(&dv);
	version_str(rv, rs, sizeof(rs));
	version_str(dv, ds, sizeof(ds));
	printf("cuda-sanity: CUDA runtime %s, driver %s (%s, loaded by cudart-probe)\n", rs, ds, lib);
	if (rc == 0 && count == 0) {
		printf("cuda-sanity: no CUDA device visible\n");
		rc = 3;
	} else if (rc == 0) {
		printf("cuda-sanity: %d device(s), but cudart-probe cannot run a kernel (built without nvcc)\n", count);
		rc = 6;
	}
	printf("cuda-sanity: FAIL (exit %d)\n", rc);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc != 3 || (strcmp(argv[1], "naive") != 0 && strcmp(argv[1], "sanity") != 0)) {
		fprintf(stderr, "usage: cudart-probe naive|sanity LIBCUDART\n");
		return 1;
	}
	if (load(argv[2]) < 0)
		return 1;
	return strcmp(argv[1], "naive") == 0 ? naive() : sanity(argv[2]);
}
