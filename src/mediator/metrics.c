/* metrics.c - the mediator's counters (metrics.h): a table of VMs sorted by id, found by
 * binary search, and one job counter per executor slot. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"

int vgpu_metrics_init(struct vgpu_metrics *mt, int nslots)
{
	memset(mt, 0, sizeof(*mt));
	if (nslots > 0 && !(mt->slot_jobs = calloc((size_t)nslots, sizeof(*mt->slot_jobs))))
		return -ENOMEM;
	mt->nslots = nslots;
	return 0;
}

void vgpu_metrics_release(struct vgpu_metrics *mt)
{
	free(mt->vms);
	free(mt->slot_jobs);
	memset(mt, 0, sizeof(*mt));
}

struct vgpu_vm_counters *vgpu_metrics_vm(struct vgpu_metrics *mt, uint32_t vm)
{
	size_t lo = 0, hi = mt->nvms;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (mt->vms[mid].vm == vm)
			return &mt->vms[mid];
		if (mt->vms[mid].vm < vm)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (mt->nvms == mt->capvms) {
		size_t ncap = mt->capvms ? mt->capvms * 2 : 16;
		struct vgpu_vm_counters *n = realloc(mt->vms, ncap * sizeof(*n));

		if (!n)
			return NULL;
		mt->vms = n;
		mt->capvms = ncap;
	}
	memmove(&mt->vms[lo + 1], &mt->vms[lo], (mt->nvms - lo) * sizeof(*mt->vms));
	mt->nvms++;
	memset(&mt->vms[lo], 0, sizeof(mt->vms[lo]));
	mt->vms[lo].vm = vm;
	return &mt->vms[lo];
}

static void seen(struct vgpu_vm_counters *c)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	c->last_seen_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void vgpu_metrics_queued(struct vgpu_metrics *mt, uint32_t vm, uint64_t in_bytes)
{
	struct vgpu_vm_counters *c = vgpu_metrics_vm(mt, vm);

	if (c) {
		c->submitted++;
		c->bytes_in += in_bytes;
		seen(c);
	}
}

void vgpu_metrics_rejected(struct vgpu_metrics *mt, uint32_t vm)
{
	struct vgpu_vm_counters *c = vgpu_metrics_vm(mt, vm);

	if (c) {
		c->rejected++;
		seen(c);
	}
}

void vgpu_metrics_answered(struct vgpu_metrics *mt, uint32_t vm, int status, uint64_t out_bytes)
{
	struct vgpu_vm_counters *c = vgpu_metrics_vm(mt, vm);

	if (!c)
		return;
	if (status >= 0 && status < VGPU_STATUS_COUNT)
		c->answers[status]++;
	c->bytes_out += out_bytes;
}

void vgpu_metrics_dispatched(struct vgpu_metrics *mt, int slot)
{
	if (slot >= 0 && slot < mt->nslots)
		mt->slot_jobs[slot]++;
}
