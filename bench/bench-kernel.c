/* bench-kernel - the `kernel` op's overhead (docs/KERNELS.md, issue 14): the same PTX
 * vadd of N floats timed four ways, REPS times each after one warm-up:
 *   native     cuLaunchKernel + cuCtxSynchronize of the module, loaded once, buffers
 *              kept on the device (the driver API, as src/exec/cuda_module.c loads it,
 *              in a context of this process): the kernel alone;
 *   native_io  the same plus the device work a job needs at least: H2D of both inputs,
 *              the output zeroed (cuMemsetD8), D2H of the output (pageable host memory,
 *              as a plain program would do it);
 *   mediated   vgpu_client_kernel() through a running vgpu-mediator --executor cuda on
 *              DIR/vmN, the client waiting with inotify (module cached in the VM's
 *              context after the warm-up job): PTX and inputs published, buffers
 *              allocated, zeroed, filled, launched, copied back, answer and output read;
 *   ping       vgpu_client_call(ping), the same client on the same directory: what any
 *              request costs through the mediator.
 * Each result is checked (c[i] = a[i] + b[i]), native_io's and mediated's.
 *
 *   bench-kernel DIR/vmN PTX REPS N
 * prints one line: n= reps= native_p50_us= native_p99_us= native_io_p50_us=
 * native_io_p99_us= mediated_p50_us= mediated_p99_us= exec_us= ping_p50_us= ping_p99_us=
 * overhead_us= (mediated p50 - native p50) over_ping_us= (mediated p50 - ping p50).
 * The PTX must hold the entry vadd(in a, in b, out c, u32 n) (tests/gpu/kernels/vadd.ptx).
 * Without a driver it fails at once, saying so (exit 1). make bench runs it on a GPU
 * host (bench/run.sh). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/client_kernel.h"
#include "exec/cuda_module.h"
#include "lib/status.h"
#include "bench_time.h"

struct stat2 {
	double p50, p99;
};

/* p50 and p99 (nearest rank) of N values; sorts V. */
static struct stat2 stats(double *v, int n)
{
	struct stat2 s;
	int i99 = (int)(0.99 * n + 0.999999) - 1;

	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	s.p50 = v[n / 2];
	s.p99 = v[i99 < 0 ? 0 : i99 >= n ? n - 1 : i99];
	return s;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *p;
	long n;

	if (!f || fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0 ||
	    !(p = calloc(1, (size_t)n + 1)) || fread(p, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "bench-kernel: cannot read %s\n", path);
		exit(2);
	}
	fclose(f);
	return p;
}

/* c == a + b for every element? */
static int check(const float *a, const float *b, const float *c, unsigned n, const char *who)
{
	for (unsigned i = 0; i < n; i++)
		if (c[i] != a[i] + b[i]) {
			fprintf(stderr, "bench-kernel: %s: wrong result at %u: %g, expected %g\n", who, i, (double)c[i],
				(double)(a[i] + b[i]));
			return -1;
		}
	return 0;
}

#define CU(what, call)                                                                                  \
	do {                                                                                            \
		CUresult e_ = (call);                                                                   \
		if (e_ != CUDA_SUCCESS) {                                                               \
			fprintf(stderr, "bench-kernel: native: %s: %s\n", what,                         \
				vgpu_cu_strerror(k, e_, err, sizeof(err)));                             \
			return -1;                                                                      \
		}                                                                                       \
	} while (0)

static int native(const char *ptx, int reps, unsigned n, const float *a, const float *b, float *c,
		  struct stat2 *launch, struct stat2 *io)
{
	struct cu_kernels *k;
	struct cu_vmctx *v;
	CUdeviceptr d[3];
	CUmodule mod;
	CUfunction f;
	char err[1024];
	size_t bytes = (size_t)n * sizeof(float), len = (strlen(ptx) + 1 + 7) / 8 * 8;
	char *region = calloc(1, len);
	double *t = calloc((size_t)reps, sizeof(double));
	void *params[4];
	int hit;

