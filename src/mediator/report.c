/* report.c - the running daemon's report: a snapshot of the core (vgpu_mediator_report),
 * and two renderings of it: text for `vgpu-mediator status`, and the Prometheus text
 * format for the node exporter's textfile collector; files are replaced atomically. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mediator_int.h"
#include "report.h"
#include "lib/status.h"

static int cmp_vm(const void *a, const void *b)
{
	const struct vgpu_report_vm *x = a, *y = b;

	return x->c.vm < y->c.vm ? -1 : x->c.vm > y->c.vm;
}

int vgpu_mediator_report(struct vgpu_mediator *m, struct vgpu_report *st)
{
	size_t n = 0;

	st->slots = calloc((size_t)m->nslots + 1, sizeof(*st->slots));
	st->vms = calloc(m->nvms + m->metrics.nvms + 1, sizeof(*st->vms));
	if (!st->slots || !st->vms) {
		vgpu_report_release(st);
		return -ENOMEM;
	}
	snprintf(st->executor, sizeof(st->executor), "%s", m->cfg.ex->ops->name);
	st->stopping = m->stopping;
	st->answered = m->stats.answered;
	st->ok = m->stats.ok;
	st->errors = m->stats.errors;
	memset(st->queued, 0, sizeof(st->queued));
	for (int p = 0; p < 3; p++)
		for (const struct vgpu_pq_item *it = m->queue.head[p].next; it != &m->queue.head[p]; it = it->next)
			st->queued[p]++;
	st->running = 0;
	st->nslots = (size_t)m->nslots;
	for (int s = 0; s < m->nslots; s++) {
		struct vgpu_report_slot *o = &st->slots[s];
		struct vgpu_slot_info info = { .device = -1, .state = "-" };

		vgpu_executor_slot_info(m->cfg.ex, s, &info);
		snprintf(o->name, sizeof(o->name), "%s", vgpu_executor_slot_name(m->cfg.ex, s));
		o->device = info.device;
		o->state = info.state;
		o->restarts = info.restarts;
		o->jobs = s < m->metrics.nslots ? m->metrics.slot_jobs[s] : 0;
		o->busy = m->slots[s] != NULL;
		o->vm = o->busy ? m->slots[s]->vm->id : 0;
		st->running += o->busy;
	}
	/* every VM counted, then the served ones that have no counters yet */
	for (size_t i = 0; i < m->metrics.nvms; i++)
		st->vms[n++].c = m->metrics.vms[i];
	for (size_t i = 0; i < m->nvms; i++) {
		const struct vm *vm = m->vms[i];
		struct vgpu_report_vm *o = NULL;

		for (size_t j = 0; j < n && !o; j++)
			if (st->vms[j].c.vm == vm->id)
				o = &st->vms[j];
		if (!o) {
			o = &st->vms[n++];
			o->c.vm = vm->id;
		}
		o->served = 1;
		o->cap = vm->cap;
		o->waiting = vm->job != NULL;
	}
	st->nvms = n;
	qsort(st->vms, n, sizeof(*st->vms), cmp_vm);
	return 0;
}

void vgpu_report_release(struct vgpu_report *st)
{
	free(st->slots);
	free(st->vms);
	st->slots = NULL;
	st->vms = NULL;
	st->nslots = st->nvms = 0;
}

/* A growing string. */
struct out {
	char *s;
	size_t len, cap;
	int oom;
};

static void put(struct out *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	while (!b->oom) {
		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			b->oom = 1;
		else if (b->s && b->len + (size_t)n < b->cap)
			b->len += (size_t)n;
		else {
			size_t ncap = (b->cap ? b->cap * 2 : 4096) + (size_t)n;
			char *s = realloc(b->s, ncap);

			if (!s)
				b->oom = 1;
			else {
				b->s = s;
				b->cap = ncap;
				continue;
			}
		}
		break;
	}
}

static char *done(struct out *b)
{
	if (b->oom) {
		free(b->s);
		return NULL;
	}
	return b->s;
}

