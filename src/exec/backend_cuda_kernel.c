/* backend_cuda_kernel.c - one `kernel` job on the device (docs/KERNELS.md section 4):
 * the PTX region checked, the VM's own context entered (cuda_module.c), the module from
 * its cache or the JIT (its log answered as BAD_KERNEL), the entry point and its
 * parameters checked, the buffers in the VM's context (kept from its last job where the
 * size fits, cuda_module.c), each zeroed or filled whole by its input, the launch, then
 * the outputs copied back.
 * A device fault (sticky in CUDA) answers KERNEL_FAULT and destroys the VM's context;
 * the worker's own context, where the other ops run, is checked after it. Every driver
 * call's result is checked and named in the answer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_cuda_kernel.h"
#include "cuda_int.h"
#include "cuda_module.h"
#include "../lib/clock.h"
#include "../lib/env.h"
#include "../lib/kernel_args.h"
#include "../lib/status.h"

#define VM_BUDGET_DEFAULT (UINT64_C(4) << 30)   /* device bytes of one job's buffers */
#define KEEP_DEFAULT (UINT64_C(256) << 20)      /* device bytes kept for the VM's next job */

struct kjob {
	struct cu_kernels *k;
	struct vgpu_job_result *res;
	CUresult err;            /* the first failed call's result */
	int fault;               /* the context took a sticky error */
};

/* Errors after which the context is unusable (CUDA's "sticky" errors): the kernel
 * faulted. */
static int is_fault(CUresult e)
{
	switch (e) {
	case CUDA_ERROR_ILLEGAL_ADDRESS:
	case CUDA_ERROR_MISALIGNED_ADDRESS:
	case CUDA_ERROR_INVALID_ADDRESS_SPACE:
	case CUDA_ERROR_INVALID_PC:
	case CUDA_ERROR_ILLEGAL_INSTRUCTION:
	case CUDA_ERROR_HARDWARE_STACK_ERROR:
	case CUDA_ERROR_ASSERT:
	case CUDA_ERROR_LAUNCH_FAILED:
	case CUDA_ERROR_LAUNCH_TIMEOUT:
		return 1;
	default:
		return 0;
	}
}

/* Record a failed driver call WHAT with STATUS (the first failure wins). 0 when E is
 * success, -1 otherwise, so that calls chain with ||. */
static int check(struct kjob *j, CUresult e, int status, const char *what)
{
	char why[160];

	if (e == CUDA_SUCCESS)
		return 0;
	if (is_fault(e)) {
		j->fault = 1;
		status = VGPU_KERNEL_FAULT;
	}
	if (j->err == CUDA_SUCCESS) {
		j->err = e;
		vgpu_job_result_set(j->res, status, "%s: %s", what, vgpu_cu_strerror(j->k, e, why, sizeof(why)));
	}
	return -1;
}

/* The per-VM device budget (VGPU_KERNEL_VM_BUDGET, 1..) and the most a job's buffers may
 * hold and still be kept for the VM's next job (VGPU_KERNEL_KEEP_BYTES; 0: none kept: an
 * idle kernel worker holds no more). Read at each job; a bad value: the default, warned. */
static uint64_t budget(void)
{
	return vgpu_env_u64("VGPU_KERNEL_VM_BUDGET", VM_BUDGET_DEFAULT, 1, UINT64_MAX);
}

static uint64_t keep_max(void)
{
	return vgpu_env_u64("VGPU_KERNEL_KEEP_BYTES", KEEP_DEFAULT, 0, UINT64_MAX);
}

/* Test builds only: VGPU_KERNEL_TEST_NO_ZERO=1 leaves buffers as the driver hands them
 * out, the naive control of tests/gpu/kernel.sh's KERNEL-ZERO (release builds: never). */
static int test_no_zero(void)
{
#ifndef VGPU_NO_TEST_OPS
	const char *v = getenv("VGPU_KERNEL_TEST_NO_ZERO");
	return v && strcmp(v, "1") == 0;
#else
	return 0;
#endif
}

