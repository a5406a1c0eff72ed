/* mediator.h - the Dom0 daemon's core: serves every ROOT/vmN directory.
 *
 * Event loop: inotify on the VM directories (+ a periodic rescan), intake (read and
 * validate command.txt), the priority queue, dispatch to the executor's slots, and the
 * answers (response.txt + persistent state for exactly-once). One thread. */
#ifndef VGPU_MEDIATOR_H
#define VGPU_MEDIATOR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "exec/executor.h"

/* What the mediator knows of one VM (docs/SECURITY.md). */
struct vgpu_vm_cap {
	uint32_t vm;
	int cap;                     /* enum vgpu_prio: the highest priority VM may use;
				      * -1: the config's default_cap */
	int has_uid;                 /* 1: vmN/, its command.txt and payloads must belong to
				      * UID, else WRONG_OWNER; outputs are written as UID */
	uid_t uid;                   /* the uid the VM's export squashes it to (anonuid=) */
	uint64_t max_bytes;          /* quota: bytes per request; 0: none (carried, not enforced yet) */
	uint32_t max_queued;         /* quota: queued jobs; 0: none (carried, not enforced yet) */
};

struct vgpu_mediator_config {
	const char *root;            /* serves ROOT/vmN */
	const char *state_dir;       /* private and persistent (not inside the export) */
	const struct vgpu_vm_cap *caps;
	size_t ncaps;
	int default_cap;             /* for VMs not in CAPS */
	uint64_t rescan_ms;          /* backstop full rescan; default 1000 */
	uint64_t grace_ms;           /* how long an incomplete command.txt may stay so; 2000 */
	uint64_t aging_ms;           /* one priority level per AGING_MS waited; 0: off */
	uint64_t default_job_ms;     /* run-time limit without timeout_ms; 60000 */
	uint64_t max_job_ms;         /* cap on a request's timeout_ms; 600000 */
	uint64_t max_payload;        /* bytes; default 1 GiB */
	uint64_t output_ttl_ms;      /* out-SEQ.bin is removed after this long even if the VM
				      * never sends its next request; default 3600000 (1 h) */
	uint64_t max_vm_bytes;       /* bytes of out-*.bin one VM may hold; default 2*max_payload */
	uint64_t max_queued_bytes;   /* payload bytes (input + output files) of all queued and
				      * running jobs; past it a request waits; default 4*max_payload */
	uint64_t max_vm_queued_bytes;/* ... of one VM's request; past it TOO_LARGE; 2*max_payload */
	unsigned reject_burst;       /* error answers one VM gets at once; default 8 */
	unsigned reject_per_s;       /* ... and then per second; default 4; past it its records
				      * wait (not read) until the budget refills */
	int test_ops;                /* accept spin/leak/crash */
	int only_listed;             /* serve only the VMs in CAPS (config: serve = listed) */
	const char *journal;         /* append "exec"/"answer" lines here (tests); NULL: none */
	struct vgpu_executor *ex;    /* borrowed; the caller closes it after free */
};

struct vgpu_mediator;

/* Open ROOT and the state directory, take their locks (one mediator per root and per
 * state directory: a second one fails with -EBUSY, ERR naming the first one's pid),
 * discover the VMs, load their state and recover interrupted jobs. 0, or negative with
 * ERR filled (start-up errors: the daemon exits). */
int vgpu_mediator_new(struct vgpu_mediator **mp, const struct vgpu_mediator_config *cfg,
		      char *err, size_t errlen);
/* Serve until vgpu_mediator_stop(); then finish the jobs in hand, answer them and
 * return 0. Problems with one VM are logged and never stop the loop. A loop over
 * vgpu_mediator_step(). */
int vgpu_mediator_run(struct vgpu_mediator *m);
/* One turn of the loop: rescan when due, fill idle slots from the queue, wait for an
 * event (command.txt, a slot's progress, a stop request) up to the next timer, or
 * MAX_WAIT_MS when that is sooner (-1: no cap; 0: don't wait), then handle what came.
 * Returns 1 while serving, 0 once stopped with no job in hand. For tests and embedders;
 * the first call rescans at once. */
int vgpu_mediator_step(struct vgpu_mediator *m, int max_wait_ms);
/* Ask run() to stop. Async-signal-safe. */
void vgpu_mediator_stop(struct vgpu_mediator *m);
/* Make the current or next step() return at once (a signal handler's way to have its
 * flag looked at). Async-signal-safe. */
void vgpu_mediator_wake(struct vgpu_mediator *m);
/* run() with TICK(M, ARG) called after every turn of the loop, and at least every
 * PERIOD_MS (> 0). For the daemon's own periodic work: status files, the systemd
 * watchdog, a reload. */
int vgpu_mediator_run_tick(struct vgpu_mediator *m, int period_ms,
			   void (*tick)(struct vgpu_mediator *m, void *arg), void *arg);
/* Apply CFG's VM table (caps, uids, quotas, only_listed), default cap and limits to the
 * running mediator between two turns of the loop (never from a signal handler): queued
 * and running jobs stay as they are; served VMs get their new cap for their next
 * request; newly listed VMs are found, unlisted ones (only_listed) dropped once idle, at
 * the next rescan, which comes at once. CFG's root, state_dir, journal and ex are
 * ignored (a restart applies them). CFG is copied: the caller may free it afterwards.
 * 0, or -ENOMEM with nothing changed. */
int vgpu_mediator_reconfigure(struct vgpu_mediator *m, const struct vgpu_mediator_config *cfg);
void vgpu_mediator_free(struct vgpu_mediator *m);

#endif
