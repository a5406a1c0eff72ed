/* mediator_int.h - the mediator's internal types, shared by mediator.c (event loop),
 * vms.c (the VM directories served), intake.c (reading and validating command.txt) and
 * answer.c (responses and state).
 * Jobs are job.h's, the journal journal.h's, the clock lib/clock.h's.
 * Not an API: nothing outside src/mediator includes it. */
#ifndef VGPU_MEDIATOR_INT_H
#define VGPU_MEDIATOR_INT_H

#include <inttypes.h>
#include <stdint.h>
#include <sys/types.h>
#include <poll.h>
#include "mediator.h"
#include "job.h"
#include "journal.h"
#include "metrics.h"
#include "pqueue.h"
#include "progress.h"
#include "ratelimit.h"
#include "state.h"
#include "lib/clock.h"
#include "lib/record.h"

/* What identifies a version of command.txt, so a rejected file is answered once. */
struct file_key {
	dev_t dev;
	ino_t ino;
	off_t size;
	int64_t mtime_ns;
	uint32_t crc;                /* of the content; 0 for non-files */
};

struct vm {
	uint32_t id;
	int dirfd;
	int wd;                      /* inotify watch, -1 if none */
	int watch_close;             /* the watch has IN_CLOSE_WRITE too (vms.c) */
	int cap;
	int has_uid;                 /* the VM's configured uid (--vm N:PRIO:UID, --vm-uid) */
	uid_t uid;
	gid_t gid;                   /* vmN/'s group: outputs are written as UID:GID */
	struct vgpu_vm_state st;
	struct job *job;             /* queued or running; at most one per VM */
	struct file_key seen;        /* last command.txt version acted on */
	int seen_valid;
	uint64_t incomplete_since_ms;/* 0: not waiting on an incomplete record */
	int warned;                  /* one log line per persistent problem */
	int resp_pending;            /* the last answer's publish failed: retry on rescans */
	dev_t dir_dev;               /* identity of the directory we serve, to notice */
	ino_t dir_ino;               /* vmN being deleted, recreated or renamed */
	uid_t dir_uid;               /* ... or given to another owner */
	int dirty;                   /* an inotify event for command.txt this turn */
	struct vm *dirty_next;       /* the list of this turn's dirty VMs (handle_inotify) */
	int cmd_waiting;             /* a new command.txt seen while its job ran: read it at the answer */
	/* Flooding (docs/SECURITY.md): error answers and log lines are rate-limited per
	 * VM; past its budget a VM's command.txt is not read before INTAKE_AFTER_MS. */
	struct vgpu_ratelimit rejects, logs;
	uint64_t intake_after_ms;    /* 0: no wait */
	/* An answer that could not be saved in --state (ENOSPC, EIO): kept here, not
	 * published (durable before visible), saved and published by the rescans; the
	 * VM's commands wait meanwhile (PROTOCOL.md s.7). */
	char *unsaved;
	size_t unsaved_len;
	int64_t unsaved_seq;
	char unsaved_nonce[17];
	int unsaved_status;
	int unsaved_warned;
	uint64_t next_sweep_ms;      /* outputs.c: when to look at out-*.bin again */
	int outputs_none;            /* the last sweep left no out-*.bin and no output job came since */
	struct vgpu_progress_vm prog;/* progress.c: its status.txt */
	/* The payload budget (intake.c, docs/SECURITY.md): a request whose payload does not
	 * fit waits unread with a ticket; waiters are admitted oldest first. */
	uint64_t budget_ticket;      /* 0: not waiting */
	uint64_t budget_mine;        /* the ticket it had when this look began */
};