/* The parameter list against the kernel's, where the driver can tell (12.4+). */
static int check_params(struct kjob *j, CUfunction f, const struct vgpu_kernel_args *ka)
{
	size_t off, size;
	CUresult e;

	if (!j->k->api.FuncGetParamInfo)
		return 0;
	for (uint32_t i = 0; i < ka->nargs; i++) {
		uint32_t kind = ka->args[i].kind;
		size_t want = kind == VGPU_KARG_I32 || kind == VGPU_KARG_U32 || kind == VGPU_KARG_F32 ? 4 : 8;
		e = j->k->api.FuncGetParamInfo(f, i, &off, &size);
		if (e == CUDA_ERROR_INVALID_VALUE) {
			vgpu_job_result_set(j->res, VGPU_BAD_KERNEL, "entry %s takes %u parameters; args gives %u",
					    ka->entry, i, ka->nargs);
			return -1;
		}
		if (e != CUDA_SUCCESS)
			return 0;     /* the driver cannot tell: the launch decides */
		if (size != want) {
			vgpu_job_result_set(j->res, VGPU_BAD_KERNEL, "entry %s: parameter %u is %zu bytes; args gives %s "
					    "(%zu bytes)", ka->entry, i, size,
					    vgpu_karg_kind_name((enum vgpu_karg_kind)kind), want);
			return -1;
		}
	}
	e = j->k->api.FuncGetParamInfo(f, ka->nargs, &off, &size);
	if (e == CUDA_SUCCESS) {
		uint32_t n = ka->nargs + 1;
		while (n < 4096 && j->k->api.FuncGetParamInfo(f, n, &off, &size) == CUDA_SUCCESS)
			n++;
		vgpu_job_result_set(j->res, VGPU_BAD_KERNEL, "entry %s takes %u parameters; args gives %u", ka->entry,
				    n, ka->nargs);
		return -1;
	}
	return 0;
}

/* VGPU_CUDA_PHASES=1 (as the cuda backend's, cuda_phases.c): one "vgpu-kernel-phases:"
 * line per job on the worker's stderr, host clock of each step. */
enum kphase { KP_ENTER, KP_PIN, KP_MODULE, KP_ALLOC, KP_ZERO, KP_H2D, KP_EXEC, KP_D2H, KP_LEAVE, KP_SUMMARY,
	      KP_COUNT };
static const char *const kphase_name[KP_COUNT] = { "enter", "pin", "module", "alloc", "zero", "h2d", "exec",
						   "d2h", "leave", "summary" };

static int phases_on(void)
{
	static int on = -1;

	if (on < 0) {
		const char *v = getenv("VGPU_CUDA_PHASES");
		on = v && strcmp(v, "1") == 0;
	}
	return on;
}

/* The time since *T into phase P of PH, *T moved on (phases on only). */
static void kp_mark(uint64_t *ph, enum kphase p, uint64_t *t)
{
	uint64_t now;

	if (!phases_on())
		return;
	now = vgpu_now_us();
	ph[p] += now - *t;
	*t = now;
}

/* In the VM's context (current): buffers (the VM's kept ones, cuda_module.c), launch,
 * outputs. A buffer that no input fills is zeroed (cuMemsetD8); one that an input fills
 * is written whole by its cuMemcpyHtoD before the kernel sees it. */
