/* executor.h - how the mediator gets jobs run: the executor interface.
 *
 * The mediator core sees only this. An executor has SLOTS (one per GPU worker, one for
 * mock, one for a Plan B worker VM); each slot runs one job at a time, asynchronously:
 * submit, then wait for fd() to become readable or for the job's deadline, then reap().
 * The watchdog lives behind reap(): a job past its deadline is stopped (worker killed and
 * restarted) and reaped as TIMEOUT. Implementations: exec_pool.c (worker processes
 * hosting a backend: mock, cuda) and exec_remote.c (Plan B); vgpu_executor_open() is in
 * executor.c. Versioned like sqlite3_io_methods. */
#ifndef VGPU_EXECUTOR_H
#define VGPU_EXECUTOR_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include "backend.h"

/* One job as the mediator hands it over (docs/EXECUTOR.md, "Payloads off the loop").
 *
 * in_fd: IN_BYTES of input from offset 0, or -1. For a payload it is the VM's own file
 * as the mediator opened and checked it (regular, one link, the VM's uid, the size the
 * record says): untrusted bytes that the VM may still change or truncate, so the
 * executor reads it with pread() (never mmap: a truncated file would SIGBUS) and, when
 * IN_CHECK, checks the CRC-32 while reading: a short file or another CRC answers
 * BAD_PAYLOAD. Tests may pass a memfd.
 * out_fd: a file for OUT_BYTES of output from offset 0, or -1 (summary only): private to
 * the mediator (mode 0600, no name or a dot name), empty; the executor writes it (pwrite,
 * then fdatasync: it is durable when the result says OK) and reports the CRC-32 of what
 * it wrote (res.has_out_crc); the mediator gives it its name and owner afterwards. */
struct vgpu_exec_job {
	struct vgpu_job job;      /* in/out pointers unset: the executor reads/writes the fds */
	int in_fd;
	size_t in_bytes;
	int in_check;             /* check IN_CRC while reading (a VM's payload) */
	uint32_t in_crc;
	int out_fd;
	size_t out_bytes;
	uint64_t deadline_ms;     /* monotonic ms; 0 = none */
};

struct vgpu_executor;

/* What an executor can tell about one slot's worker (for `vgpu-mediator status`). */
struct vgpu_slot_info {
	int device;               /* the GPU index, or -1 */
	const char *state;        /* "ready", "starting", "down": the executor's, static */
	uint64_t restarts;        /* times its worker was restarted (crash, watchdog, failed start) */
};

struct vgpu_executor_ops {
	int iversion;             /* 1; 2 adds slot_info; 3 adds tick */
	const char *name;
	/* Start JOB on SLOT (idle). The executor dups the fds it keeps. 0 or -errno. */
	int (*submit)(struct vgpu_executor *ex, int slot, const struct vgpu_exec_job *job);
	/* Descriptor to poll for SLOT's progress, or -1 (then reap() is called on timers). */
	int (*fd)(struct vgpu_executor *ex, int slot);
	/* Returns 1 and fills RES when SLOT's job ended (done, failed, crashed, or stopped
	 * at its deadline by the watchdog), 0 while it runs. NOW_MS is monotonic. */
	int (*reap)(struct vgpu_executor *ex, int slot, uint64_t now_ms, struct vgpu_job_result *res);
	/* Name of SLOT for responses: "mock", "cuda:0", "remote". */
	const char *(*slot_name)(struct vgpu_executor *ex, int slot);
	void (*close)(struct vgpu_executor *ex);
	/* iversion >= 2, may be NULL: fill INFO for SLOT. 0 or -errno. */
	int (*slot_info)(struct vgpu_executor *ex, int slot, struct vgpu_slot_info *info);
	/* iversion >= 3, may be NULL: housekeeping that no job triggers (the pool retires
	 * idle kernel workers, docs/KERNELS.md). Called on every turn of the mediator's loop
	 * with the monotonic NOW_MS; returns when it wants the next call (monotonic ms), or
	 * UINT64_MAX. Never blocks. */
	uint64_t (*tick)(struct vgpu_executor *ex, uint64_t now_ms);
};

/* The base; implementations put it first in their own struct. */
struct vgpu_executor {
	const struct vgpu_executor_ops *ops;
	int nslots;
};

/* Plan B: how long past a job's deadline the worker VM may stay silent before the job
 * is answered UNAVAILABLE (--remote-timeout-ms). */
#define VGPU_REMOTE_TIMEOUT_MS 30000

