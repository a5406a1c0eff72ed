/* backend.h - a compute backend: runs one job, in-process, inside a worker process.
 *
 * Backends never see files or VMs: they get operands in memory and fill the output.
 * The worker pool (exec_pool.c) hosts one backend instance per device in its own process,
 * so a backend that hangs or crashes is killed and restarted without the mediator.
 * Like sqlite3_vfs: versioned, methods only appended. */
#ifndef VGPU_BACKEND_H
#define VGPU_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include "../lib/record.h"
#include "../lib/op.h"
#include "../lib/opref.h"

/* What a backend is asked to do. Pointers are the worker's mappings of the job's
 * shared memory; IN is NULL for generated input (has_seed) and for ops without data. */
struct vgpu_job {
	enum vgpu_op op;
	struct vgpu_op_args args;   /* lib/op.h */
	const float *in;        /* operands one after another (PROTOCOL section 5) */
	size_t in_count;        /* floats */
	float *out;             /* output; NULL when the caller wants only the summary
	                         * (then the backend keeps the output to itself) */
	size_t out_count;       /* floats of output, set for every compute op */
	char *log;              /* kernel op, may be NULL: room for LOG_CAP bytes of the JIT's */
	size_t log_cap;         /* error log, which a BAD_KERNEL result then counts in log_bytes */
};

struct vgpu_job_result {
	int status;             /* enum vgpu_status: OK, EXEC_FAILED, LEAKED, ... */
	uint64_t exec_us;       /* measured by the backend (device events for CUDA) */
	uint64_t leaked_bytes;  /* found and reclaimed at job end */
	char error[256];        /* readable; "" when OK */
	int has_summary;        /* compute ops: SUMMARY describes the output */
	struct vgpu_summary summary;  /* computed where the data is (device for CUDA) */
	int has_out_crc;        /* executors: the output file was written, fdatasync'ed, and */
	uint32_t out_crc;       /* this is the CRC-32 of its bytes (computed while writing) */
	uint64_t log_bytes;     /* BAD_KERNEL: job->log holds the JIT's log, this long; from an
	                         * executor: the output file holds it instead of the output
	                         * (has_out_crc/out_crc are its), PROTOCOL.md section 5.1 */
};

/* RES zeroed, then STATUS and the formatted error text (truncated to fit). Can't fail. */
void vgpu_job_result_set(struct vgpu_job_result *res, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

struct vgpu_backend_ops {
	int iversion;           /* 1; 2 adds host_alloc/host_free */
	const char *name;       /* "mock", "cuda" */
	/* Number of devices this backend can drive, or a negative value with ERR filled.
	 * Called in a probe process, never in the mediator (no CUDA context there). */
	int (*device_count)(char *err, size_t errlen);
	/* Set up device DEV; *ctxp is the backend's state. 0 or negative with ERR. */
	int (*init)(void **ctxp, int dev, char *err, size_t errlen);
	/* Run JOB and fill RES. Returns 0 when RES says what happened (even a failed job);
	 * negative when the device is unusable and the worker must restart. */
	int (*run)(void *ctx, const struct vgpu_job *job, struct vgpu_job_result *res);
	void (*fini)(void *ctx);
	/* iversion >= 2, may be NULL: host memory for the worker's payload buffers, kept
	 * across jobs (CUDA: pinned and registered once, so no job registers any). NULL
	 * when it cannot; the worker then uses plain pages. */
	void *(*host_alloc)(void *ctx, size_t bytes);
	void (*host_free)(void *ctx, void *p, size_t bytes);
};

extern const struct vgpu_backend_ops vgpu_backend_mock;   /* backend_mock.c */
#ifdef VGPU_HAVE_CUDA
extern const struct vgpu_backend_ops vgpu_backend_cuda;   /* backend_cuda.c */
extern const struct vgpu_backend_ops vgpu_backend_cuda_kernel;   /* backend_kernel.c: a VM's kernel worker */
#endif

/* The backends by name (backend.c): every one any build may have, whether or not this
 * program has its code. The mediator's pool names a backend to its workers without
 * linking it (no CUDA in the mediator); vgpu-worker hosts the ones built in. */
struct vgpu_backend_info {
	const char *name;       /* "mock", "cuda": vgpu-worker --backend, vgpu_pool_open() */
	const char *needs;      /* what a build needs to have it: "CUDA"; NULL: every build */
	int bare_single;        /* one device: its slot is called NAME, not NAME:0 */
	const char *kernel;     /* the backend of the VMs' kernel workers (one process per VM
	                         * and device for `kernel` jobs, exec_pool.c); NULL: kernel
	                         * jobs go to the device's worker like every op */
};

/* The backend called NAME, or NULL. Can't fail otherwise. */
const struct vgpu_backend_info *vgpu_backend_info_find(const char *name);
#endif