static void run_in_ctx(struct kjob *j, const struct vgpu_job *job, CUfunction f, const char *in, char *out,
		       uint64_t *exec_us, struct cu_vmctx *v, uint64_t *ph, uint64_t *t, uint64_t *fresh)
{
	const struct vgpu_kernel_args *ka = &job->args.kernel;
	uint64_t in_off[VGPU_KERNEL_ARGS_MAX], out_off[VGPU_KERNEL_ARGS_MAX];
	CUdeviceptr dptr[VGPU_KERNEL_ARGS_MAX] = { 0 };
	size_t bytes[VGPU_KERNEL_ARGS_MAX] = { 0 };
	union { CUdeviceptr p; int32_t i32; uint32_t u32; int64_t i64; float f32; double f64; } val[VGPU_KERNEL_ARGS_MAX];
	void *params[VGPU_KERNEL_ARGS_MAX + 1];
	struct cu_api *a = &j->k->api;
	const char *call = "";
	char what[64];
	uint32_t i, bad = 0;
	uint64_t t0;
	CUresult e;

	vgpu_kernel_layout(ka, in_off, out_off, NULL, NULL);   /* checked by the parser */
	memset(val, 0, sizeof(val));
	for (i = 0; i < ka->nargs; i++) {
		const struct vgpu_karg *g = &ka->args[i];
		params[i] = &val[i];
		switch (g->kind) {
		case VGPU_KARG_I32: val[i].i32 = (int32_t)g->v.i; continue;
		case VGPU_KARG_U32: val[i].u32 = (uint32_t)g->v.u; continue;
		case VGPU_KARG_I64: val[i].i64 = g->v.i; continue;
		case VGPU_KARG_F32: val[i].f32 = (float)g->v.d; continue;
		case VGPU_KARG_F64: val[i].f64 = g->v.d; continue;
		default: bytes[i] = (size_t)g->v.bytes; break;
		}
	}
	params[ka->nargs] = NULL;
	/* the buffers: in this VM's context, kept from its last job where the size fits */
	e = vgpu_cu_vm_bufs(j->k, v, ka->nargs, bytes, dptr, fresh, &bad, &call);
	if (e != CUDA_SUCCESS) {
		snprintf(what, sizeof(what), "%s(arg %u, %zu bytes)", call, bad, bytes[bad]);
		check(j, e, VGPU_EXEC_FAILED, what);
		return;
	}
	kp_mark(ph, KP_ALLOC, t);
	for (i = 0; i < ka->nargs; i++) {
		if (!bytes[i])
			continue;
		val[i].p = dptr[i];
		if (in_off[i] != UINT64_MAX || test_no_zero())
			continue;
		snprintf(what, sizeof(what), "cuMemsetD8(arg %u)", i);
		if (check(j, a->MemsetD8(dptr[i], 0, bytes[i]), VGPU_EXEC_FAILED, what))
			return;
	}
	kp_mark(ph, KP_ZERO, t);
	for (i = 0; i < ka->nargs; i++) {
		if (!bytes[i] || in_off[i] == UINT64_MAX)
			continue;
		snprintf(what, sizeof(what), "cuMemcpyHtoD(arg %u)", i);
		if (check(j, a->MemcpyHtoD(dptr[i], in + in_off[i], bytes[i]), VGPU_EXEC_FAILED, what))
			return;
	}
	kp_mark(ph, KP_H2D, t);
	t0 = vgpu_now_us();
	if (check(j, a->LaunchKernel(f, ka->grid[0], ka->grid[1], ka->grid[2], ka->block[0], ka->block[1], ka->block[2],
				     (unsigned)ka->shared, NULL, ka->nargs ? params : NULL, NULL),
		  VGPU_BAD_KERNEL, "cuLaunchKernel") ||
	    check(j, a->CtxSynchronize(), VGPU_EXEC_FAILED, "kernel"))
		return;
	*exec_us = vgpu_now_us() - t0;
	kp_mark(ph, KP_EXEC, t);
	for (i = 0; i < ka->nargs; i++) {
		if (out_off[i] == UINT64_MAX)
			continue;
		snprintf(what, sizeof(what), "cuMemcpyDtoH(arg %u)", i);
		if (check(j, a->MemcpyDtoH(out + out_off[i], dptr[i], bytes[i]), VGPU_EXEC_FAILED, what))
			return;
	}
	kp_mark(ph, KP_D2H, t);
}

