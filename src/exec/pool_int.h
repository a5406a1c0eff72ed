/* pool_int.h - the worker pool's insides, shared by exec_pool.c (the executor: submit,
 * fd, reap with the watchdog, open, close) and pool_worker.c (one slot's worker process:
 * spawn, kill and reap, restart with backoff, its messages). Nothing else includes it. */
#ifndef VGPU_POOL_INT_H
#define VGPU_POOL_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "executor.h"

enum worker_state { W_DOWN, W_STARTING, W_READY };

struct slot {
	int dev;
	char name[32];             /* "mock", "cuda:0" */
	pid_t pid;                 /* 0: no worker */
	int sock;                  /* -1: no worker */
	enum worker_state state;
	char hello_err[256];       /* what a failing worker said in its hello */
	/* the running job */
	int busy;
	uint64_t job_id, submit_ms, deadline_ms;
	int have_pending;          /* failed without a worker: reap returns PENDING */
	struct vgpu_job_result pending;
	/* restarts */
	unsigned fails;            /* consecutive spawns that never said hello */
	unsigned rapid;            /* consecutive restarts within POOL_RAPID_WINDOW_MS */
	uint64_t last_spawn_ms, next_spawn_ms;
	uint64_t restarts;         /* vgpu_pool_restart() calls, for slot_info */
	char down_reason[320];
};

struct pool {
	struct vgpu_executor base; /* Base class. Must be first */
	char backend[16];
	char *worker_path;
	int devnull;
	int ready_fd;              /* an eventfd that is always readable */
	uint64_t next_id;
	struct slot *slots;
};

/* --- pool_worker.c ------------------------------------------------------------------ */
/* The restart delay after N failed starts: 100 ms doubling to 10 s. */
uint64_t vgpu_pool_backoff_ms(unsigned n);
/* Start a worker for S (asynchronously: its hello is read later). 0, -EAGAIN while S
 * backs off, or -errno. */
int vgpu_pool_spawn(struct pool *p, struct slot *s, uint64_t now);
/* Reap killed workers that did not die at once. */
void vgpu_pool_reap_zombies(void);
/* Kill and reap S's worker, close its socket. Returns its wait status, or REAPED_STATUS
 * when it was reaped before (>= 0). */
int vgpu_pool_slot_down(struct slot *s, int kill_it, int reaped_status);
/* After S's worker went away: restart it now, unless it never got going (NEVER_READY)
 * or restarts keep failing, then back off. Describes what happened into TAIL. */
void vgpu_pool_restart(struct pool *p, struct slot *s, uint64_t now, int never_ready, char *tail,
		       size_t taillen);
/* S's worker is gone (EOF, error, exit): reap it, restart it, fill RES (may be NULL). */
void vgpu_pool_worker_died(struct pool *p, struct slot *s, uint64_t now, int reaped_status,
			   struct vgpu_job_result *res);
/* Read what S's worker sent. 1: the running job's result is in RES (*EXITING set when
 * the worker said it exits after it); 0: nothing more now; -1: the worker is gone (EOF,
 * reset, or a message that breaks the protocol). */
int vgpu_pool_drain(struct slot *s, struct vgpu_job_result *res, int *exiting);
/* Send JOB (S's running job) with its memfds. 0 or -errno (-EPIPE...: the worker died). */
int vgpu_pool_send_job(struct slot *s, const struct vgpu_exec_job *job);

#endif