struct vgpu_mediator {
	struct vgpu_mediator_config cfg;
	int rootfd, statefd, inofd;
	int lockfd;                  /* STATE/lock, flocked while we run */
	struct vgpu_journal journal;
	int pipe[2];                 /* self-pipe: stop requests */
	volatile int stopping;
	unsigned own_events;          /* response.txt renames of ours whose events are queued */
	int vm_timers;                /* 1: a VM may have incomplete_since_ms or intake_after_ms
				      * set (intake.c sets it): step() walks the VMs only then */
	struct vm **vms;
	size_t nvms, capvms;
	struct vgpu_pq queue;
	struct job **slots;          /* running job per executor slot, or NULL */
	int nslots;
	struct pollfd *pfd;          /* step()'s: the pipe, inotify, one per slot */
	/* VGPU_RECORD_MAX bytes each, allocated once (rec_out again after an unsaved answer
	 * kept it, answer.c): the record read from a command.txt
	 * (intake.c's scan) and the answer encoded for publication (answer.c's publish).
	 * Neither path re-enters itself; an answer published from within a scan uses the
	 * other buffer. */
	char *rec_in, *rec_out;
	uint64_t next_rescan_ms;
	struct vgpu_vm_cap *owned_caps; /* cfg.caps after vgpu_mediator_reconfigure() */
	struct vm_problem *problems; /* VMs not served, each logged once (vms.c) */
	size_t nproblems, capproblems;
	struct vgpu_metrics metrics; /* counters for status and metrics (metrics.h) */
	struct vgpu_progress prog;   /* progress.c: status.txt of every VM */
	struct {                     /* for the line run() logs when it stops */
		uint64_t answered, ok, errors, executed;
		uint64_t budget_waits;   /* requests that waited for the payload budget */
	} stats;
	uint64_t payload_held;       /* payload bytes of queued and running jobs (the budget) */
	struct vgpu_closer closer;   /* closes big files off the loop (job.h) */
	uint64_t budget_tickets;     /* the last ticket given to a waiting VM */
	size_t budget_waiting;       /* VMs holding a ticket: 0 spares the waiters' walk */
	/* handle_inotify: watch descriptor -> 1 + its VM's index in vms (checked on use:
	 * a stale or colliding entry falls back to the walk), so that an event costs O(1)
	 * however many VMs are served (issue 13's scaling). */
	uint32_t wd_hint[1024];
	uint64_t spin_us;            /* await.c: VGPU_MEDIATOR_SPIN_US */
	int phases;                  /* await.c: VGPU_MEDIATOR_PHASES=1 */
	uint64_t woke_us;            /* with phases: when the last poll returned */
};

/* vms.c: the set of VM directories served (m->vms). */
/* "vmN" with N in 1..VGPU_VM_MAX, no leading zero -> N; else 0. */
uint32_t vgpu_vms_number(const char *name);
/* VM ID's entry in the configuration, or NULL. */
const struct vgpu_vm_cap *vgpu_vms_config_of(const struct vgpu_mediator *m, uint32_t id);
/* VM ID's priority cap: its own, else the default. */
int vgpu_vms_cap_for(const struct vgpu_mediator *m, uint32_t id);
/* Start serving ROOT/NAME (a vmN not served yet and wanted). Problems are logged once;
 * the VM is retried on the next rescan. */
void vgpu_vms_add(struct vgpu_mediator *m, const char *name);
/* vgpu_vms_add() every directory of ROOT. */
void vgpu_vms_discover(struct vgpu_mediator *m);
/* Watch VM's directory for IN_CLOSE_WRITE too (ON) or for renames only (vms.c's VM_EVENTS). */
void vgpu_vms_watch_close(struct vgpu_mediator *m, struct vm *vm, int on);
/* Stop serving, once idle, VMs whose directory was removed, replaced or given to another
 * owner; and VMs no longer listed (serve = listed) after a reconfiguration. */
void vgpu_vms_drop_replaced(struct vgpu_mediator *m);
void vgpu_vms_drop_unlisted(struct vgpu_mediator *m);
/* Release VM (its watch, directory, state); the caller takes it out of m->vms. */
void vgpu_vms_close(struct vgpu_mediator *m, struct vm *vm);

