/* fake_libcuda.c - a stand-in libcuda.so.1 for test_cuda_kernel_fake.c: the driver API
 * entry points the kernel op uses (src/exec/cuda_module.c), over host memory, so that its
 * control flow runs on machines without a GPU: contexts on a per-thread stack, memory
 * handed out full of 0xa5 bytes (what a driver may leave: the zeroing must be ours), a
 * JIT that rejects "frobnicate" with a ptxas-like log, parameter info for the test
 * kernels, and launches of them done on the CPU. "oob" makes its context take a sticky
 * CUDA_ERROR_ILLEGAL_ADDRESS, as a real fault does; "wild" makes every context of the
 * process take it (what the H200 showed: after a VM context's fault the worker's own
 * context was unusable too, docs/reports/check-gpu-h200.txt); "spin" never returns (the
 * watchdog's case). Host memory registration (cuMemHostRegister_v2/cuMemHostUnregister)
 * is tracked per context and counted, and each copy counted as from registered or
 * pageable memory; FAKE_CUDA_HOSTREG_FAIL=1 makes registration fail (not permitted).
 * fake_cuda_*() let the test look in.
 * Not the driver: nothing here says how a GPU behaves; tests/gpu/kernel.sh does. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cuda.h>

#define API __attribute__((visibility("default")))

struct fctx { int live; CUresult sticky; };
struct fmod { char *text; };
struct ffunc { char name[128]; };

static struct fctx ctxs[64];
static CUcontext stack[16];
static int depth;
static int live_allocs;

API int fake_cuda_depth(void);
API int fake_cuda_live_ctxs(void);
API int fake_cuda_live_allocs(void);
int fake_cuda_depth(void) { return depth; }
int fake_cuda_live_ctxs(void)
{
	int n = 0;
	for (int i = 0; i < 64; i++)
		n += ctxs[i].live;
	return n;
}
int fake_cuda_live_allocs(void) { return live_allocs; }

static struct fctx *cur(void) { return depth ? (struct fctx *)stack[depth - 1] : NULL; }

/* What each context owns, freed with it as the driver does: allocations, modules and
 * their functions. */
struct owned { struct owned *next; struct fctx *ctx; void *p; int kind; };   /* kind 0 memory, 1 module, 2 function */
static struct owned *owned;
static void own(void *p, int kind)
{
	struct owned *o = calloc(1, sizeof(*o));
	o->ctx = cur();
	o->p = p;
	o->kind = kind;
	o->next = owned;
	owned = o;
}
static void mod_free(void *p);
static int disown(void *p)   /* 1 when P was owned (and is freed now) */
{
	for (struct owned **pp = &owned; *pp; pp = &(*pp)->next)
		if ((*pp)->p == p) {
			struct owned *o = *pp;
			*pp = o->next;
			if (o->kind == 1)
				mod_free(o->p);
			else
				free(o->p);
			if (o->kind == 0)
				live_allocs--;
			free(o);
			return 1;
		}
	return 0;
}
static void disown_ctx(struct fctx *c)
{
	for (struct owned **pp = &owned; *pp;) {
		if ((*pp)->ctx == c) {
			void *p = (*pp)->p;
			disown(p);
		} else {
			pp = &(*pp)->next;
		}
	}
}

/* Registered host ranges, each in the context that registered it (flags 0: pinned for
 * that context only); a context's destruction drops its own, as the driver does. */
struct freg { void *p; size_t n; struct fctx *ctx; };
static struct freg regs[8];
static int reg_calls, reg_ok, unreg_ok, reg_dropped, copies_pinned, copies_pageable;
API int fake_cuda_hostreg(int what);
/* 0 live registrations, 1 cuMemHostRegister calls, 2 of them succeeded, 3 cuMemHostUnregister
 * succeeded, 4 dropped by a context's destruction, 5 copies from registered memory, 6 copies
 * from pageable memory */