	if (!region || !t)
		return -1;
	memcpy(region, ptx, strlen(ptx));   /* the PTX region: text, then NULs to a multiple of 8 */
	if (vgpu_cu_kernels_open(&k, 0, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench-kernel: native: %s\n", err);
		return -1;
	}
	if (vgpu_cu_vm_enter(k, 1, 0, &v, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench-kernel: native: %s\n", err);
		return -1;
	}
	if (vgpu_cu_module_get(k, v, region, len, &mod, &hit, err, sizeof(err)) != CUDA_SUCCESS) {
		fprintf(stderr, "bench-kernel: native: module: %s\n", err);
		return -1;
	}
	CU("cuModuleGetFunction(vadd)", k->api.ModuleGetFunction(&f, mod, "vadd"));
	for (int i = 0; i < 3; i++)
		CU("cuMemAlloc", k->api.MemAlloc(&d[i], bytes));
	CU("cuMemcpyHtoD", k->api.MemcpyHtoD(d[0], a, bytes));
	CU("cuMemcpyHtoD", k->api.MemcpyHtoD(d[1], b, bytes));
	params[0] = &d[0];
	params[1] = &d[1];
	params[2] = &d[2];
	params[3] = &n;
	for (int r = 0; r < reps + 1; r++) {   /* r = 0 warms up */
		double t0 = now_us();
		CU("cuLaunchKernel", k->api.LaunchKernel(f, (n + 255) / 256, 1, 1, 256, 1, 1, 0, NULL, params, NULL));
		CU("cuCtxSynchronize", k->api.CtxSynchronize());
		if (r > 0)
			t[r - 1] = now_us() - t0;
	}
	*launch = stats(t, reps);
	for (int r = 0; r < reps + 1; r++) {
		double t0 = now_us();
		CU("cuMemcpyHtoD", k->api.MemcpyHtoD(d[0], a, bytes));
		CU("cuMemcpyHtoD", k->api.MemcpyHtoD(d[1], b, bytes));
		CU("cuMemsetD8", k->api.MemsetD8(d[2], 0, bytes));
		CU("cuLaunchKernel", k->api.LaunchKernel(f, (n + 255) / 256, 1, 1, 256, 1, 1, 0, NULL, params, NULL));
		CU("cuCtxSynchronize", k->api.CtxSynchronize());
		CU("cuMemcpyDtoH", k->api.MemcpyDtoH(c, d[2], bytes));
		if (r > 0)
			t[r - 1] = now_us() - t0;
	}
	*io = stats(t, reps);
	for (int i = 0; i < 3; i++)
		k->api.MemFree(d[i]);
	vgpu_cu_vm_leave(k);
	vgpu_cu_kernels_close(k);
	free(t);
	free(region);
	return check(a, b, c, n, "native");
}

/* KIND:V parsed by the grammar (lib/kernel_args.h) into A. */
static void arg(struct vgpu_karg *a, const char *kind, unsigned long long v)
{
	char tok[64];

	snprintf(tok, sizeof(tok), "%s:%llu", kind, v);
	if (vgpu_kernel_parse_arg(tok, strlen(tok), a) < 0) {
		fprintf(stderr, "bench-kernel: argument %s refused by the grammar\n", tok);
		exit(2);
	}
}

int main(int argc, char **argv)
{
	struct vgpu_client_opts opts = { .timeout_ms = 60000 };
	struct vgpu_kernel_call kc;
	struct vgpu_response resp;
	struct vgpu_client *c;
	struct stat2 nat, io, med, ex, ping;
	char err[1024], *ptx;
	double *t, *e;
	float *a, *b, *out;
	unsigned n;
	int reps, rc;

	if (argc != 5 || (reps = atoi(argv[3])) < 1 || (n = (unsigned)strtoul(argv[4], NULL, 10)) < 1 ||
	    n > (1u << 28)) {
		fprintf(stderr, "usage: bench-kernel DIR/vmN PTX REPS N   (N 1..2^28)\n");
		return 2;
	}
	a = malloc(n * sizeof(float));
	b = malloc(n * sizeof(float));
	out = malloc(n * sizeof(float));
	t = calloc((size_t)reps, sizeof(double));
	e = calloc((size_t)reps, sizeof(double));
	if (!a || !b || !out || !t || !e)
		return 1;
	for (unsigned i = 0; i < n; i++) {
		a[i] = (float)(i & 0xffff);
		b[i] = 1.0f;
	}
	memset(&kc, 0, sizeof(kc));
	kc.ptx = ptx = slurp(argv[2]);
	if (native(kc.ptx, reps, n, a, b, out, &nat, &io) < 0)
		return 1;

	strcpy(kc.spec.entry, "vadd");
	kc.spec.grid[0] = (n + 255) / 256;
	kc.spec.block[0] = 256;
	kc.spec.grid[1] = kc.spec.grid[2] = kc.spec.block[1] = kc.spec.block[2] = 1;
	arg(&kc.spec.args[0], "in", (unsigned long long)n * sizeof(float));
	arg(&kc.spec.args[1], "in", (unsigned long long)n * sizeof(float));
	arg(&kc.spec.args[2], "out", (unsigned long long)n * sizeof(float));
	arg(&kc.spec.args[3], "u32", n);
	kc.spec.nargs = 4;
	kc.in[0] = a;
	kc.in[1] = b;
	kc.out[2] = out;
	kc.priority = VGPU_PRIO_MEDIUM;
	if ((rc = vgpu_client_open(&c, argv[1], &opts, err, sizeof(err))) != VGPU_CLIENT_OK) {
		fprintf(stderr, "bench-kernel: %s\n", err);
		return 1;
	}
	vgpu_client_set_wait(c, VGPU_CLIENT_WAIT_INOTIFY);   /* as bench-mediated inotify: no polling interval */
	for (int r = 0; r < reps + 1; r++) {
		double t0 = now_us();
		memset(out, 0xff, n * sizeof(float));
		if ((rc = vgpu_client_kernel(c, &kc, &resp, err, sizeof(err))) != VGPU_CLIENT_OK) {
			fprintf(stderr, "bench-kernel: mediated: %s\n", err);
			return 1;
		}
		if (r > 0) {            /* the first job loads the module into the VM's context */
			t[r - 1] = now_us() - t0;
			e[r - 1] = (double)resp.exec_us;
		}
	}
	if (check(a, b, out, n, "mediated") < 0)
		return 1;
	med = stats(t, reps);
	ex = stats(e, reps);
	for (int r = 0; r < reps + 1; r++) {
		struct vgpu_request req;
		double t0;

		memset(&req, 0, sizeof(req));
		req.op = VGPU_OP_PING;
		req.priority = VGPU_PRIO_MEDIUM;
		req.output_file = -1;
		t0 = now_us();
		if (vgpu_client_call(c, &req, NULL, 0, &resp, NULL, NULL, err, sizeof(err)) != VGPU_CLIENT_OK) {
			fprintf(stderr, "bench-kernel: ping: %s\n", err);
			return 1;
		}
		if (r > 0)
			t[r - 1] = now_us() - t0;
	}
	ping = stats(t, reps);
	printf("n=%u reps=%d native_p50_us=%.1f native_p99_us=%.1f native_io_p50_us=%.1f native_io_p99_us=%.1f "
	       "mediated_p50_us=%.1f mediated_p99_us=%.1f exec_us=%.1f ping_p50_us=%.1f ping_p99_us=%.1f "
	       "overhead_us=%.1f over_ping_us=%.1f\n",
	       n, reps, nat.p50, nat.p99, io.p50, io.p99, med.p50, med.p99, ex.p50, ping.p50, ping.p99,
	       med.p50 - nat.p50, med.p50 - ping.p50);
	vgpu_client_close(c);
	free(ptx);
	free(a);
	free(b);
	free(out);
	free(t);
	free(e);
	return 0;
}