static void put_duration(struct out *b, int64_t ms)
{
	int64_t s = ms / 1000;

	if (s >= 86400)
		put(b, "%" PRId64 "d %" PRId64 "h %" PRId64 "m", s / 86400, s % 86400 / 3600, s % 3600 / 60);
	else if (s >= 3600)
		put(b, "%" PRId64 "h %" PRId64 "m %" PRId64 "s", s / 3600, s % 3600 / 60, s % 60);
	else if (s >= 60)
		put(b, "%" PRId64 "m %" PRId64 "s", s / 60, s % 60);
	else
		put(b, "%" PRId64 "s", s);
}

static void put_time(struct out *b, int64_t ms)
{
	char buf[32];
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	put(b, "%s", buf);
}

static uint64_t answers(const struct vgpu_vm_counters *c, int ok)
{
	uint64_t n = 0;

	for (int s = 0; s < VGPU_STATUS_COUNT; s++)
		if ((s == VGPU_OK) == ok)
			n += c->answers[s];
	return n;
}

char *vgpu_report_text(const struct vgpu_report *st)
{
	static const char *prio[3] = { "low", "medium", "high" };
	struct out b = { 0 };

	put(&b, "vgpu-mediator %s, pid %ld, %s, up ", st->version, st->pid,
	    st->stopping == 2 ? "stopped" : st->stopping ? "stopping" : "running");
	put_duration(&b, st->now_ms - st->started_ms);
	put(&b, " (since ");
	put_time(&b, st->started_ms);
	put(&b, ")\n");
	put(&b, "report:   ");
	put_time(&b, st->now_ms);
	put(&b, "\nconfig:   %s", st->config ? st->config : "(command line only)");
	if (st->reloads || st->reload_failures) {
		put(&b, "; reloaded %" PRIu64 " time%s, %" PRIu64 " failed, last ", st->reloads,
		    st->reloads == 1 ? "" : "s", st->reload_failures);
		put_time(&b, st->last_reload_ms);
		put(&b, " %s", st->last_reload_ok ? "ok" : "FAILED (old configuration kept)");
	}
	put(&b, "\nqueue:    %zu high, %zu medium, %zu low; %d running\n", st->queued[2], st->queued[1],
	    st->queued[0], st->running);
	put(&b, "answered: %" PRIu64 " (ok %" PRIu64 ", errors %" PRIu64 ")\n", st->answered, st->ok, st->errors);
	put(&b, "\nexecutor %s, %zu slot%s\n", st->executor, st->nslots, st->nslots == 1 ? "" : "s");
	put(&b, "  %-10s %-6s %-9s %-8s %10s %9s\n", "SLOT", "DEVICE", "WORKER", "JOB", "JOBS", "RESTARTS");
	for (size_t i = 0; i < st->nslots; i++) {
		const struct vgpu_report_slot *s = &st->slots[i];
		char dev[16], job[16];

		snprintf(dev, sizeof(dev), s->device >= 0 ? "%d" : "-", s->device);
		snprintf(job, sizeof(job), s->busy ? "vm%" PRIu32 : "idle", s->vm);
		put(&b, "  %-10s %-6s %-9s %-8s %10" PRIu64 " %9" PRIu64 "\n", s->name, dev, s->state, job, s->jobs,
		    s->restarts);
	}
	put(&b, "\n%zu VM%s\n", st->nvms, st->nvms == 1 ? "" : "s");
	put(&b, "  %-7s %-6s %-7s %9s %9s %9s %9s %12s %12s  %s\n", "VM", "CAP", "STATE", "SUBMITTED", "OK",
	    "ERRORS", "REJECTED", "BYTES_IN", "BYTES_OUT", "LAST SEEN");
	for (size_t i = 0; i < st->nvms; i++) {
		const struct vgpu_report_vm *v = &st->vms[i];
		char name[16];

		snprintf(name, sizeof(name), "vm%" PRIu32, v->c.vm);
		put(&b, "  %-7s %-6s %-7s %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %12" PRIu64 " %12" PRIu64 "  ",
		    name, v->served ? prio[v->cap >= 0 && v->cap < 3 ? v->cap : 1] : "-",
		    !v->served ? "gone" : v->waiting ? "busy" : "idle", v->c.submitted, answers(&v->c, 1),
		    answers(&v->c, 0), v->c.rejected, v->c.bytes_in, v->c.bytes_out);
		if (v->c.last_seen_ms) {
			put_duration(&b, st->now_ms - v->c.last_seen_ms);
			put(&b, " ago");
		} else {
			put(&b, "never");
		}
		put(&b, "\n");
		for (int s = 0; s < VGPU_STATUS_COUNT; s++)
			if (s != VGPU_OK && v->c.answers[s])
				put(&b, "  %-7s   %s: %" PRIu64 "\n", "", vgpu_status_name(s), v->c.answers[s]);
	}
	return done(&b);
}