int fake_cuda_hostreg(int what)
{
	int live = 0;
	for (int i = 0; i < 8; i++)
		live += regs[i].p != NULL;
	switch (what) {
	case 0: return live;
	case 1: return reg_calls;
	case 2: return reg_ok;
	case 3: return unreg_ok;
	case 4: return reg_dropped;
	case 5: return copies_pinned;
	default: return copies_pageable;
	}
}
/* FAKE_CUDA_REPORT=1: a process that copied or registered says so when the library is
 * unloaded (the kernel worker's fini) or the process ends, one line on stderr: what a
 * test of the real vgpu-worker reads back. */
__attribute__((destructor)) static void report(void)
{
	const char *r = getenv("FAKE_CUDA_REPORT");
	if (!r || strcmp(r, "1") || !(reg_calls || copies_pinned || copies_pageable))
		return;
	fprintf(stderr, "fake-cuda: hostreg calls=%d registered=%d unregistered=%d dropped=%d live=%d copies_pinned=%d "
		"copies_pageable=%d\n", reg_calls, reg_ok, unreg_ok, reg_dropped, fake_cuda_hostreg(0), copies_pinned,
		copies_pageable);
}
static void count_copy(const void *h, size_t n)
{
	uintptr_t a = (uintptr_t)h;
	for (int i = 0; i < 8; i++)
		if (regs[i].p && regs[i].ctx == cur() && a >= (uintptr_t)regs[i].p && n <= regs[i].n &&
		    a - (uintptr_t)regs[i].p <= regs[i].n - n) {
			copies_pinned++;
			return;
		}
	copies_pageable++;
}

API CUresult cuInit(unsigned f) { (void)f; return CUDA_SUCCESS; }
API CUresult cuDriverGetVersion(int *v) { *v = 1000; return CUDA_SUCCESS; }   /* too old for any cudart */
API CUresult cuDeviceGet(CUdevice *d, int o) { *d = o; return o == 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_DEVICE; }

API CUresult cuCtxCreate_v2(CUcontext *c, unsigned f, CUdevice d)
{
	(void)f; (void)d;
	for (int i = 0; i < 64; i++)
		if (!ctxs[i].live) {
			ctxs[i].live = 1;
			ctxs[i].sticky = CUDA_SUCCESS;
			*c = (CUcontext)&ctxs[i];
			stack[depth++] = *c;
			return CUDA_SUCCESS;
		}
	return CUDA_ERROR_OUT_OF_MEMORY;
}
API CUresult cuCtxDestroy_v2(CUcontext c)
{
	struct fctx *x = (struct fctx *)c;
	for (int i = 0; i < depth; i++)
		if (stack[i] == c)
			return CUDA_ERROR_INVALID_CONTEXT;    /* destroying a current context: the test's error */
	if (!x || !x->live)
		return CUDA_ERROR_INVALID_CONTEXT;
	disown_ctx(x);
	for (int i = 0; i < 8; i++)
		if (regs[i].p && regs[i].ctx == x) {
			regs[i].p = NULL;
			reg_dropped++;
		}
	x->live = 0;
	return CUDA_SUCCESS;
}
API CUresult cuCtxPushCurrent_v2(CUcontext c)
{
	if (depth == 16 || !((struct fctx *)c)->live)
		return CUDA_ERROR_INVALID_CONTEXT;
	stack[depth++] = c;
	return CUDA_SUCCESS;
}
API CUresult cuCtxPopCurrent_v2(CUcontext *c)
{
	if (!depth)
		return CUDA_ERROR_INVALID_CONTEXT;
	*c = stack[--depth];
	return CUDA_SUCCESS;
}
API CUresult cuCtxSynchronize(void) { return cur() ? cur()->sticky : CUDA_ERROR_INVALID_CONTEXT; }

#define NEED_CTX() do { if (!cur()) return CUDA_ERROR_INVALID_CONTEXT; if (cur()->sticky) return cur()->sticky; } while (0)

