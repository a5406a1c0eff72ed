/* cuda-sanity - the errors log's "cuda_sanity test": can this host run CUDA jobs?
 *
 * Steps: runtime and driver versions, device count, then per device: properties, an
 * allocation, the generator and vadd kernels, cuBLAS sgemm, copy back, compare with the
 * CPU. Prints each step and the exact CUDA error text; the exit code says which step
 * failed (docs/GPU.md). `vgpu-mediator --executor auto` runs it as a child: 0 = use CUDA. */
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/version.h"

enum sanity_exit {
	SANITY_OK = 0,
	SANITY_USAGE = 1,
	SANITY_NO_DRIVER = 2,     /* no driver, one too old for the runtime, or CUDA init failed */
	SANITY_NO_DEVICE = 3,     /* driver fine, no visible device (CUDA_VISIBLE_DEVICES=) */
	SANITY_ALLOC = 4,         /* device memory could not be allocated */
	SANITY_KERNEL = 5,        /* a kernel, cuBLAS or a copy failed, or the result was wrong */
	SANITY_NO_CUDA = 6,       /* this binary was built without CUDA (no nvcc at build time) */
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cuda-sanity [--device N] [--quiet]\n"
		"Checks that CUDA works here: driver, devices, allocation, a kernel, cuBLAS,\n"
		"copy back and compare with the CPU. Without --device every visible device.\n"
		"exit codes:\n"
		"  0  every checked device passed\n"
		"  1  usage error\n"
		"  2  no CUDA driver, or the driver is too old for this runtime (or CUDA init failed)\n"
		"  3  no CUDA device visible (e.g. CUDA_VISIBLE_DEVICES is empty)\n"
		"  4  device memory allocation failed\n"
		"  5  a kernel, cuBLAS or a copy failed, or the result differed from the CPU's\n"
		"  6  built without CUDA (nvcc was not found at build time)\n");
}

#ifndef VGPU_HAVE_CUDA

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("cuda-sanity %s (built without CUDA)\n", VGPU_VERSION);
		return SANITY_OK;
	}
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return SANITY_OK;
	}
	printf("cuda-sanity: built without CUDA (nvcc was not found at build time)\n");
	printf("cuda-sanity: FAIL (exit %d)\n", SANITY_NO_CUDA);
	return SANITY_NO_CUDA;
}

#else

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "exec/cuda_kernels.h"
#include "lib/opref.h"

#define CHECK_N   (1u << 20)     /* floats per vector */
#define GEMM_DIM  128

static int quiet;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	if (quiet)
		return;
	va_start(ap, fmt);
	fputs("cuda-sanity: ", stdout);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	va_end(ap);
}

/* Failures are printed even with --quiet: the caller wants the reason. */
static int fail_cuda(int code, const char *what, cudaError_t e)
{
	printf("cuda-sanity: %s: %s: %s\n", what, cudaGetErrorName(e), cudaGetErrorString(e));
	return code;
}

static void version_str(int v, char *buf, size_t cap)
{
	if (v == 0)
		snprintf(buf, cap, "none");
	else
		snprintf(buf, cap, "%d.%d", v / 1000, (v % 1000) / 10);
}

static int init_code(cudaError_t e)
{
	switch (e) {
	case cudaErrorNoDevice:
	case cudaErrorInvalidDevice:
		return SANITY_NO_DEVICE;
	default:
		return SANITY_NO_DRIVER;
	}
}