/* intake.c: look at VM's command.txt; queue a job, answer an error, or do nothing. */
void vgpu_intake_scan(struct vgpu_mediator *m, struct vm *vm);
/* Look again at the VMs waiting for the payload budget, oldest first, while they fit
 * (after a job gave its bytes back). */
void vgpu_intake_waiters(struct vgpu_mediator *m);

/* A rate-limited warning about VM (docs/SECURITY.md): within vm->logs' budget; the next
 * line allowed says how many were suppressed. */
#define vgpu_vm_warn(m, vm, fmt, ...) \
	vgpu_ratelimit_warn(&(vm)->logs, vgpu_now_ms(), "vm%" PRIu32 ": " fmt, (vm)->id, ##__VA_ARGS__)

/* outputs.c: the lifetime of out-SEQ.bin (PROTOCOL.md s.1.1). */
/* VM sent a request above its mark: it has read what it wanted of older outputs. */
void vgpu_outputs_superseded(struct vgpu_mediator *m, struct vm *vm, int64_t new_seq);
/* Remove outputs past --output-ttl and superseded ones; at most once a second per VM. */
void vgpu_outputs_sweep(struct vgpu_mediator *m, struct vm *vm, int force);
/* Bytes of out-*.bin in VM's directory now. */
uint64_t vgpu_outputs_held(struct vm *vm);
/* Remove VM's NAME, the pages of a big file freed by CLOSER's thread, not in the loop.
 * 0 or -errno. */
int vgpu_unlink_later(struct vgpu_closer *closer, const struct vm *vm, const char *name);
/* A private, empty file in VM's directory for JOB's output (job->out_fd): O_TMPFILE, or a
 * ".tmp-out-*" name (job->out_tmp) where the file system has none; mode 0600, the
 * mediator's, so no VM can open or truncate it while the executor writes it. 0 or -errno. */
int vgpu_outputs_create(struct vm *vm, struct job *job);
/* JOB's output, written and fdatasync'ed by the executor, as NAME (out-SEQ.bin):
 * owned by the VM's uid when known, mode 0644, fsynced, linked or renamed into place
 * over whatever was there. 0 or -errno (fault points mediator/output/chown, /link). */
int vgpu_outputs_commit(struct vm *vm, struct job *job, const char *name);

/* answer.c */
/* Publish an error answer for (SEQ, NONCE) (seq 0 when unknown) and persist it. */
void vgpu_answer_error(struct vgpu_mediator *m, struct vm *vm, int64_t seq, const char *nonce,
		       enum vgpu_op op, int status, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));
/* Answer a record that could not be parsed: echo SEQ/NONCE as far as they were read,
 * but do not persist them (a corrupt seq must not move the VM's high-water mark). */
void vgpu_answer_reject(struct vgpu_mediator *m, struct vm *vm, int64_t seq, const char *nonce,
			int status, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Answer a finished job from the executor's result (naming its output file); frees
 * nothing. */
void vgpu_answer_job(struct vgpu_mediator *m, struct job *job, const struct vgpu_job_result *res,
		     const char *executor);
/* Re-publish the saved last answer when response.txt lost it, or when publishing it
 * failed (vm->resp_pending). 0 or negative errno; clears resp_pending on success. */
int vgpu_answer_republish(struct vgpu_mediator *m, struct vm *vm);
/* A VM served for the first time, with no answer and nothing at response.txt: publish
 * the initial seq-0 response.txt (PROTOCOL.md s.10). */
void vgpu_answer_initial(struct vgpu_mediator *m, struct vm *vm);
/* Does response.txt hold the VM's last persisted answer (or a later reject)? */
int vgpu_answer_delivered(const struct vm *vm);
/* At start: resolve an intent left by a mediator that died mid-job. */
void vgpu_answer_recover(struct vgpu_mediator *m, struct vm *vm);
/* Save and publish VM's answer that --state refused before (vm->unsaved). 0 when there
 * is none left, negative errno while the state still refuses it. */
int vgpu_answer_save_unsaved(struct vgpu_mediator *m, struct vm *vm);

#endif
