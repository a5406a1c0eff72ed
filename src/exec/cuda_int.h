/* cuda_int.h - the cuda backend's insides, shared by its files and by nothing else: the
 * per-worker context, one job's error state, and what each file gives the others.
 * backend_cuda.c: life cycle and run(); backend_cuda_ops.c: the ops; cuda_err.c: error
 * capture; cuda_devcache.c: device-memory cache; cuda_hostmem.c: host buffers and their
 * copies; cuda_leak.c: leak and escape checks; cuda_phases.c: VGPU_CUDA_PHASES=1. */
#ifndef VGPU_CUDA_INT_H
#define VGPU_CUDA_INT_H

#include <stddef.h>
#include <stdint.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "arena.h"
#include "backend.h"
#include "backend_cuda.h"
#include "cuda_kernels.h"

#define VGPU_CUDA_PIN_MIN (1u << 20)   /* host buffers from here on are pinned or staged */

/* The device-memory cache (cuda_devcache.c): every block the jobs got from cudaMalloc,
 * idle (free for the next job) or lent to the running job through its arena. HELD
 * counts both, in the bytes asked of cudaMalloc, so that the escape check can subtract
 * what the cache took from (or gave back to) the driver during a job. */
struct cuda_dev_block;
struct cuda_devcache {
	struct cuda_dev_block *idle;   /* most recently freed first */
	struct cuda_dev_block *used;   /* lent to the running job */
	uint64_t held, idle_bytes, limit;
	unsigned idle_count;
	cudaError_t last_err;          /* the last cudaMalloc error (the arena sees only -errno) */
	struct vgpu_cuda_cache_stats st;
};

/* How the job's host buffers (the worker's mappings of the mediator's memfds) meet the
 * copies (cuda_hostmem.c, VGPU_CUDA_HOSTMEM): a fresh shared mapping faults page by page
 * inside a pageable copy (~1 GB/s). "register" pins them for the copy (cudaHostRegister:
 * DMA at full speed), "populate" only faults them in at once (madvise), "plain" does
 * neither, "staging" copies through two pinned chunks of the worker. */
enum cuda_hostmem_mode { CUDA_HOSTMEM_REGISTER, CUDA_HOSTMEM_POPULATE, CUDA_HOSTMEM_PLAIN,
			 CUDA_HOSTMEM_STAGING };
struct cuda_hostmem {
	enum cuda_hostmem_mode mode;
	void *stage[2];                /* pinned staging chunks (staging only) */
	cudaEvent_t stage_ev[2];
};

/* Leak checks (cuda_leak.c): what the environment configured. */
struct cuda_leak {
	uint64_t escape_tolerance;     /* VGPU_CUDA_ESCAPE_TOLERANCE */
	int test_escape;               /* VGPU_CUDA_TEST_ESCAPE=1: "leak" bypasses the arena */
};
/* The device before a job, for the escape check after it. */
struct cuda_leak_snap {
	int have_free0;
	size_t free0;
	uint64_t held0;
};

/* One job's phases (cuda_phases.c, VGPU_CUDA_PHASES=1): host clock around the steps of
 * run(), device time between events marked on the stream. */
enum cuda_phase { CUDA_PH_MEMINFO0, CUDA_PH_ALLOC, CUDA_PH_PREP, CUDA_PH_ENQUEUE, CUDA_PH_WAIT,
		  CUDA_PH_UNPREP, CUDA_PH_FREE, CUDA_PH_MEMINFO1, CUDA_PH_RUN, CUDA_PH_COUNT };
/* The marks, in stream order between the job's start and stop events. */
enum cuda_mark { CUDA_MARK_IN, CUDA_MARK_OP, CUDA_MARK_SUM, CUDA_MARK_COUNT };
struct cuda_phases {
	int on;                        /* VGPU_CUDA_PHASES=1 */
	cudaEvent_t ev[CUDA_MARK_COUNT];
	double host_us[CUDA_PH_COUNT];
	float dev_ms[CUDA_MARK_COUNT + 1];   /* start..in, in..op, op..sum, sum..stop */
	uint64_t hits0, misses0;       /* the cache's counters when the job started */
	unsigned hits, misses;         /* the job's allocations from the cache / cudaMalloc */
};

