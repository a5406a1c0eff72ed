/* report.h - what the running daemon reports: a snapshot of the core (executor slots and
 * their workers, the queue per priority, per-VM counters) plus the daemon's own facts
 * (pid, version, uptime, reloads), as text for `vgpu-mediator status` and as a
 * Prometheus text-format file for the node exporter's textfile collector.
 * Metric names and the status file are documented in docs/OPERATIONS.md. */
#ifndef VGPU_REPORT_H
#define VGPU_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include "metrics.h"

struct vgpu_mediator;

struct vgpu_report_slot {
	char name[32];               /* "mock", "cuda:0", "remote" */
	int device;                  /* -1 unknown */
	const char *state;           /* "ready", "starting", "down"; "-" when the executor can't tell */
	int busy;                    /* a job runs on it */
	uint32_t vm;                 /* whose job, when busy */
	uint64_t jobs, restarts;
};

struct vgpu_report_vm {
	struct vgpu_vm_counters c;
	int served;                  /* its directory is being served now */
	int cap;                     /* enum vgpu_prio, when served */
	int waiting;                 /* a job of it is queued or running */
};

struct vgpu_report {
	/* the daemon's: filled by its caller */
	char version[32];
	long pid;
	int64_t started_ms, now_ms;  /* wall clock, unix ms */
	uint64_t reloads, reload_failures;
	int64_t last_reload_ms;      /* 0: never */
	int last_reload_ok;
	const char *config;          /* the file, or NULL */
	/* the core's: vgpu_mediator_report() */
	char executor[32];
	int stopping;                /* 1 stopping, 2 stopped (the daemon sets 2) */
	size_t queued[3];            /* by priority as queued: [VGPU_PRIO_LOW..HIGH] */
	int running;
	uint64_t answered, ok, errors;
	struct vgpu_report_slot *slots;
	size_t nslots;
	struct vgpu_report_vm *vms;  /* every VM served or counted, by id */
	size_t nvms;
};

/* Fill the core's part of ST (malloc'ed arrays: vgpu_report_release()). 0 or -ENOMEM. */
int vgpu_mediator_report(struct vgpu_mediator *m, struct vgpu_report *st);
void vgpu_report_release(struct vgpu_report *st);

/* The report for people (what `vgpu-mediator status` prints) and in the Prometheus text
 * format 0.0.4; malloc'ed (caller frees), NULL when out of memory. */
char *vgpu_report_text(const struct vgpu_report *st);
char *vgpu_report_prom(const struct vgpu_report *st);

/* Write LEN bytes of BUF as PATH, atomically (temporary file, rename): a reader sees the
 * old or the new file, never half of one. 0 or -errno. */
int vgpu_report_write_file(const char *path, const char *buf, size_t len);

#endif
