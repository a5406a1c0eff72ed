/* cuda_module.c - the driver API at run time, one CUDA context per VM, and a module
 * cache in each (cuda_module.h, docs/KERNELS.md section 4). */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_module.h"
#include "../lib/env.h"
#include "../lib/kernel_args.h"

static void errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

uint64_t vgpu_cu_hash(const void *p, size_t len)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

const char *vgpu_cu_strerror(const struct cu_kernels *k, CUresult e, char *buf, size_t len)
{
	const char *name = NULL, *text = NULL;

	if (k && k->api.GetErrorName)
		k->api.GetErrorName(e, &name);
	if (k && k->api.GetErrorString)
		k->api.GetErrorString(e, &text);
	snprintf(buf, len, "%s (%d): %s", name ? name : "CUDA_ERROR_?", (int)e, text ? text : "?");
	return buf;
}

#define SYM(field, name, required)                                                            \
	do {                                                                                  \
		*(void **)(&a->field) = dlsym(a->lib, name);                                  \
		if (!a->field && (required)) {                                                \
			errf(err, errlen, "libcuda.so.1 has no %s: driver too old?", name);   \
			return -1;                                                            \
		}                                                                             \
	} while (0)

static int load_api(struct cu_api *a, char *err, size_t errlen)
{
	a->lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!a->lib) {
		errf(err, errlen, "dlopen(libcuda.so.1): %s", dlerror());
		return -1;
	}
	SYM(Init, "cuInit", 1);
	SYM(DeviceGet, "cuDeviceGet", 1);
	SYM(CtxCreate, "cuCtxCreate_v2", 1);
	SYM(CtxDestroy, "cuCtxDestroy_v2", 1);
	SYM(CtxPushCurrent, "cuCtxPushCurrent_v2", 1);
	SYM(CtxPopCurrent, "cuCtxPopCurrent_v2", 1);
	SYM(CtxSynchronize, "cuCtxSynchronize", 1);
	SYM(ModuleLoadDataEx, "cuModuleLoadDataEx", 1);
	SYM(ModuleUnload, "cuModuleUnload", 1);
	SYM(ModuleGetFunction, "cuModuleGetFunction", 1);
	SYM(FuncGetParamInfo, "cuFuncGetParamInfo", 0);
	SYM(LaunchKernel, "cuLaunchKernel", 1);
	SYM(MemAlloc, "cuMemAlloc_v2", 1);
	SYM(MemFree, "cuMemFree_v2", 1);
	SYM(MemsetD8, "cuMemsetD8_v2", 1);
	SYM(MemcpyHtoD, "cuMemcpyHtoD_v2", 1);
	SYM(MemcpyDtoH, "cuMemcpyDtoH_v2", 1);
	SYM(GetErrorName, "cuGetErrorName", 1);
	SYM(GetErrorString, "cuGetErrorString", 1);
	SYM(MemHostRegister, "cuMemHostRegister_v2", 0);
	SYM(MemHostUnregister, "cuMemHostUnregister", 0);
	return 0;
}

int vgpu_cu_kernels_open(struct cu_kernels **kp, int dev, char *err, size_t errlen)
{
	struct cu_kernels *k = calloc(1, sizeof(*k));
	char why[160];
	CUresult e;

	*kp = NULL;
	if (!k) {
		errf(err, errlen, "out of memory");
		return -1;
	}
	if (load_api(&k->api, err, errlen) < 0)
		goto fail;
	if ((e = k->api.Init(0)) != CUDA_SUCCESS) {
		errf(err, errlen, "cuInit: %s", vgpu_cu_strerror(k, e, why, sizeof(why)));
		goto fail;
	}
	if ((e = k->api.DeviceGet(&k->dev, dev)) != CUDA_SUCCESS) {
		errf(err, errlen, "cuDeviceGet(%d): %s", dev, vgpu_cu_strerror(k, e, why, sizeof(why)));
		goto fail;
	}
	k->max_ctxs = (unsigned)vgpu_env_u64("VGPU_KERNEL_CTXS", VGPU_KERNEL_CTXS_DEFAULT, 1, VGPU_KERNEL_CTXS_MAX);
	k->idle_ms = vgpu_env_u64("VGPU_KERNEL_CTX_IDLE_MS", VGPU_KERNEL_CTX_IDLE_DEFAULT, 0, UINT64_MAX);
	*kp = k;
	return 0;
fail:
	if (k->api.lib)
		dlclose(k->api.lib);
	free(k);
	return -1;
}

static void mod_free(struct cu_kernels *k, struct cu_module *m)
{
	if (m->ptx && m->mod)
		k->api.ModuleUnload(m->mod);
	free(m->ptx);
	memset(m, 0, sizeof(*m));
}

void vgpu_cu_vm_drop(struct cu_kernels *k, struct cu_vmctx *v)
{
	if (!v->vm)
		return;
	/* Destroying the context unloads its modules and frees its buffers (the kept ones
	 * too: the memset below forgets them). */
	for (int i = 0; i < VGPU_KERNEL_MODULES; i++) {
		free(v->mods[i].ptx);
		v->mods[i].ptx = NULL;
	}
	vgpu_cu_host_forget(k, v);
	if (v->ctx)
		k->api.CtxDestroy(v->ctx);
	memset(v, 0, sizeof(*v));
	k->ctx_dropped++;
}