static int check_device(int dev)
{
	struct cudaDeviceProp prop;
	size_t free_b = 0, total_b = 0, bytes = CHECK_N * sizeof(float);
	float *d = NULL, *h = NULL, *ref = NULL, *g = NULL;
	cublasHandle_t blas = NULL;
	cublasStatus_t s;
	cudaError_t e;
	double err;
	int rc = SANITY_KERNEL;
	const float one = 1.0f, zero = 0.0f;
	const size_t gg = (size_t)GEMM_DIM * GEMM_DIM;

	if ((e = cudaSetDevice(dev)) != cudaSuccess)
		return fail_cuda(init_code(e), "cudaSetDevice", e);
	if ((e = cudaGetDeviceProperties(&prop, dev)) != cudaSuccess)
		return fail_cuda(init_code(e), "cudaGetDeviceProperties", e);
	say("device %d: %s, compute capability %d.%d, %d SMs, %.1f GiB", dev, prop.name, prop.major,
	    prop.minor, prop.multiProcessorCount, prop.totalGlobalMem / 1073741824.0);
	if ((e = cudaFree(NULL)) != cudaSuccess)
		return fail_cuda(init_code(e), "cudaFree(NULL) (context creation)", e);
	if ((e = cudaMemGetInfo(&free_b, &total_b)) != cudaSuccess)
		return fail_cuda(SANITY_NO_DRIVER, "cudaMemGetInfo", e);
	say("device %d: memory free %.1f of %.1f GiB", dev, free_b / 1073741824.0, total_b / 1073741824.0);

	if ((e = cudaMalloc((void **)&d, 3 * bytes)) != cudaSuccess)
		return fail_cuda(SANITY_ALLOC, "cudaMalloc(12 MiB)", e);
	say("device %d: cudaMalloc(%zu bytes): ok", dev, 3 * bytes);
	h = malloc(3 * bytes);
	ref = malloc(bytes);
	if (!h || !ref) {
		printf("cuda-sanity: out of host memory\n");
		goto out;
	}
	if ((e = (cudaError_t)vgpu_cuda_gen(d, CHECK_N, 42, 0, NULL)) != cudaSuccess ||
	    (e = (cudaError_t)vgpu_cuda_gen(d + CHECK_N, CHECK_N, 42, 1, NULL)) != cudaSuccess ||
	    (e = (cudaError_t)vgpu_cuda_vadd(d, d + CHECK_N, d + 2 * CHECK_N, CHECK_N, NULL)) != cudaSuccess) {
		fail_cuda(SANITY_KERNEL, "kernel launch", e);
		goto out;
	}
	if ((e = cudaDeviceSynchronize()) != cudaSuccess) {
		fail_cuda(SANITY_KERNEL, "cudaDeviceSynchronize(kernels)", e);
		goto out;
	}
	if ((e = cudaMemcpy(h, d, 3 * bytes, cudaMemcpyDeviceToHost)) != cudaSuccess) {
		fail_cuda(SANITY_KERNEL, "cudaMemcpy(device to host)", e);
		goto out;
	}
	for (size_t i = 0; i < CHECK_N; i++) {
		float a = vgpu_gen(42, 0, i), b = vgpu_gen(42, 1, i);
		if (h[i] != a || h[CHECK_N + i] != b || h[2 * CHECK_N + i] != a + b) {
			printf("cuda-sanity: device %d: element %zu differs: gpu %.9g+%.9g=%.9g, cpu %.9g+%.9g=%.9g\n",
			       dev, i, h[i], h[CHECK_N + i], h[2 * CHECK_N + i], a, b, a + b);
			goto out;
		}
	}
	say("device %d: generator + vadd kernels on %u floats: equal to the CPU", dev, CHECK_N);

	/* cuBLAS: C = A B on the first generated vectors, against a double CPU product. */
	if ((s = cublasCreate(&blas)) != CUBLAS_STATUS_SUCCESS) {
		printf("cuda-sanity: cublasCreate: %s: %s\n", cublasGetStatusName(s), cublasGetStatusString(s));
		goto out;
	}
	if ((s = cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_N, GEMM_DIM, GEMM_DIM, GEMM_DIM, &one,
			     d + gg, GEMM_DIM, d, GEMM_DIM, &zero, d + 2 * CHECK_N, GEMM_DIM))
	    != CUBLAS_STATUS_SUCCESS) {
		printf("cuda-sanity: cublasSgemm: %s: %s\n", cublasGetStatusName(s), cublasGetStatusString(s));
		goto out;
	}
	g = h + 2 * CHECK_N;
	if ((e = cudaMemcpy(g, d + 2 * CHECK_N, gg * sizeof(float), cudaMemcpyDeviceToHost)) != cudaSuccess) {
		fail_cuda(SANITY_KERNEL, "cudaMemcpy(sgemm result)", e);
		goto out;
	}
	/* Row-major A = h[0..gg), B = h[gg..2gg): the transpose trick gives row-major C. */
	{
		double maxref = 0, maxdiff = 0;
		for (size_t i = 0; i < GEMM_DIM; i++)
			for (size_t j = 0; j < GEMM_DIM; j++) {
				double acc = 0;
				for (size_t k = 0; k < GEMM_DIM; k++)
					acc += (double)h[i * GEMM_DIM + k] * h[gg + k * GEMM_DIM + j];
				if (fabs(acc) > maxref)
					maxref = fabs(acc);
				if (fabs(acc - g[i * GEMM_DIM + j]) > maxdiff || isnan(g[i * GEMM_DIM + j]))
					maxdiff = isnan(g[i * GEMM_DIM + j]) ? INFINITY : fabs(acc - g[i * GEMM_DIM + j]);
			}
		err = maxdiff / (maxref > 0 ? maxref : 1);
	}
	if (!(err < 1e-4)) {
		printf("cuda-sanity: device %d: cuBLAS sgemm %dx%dx%d relative error %.3g (limit 1e-4)\n",
		       dev, GEMM_DIM, GEMM_DIM, GEMM_DIM, err);
		goto out;
	}
	say("device %d: cuBLAS sgemm %dx%dx%d: relative error %.2g", dev, GEMM_DIM, GEMM_DIM, GEMM_DIM, err);
	rc = SANITY_OK;