int vgpu_cu_kernel_job(void **kernels, int dev, const struct vgpu_job *job, struct vgpu_job_result *res)
{
	const struct vgpu_kernel_args *ka = &job->args.kernel;
	struct kjob j = { .res = res, .err = CUDA_SUCCESS, .fault = 0 };
	uint64_t in_bytes, out_bytes, bufs = 0, exec_us = 0, ph[KP_COUNT] = { 0 }, t = 0, t_start = 0, fresh = 0, lim;
	struct cu_vmctx *v = NULL;
	char why[256], log[256];
	size_t full = 0;
	char *out = NULL;
	CUmodule mod;
	CUfunction f;
	int hit = 0, rc = 0, pinned = 0;
	CUresult e;

	if (vgpu_kernel_check(ka, why, sizeof(why)) < 0 ||
	    vgpu_kernel_layout(ka, NULL, NULL, &in_bytes, &out_bytes) < 0) {
		vgpu_job_result_set(res, VGPU_EXEC_FAILED, "bad job: %s", why);
		return 0;
	}
	if (!job->in || (uint64_t)job->in_count * sizeof(float) < in_bytes ||
	    (uint64_t)job->out_count * sizeof(float) < out_bytes) {
		vgpu_job_result_set(res, VGPU_EXEC_FAILED, "bad job: input or output smaller than the kernel's buffers");
		return 0;
	}
	if (vgpu_kernel_ptx_check((const char *)job->in, (size_t)ka->ptx, why, sizeof(why)) < 0) {
		vgpu_job_result_set(res, VGPU_BAD_KERNEL, "%s", why);
		return 0;
	}
	for (uint32_t i = 0; i < ka->nargs; i++)
		if (vgpu_karg_is_buffer(ka->args[i].kind))
			bufs += ka->args[i].v.bytes;
	if (bufs > (lim = budget())) {
		vgpu_job_result_set(res, VGPU_TOO_LARGE, "kernel buffers of %llu bytes are over the per-VM device "
				    "budget of %llu (VGPU_KERNEL_VM_BUDGET)", (unsigned long long)bufs,
				    (unsigned long long)lim);
		return 0;
	}
	/* The output: the job's, or (summary only) one of our own. */
	if (out_bytes) {
		out = job->out ? (char *)job->out : malloc((size_t)out_bytes);
		if (!out) {
			vgpu_job_result_set(res, VGPU_EXEC_FAILED, "out of memory for %llu output bytes",
					    (unsigned long long)out_bytes);
			return 0;
		}
	}
	if (phases_on())
		t = t_start = vgpu_now_us();
	if (!*kernels && vgpu_cu_kernels_open((struct cu_kernels **)kernels, dev, why, sizeof(why)) < 0) {
		vgpu_job_result_set(res, VGPU_EXEC_FAILED, "kernel op: %s", why);
		goto done;
	}
	j.k = *kernels;
	/* The context's key: the VM; a job without one (a test or bench driving the pool
	 * directly) gets a key of its own outside the VMs' range. */
	if (vgpu_cu_vm_enter(j.k, ka->vm ? ka->vm : VGPU_VM_MAX + 1, vgpu_now_ms(), &v, why, sizeof(why)) < 0) {
		vgpu_job_result_set(res, VGPU_EXEC_FAILED, "%s", why);
		goto done;
	}
	kp_mark(ph, KP_ENTER, &t);
	/* a kernel worker's payload buffers: registered once, by the first job (here) */
	vgpu_cu_host_pin(j.k, v);
	pinned = vgpu_cu_host_is_pinned(j.k, v, job->in, (size_t)in_bytes) +
		 (out_bytes && out == (char *)job->out && vgpu_cu_host_is_pinned(j.k, v, out, (size_t)out_bytes));
	kp_mark(ph, KP_PIN, &t);
	e = vgpu_cu_module_get_log(j.k, v, (const char *)job->in, (size_t)ka->ptx, &mod, &hit, log, sizeof(log),
			       job->log, job->log ? job->log_cap : 0, &full);
	if (e != CUDA_SUCCESS) {
		/* the start on one line (room left for the mediator to name the whole log) */
		vgpu_job_result_set(res, e == CUDA_ERROR_OUT_OF_MEMORY ? VGPU_EXEC_FAILED : VGPU_BAD_KERNEL, "JIT: %.190s",
				    log);
		if (res->status == VGPU_BAD_KERNEL)
			res->log_bytes = full;
		j.fault = is_fault(e);
		goto leave;
	}
	e = j.k->api.ModuleGetFunction(&f, mod, ka->entry);
	if (e == CUDA_ERROR_NOT_FOUND) {
		vgpu_job_result_set(res, VGPU_BAD_KERNEL, "entry %s is not in the module", ka->entry);
		goto leave;
	}
	if (check(&j, e, VGPU_BAD_KERNEL, "cuModuleGetFunction") || check_params(&j, f, ka) < 0)
		goto leave;
	kp_mark(ph, KP_MODULE, &t);
	run_in_ctx(&j, job, f, (const char *)job->in, out, &exec_us, v, ph, &t, &fresh);
	if (!j.fault && bufs > keep_max()) {
		/* too large to hold while the VM is idle: freed now (none wanted) */
		CUdeviceptr none[1];
		const char *call = "";
		uint32_t bad = 0;
		uint64_t fr;
		e = vgpu_cu_vm_bufs(j.k, v, 0, NULL, none, &fr, &bad, &call);
		if (e != CUDA_SUCCESS && res->status == VGPU_OK)
			vgpu_job_result_set(res, VGPU_EXEC_FAILED, "%s(arg %u) failed", call, bad);
	}
leave:
	vgpu_cu_vm_leave(j.k);
	kp_mark(ph, KP_LEAVE, &t);
	if (j.fault) {
		/* Sticky: only a new context is usable. Ours goes; the VM's next job gets a new
		 * one (in the VM's kernel worker: a new process, docs/KERNELS.md). */
		vgpu_cu_vm_drop(j.k, v);
		rc = 1;
	}
done:
	res->exec_us = exec_us;
	if (res->status == VGPU_OK && out_bytes) {
		vgpu_summarize((const float *)(const void *)out, (size_t)(out_bytes / sizeof(float)), &res->summary);
		res->has_summary = 1;
	}
	kp_mark(ph, KP_SUMMARY, &t);
	if (phases_on() && v) {
		char line[512];
		int n = snprintf(line, sizeof(line), "vgpu-kernel-phases: vm=%u entry=%s status=%s in_bytes=%llu "
				 "out_bytes=%llu module_hit=%d bufs_new=%d host_pinned=%d", ka->vm, ka->entry,
				 vgpu_status_name(res->status), (unsigned long long)in_bytes, (unsigned long long)out_bytes, hit,
				 __builtin_popcountll(fresh), pinned);
		for (int p = 0; p < KP_COUNT && n > 0 && (size_t)n < sizeof(line); p++)
			n += snprintf(line + n, sizeof(line) - (size_t)n, " %s_us=%llu", kphase_name[p],
				      (unsigned long long)ph[p]);
		fprintf(stderr, "%s total_us=%llu\n", line, (unsigned long long)(vgpu_now_us() - t_start));
	}
	if (out && out != (char *)job->out)
		free(out);
	return rc;
}

int vgpu_cuda_kernel_run(struct cuda_ctx *cx, const struct vgpu_job *job, struct vgpu_job_result *res)
{
	if (vgpu_cu_kernel_job(&cx->kernels, cx->dev, job, res) == 0)
		return 0;
	/* The worker's primary context must still answer, else the worker restarts. */
	if (vgpu_cuda_context_broken(cx)) {
		size_t len = strlen(res->error);
		snprintf(res->error + len, sizeof(res->error) - len, "; worker context unusable, worker restarts");
		return -1;
	}
	return 0;
}

void vgpu_cu_kernel_close(void **kernels)
{
	vgpu_cu_kernels_close(*kernels);
	*kernels = NULL;
}

void vgpu_cuda_kernel_fini(struct cuda_ctx *cx)
{
	vgpu_cu_kernels_close(cx->kernels);
	cx->kernels = NULL;
}