static void help(struct out *b, const char *name, const char *type, const char *text)
{
	put(b, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

char *vgpu_report_prom(const struct vgpu_report *st)
{
	static const char *prio[3] = { "low", "medium", "high" };
	struct out b = { 0 };

	help(&b, "vgpu_mediator_info", "gauge", "The running vgpu-mediator: version and executor.");
	put(&b, "vgpu_mediator_info{version=\"%s\",executor=\"%s\"} 1\n", st->version, st->executor);
	help(&b, "vgpu_mediator_start_time_seconds", "gauge", "When the daemon started, unix time.");
	put(&b, "vgpu_mediator_start_time_seconds %.3f\n", (double)st->started_ms / 1000.0);
	help(&b, "vgpu_mediator_uptime_seconds", "gauge", "Seconds since the daemon started.");
	put(&b, "vgpu_mediator_uptime_seconds %.3f\n", (double)(st->now_ms - st->started_ms) / 1000.0);
	help(&b, "vgpu_mediator_report_time_seconds", "gauge", "When this report was written, unix time.");
	put(&b, "vgpu_mediator_report_time_seconds %.3f\n", (double)st->now_ms / 1000.0);
	help(&b, "vgpu_mediator_config_reloads_total", "counter", "SIGHUP reloads of the configuration, by result.");
	put(&b, "vgpu_mediator_config_reloads_total{result=\"ok\"} %" PRIu64 "\n", st->reloads);
	put(&b, "vgpu_mediator_config_reloads_total{result=\"failed\"} %" PRIu64 "\n", st->reload_failures);
	help(&b, "vgpu_mediator_queue_depth", "gauge", "Jobs waiting in the queue, by priority (as queued, after the cap).");
	for (int p = 2; p >= 0; p--)
		put(&b, "vgpu_mediator_queue_depth{priority=\"%s\"} %zu\n", prio[p], st->queued[p]);
	help(&b, "vgpu_mediator_jobs_running", "gauge", "Jobs running on the executor's slots.");
	put(&b, "vgpu_mediator_jobs_running %d\n", st->running);

	help(&b, "vgpu_mediator_slot_jobs_total", "counter", "Jobs handed to each executor slot.");
	for (size_t i = 0; i < st->nslots; i++)
		put(&b, "vgpu_mediator_slot_jobs_total{slot=\"%s\"} %" PRIu64 "\n", st->slots[i].name, st->slots[i].jobs);
	help(&b, "vgpu_mediator_slot_busy", "gauge", "1 while a job runs on the slot.");
	for (size_t i = 0; i < st->nslots; i++)
		put(&b, "vgpu_mediator_slot_busy{slot=\"%s\"} %d\n", st->slots[i].name, st->slots[i].busy);
	help(&b, "vgpu_mediator_worker_up", "gauge", "1 when the slot's worker process is ready (pool executors).");
	for (size_t i = 0; i < st->nslots; i++)
		if (strcmp(st->slots[i].state, "-") != 0)
			put(&b, "vgpu_mediator_worker_up{slot=\"%s\"} %d\n", st->slots[i].name,
			    strcmp(st->slots[i].state, "ready") == 0);
	help(&b, "vgpu_mediator_worker_restarts_total", "counter",
	     "Worker restarts per slot (a crash, a watchdog kill, a failed start).");
	for (size_t i = 0; i < st->nslots; i++)
		if (strcmp(st->slots[i].state, "-") != 0)
			put(&b, "vgpu_mediator_worker_restarts_total{slot=\"%s\"} %" PRIu64 "\n", st->slots[i].name,
			    st->slots[i].restarts);

	help(&b, "vgpu_mediator_vm_served", "gauge", "1 while the VM's directory is served.");
	for (size_t i = 0; i < st->nvms; i++)
		put(&b, "vgpu_mediator_vm_served{vm=\"vm%" PRIu32 "\"} %d\n", st->vms[i].c.vm, st->vms[i].served);
	help(&b, "vgpu_mediator_requests_submitted_total", "counter", "Requests accepted into the queue, per VM.");
	for (size_t i = 0; i < st->nvms; i++)
		put(&b, "vgpu_mediator_requests_submitted_total{vm=\"vm%" PRIu32 "\"} %" PRIu64 "\n", st->vms[i].c.vm,
		    st->vms[i].c.submitted);
	help(&b, "vgpu_mediator_requests_rejected_total", "counter",
	     "Requests answered with an error without running (bad record, stale seq, too large, ...), per VM.");
	for (size_t i = 0; i < st->nvms; i++)
		put(&b, "vgpu_mediator_requests_rejected_total{vm=\"vm%" PRIu32 "\"} %" PRIu64 "\n", st->vms[i].c.vm,
		    st->vms[i].c.rejected);
	help(&b, "vgpu_mediator_answers_total", "counter", "Answers published, per VM and status.");
	for (size_t i = 0; i < st->nvms; i++)
		for (int s = 0; s < VGPU_STATUS_COUNT; s++)
			if (st->vms[i].c.answers[s] || s == VGPU_OK)
				put(&b, "vgpu_mediator_answers_total{vm=\"vm%" PRIu32 "\",status=\"%s\"} %" PRIu64 "\n",
				    st->vms[i].c.vm, vgpu_status_name(s), st->vms[i].c.answers[s]);
	help(&b, "vgpu_mediator_input_bytes_total", "counter", "Input payload bytes read, per VM.");
	for (size_t i = 0; i < st->nvms; i++)
		put(&b, "vgpu_mediator_input_bytes_total{vm=\"vm%" PRIu32 "\"} %" PRIu64 "\n", st->vms[i].c.vm,
		    st->vms[i].c.bytes_in);
	help(&b, "vgpu_mediator_output_bytes_total", "counter", "Output file bytes published, per VM.");
	for (size_t i = 0; i < st->nvms; i++)
		put(&b, "vgpu_mediator_output_bytes_total{vm=\"vm%" PRIu32 "\"} %" PRIu64 "\n", st->vms[i].c.vm,
		    st->vms[i].c.bytes_out);
	help(&b, "vgpu_mediator_vm_last_seen_timestamp_seconds", "gauge",
	     "When the VM's last request was read, unix time (absent: never since start).");
	for (size_t i = 0; i < st->nvms; i++)
		if (st->vms[i].c.last_seen_ms)
			put(&b, "vgpu_mediator_vm_last_seen_timestamp_seconds{vm=\"vm%" PRIu32 "\"} %.3f\n",
			    st->vms[i].c.vm, (double)st->vms[i].c.last_seen_ms / 1000.0);
	return done(&b);
}

int vgpu_report_write_file(const char *path, const char *buf, size_t len)
{
	char tmp[PATH_MAX], copy[PATH_MAX];
	const char *dir, *base;
	size_t off = 0;
	int fd, rc = 0;

	snprintf(copy, sizeof(copy), "%s", path);
	base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	dir = dirname(copy);
	/* hidden and not "*.prom": the textfile collector must not read it half-written */
	if (snprintf(tmp, sizeof(tmp), "%s/.%s.tmp-%ld", dir, base, (long)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	while (off < len) {
		ssize_t w = write(fd, buf + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = w < 0 ? -errno : -EIO;
			break;
		}
		off += (size_t)w;
	}
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	return rc;
}