out:
	if (blas)
		cublasDestroy(blas);
	if ((e = cudaFree(d)) != cudaSuccess && rc == SANITY_OK)
		rc = fail_cuda(SANITY_KERNEL, "cudaFree", e);
	free(h);
	free(ref);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int only = -1, c, count = 0, rt = 0, drv = 0, worst = SANITY_OK;
	char rts[32], drvs[32];
	const char *vis = getenv("CUDA_VISIBLE_DEVICES");
	cudaError_t e;

	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("cuda-sanity %s\n", VGPU_VERSION);
		return SANITY_OK;
	}

	while ((c = getopt_long(argc, argv, "d:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*optarg == 0 || *end || v < 0 || v > 1024) {
				fprintf(stderr, "cuda-sanity: bad --device '%s'\n", optarg);
				return SANITY_USAGE;
			}
			only = (int)v;
			break;
		}
		case 'q':
			quiet = 1;
			break;
		case 'h':
			usage(stdout);
			return SANITY_OK;
		default:
			usage(stderr);
			return SANITY_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return SANITY_USAGE;
	}

	/* The device count first: when it fails, its error is the first line printed
	 * (the caller, `--executor auto`, quotes the first line). */
	e = cudaGetDeviceCount(&count);
	if (e != cudaSuccess)
		worst = fail_cuda(init_code(e), "cudaGetDeviceCount", e);
	(void)cudaRuntimeGetVersion(&rt);
	(void)cudaDriverGetVersion(&drv);    /* 0 when no driver is installed */
	version_str(rt, rts, sizeof(rts));
	version_str(drv, drvs, sizeof(drvs));
	if (worst != SANITY_OK)
		quiet = 0;
	say("CUDA runtime %s, driver %s%s%s%s", rts, drvs, vis ? ", CUDA_VISIBLE_DEVICES='" : "",
	    vis ? vis : "", vis ? "'" : "");
	if (worst != SANITY_OK)
		goto done;
	say("%d CUDA device(s) visible", count);
	if (count == 0) {
		worst = SANITY_NO_DEVICE;
		printf("cuda-sanity: no CUDA device visible\n");
		goto done;
	}
	if (only >= count) {
		printf("cuda-sanity: no device %d (%d visible)\n", only, count);
		worst = SANITY_NO_DEVICE;
		goto done;
	}
	for (int dev = 0; dev < count; dev++) {
		int rc;
		if (only >= 0 && dev != only)
			continue;
		rc = check_device(dev);
		say("device %d: %s", dev, rc == SANITY_OK ? "ok" : "FAILED");
		if (rc != SANITY_OK && worst == SANITY_OK)
			worst = rc;
	}
done:
	if (worst == SANITY_OK)
		printf("cuda-sanity: PASS\n");
	else
		printf("cuda-sanity: FAIL (exit %d)\n", worst);
	return worst;
}

#endif
