/* cuda_module.h - the `kernel` op's side of the cuda backend: the CUDA driver API,
 * loaded at run time (dlopen("libcuda.so.1"): nothing links against libcuda, whose real
 * copy exists only on a GPU host), one CUDA context per VM on this worker's device, and
 * in each a module cache keyed by the PTX's hash. docs/KERNELS.md, section 4.
 *
 * A VM's context holds only that VM's modules and buffers: each CUDA context has its own
 * GPU address space, so a VM's kernel that reads or writes out of its buffers faults in
 * its own context (CUDA_ERROR_ILLEGAL_ADDRESS) and never reaches another VM's memory or
 * the worker's primary context, where the other ops run. A faulted context is destroyed
 * and made again for the VM's next job. Contexts are created on demand, at most
 * VGPU_KERNEL_CTXS (least recently used evicted) and reaped after VGPU_KERNEL_CTX_IDLE_MS
 * unused. */
#ifndef VGPU_CUDA_MODULE_H
#define VGPU_CUDA_MODULE_H

#include <stddef.h>
#include <stdint.h>
#include <cuda.h>

#include "../lib/kernel_args.h"

#define VGPU_KERNEL_CTXS_DEFAULT     4       /* VM contexts per worker (VGPU_KERNEL_CTXS) */
#define VGPU_KERNEL_CTX_IDLE_DEFAULT 60000   /* ms unused before a context is reaped */
#define VGPU_KERNEL_MODULES          8       /* modules cached per VM context */
#define VGPU_KERNEL_CTXS_MAX         16
#define VGPU_KERNEL_LOG_BYTES        16384   /* the JIT's info log buffer */
#define VGPU_KERNEL_HOSTBUFS         4       /* payload buffers registered per kernel worker */
#define VGPU_KERNEL_PIN_DEFAULT      (UINT64_C(512) << 20)   /* bytes of them (VGPU_KERNEL_PIN_BYTES) */
#define VGPU_KERNEL_LOG_CUT "[the JIT's log is cut here: it is longer than 65536 bytes]\n"

/* The driver API's entry points this backend uses (dlsym'ed by their ABI names). */
struct cu_api {
	void *lib;
	CUresult (*Init)(unsigned);
	CUresult (*DeviceGet)(CUdevice *, int);
	CUresult (*CtxCreate)(CUcontext *, unsigned, CUdevice);          /* cuCtxCreate_v2 */
	CUresult (*CtxDestroy)(CUcontext);                               /* cuCtxDestroy_v2 */
	CUresult (*CtxPushCurrent)(CUcontext);                           /* _v2 */
	CUresult (*CtxPopCurrent)(CUcontext *);                          /* _v2 */
	CUresult (*CtxSynchronize)(void);
	CUresult (*ModuleLoadDataEx)(CUmodule *, const void *, unsigned, CUjit_option *, void **);
	CUresult (*ModuleUnload)(CUmodule);
	CUresult (*ModuleGetFunction)(CUfunction *, CUmodule, const char *);
	CUresult (*FuncGetParamInfo)(CUfunction, size_t, size_t *, size_t *);   /* may be NULL (driver < 12.4) */
	CUresult (*LaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
				 CUstream, void **, void **);
	CUresult (*MemAlloc)(CUdeviceptr *, size_t);                     /* cuMemAlloc_v2 */
	CUresult (*MemFree)(CUdeviceptr);                                /* cuMemFree_v2 */
	CUresult (*MemsetD8)(CUdeviceptr, unsigned char, size_t);        /* cuMemsetD8_v2 */
	CUresult (*MemcpyHtoD)(CUdeviceptr, const void *, size_t);       /* cuMemcpyHtoD_v2 */
	CUresult (*MemcpyDtoH)(void *, CUdeviceptr, size_t);             /* cuMemcpyDtoH_v2 */
	CUresult (*GetErrorName)(CUresult, const char **);
	CUresult (*GetErrorString)(CUresult, const char **);
	CUresult (*MemHostRegister)(void *, size_t, unsigned);           /* _v2; may be NULL: pageable */
	CUresult (*MemHostUnregister)(void *);                           /* may be NULL */
};

struct cu_module {
	uint64_t hash;            /* FNV-1a 64 of the PTX region; a hit also compares the bytes */
	size_t len;
	char *ptx;                /* a copy of the region, NULL when the slot is free */
	CUmodule mod;
	uint64_t used;            /* the LRU clock when last used */
};

struct cu_vmctx {
	uint32_t vm;              /* 0: the slot is free */
	CUcontext ctx;
	uint64_t used;            /* the LRU clock */
	uint64_t used_ms;         /* monotonic ms of the last job, for the idle reaping */
	struct cu_module mods[VGPU_KERNEL_MODULES];
	/* The last job's device buffers, by argument, kept in this VM's context for its next
	 * job (one of the same size is reused, zeroed again; any other freed first): no
	 * cuMemAlloc/cuMemFree per job. Never more than one job's buffers, so within the
	 * VM's budget; they go with the context (fault, eviction, idle, the worker's end). */
	struct cu_kbuf {
		CUdeviceptr p;    /* 0: none kept */
		size_t bytes;
	} bufs[VGPU_KERNEL_ARGS_MAX];
};

