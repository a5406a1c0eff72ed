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

/* One job as the mediator hands it over. Input and output live in memfds that the
 * mediator created (in_fd: the input bytes, written before submit and not changed
 * after, or -1; not sealed, so nothing may rely on seals; out_fd: sized for the output,
 * or -1); the executor maps or forwards them. */
struct vgpu_exec_job {
	struct vgpu_job job;      /* in/out pointers unset: the executor maps the fds */
	int in_fd;
	size_t in_bytes;
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
	int iversion;             /* 1; 2 adds slot_info */
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

/* Implementations. exec_pool.c: workers hosting the backend called BACKEND_NAME
 * ("mock", "cuda": backend.h's table; the mediator links no backend), one per device the
 * backend reports; -EINVAL for an unknown name or no worker_path, else 0 once every
 * worker said hello, or negative with ERR in the worker's own words. exec_remote.c: Plan B. */
int vgpu_pool_open(const char *backend_name, const struct vgpu_exec_opts *opts,
		   struct vgpu_executor **exp, char *err, size_t errlen);
int vgpu_remote_open(const char *dir, const struct vgpu_exec_opts *opts,
		     struct vgpu_executor **exp, char *err, size_t errlen);

#endif
