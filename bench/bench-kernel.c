/* bench-kernel - the `kernel` op's overhead (docs/KERNELS.md): the same PTX vadd of N
 * floats timed three ways, median of REPS each:
 *   native    cuLaunchKernel + cuCtxSynchronize of the module, loaded once, buffers
 *             kept on the device (the driver API, as src/exec/cuda_module.c loads it):
 *             the kernel alone;
 *   mediated  vgpu_client_kernel() through a running vgpu-mediator --executor cuda on
 *             DIR/vmN (module cached in the worker after the first job): PTX and
 *             inputs published, buffers allocated, zeroed, filled, launched, copied back,
 *             answer and output read;
 *   ping      vgpu_client_call(ping) on the same directory: the protocol's floor.
 *
 *   bench-kernel DIR/vmN PTX REPS N
 * prints one line each: "native median_us=X", "mediated median_us=Y exec_us=E",
 * "ping median_us=P", then "overhead_us=Y-X over_ping_us=Y-P". The PTX must hold the
 * entry vadd(in a, in b, out c, u32 n) (tests/gpu/kernels/vadd.ptx). Not part of
 * `make bench` yet (bench/run.sh is its owner's): run it by hand next to a mediator. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/client_kernel.h"
#include "exec/cuda_module.h"
#include "lib/status.h"

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[n / 2];
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *p;
	long n;

	if (!f || fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0 || !(p = calloc(1, (size_t)n + 1)) ||
	    fread(p, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "bench-kernel: cannot read %s\n", path);
		exit(2);
	}
	fclose(f);
	return p;
}

static int native(const char *ptx, int reps, unsigned n, const float *a, const float *b, double *out_med)
{
	struct cu_kernels *k;
	struct cu_vmctx *v;
	CUdeviceptr d[3];
	CUmodule mod;
	CUfunction f;
	char err[256];
	size_t len = (strlen(ptx) + 1 + 7) / 8 * 8;
	char *region = calloc(1, len);
	double *t = calloc((size_t)reps, sizeof(double));
	void *params[4];
	int hit;

	memcpy(region, ptx, strlen(ptx));
	if (vgpu_cu_kernels_open(&k, 0, err, sizeof(err)) < 0 || vgpu_cu_vm_enter(k, 1, 0, &v, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench-kernel: native: %s\n", err);
		return -1;
	}
	if (vgpu_cu_module_get(k, v, region, len, &mod, &hit, err, sizeof(err)) != CUDA_SUCCESS ||
	    k->api.ModuleGetFunction(&f, mod, "vadd") != CUDA_SUCCESS) {
		fprintf(stderr, "bench-kernel: native: module: %s\n", err);
		return -1;
	}
	for (int i = 0; i < 3; i++)
		if (k->api.MemAlloc(&d[i], n * sizeof(float)) != CUDA_SUCCESS) {
			fprintf(stderr, "bench-kernel: native: cuMemAlloc failed\n");
			return -1;
		}
	k->api.MemcpyHtoD(d[0], a, n * sizeof(float));
	k->api.MemcpyHtoD(d[1], b, n * sizeof(float));
	params[0] = &d[0];
	params[1] = &d[1];
	params[2] = &d[2];
	params[3] = &n;
	for (int r = 0; r < reps + 1; r++) {
		double t0 = now_us();
		CUresult e = k->api.LaunchKernel(f, (n + 255) / 256, 1, 1, 256, 1, 1, 0, NULL, params, NULL);
		if (e == CUDA_SUCCESS)
			e = k->api.CtxSynchronize();
		if (e != CUDA_SUCCESS) {
			fprintf(stderr, "bench-kernel: native: launch: %s\n", vgpu_cu_strerror(k, e, err, sizeof(err)));
			return -1;
		}
		if (r > 0)              /* the first launch warms up */
			t[r - 1] = now_us() - t0;
	}
	*out_med = median(t, reps);
	for (int i = 0; i < 3; i++)
		k->api.MemFree(d[i]);
	vgpu_cu_vm_leave(k);
	vgpu_cu_kernels_close(k);
	free(t);
	free(region);
	return 0;
}

