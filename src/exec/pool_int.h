/* pool_int.h - the worker pool's insides, shared by exec_pool.c (the executor: submit,
 * fd, reap with the watchdog, open, close), pool_kernel.c (the VMs' kernel workers:
 * found or started per VM, idle ones reaped, the least recently used evicted) and
 * pool_worker.c (one worker process: spawn, kill and reap, restart with backoff, its
 * messages). Nothing else includes it. */
#ifndef VGPU_POOL_INT_H
#define VGPU_POOL_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "executor.h"

enum worker_state { W_DOWN, W_STARTING, W_READY };

/* One vgpu-worker process: a device's own worker, or a VM's kernel worker. */
struct wproc {
	int dev;
	char name[40];             /* "mock", "cuda:0"; a kernel worker "cuda:0/vm3" */
	const char *backend;       /* what it hosts: the pool's backend or its kernel backend */
	uint32_t vm;               /* kernel workers: the VM (VGPU_VM_MAX + 1: jobs without
	                            * one); 0: the device's own worker, or a free entry */
	pid_t pid;                 /* 0: no process */
	int sock;                  /* -1: no process */
	enum worker_state state;
	char hello_err[256];       /* what a failing worker said in its hello */
	/* restarts */
	unsigned fails;            /* consecutive spawns that never said hello */
	unsigned rapid;            /* consecutive restarts within POOL_RAPID_WINDOW_MS */
	uint64_t last_spawn_ms, next_spawn_ms;
	uint64_t restarts;         /* vgpu_pool_restart() calls, for slot_info */
	char down_reason[320];
	uint64_t used_ms;          /* kernel workers: when its last job ended (idle reaping) */
	uint64_t used;             /* kernel workers: the pool's LRU clock at its last job */
};

/* One device: its worker, its VMs' kernel workers, the running job. */
struct slot {
	struct wproc w;            /* the device's worker: every op, kernel jobs too when the
	                            * backend has no kernel backend */
	struct wproc *kw;          /* pool->kernel_max kernel workers (entries with vm 0 free) */
	struct wproc *cur;         /* the process running the job (w or one of kw) */
	/* the running job */
	int busy;
	uint64_t job_id, submit_ms, deadline_ms;
	int have_pending;          /* failed without a worker: reap returns PENDING */
	struct vgpu_job_result pending;
	/* kernel workers that never said hello: back off, as for the device's worker */
	unsigned kfails;
	uint64_t knext_spawn_ms;
	uint64_t kstarted, kreaped, kevicted;   /* counters, for the log and the tests */
};

struct pool {
	struct vgpu_executor base; /* Base class. Must be first */
	char backend[16];
	char kbackend[16];         /* the kernel workers' backend; "": none */
	unsigned kernel_max;       /* kernel workers per device (VGPU_KERNEL_WORKERS) */
	uint64_t kernel_idle_ms;   /* an idle kernel worker is reaped after this */
	char *worker_path;
	int devnull;
	int ready_fd;              /* an eventfd that is always readable */
	uint64_t next_id;
	uint64_t kclock;           /* the kernel workers' LRU clock */
	struct slot *slots;
};

/* --- pool_worker.c ------------------------------------------------------------------ */
/* The restart delay after N failed starts: 100 ms doubling to 10 s. */
uint64_t vgpu_pool_backoff_ms(unsigned n);
/* Start a worker process for W (asynchronously: its hello is read later). 0, -EAGAIN
 * while W backs off, or -errno. */
int vgpu_pool_spawn(struct pool *p, struct wproc *w, uint64_t now);
/* Reap killed or retired workers that did not die at once. */
void vgpu_pool_reap_zombies(void);
/* Kill and reap W's process, close its socket. Returns its wait status, or REAPED_STATUS
 * when it was reaped before (>= 0). */
int vgpu_pool_slot_down(struct wproc *w, int kill_it, int reaped_status);
/* Close W's socket (EOF: an idle worker ends in order) and leave the process to
 * vgpu_pool_reap_zombies(), which SIGKILLs it after a grace period. Never waits. */
void vgpu_pool_retire(struct wproc *w);
/* After W's process went away: restart it now, unless it never got going (NEVER_READY)
 * or restarts keep failing, then back off. Describes what happened into TAIL. */
void vgpu_pool_restart(struct pool *p, struct wproc *w, uint64_t now, int never_ready, char *tail,
		       size_t taillen);
/* W's process is gone (EOF, error, exit): reap it, restart it, fill RES (may be NULL). */
void vgpu_pool_worker_died(struct pool *p, struct wproc *w, uint64_t now, int reaped_status,
			   struct vgpu_job_result *res);
/* Read what W sent. 1: the result of job JOB_ID (0: none expected) is in RES (*EXITING
 * set when the worker said it exits after it); 0: nothing more now; -1: the worker is
 * gone (EOF, reset, or a message that breaks the protocol). */
int vgpu_pool_drain(struct wproc *w, uint64_t job_id, struct vgpu_job_result *res, int *exiting);
/* Send JOB as job JOB_ID with its fds. 0 or -errno (-EPIPE...: the worker died). */
int vgpu_pool_send_job(struct wproc *w, uint64_t job_id, const struct vgpu_exec_job *job);

/* --- pool_kernel.c ------------------------------------------------------------------ */
/* Read VGPU_KERNEL_WORKERS and VGPU_KERNEL_WORKER_IDLE_MS into P and allocate each
 * slot's kernel workers. 0 or -ENOMEM. */
int vgpu_pool_kernel_setup(struct pool *p);
/* Whether JOB goes to a VM's kernel worker (a kernel job, and a kernel backend). */
int vgpu_pool_kernel_job(const struct pool *p, const struct vgpu_exec_job *job);
/* The kernel worker of JOB's VM on S, started when it has none (the least recently used
 * idle one evicted when S has kernel_max). NULL with S's pending result set when none
 * can start. S is not busy with another job. */
struct wproc *vgpu_pool_kernel_worker(struct pool *p, struct slot *s, const struct vgpu_exec_job *job,
				      uint64_t now);
/* Retire the kernel workers idle for kernel_idle_ms or more, on every slot but the
 * running jobs'. */
void vgpu_pool_kernel_reap_idle(struct pool *p, uint64_t now);
/* When the next kernel worker (not running a job) reaches its idle time, or UINT64_MAX. */
uint64_t vgpu_pool_kernel_next_idle(const struct pool *p);
/* A kernel worker W is gone or must go (fault, watchdog, death): down, its entry free;
 * the VM's next kernel job starts a new one. Returns the wait status as slot_down. */
int vgpu_pool_kernel_drop(struct slot *s, struct wproc *w, int kill_it, int reaped_status);

#endif