struct cu_kernels {
	struct cu_api api;
	CUdevice dev;
	unsigned max_ctxs;
	uint64_t idle_ms;
	uint64_t clock;
	struct cu_vmctx vms[VGPU_KERNEL_CTXS_MAX];
	/* counters, for the tests and the log */
	uint64_t ctx_created, ctx_reaped, ctx_evicted, ctx_dropped, mod_hits, mod_loads;
	uint64_t buf_allocs, buf_reuses;
	/* A kernel worker's payload buffers (cuda_kernel_hostmem.c): handed to vgpu-worker by
	 * the backend's host_alloc, registered once with the driver in the VM's context */
	struct cu_hostbuf {
		void *p;          /* NULL: the slot is free */
		size_t bytes;
		CUcontext ctx;    /* registered in this context; NULL: pageable for now */
		int failed;       /* the driver refused it: pageable for good */
	} host[VGPU_KERNEL_HOSTBUFS];
	uint64_t host_pinned;                 /* bytes registered now */
	uint64_t host_regs, host_unregs;      /* cuMemHostRegister / cuMemHostUnregister calls that succeeded */
	int host_warned;                      /* a refused registration was logged */
};

/* Load the driver API (dlopen, dlsym, cuInit) for device DEV; read VGPU_KERNEL_CTXS and
 * VGPU_KERNEL_CTX_IDLE_MS. *KP a new object. 0, or -1 with ERR. */
int vgpu_cu_kernels_open(struct cu_kernels **kp, int dev, char *err, size_t errlen);
/* Destroy every context (their modules and buffers with them), close the library. */
void vgpu_cu_kernels_close(struct cu_kernels *k);

/* VM's context made current (pushed on this thread), created when it has none: idle
 * contexts reaped first, the least recently used one evicted when all slots are taken.
 * NOW_MS monotonic. 0 and *VP, or -1 with ERR. Leave with vgpu_cu_vm_leave(). */
int vgpu_cu_vm_enter(struct cu_kernels *k, uint32_t vm, uint64_t now_ms, struct cu_vmctx **vp, char *err,
		     size_t errlen);
void vgpu_cu_vm_leave(struct cu_kernels *k);
/* V's buffers fitted to a job that needs BYTES[i] bytes for argument i (0: no buffer):
 * every kept buffer of another size (or none wanted) freed, then each missing one
 * allocated; *PTR[i] the buffer (0 for no buffer), *FRESH a mask of those allocated now.
 * V's context must be current. CUDA_SUCCESS, or the first failed call's result with
 * *FAILED_ARG its argument and *WHAT "cuMemFree" or "cuMemAlloc". */
CUresult vgpu_cu_vm_bufs(struct cu_kernels *k, struct cu_vmctx *v, uint32_t nargs, const size_t *bytes,
			 CUdeviceptr *ptr, uint64_t *fresh, uint32_t *failed_arg, const char **what);
/* Device buffers kept over all the VMs' contexts (the tests). */
unsigned vgpu_cu_bufs_kept(const struct cu_kernels *k);
/* Destroy V's context (after a sticky error); the VM's next job gets a new one. Must not
 * be current (leave first). */
void vgpu_cu_vm_drop(struct cu_kernels *k, struct cu_vmctx *v);

/* The module of the PTX region PTX (LEN bytes, text then NULs) in V's context: from the
 * cache (*HIT = 1) or loaded with cuModuleLoadDataEx. 0 and *MOD, or the CUresult of the
 * load with the JIT's error log (or the call's error) on one line in LOG. V's context
 * must be current. */
CUresult vgpu_cu_module_get(struct cu_kernels *k, struct cu_vmctx *v, const char *ptx, size_t len, CUmodule *mod,
			    int *hit, char *log, size_t loglen);
/* The same, and when the load fails the whole error log in FULL (at most FULLCAP <=
 * VGPU_KERNEL_LOG_MAX bytes, no NUL; a longer one cut, ending with VGPU_KERNEL_LOG_CUT),
 * *FULLLEN its length (0: the JIT wrote none). */
CUresult vgpu_cu_module_get_log(struct cu_kernels *k, struct cu_vmctx *v, const char *ptx, size_t len,
				CUmodule *mod, int *hit, char *log, size_t loglen, char *full, size_t fullcap,
				size_t *fulllen);

/* The kernel worker's payload buffers (cuda_kernel_hostmem.c; docs/KERNELS.md section 5):
 * vgpu-worker's input and output buffers, kept from job to job, come from here as
 * anonymous pages and are registered with the driver (cuMemHostRegister) once, by the
 * first job that runs with them, in its VM's context: its copies and every later job's
 * are DMA from pinned memory, with no registration per job. At most
 * VGPU_KERNEL_PIN_BYTES (default 512 MiB, 0: none) registered; a buffer over it, or one
 * the driver refuses (logged once), stays pageable: the copies work, only slower.
 * Alloc: NULL when no slot is left (the worker then maps its own pages). Free:
 * unregistered (its context pushed for the call) and unmapped; before the worker's
 * vgpu_cu_kernels_close(). */
void *vgpu_cu_host_alloc(struct cu_kernels *k, size_t bytes);
void vgpu_cu_host_free(struct cu_kernels *k, void *p, size_t bytes);
/* Register the buffers not yet registered in V's context (current), within the bound. */
void vgpu_cu_host_pin(struct cu_kernels *k, struct cu_vmctx *v);
/* V's context is about to be destroyed (not current): its registrations undone. */
void vgpu_cu_host_forget(struct cu_kernels *k, struct cu_vmctx *v);
/* Is [P, P+BYTES) inside a buffer registered in V's context? */
int vgpu_cu_host_is_pinned(const struct cu_kernels *k, const struct cu_vmctx *v, const void *p, size_t bytes);

/* "CUDA_ERROR_X: text" for E into BUF. Returns BUF. */
const char *vgpu_cu_strerror(const struct cu_kernels *k, CUresult e, char *buf, size_t len);

/* FNV-1a 64 of LEN bytes. */
uint64_t vgpu_cu_hash(const void *p, size_t len);

#endif