API CUresult cuModuleLoadDataEx(CUmodule *m, const void *img, unsigned n, CUjit_option *opt, void **val)
{
	const char *t = img;
	NEED_CTX();
	if (strstr(t, "frobnicate")) {
		/* one ptxas-like line per "frobnicate" (line 10, 11, ...), then the fatal line;
		 * at most the buffer's size with its NUL, as the driver caps it */
		for (unsigned i = 0; i < n; i++)
			if (opt[i] == CU_JIT_ERROR_LOG_BUFFER) {
				size_t cap = 0, o = 0;
				char *b = val[i], line[160];
				int ln = 10;
				for (unsigned k = 0; k < n; k++)
					if (opt[k] == CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES)
						cap = (size_t)(uintptr_t)val[k];
				if (!cap)
					continue;
				for (const char *q = t; ; q += 10, ln++) {
					int last = !(q = strstr(q, "frobnicate"));
					int len = last ? snprintf(line, sizeof(line), "ptxas fatal   : Ptx assembly aborted due to errors\n")
						       : snprintf(line, sizeof(line), "ptxas application ptx input, line %d; error   : "
								  "Not a name of any known instruction: 'frobnicate'\n", ln);
					size_t k = (size_t)len < cap - 1 - o ? (size_t)len : cap - 1 - o;
					memcpy(b + o, line, k);
					o += k;
					if (last || o == cap - 1)
						break;
				}
				b[o] = 0;
			}
		return CUDA_ERROR_INVALID_PTX;
	}
	struct fmod *fm = calloc(1, sizeof(*fm));
	fm->text = strdup(t);
	own(fm, 1);
	*m = (CUmodule)fm;
	return CUDA_SUCCESS;
}
static void mod_free(void *p)
{
	struct fmod *fm = p;
	free(fm->text);
	free(fm);
}
API CUresult cuModuleUnload(CUmodule m)
{
	return disown(m) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}
API CUresult cuModuleGetFunction(CUfunction *f, CUmodule m, const char *name)
{
	char pat[160];
	NEED_CTX();
	snprintf(pat, sizeof(pat), ".entry %s(", name);
	if (!strstr(((struct fmod *)m)->text, pat))
		return CUDA_ERROR_NOT_FOUND;
	struct ffunc *ff = calloc(1, sizeof(*ff));    /* freed with its context */
	snprintf(ff->name, sizeof(ff->name), "%s", name);
	own(ff, 2);
	*f = (CUfunction)ff;
	return CUDA_SUCCESS;
}

static const char *param_sizes(const char *name)
{
	return !strcmp(name, "vadd") ? "8884" : !strcmp(name, "fill") ? "844" : !strcmp(name, "peek") ? "884" :
	       !strcmp(name, "oob") || !strcmp(name, "wild") || !strcmp(name, "spin") ? "8" : "";
}
API CUresult cuFuncGetParamInfo(CUfunction f, size_t i, size_t *off, size_t *size)
{
	const char *p = param_sizes(((struct ffunc *)f)->name);
	if (i >= strlen(p))
		return CUDA_ERROR_INVALID_VALUE;
	*off = 0;
	*size = (size_t)(p[i] - '0');
	return CUDA_SUCCESS;
}

API CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
			    unsigned bz, unsigned sh, CUstream s, void **p, void **extra)
{
	const char *n = ((struct ffunc *)f)->name;
	uint64_t threads = (uint64_t)gx * gy * gz * bx * by * bz;
	(void)sh; (void)s; (void)extra;
	NEED_CTX();
	if ((uint64_t)bx * by * bz > 1024)
		return CUDA_ERROR_INVALID_VALUE;
	if (!strcmp(n, "vadd")) {
		float *a = *(float **)p[0], *b = *(float **)p[1], *c = *(float **)p[2];
		uint32_t cnt = *(uint32_t *)p[3];
		for (uint64_t i = 0; i < threads && i < cnt; i++)
			c[i] = a[i] + b[i];
	} else if (!strcmp(n, "fill")) {
		uint32_t *a = *(uint32_t **)p[0], cnt = *(uint32_t *)p[1], v = *(uint32_t *)p[2];
		for (uint64_t i = 0; i < threads && i < cnt; i++)
			a[i] = v;
	} else if (!strcmp(n, "peek")) {
		uint32_t *a = *(uint32_t **)p[0], *b = *(uint32_t **)p[1], cnt = *(uint32_t *)p[2];
		for (uint64_t i = 0; i < threads && i < cnt; i++)
			b[i] = a[i];
	} else if (!strcmp(n, "oob")) {
		cur()->sticky = CUDA_ERROR_ILLEGAL_ADDRESS;   /* reported at the synchronisation */
	} else if (!strcmp(n, "wild")) {
		for (int i = 0; i < 64; i++)                  /* the whole process's contexts */
			if (ctxs[i].live)
				ctxs[i].sticky = CUDA_ERROR_ILLEGAL_ADDRESS;
	} else if (!strcmp(n, "spin")) {
		for (;;)
			pause();
	}
	return CUDA_SUCCESS;
}