/* The backend's context: one per worker (one device). */
struct cuda_ctx {
	int dev;
	cudaStream_t stream;
	cudaEvent_t ev_start, ev_stop;     /* around a job's device work: exec_us */
	cublasHandle_t blas;
	void *workspace;
	void *sum_scratch;                 /* the summary's block partials, then its result */
	struct vgpu_cuda_sums *d_sums;
	struct vgpu_cuda_sums *h_sums;     /* pinned: all a summary-only job copies back */
	struct vgpu_arena arena;           /* the running job's, over CACHE */
	struct cuda_devcache cache;
	struct cuda_hostmem hostmem;
	struct cuda_leak leak;
	struct cuda_phases ph;
	void *kernels;                     /* the kernel op's VM contexts (cuda_module.h), on demand */
};

/* One job's error state: the first failure wins. */
struct cuda_job {
	struct cuda_ctx *cx;
	struct vgpu_job_result *res;
	int failed;
	cudaError_t cuda_err;              /* cudaSuccess unless a CUDA call failed */
};

/* --- backend_cuda.c ----------------------------------------------------------------- */
/* Release the context's resources and set it up again on a fresh device context
 * (cudaDeviceReset): what escaped the arena is freed. 0, or -1 with WHY. */
int vgpu_cuda_ctx_reset(struct cuda_ctx *cx, char *why, size_t whylen);

/* --- backend_cuda_ops.c ------------------------------------------------------------- */
/* Run a job of an op other than ping and crash; its failures are in JS. */
void vgpu_cuda_run_op(struct cuda_job *js, const struct vgpu_job *job);

/* --- cuda_err.c: error capture ------------------------------------------------------ */
void vgpu_cuda_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "WHAT: cudaErrorName: its text", "WHAT: CUBLAS_STATUS_NAME: its text" into ERR. */
void vgpu_cuda_err_call(char *err, size_t errlen, const char *what, cudaError_t e);
void vgpu_cuda_err_blas(char *err, size_t errlen, const char *what, cublasStatus_t s);
/* Record a failed call WHAT in the job (EXEC_FAILED, unless it failed already). Return 0
 * when the call succeeded, -1 otherwise, so that calls chain with ||. */