/* Options from the mediator's command line. */
struct vgpu_exec_opts {
	int fallback_mock;        /* --fallback mock: auto may fall back to mock */
	const char *remote_dir;   /* --fallback remote:DIR or --executor remote:DIR */
	uint64_t remote_timeout_ms;  /* 0: VGPU_REMOTE_TIMEOUT_MS */
	const char *worker_path;  /* the vgpu-worker binary that exec_pool.c execs per slot */
	const char *sanity_path;  /* the cuda-sanity binary that "auto" runs */
	const char *kernel_backend;  /* the backend of the VMs' kernel workers (docs/KERNELS.md):
	                              * NULL the pool backend's own (cuda: cuda-kernel; mock:
	                              * none), "" none (kernel jobs go to the device's worker) */
};

/* Open the executor SPEC: "mock", "cuda", "auto" or "remote:DIR".
 * "auto" runs the CUDA sanity check (in a child process) and chooses cuda when it
 * passes; otherwise remote when opts->remote_dir is set, else mock when
 * opts->fallback_mock, else fails with ERR explaining why and what to configure.
 * WHY (WHYLEN bytes) gets one line on the choice made, for the log.
 * Returns 0 and *exp, or negative with ERR filled. */
int vgpu_executor_open(const char *spec, const struct vgpu_exec_opts *opts,
		       struct vgpu_executor **exp, char *why, size_t whylen,
		       char *err, size_t errlen);

/* The mediator core calls an executor only through these (SQLite os.c style): the one
 * seam where calls are counted, faults injected or a fake put in
 * (tests/unit/test_mediator.c). Each does what its method above says. */
static inline int vgpu_executor_submit(struct vgpu_executor *ex, int slot, const struct vgpu_exec_job *job)
{
	return ex->ops->submit(ex, slot, job);
}

static inline int vgpu_executor_fd(struct vgpu_executor *ex, int slot)
{
	return ex->ops->fd(ex, slot);
}

static inline int vgpu_executor_reap(struct vgpu_executor *ex, int slot, uint64_t now_ms,
				     struct vgpu_job_result *res)
{
	return ex->ops->reap(ex, slot, now_ms, res);
}

/* SLOT's name, or the executor's name when it has no slot_name(). Can't fail. */
static inline const char *vgpu_executor_slot_name(struct vgpu_executor *ex, int slot)
{
	return ex->ops->slot_name ? ex->ops->slot_name(ex, slot) : ex->ops->name;
}

static inline void vgpu_executor_close(struct vgpu_executor *ex) { if (ex) ex->ops->close(ex); }

/* SLOT's worker, when the executor can tell: 0, or -ENOSYS (INFO untouched). */
static inline int vgpu_executor_slot_info(struct vgpu_executor *ex, int slot, struct vgpu_slot_info *info)
{
	if (ex->ops->iversion < 2 || !ex->ops->slot_info)
		return -ENOSYS;
	return ex->ops->slot_info(ex, slot, info);
}

/* The executor's housekeeping (tick above): when it wants the next call, or UINT64_MAX. */
static inline uint64_t vgpu_executor_tick(struct vgpu_executor *ex, uint64_t now_ms)
{
	if (ex->ops->iversion < 3 || !ex->ops->tick)
		return UINT64_MAX;
	return ex->ops->tick(ex, now_ms);
}

/* The payload I/O of an executor (payload_io.c), for JOB's fds as above.
 * Read BYTES of input from FD into BUF, the CRC-32 computed while reading and, when
 * CHECK, compared with CRC. 0; or -1 with RES set: BAD_PAYLOAD for a checked payload that
 * is short, unreadable or of another CRC, else EXEC_FAILED. Fault point exec/input/read. */
int vgpu_exec_read_input(int fd, size_t bytes, int check, uint32_t crc, void *buf, struct vgpu_job_result *res);
/* Write BYTES of BUF to the output file FD, the CRC-32 computed while writing, then
 * fdatasync. 0 with res->has_out_crc/out_crc set, or -1 with RES set to EXEC_FAILED
 * (ENOSPC...). Fault point exec/output/write (-ENOSPC). */
int vgpu_exec_write_output(int fd, const void *buf, size_t bytes, struct vgpu_job_result *res);

/* Implementations. exec_pool.c: workers hosting the backend called BACKEND_NAME
 * ("mock", "cuda": backend.h's table; the mediator links no backend), one per device the
 * backend reports; -EINVAL for an unknown name or no worker_path, else 0 once every
 * worker said hello, or negative with ERR in the worker's own words. exec_remote.c: Plan B. */
int vgpu_pool_open(const char *backend_name, const struct vgpu_exec_opts *opts,
		   struct vgpu_executor **exp, char *err, size_t errlen);
int vgpu_remote_open(const char *dir, const struct vgpu_exec_opts *opts,
		     struct vgpu_executor **exp, char *err, size_t errlen);

#endif