CUresult vgpu_cu_vm_bufs(struct cu_kernels *k, struct cu_vmctx *v, uint32_t nargs, const size_t *bytes,
			 CUdeviceptr *ptr, uint64_t *fresh, uint32_t *failed_arg, const char **what)
{
	CUresult e;
	uint32_t i;

	*fresh = 0;
	/* first the frees: the VM never holds more than max(kept, this job's) */
	for (i = 0; i < VGPU_KERNEL_ARGS_MAX; i++) {
		struct cu_kbuf *b = &v->bufs[i];
		if (!b->p || (i < nargs && bytes[i] == b->bytes))
			continue;
		e = k->api.MemFree(b->p);
		b->p = 0;
		b->bytes = 0;
		if (e != CUDA_SUCCESS) {
			*failed_arg = i;
			*what = "cuMemFree";
			return e;
		}
	}
	for (i = 0; i < nargs; i++) {
		struct cu_kbuf *b = &v->bufs[i];
		ptr[i] = 0;
		if (!bytes[i])
			continue;
		if (!b->p) {
			if ((e = k->api.MemAlloc(&b->p, bytes[i])) != CUDA_SUCCESS) {
				b->p = 0;
				*failed_arg = i;
				*what = "cuMemAlloc";
				return e;
			}
			b->bytes = bytes[i];
			*fresh |= UINT64_C(1) << i;
			k->buf_allocs++;
		} else {
			k->buf_reuses++;
		}
		ptr[i] = b->p;
	}
	return CUDA_SUCCESS;
}

unsigned vgpu_cu_bufs_kept(const struct cu_kernels *k)
{
	unsigned n = 0;

	for (unsigned i = 0; k && i < VGPU_KERNEL_CTXS_MAX; i++)
		for (unsigned b = 0; b < VGPU_KERNEL_ARGS_MAX; b++)
			n += k->vms[i].bufs[b].p != 0;
	return n;
}

void vgpu_cu_kernels_close(struct cu_kernels *k)
{
	if (!k)
		return;
	for (unsigned i = 0; i < VGPU_KERNEL_CTXS_MAX; i++)
		vgpu_cu_vm_drop(k, &k->vms[i]);
	if (k->api.lib)
		dlclose(k->api.lib);
	free(k);
}

/* How a synchronous call waits for the device in a VM's context: the driver's default
 * (CU_CTX_SCHED_AUTO: spin while the host has more cores than active contexts, as the
 * device's worker does through the runtime), or VGPU_KERNEL_CTX_SCHED=blocking (sleep
 * until the device's interrupt: no core spent waiting, each wait's wake-up later). */
static unsigned ctx_sched(void)
{
	const char *v = getenv("VGPU_KERNEL_CTX_SCHED");

	return v && strcmp(v, "blocking") == 0 ? CU_CTX_SCHED_BLOCKING_SYNC : CU_CTX_SCHED_AUTO;
}

int vgpu_cu_vm_enter(struct cu_kernels *k, uint32_t vm, uint64_t now_ms, struct cu_vmctx **vp, char *err,
		     size_t errlen)
{
	struct cu_vmctx *v = NULL, *lru = NULL, *freev = NULL;
	char why[160];
	CUresult e;

	*vp = NULL;
	/* Reap the idle ones (never the asking VM's), find the VM's, a free slot, the LRU. */
	for (unsigned i = 0; i < k->max_ctxs; i++) {
		struct cu_vmctx *c = &k->vms[i];
		if (c->vm && c->vm != vm && now_ms - c->used_ms > k->idle_ms) {
			vgpu_cu_vm_drop(k, c);
			k->ctx_reaped++;
		}
		if (c->vm == vm && vm)
			v = c;
		else if (!c->vm && !freev)
			freev = c;
		else if (c->vm && (!lru || c->used < lru->used))
			lru = c;
	}
	if (!v) {
		if (!freev) {
			vgpu_cu_vm_drop(k, lru);
			k->ctx_evicted++;
			freev = lru;
		}
		v = freev;
		/* cuCtxCreate makes the new context current: pop it, push it below. */
		if ((e = k->api.CtxCreate(&v->ctx, ctx_sched(), k->dev)) != CUDA_SUCCESS) {
			errf(err, errlen, "cuCtxCreate for vm%u: %s", vm, vgpu_cu_strerror(k, e, why, sizeof(why)));
			memset(v, 0, sizeof(*v));
			return -1;
		}
		CUcontext popped;
		k->api.CtxPopCurrent(&popped);
		v->vm = vm;
		k->ctx_created++;
	}
	if ((e = k->api.CtxPushCurrent(v->ctx)) != CUDA_SUCCESS) {
		errf(err, errlen, "cuCtxPushCurrent for vm%u: %s", vm, vgpu_cu_strerror(k, e, why, sizeof(why)));
		vgpu_cu_vm_drop(k, v);
		return -1;
	}
	v->used = ++k->clock;
	v->used_ms = now_ms;
	*vp = v;
	return 0;
}