int vgpu_cuda_check(struct cuda_job *js, cudaError_t e, const char *what);
int vgpu_cuda_check_blas(struct cuda_job *js, cublasStatus_t s, const char *what);
/* Fail the job with a message of our own. Returns -1. */
int vgpu_cuda_job_fail(struct cuda_job *js, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* After a failed CUDA call: 1 when the context is no longer usable (a sticky error). */
int vgpu_cuda_context_broken(struct cuda_ctx *cx);

/* --- cuda_devcache.c: the arena's allocator ----------------------------------------- */
/* Empty cache, with the idle limit from VGPU_CUDA_CACHE_BYTES (default half the device's
 * memory; 0: off). 0, or -1 with ERR. */
int vgpu_cuda_cache_setup(struct cuda_devcache *c, char *err, size_t errlen);
/* Every block back to the driver, lent ones too (at teardown, when no job runs). */
void vgpu_cuda_cache_destroy(struct cuda_devcache *c);
/* vgpu_arena_alloc_fn / vgpu_arena_free_fn; CACHE is the struct cuda_devcache. */
int vgpu_cuda_cache_alloc(void *cache, void **ptr, size_t bytes);
void vgpu_cuda_cache_free(void *cache, void *ptr);

/* --- cuda_hostmem.c ----------------------------------------------------------------- */
void vgpu_cuda_hostmem_config(struct cuda_hostmem *hm);
const char *vgpu_cuda_hostmem_name(const struct cuda_hostmem *hm);
/* The staging chunks, in staging mode. 0, or -1 with ERR. */
int vgpu_cuda_hostmem_setup(struct cuda_hostmem *hm, char *err, size_t errlen);
void vgpu_cuda_hostmem_teardown(struct cuda_hostmem *hm);
/* Prepare host buffer P for a copy. Returns 1 when P was registered (give it to
 * vgpu_cuda_host_release() after the copy), 0 otherwise; never fails the job: the copy
 * works on pageable memory too, only slower. */
int vgpu_cuda_host_prepare(struct cuda_hostmem *hm, const void *p, size_t bytes, int readonly);
void vgpu_cuda_host_release(const void *p, int registered);
/* The backend's host_alloc/host_free (backend.h): the worker's payload buffers, pinned
 * once (register mode; NULL in the others: plain pages). CTX is the struct cuda_ctx. */
void *vgpu_cuda_host_alloc(void *ctx, size_t bytes);
void vgpu_cuda_host_free(void *ctx, void *p, size_t bytes);
/* Enqueue the copy of BYTES between the job's host memory and the device. 0 or -1. */
int vgpu_cuda_copy_in(struct cuda_job *js, void *dev, const void *host, size_t bytes);
int vgpu_cuda_copy_out(struct cuda_job *js, void *host, const void *dev, size_t bytes);

/* --- cuda_leak.c -------------------------------------------------------------------- */
void vgpu_cuda_leak_config(struct cuda_leak *lk);
/* Before the job: the device's free memory and what the cache holds. */
void vgpu_cuda_leak_begin(struct cuda_ctx *cx, struct cuda_leak_snap *snap);
/* After the job: what its arena still holds is taken back and the job answered LEAKED. */
void vgpu_cuda_leak_reclaim(struct cuda_ctx *cx, struct vgpu_job_result *res);
/* Then: memory that escaped the arena makes the job LEAKED. Returns the bytes that
 * escaped (0: none); only a context reset (the caller's) gives them back. */
uint64_t vgpu_cuda_leak_escaped(struct cuda_ctx *cx, const struct cuda_leak_snap *snap,
				struct vgpu_job_result *res);

/* --- cuda_phases.c ------------------------------------------------------------------ */
void vgpu_cuda_phases_config(struct cuda_phases *ph);
/* The mark events (made whether phases are on or not). 0, or -1 with ERR. */
int vgpu_cuda_phases_setup(struct cuda_phases *ph, char *err, size_t errlen);
void vgpu_cuda_phases_teardown(struct cuda_phases *ph);
/* A job starts: its phases are zeroed. */
void vgpu_cuda_phases_start(struct cuda_ctx *cx);
/* The host clock for phase P: T0 = begin(), then end(P, T0) adds the time since. Both
 * do nothing (begin returns 0) when phases are off. */
double vgpu_cuda_phase_begin(const struct cuda_ctx *cx);
void vgpu_cuda_phase_end(struct cuda_ctx *cx, enum cuda_phase p, double t0);
/* End of an arena allocation begun at T0: its time, and the job's cache hits and misses. */
void vgpu_cuda_phase_alloc_end(struct cuda_ctx *cx, double t0);
/* Record mark M on the stream (phases on only). 0, or -1 with the failure in JS. */
int vgpu_cuda_phase_mark(struct cuda_job *js, enum cuda_mark m);
/* After the job's stop event completed: the device times between the marks. 0 or -1. */
int vgpu_cuda_phases_collect(struct cuda_job *js);
/* The job's "vgpu-cuda-phases:" line on stderr (phases on only). */
void vgpu_cuda_phases_print(struct cuda_ctx *cx, const struct vgpu_job *job,
			    const struct vgpu_job_result *res);

#endif