API CUresult cuMemAlloc_v2(CUdeviceptr *d, size_t n)
{
	NEED_CTX();
	void *p = malloc(n);
	if (!p)
		return CUDA_ERROR_OUT_OF_MEMORY;
	memset(p, 0xa5, n);           /* another job's leftovers, as far as the kernel can tell */
	live_allocs++;
	own(p, 0);
	*d = (CUdeviceptr)(uintptr_t)p;
	return CUDA_SUCCESS;
}
API CUresult cuMemFree_v2(CUdeviceptr d)
{
	NEED_CTX();
	return disown((void *)(uintptr_t)d) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}
API CUresult cuMemsetD8_v2(CUdeviceptr d, unsigned char v, size_t n)
{
	NEED_CTX();
	memset((void *)(uintptr_t)d, v, n);
	return CUDA_SUCCESS;
}
API CUresult cuMemcpyHtoD_v2(CUdeviceptr d, const void *h, size_t n)
{
	NEED_CTX();
	count_copy(h, n);
	memcpy((void *)(uintptr_t)d, h, n);
	return CUDA_SUCCESS;
}
API CUresult cuMemcpyDtoH_v2(void *h, CUdeviceptr d, size_t n)
{
	NEED_CTX();
	count_copy(h, n);
	memcpy(h, (void *)(uintptr_t)d, n);
	return CUDA_SUCCESS;
}
API CUresult cuMemHostRegister_v2(void *p, size_t n, unsigned flags)
{
	const char *fail = getenv("FAKE_CUDA_HOSTREG_FAIL");
	uintptr_t a = (uintptr_t)p;
	reg_calls++;
	NEED_CTX();
	if (!p || !n || flags)
		return CUDA_ERROR_INVALID_VALUE;
	if (fail && !strcmp(fail, "1"))
		return CUDA_ERROR_NOT_PERMITTED;
	for (int i = 0; i < 8; i++)            /* the driver tracks ranges process-wide */
		if (regs[i].p && a < (uintptr_t)regs[i].p + regs[i].n && (uintptr_t)regs[i].p < a + n)
			return CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED;
	for (int i = 0; i < 8; i++)
		if (!regs[i].p) {
			regs[i].p = p;
			regs[i].n = n;
			regs[i].ctx = cur();
			reg_ok++;
			return CUDA_SUCCESS;
		}
	return CUDA_ERROR_OUT_OF_MEMORY;
}
API CUresult cuMemHostUnregister(void *p)
{
	NEED_CTX();
	for (int i = 0; i < 8; i++)
		if (regs[i].p == p) {
			regs[i].p = NULL;
			unreg_ok++;
			return CUDA_SUCCESS;
		}
	return CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED;
}
API CUresult cuGetErrorName(CUresult e, const char **s)
{
	*s = e == CUDA_ERROR_ILLEGAL_ADDRESS ? "CUDA_ERROR_ILLEGAL_ADDRESS" : e == CUDA_ERROR_INVALID_PTX ?
	     "CUDA_ERROR_INVALID_PTX" : "CUDA_ERROR_FAKE";
	return CUDA_SUCCESS;
}
API CUresult cuGetErrorString(CUresult e, const char **s)
{
	*s = e == CUDA_ERROR_ILLEGAL_ADDRESS ? "an illegal memory access was encountered" : "fake";
	return CUDA_SUCCESS;
}
