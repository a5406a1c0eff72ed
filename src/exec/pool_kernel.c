/* pool_kernel.c - the VMs' kernel workers (docs/KERNELS.md section 4, "Isolation"): a
 * `kernel` job of VM N on device D runs in a vgpu-worker process of its own for (N, D),
 * hosting the backend's kernel backend ("cuda-kernel"), so that a kernel that faults,
 * hangs or crashes takes only its own VM's process with it: the device's worker (the
 * other ops) and the other VMs' kernel workers go on as they were. Started on the VM's
 * first kernel job, retired after VGPU_KERNEL_WORKER_IDLE_MS unused, at most
 * VGPU_KERNEL_WORKERS per device (the least recently used idle one retired for a new
 * VM). One job at a time per device still: the slot runs one job, on one process. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/env.h"
#include "../lib/log.h"
#include "../lib/record.h"
#include "../lib/status.h"
#include "pool_int.h"

#define KERNEL_WORKERS_DEFAULT   4u
#define KERNEL_WORKERS_MAX      64u
#define KERNEL_IDLE_DEFAULT_MS  60000u

int vgpu_pool_kernel_setup(struct pool *p)
{
	p->kernel_max = (unsigned)vgpu_env_u64("VGPU_KERNEL_WORKERS", KERNEL_WORKERS_DEFAULT, 1, KERNEL_WORKERS_MAX);
	p->kernel_idle_ms = vgpu_env_u64("VGPU_KERNEL_WORKER_IDLE_MS", KERNEL_IDLE_DEFAULT_MS, 0, UINT64_MAX / 2);
	for (int i = 0; i < p->base.nslots; i++) {
		struct slot *s = &p->slots[i];

		s->kw = calloc(p->kernel_max, sizeof(*s->kw));
		if (!s->kw)
			return -ENOMEM;
		for (unsigned k = 0; k < p->kernel_max; k++) {
			s->kw[k].sock = -1;
			s->kw[k].dev = s->w.dev;
		}
	}
	return 0;
}

int vgpu_pool_kernel_job(const struct pool *p, const struct vgpu_exec_job *job)
{
	return p->kbackend[0] && job->job.op == VGPU_OP_KERNEL;
}

/* The process key of JOB: its VM, or one outside the VMs' range for a job without one
 * (a test or bench driving the pool directly). */
static uint32_t job_vm(const struct vgpu_exec_job *job)
{
	return job->job.args.kernel.vm ? job->job.args.kernel.vm : VGPU_VM_MAX + 1;
}

int vgpu_pool_kernel_drop(struct slot *s, struct wproc *w, int kill_it, int reaped_status)
{
	int status = vgpu_pool_slot_down(w, kill_it, reaped_status);
	int dev = w->dev;

	if (s->cur == w)
		s->cur = &s->w;
	memset(w, 0, sizeof(*w));
	w->sock = -1;
	w->dev = dev;
	return status;
}

static void retire(struct slot *s, struct wproc *w, const char *why)
{
	int dev = w->dev;

	vgpu_info("kernel worker %s (pid %d) retired: %s", w->name, (int)w->pid, why);
	vgpu_pool_retire(w);
	memset(w, 0, sizeof(*w));
	w->sock = -1;
	w->dev = dev;
	(void)s;
}

void vgpu_pool_kernel_reap_idle(struct pool *p, uint64_t now)
{
	for (int i = 0; i < p->base.nslots; i++) {
		struct slot *s = &p->slots[i];

		for (unsigned k = 0; s->kw && k < p->kernel_max; k++) {
			struct wproc *w = &s->kw[k];

			if (!w->vm || (s->busy && s->cur == w) || now - w->used_ms < p->kernel_idle_ms)
				continue;
			retire(s, w, "idle");
			s->kreaped++;
		}
	}
}

uint64_t vgpu_pool_kernel_next_idle(const struct pool *p)
{
	uint64_t next = UINT64_MAX;

	for (int i = 0; i < p->base.nslots; i++) {
		const struct slot *s = &p->slots[i];

		for (unsigned k = 0; s->kw && k < p->kernel_max; k++) {
			const struct wproc *w = &s->kw[k];

			if (w->vm && !(s->busy && s->cur == w) && w->used_ms + p->kernel_idle_ms < next)
				next = w->used_ms + p->kernel_idle_ms;
		}
	}
	return next;
}

static void fail(struct slot *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct slot *s, const char *fmt, ...)
{
	va_list ap;

	s->have_pending = 1;
	memset(&s->pending, 0, sizeof(s->pending));
	s->pending.status = VGPU_EXEC_FAILED;
	va_start(ap, fmt);
	vsnprintf(s->pending.error, sizeof(s->pending.error), fmt, ap);
	va_end(ap);
}

struct wproc *vgpu_pool_kernel_worker(struct pool *p, struct slot *s, const struct vgpu_exec_job *job,
				      uint64_t now)
{
	uint32_t vm = job_vm(job);
	struct wproc *w = NULL, *freew = NULL, *lru = NULL;
	int rc;

	for (unsigned k = 0; k < p->kernel_max; k++) {
		struct wproc *c = &s->kw[k];

		if (c->vm == vm)
			w = c;
		else if (!c->vm && !freew)
			freew = c;
		else if (c->vm && (!lru || c->used < lru->used))
			lru = c;
	}
	if (w && w->pid) {
		w->used = ++p->kclock;
		return w;
	}
	if (!w) {
		if (now < s->knext_spawn_ms) {
			fail(s, "the kernel workers of %s did not start (see the log); next attempt in %llu ms",
			     s->w.name, (unsigned long long)(s->knext_spawn_ms - now));
			return NULL;
		}
		if (!freew) {
			/* every entry taken, all idle (one job at a time per device): the least
			 * recently used goes */
			retire(s, lru, "the least recently used, for a new VM");
			s->kevicted++;
			freew = lru;
		}
		w = freew;
		w->vm = vm;
		w->backend = p->kbackend;
		if (vm > VGPU_VM_MAX)
			snprintf(w->name, sizeof(w->name), "%.24s/novm", s->w.name);
		else
			snprintf(w->name, sizeof(w->name), "%.24s/vm%u", s->w.name, vm);
	}
	w->used_ms = now;
	w->used = ++p->kclock;
	rc = vgpu_pool_spawn(p, w, now);
	if (rc != 0) {
		fail(s, "cannot start the kernel worker %s: %s", w->name, strerror(-rc));
		vgpu_warn("%s", s->pending.error);
		vgpu_pool_kernel_drop(s, w, 1, -1);
		return NULL;
	}
	s->kstarted++;
	vgpu_info("kernel worker %s started (pid %d)", w->name, (int)w->pid);
	return w;
}
