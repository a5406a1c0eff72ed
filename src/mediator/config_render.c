/* config_render.c - what a checked struct vgpu_config becomes: the file text that
 * --check-config prints (vgpu_config_format(), read back to the same values), the core's
 * struct vgpu_mediator_config, and the fields a reload cannot apply. Reading, setting,
 * merging and checking are config.c; both declare in config.h. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "lib/log.h"
#include "lib/record.h"

static int differs(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

void vgpu_config_restart_fields(const struct vgpu_config *a, const struct vgpu_config *b, char *buf, size_t len)
{
	const struct { const char *name; const char *x, *y; } f[] = {
		{ "root", a->root, b->root }, { "state", a->state, b->state },
		{ "executor", a->executor, b->executor }, { "fallback", a->fallback, b->fallback },
		{ "journal", a->journal, b->journal },
	};
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (differs(f[i].x, f[i].y) && off < len) {
			int n = snprintf(buf + off, len - off, "%s%s", off ? ", " : "", f[i].name);
			off += n > 0 ? (size_t)n : 0;
		}
	if (a->remote_timeout_ms != b->remote_timeout_ms && off < len)
		snprintf(buf + off, len - off, "%sremote_timeout_ms", off ? ", " : "");
}

void vgpu_config_to_mediator(struct vgpu_config *c, struct vgpu_mediator_config *out)
{
	for (size_t i = 0; i < c->nvms; i++)
		if (c->vms[i].cap < 0)
			c->vms[i].cap = c->default_cap;
	memset(out, 0, sizeof(*out));
	out->root = c->root;
	out->state_dir = c->state;
	out->caps = c->vms;
	out->ncaps = c->nvms;
	out->default_cap = c->default_cap;
	out->only_listed = c->only_listed;
	out->rescan_ms = c->rescan_ms;
	out->grace_ms = c->grace_ms;
	out->aging_ms = c->aging_ms;
	out->default_job_ms = c->job_ms;
	out->max_job_ms = c->max_job_ms;
	out->max_payload = c->max_payload;
	out->output_ttl_ms = c->output_ttl_ms;
	out->max_vm_bytes = c->max_vm_bytes;
	out->max_queued_bytes = c->max_queued_bytes;
	out->max_vm_queued_bytes = c->max_vm_queued_bytes;
	out->test_ops = c->test_ops;
	out->journal = c->journal;
}

/* A growing string. */
struct sbuf {
	char *s;
	size_t len, cap;
	int oom;
};

static void sb_add(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if (b->s && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		{
			size_t ncap = (b->cap ? b->cap * 2 : 1024) + (size_t)n;
			char *s = realloc(b->s, ncap);

			if (!s) {
				b->oom = 1;
				return;
			}
			b->s = s;
			b->cap = ncap;
		}
	}
}

static const char *level_name(int level)
{
	return level <= VGPU_LOG_ERR ? "err" : level == VGPU_LOG_WARN ? "warn" : level == VGPU_LOG_INFO ? "info"
											 : "debug";
}

char *vgpu_config_format(const struct vgpu_config *c)
{
	struct sbuf b = { 0 };

	sb_add(&b, "[mediator]\n");
	if (c->root)
		sb_add(&b, "root = %s\n", c->root);
	if (c->state)
		sb_add(&b, "state = %s\n", c->state);
	sb_add(&b, "executor = %s\n", c->executor ? c->executor : "auto");
	sb_add(&b, "fallback = %s\n", c->fallback ? c->fallback : "none");
	sb_add(&b, "default_cap = %s\n", vgpu_prio_name((enum vgpu_prio)c->default_cap));
	sb_add(&b, "serve = %s\n", c->only_listed ? "listed" : "all");
	if (c->journal)
		sb_add(&b, "journal = %s\n", c->journal);
	if (c->metrics)
		sb_add(&b, "metrics = %s\n", c->metrics);
	sb_add(&b, "status_interval_ms = %" PRIu64 "\n", c->status_ms);
	sb_add(&b, "log_level = %s\n", level_name(c->log_level));
	sb_add(&b, "syslog = %s\n", c->syslog ? "yes" : "no");
	sb_add(&b, "test_ops = %s\n", c->test_ops ? "yes" : "no");
	sb_add(&b, "\n[limits]\n");
	sb_add(&b, "aging_ms = %" PRIu64 "\nrescan_ms = %" PRIu64 "\ngrace_ms = %" PRIu64 "\njob_ms = %" PRIu64
		   "\nmax_job_ms = %" PRIu64 "\nmax_payload = %" PRIu64 "\nremote_timeout_ms = %" PRIu64 "\n",
	       c->aging_ms, c->rescan_ms, c->grace_ms, c->job_ms, c->max_job_ms, c->max_payload,
	       c->remote_timeout_ms);
	sb_add(&b, "output_ttl_ms = %" PRIu64 "\n", c->output_ttl_ms);
	if (c->max_vm_bytes)
		sb_add(&b, "max_vm_bytes = %" PRIu64 "\n", c->max_vm_bytes);
	if (c->max_queued_bytes)
		sb_add(&b, "max_queued_bytes = %" PRIu64 "\n", c->max_queued_bytes);
	if (c->max_vm_queued_bytes)
		sb_add(&b, "max_vm_queued_bytes = %" PRIu64 "\n", c->max_vm_queued_bytes);
	for (size_t i = 0; i < c->nvms; i++) {
		const struct vgpu_vm_cap *v = &c->vms[i];

		sb_add(&b, "\n[vm%" PRIu32 "]\n", v->vm);
		sb_add(&b, "cap = %s\n", vgpu_prio_name((enum vgpu_prio)(v->cap >= 0 ? v->cap : c->default_cap)));
		if (v->has_uid)
			sb_add(&b, "uid = %lu\n", (unsigned long)v->uid);
		if (v->max_bytes)
			sb_add(&b, "max_bytes = %" PRIu64 "\n", v->max_bytes);
		if (v->max_queued)
			sb_add(&b, "max_queued = %" PRIu32 "\n", v->max_queued);
	}
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}