int main(int argc, char **argv)
{
	struct vgpu_client_opts opts = { .timeout_ms = 60000 };
	struct vgpu_kernel_call kc;
	struct vgpu_response resp;
	struct vgpu_client *c;
	char err[1024], tok[64];
	double nat, *t, *e;
	float *a, *b, *out;
	unsigned n;
	int reps, rc;

	if (argc != 5 || (reps = atoi(argv[3])) < 1 || (n = (unsigned)strtoul(argv[4], NULL, 10)) < 1) {
		fprintf(stderr, "usage: bench-kernel DIR/vmN PTX REPS N\n");
		return 2;
	}
	a = malloc(n * sizeof(float));
	b = malloc(n * sizeof(float));
	out = malloc(n * sizeof(float));
	t = calloc((size_t)reps, sizeof(double));
	e = calloc((size_t)reps, sizeof(double));
	for (unsigned i = 0; i < n; i++) {
		a[i] = (float)i;
		b[i] = 1.0f;
	}
	memset(&kc, 0, sizeof(kc));
	kc.ptx = slurp(argv[2]);
	if (native(kc.ptx, reps, n, a, b, &nat) < 0)
		return 1;
	printf("native median_us=%.1f\n", nat);

	strcpy(kc.spec.entry, "vadd");
	kc.spec.grid[0] = (n + 255) / 256;
	kc.spec.block[0] = 256;
	kc.spec.grid[1] = kc.spec.grid[2] = kc.spec.block[1] = kc.spec.block[2] = 1;
	snprintf(tok, sizeof(tok), "in:%zu", n * sizeof(float));
	vgpu_kernel_parse_arg(tok, strlen(tok), &kc.spec.args[0]);
	vgpu_kernel_parse_arg(tok, strlen(tok), &kc.spec.args[1]);
	snprintf(tok, sizeof(tok), "out:%zu", n * sizeof(float));
	vgpu_kernel_parse_arg(tok, strlen(tok), &kc.spec.args[2]);
	snprintf(tok, sizeof(tok), "u32:%u", n);
	vgpu_kernel_parse_arg(tok, strlen(tok), &kc.spec.args[3]);
	kc.spec.nargs = 4;
	kc.in[0] = a;
	kc.in[1] = b;
	kc.out[2] = out;
	kc.priority = VGPU_PRIO_MEDIUM;
	if ((rc = vgpu_client_open(&c, argv[1], &opts, err, sizeof(err))) != VGPU_CLIENT_OK) {
		fprintf(stderr, "bench-kernel: %s\n", err);
		return 1;
	}
	for (int r = 0; r < reps + 1; r++) {
		double t0 = now_us();
		if ((rc = vgpu_client_kernel(c, &kc, &resp, err, sizeof(err))) != VGPU_CLIENT_OK) {
			fprintf(stderr, "bench-kernel: mediated: %s\n", err);
			return 1;
		}
		if (r > 0) {            /* the first job loads the module into the VM's context */
			t[r - 1] = now_us() - t0;
			e[r - 1] = (double)resp.exec_us;
		}
	}
	if (out[n - 1] != (float)(n - 1) + 1.0f) {
		fprintf(stderr, "bench-kernel: mediated: wrong result %g\n", (double)out[n - 1]);
		return 1;
	}
	double med = median(t, reps), exec = median(e, reps);
	printf("mediated median_us=%.1f exec_us=%.1f\n", med, exec);
	for (int r = 0; r < reps; r++) {
		struct vgpu_request req;
		memset(&req, 0, sizeof(req));
		req.op = VGPU_OP_PING;
		req.priority = VGPU_PRIO_MEDIUM;
		req.output_file = -1;
		double t0 = now_us();
		if (vgpu_client_call(c, &req, NULL, 0, &resp, NULL, NULL, err, sizeof(err)) != VGPU_CLIENT_OK) {
			fprintf(stderr, "bench-kernel: ping: %s\n", err);
			return 1;
		}
		t[r] = now_us() - t0;
	}
	double ping = median(t, reps);
	printf("ping median_us=%.1f\n", ping);
	printf("overhead_us=%.1f over_ping_us=%.1f\n", med - nat, med - ping);
	vgpu_client_close(c);
	return 0;
}
