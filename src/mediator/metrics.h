/* metrics.h - the mediator's counters: per VM (requests submitted to the queue,
 * rejected, answered by status, bytes, last seen) and per executor slot (jobs run). The core bumps
 * them where it reads a request, queues a job and publishes an answer; status.c reads
 * them. Never logs, never fails the caller: a counter that cannot be allocated (out of
 * memory) is not counted. */
#ifndef VGPU_METRICS_H
#define VGPU_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include "lib/status.h"

struct vgpu_vm_counters {
	uint32_t vm;
	uint64_t submitted;          /* requests accepted into the queue */
	uint64_t rejected;           /* answered without running: bad record, stale seq, ... */
	uint64_t answers[VGPU_STATUS_COUNT];  /* answers published, by status */
	uint64_t bytes_in, bytes_out;         /* input payloads read, output files published */
	int64_t last_seen_ms;        /* wall clock (unix ms) of the last request queued or
	                              * rejected; 0 never */
};

struct vgpu_metrics {
	struct vgpu_vm_counters *vms;   /* sorted by vm */
	size_t nvms, capvms;
	uint64_t *slot_jobs;         /* jobs submitted per executor slot */
	int nslots;
};

/* 0, or -ENOMEM. */
int vgpu_metrics_init(struct vgpu_metrics *mt, int nslots);
void vgpu_metrics_release(struct vgpu_metrics *mt);
/* VM's counters, created at zero; NULL only when out of memory. */
struct vgpu_vm_counters *vgpu_metrics_vm(struct vgpu_metrics *mt, uint32_t vm);

/* The hooks the core calls. */
void vgpu_metrics_queued(struct vgpu_metrics *mt, uint32_t vm, uint64_t in_bytes);
void vgpu_metrics_rejected(struct vgpu_metrics *mt, uint32_t vm);
void vgpu_metrics_answered(struct vgpu_metrics *mt, uint32_t vm, int status, uint64_t out_bytes);
void vgpu_metrics_dispatched(struct vgpu_metrics *mt, int slot);

#endif