void vgpu_cu_vm_leave(struct cu_kernels *k)
{
	CUcontext popped;

	k->api.CtxPopCurrent(&popped);
}

/* The log with its newlines shown as " | " and no trailing blanks, into OUT. */
static void one_line(const char *log, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; log[i] && o + 4 < outlen; i++) {
		if (log[i] == '\n' || log[i] == '\r') {
			if (o > 0 && log[i + 1] && log[i + 1] != '\n') {
				memcpy(out + o, " | ", 3);
				o += 3;
			}
		} else if ((unsigned char)log[i] >= 0x20 && (unsigned char)log[i] < 0x7f) {
			out[o++] = log[i];
		}
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

/* The error log ELOG (NUL-terminated, at most VGPU_KERNEL_LOG_MAX + 1 bytes: one more
 * than the cap says it is longer) into FULL (FULLCAP bytes), cut with VGPU_KERNEL_LOG_CUT
 * when it does not fit. Returns the bytes put there. */
static size_t whole_log(const char *elog, char *full, size_t fullcap)
{
	size_t n = strnlen(elog, VGPU_KERNEL_LOG_MAX + 1), cut = sizeof(VGPU_KERNEL_LOG_CUT) - 1;

	if (fullcap > VGPU_KERNEL_LOG_MAX)
		fullcap = VGPU_KERNEL_LOG_MAX;
	if (n <= fullcap) {
		memcpy(full, elog, n);
		return n;
	}
	if (fullcap < cut)
		return 0;
	memcpy(full, elog, fullcap - cut);
	memcpy(full + fullcap - cut, VGPU_KERNEL_LOG_CUT, cut);
	return fullcap;
}

CUresult vgpu_cu_module_get(struct cu_kernels *k, struct cu_vmctx *v, const char *ptx, size_t len, CUmodule *mod,
			    int *hit, char *log, size_t loglen)
{
	return vgpu_cu_module_get_log(k, v, ptx, len, mod, hit, log, loglen, NULL, 0, NULL);
}

CUresult vgpu_cu_module_get_log(struct cu_kernels *k, struct cu_vmctx *v, const char *ptx, size_t len,
				CUmodule *mod, int *hit, char *log, size_t loglen, char *full, size_t fullcap,
				size_t *fulllen)
{
	/* The cap, one byte to tell a longer log, the NUL. */
	const size_t ecap = VGPU_KERNEL_LOG_MAX + 2;
	uint64_t h = vgpu_cu_hash(ptx, len);
	struct cu_module *slot = NULL;
	char *elog, *ilog, *copy;
	CUjit_option opt[5];
	void *val[5];
	CUresult e;

	*hit = 0;
	if (log && loglen)
		log[0] = '\0';
	if (fulllen)
		*fulllen = 0;
	for (int i = 0; i < VGPU_KERNEL_MODULES; i++) {
		struct cu_module *m = &v->mods[i];
		if (m->ptx && m->hash == h && m->len == len && memcmp(m->ptx, ptx, len) == 0) {
			m->used = ++k->clock;
			*mod = m->mod;
			*hit = 1;
			k->mod_hits++;
			return CUDA_SUCCESS;
		}
		if (!slot || (slot->ptx && (!m->ptx || m->used < slot->used)))
			slot = m;
	}
	elog = calloc(1, ecap + 1);
	ilog = calloc(1, VGPU_KERNEL_LOG_BYTES);
	copy = malloc(len);
	if (!elog || !ilog || !copy) {
		free(elog);
		free(ilog);
		free(copy);
		errf(log, loglen, "out of memory for the JIT logs");
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	opt[0] = CU_JIT_ERROR_LOG_BUFFER;             val[0] = elog;
	opt[1] = CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES;  val[1] = (void *)(uintptr_t)ecap;
	opt[2] = CU_JIT_INFO_LOG_BUFFER;              val[2] = ilog;
	opt[3] = CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES;   val[3] = (void *)(uintptr_t)VGPU_KERNEL_LOG_BYTES;
	opt[4] = CU_JIT_LOG_VERBOSE;                  val[4] = (void *)(uintptr_t)0;
	e = k->api.ModuleLoadDataEx(mod, ptx, 5, opt, val);
	if (e != CUDA_SUCCESS) {
		char why[160];
		elog[ecap] = '\0';
		if (elog[0])
			one_line(elog, log, loglen);
		else
			vgpu_cu_strerror(k, e, why, sizeof(why)), errf(log, loglen, "%s", why);
		if (elog[0] && full && fulllen)
			*fulllen = whole_log(elog, full, fullcap);
		free(elog);
		free(ilog);
		free(copy);
		return e;
	}
	free(elog);
	free(ilog);
	if (slot->ptx)
		mod_free(k, slot);
	memcpy(copy, ptx, len);
	slot->ptx = copy;
	slot->hash = h;
	slot->len = len;
	slot->mod = *mod;
	slot->used = ++k->clock;
	k->mod_loads++;
	return CUDA_SUCCESS;
}
