/* config.c - /etc/vgpu-mediator.conf: inih reads the ini syntax, this file gives the
 * keys their meaning, checks every value, and merges the command line over the file.
 * A reader around inih counts lines, so each error names its line, and section
 * headers, so a [vmN] given twice is an error rather than two halves of one VM.
 * What a configuration is turned into (file text, the core's struct) is config_render.c. */
#include <errno.h>
#include <ini.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "lib/log.h"
#include "lib/record.h"

void vgpu_config_init(struct vgpu_config *c)
{
	memset(c, 0, sizeof(*c));
	c->default_cap = VGPU_PRIO_MEDIUM;
	c->log_level = VGPU_LOG_INFO;
	c->status_ms = 5000;
	c->aging_ms = 10000;
	c->rescan_ms = 1000;
	c->grace_ms = 2000;
	c->job_ms = 60000;
	c->max_job_ms = 600000;
	c->max_payload = 1ULL << 30;
	c->remote_timeout_ms = VGPU_REMOTE_TIMEOUT_MS;
	c->output_ttl_ms = 3600000;
}

void vgpu_config_release(struct vgpu_config *c)
{
	free(c->root);
	free(c->state);
	free(c->executor);
	free(c->fallback);
	free(c->journal);
	free(c->metrics);
	free(c->vms);
	memset(c, 0, sizeof(*c));
}

static void seterr(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

static int set_str(char **dst, const char *v, char *err, size_t errlen)
{
	char *n = strdup(v);

	if (!n) {
		seterr(err, errlen, "out of memory");
		return -1;
	}
	free(*dst);
	*dst = n;
	return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

static int parse_bool(const char *s)
{
	static const char *yes[] = { "1", "yes", "true", "on" }, *no[] = { "0", "no", "false", "off" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return 1;
		if (strcasecmp(s, no[i]) == 0)
			return 0;
	}
	return -1;
}

/* "vmN", N in 1..VGPU_VM_MAX without a leading zero -> N; else 0. */
static uint32_t section_vm(const char *s)
{
	uint64_t v;

	if (strncmp(s, "vm", 2) != 0 || s[2] == '0' || parse_u64(s + 2, &v) < 0 || v < 1 || v > VGPU_VM_MAX)
		return 0;
	return (uint32_t)v;
}

static int spec_ok(const char *v, int fallback)
{
	if (strcmp(v, "mock") == 0)
		return 1;
	if (strncmp(v, "remote:", 7) == 0 && v[7])
		return 1;
	if (fallback)
		return strcmp(v, "none") == 0;
	return strcmp(v, "cuda") == 0 || strcmp(v, "auto") == 0;
}

struct vgpu_vm_cap *vgpu_config_find_vm(const struct vgpu_config *c, uint32_t id)
{
	for (size_t i = 0; i < c->nvms; i++)
		if (c->vms[i].vm == id)
			return &c->vms[i];
	return NULL;
}

struct vgpu_vm_cap *vgpu_config_add_vm(struct vgpu_config *c, uint32_t id, int *dup)
{
	struct vgpu_vm_cap *v;

	*dup = vgpu_config_find_vm(c, id) != NULL;
	if (*dup)
		return NULL;
	if (c->nvms == c->capvms) {
		size_t ncap = c->capvms ? c->capvms * 2 : 16;
		struct vgpu_vm_cap *n = realloc(c->vms, ncap * sizeof(*n));

		if (!n)
			return NULL;
		c->vms = n;
		c->capvms = ncap;
	}
	v = &c->vms[c->nvms++];
	*v = (struct vgpu_vm_cap){ .vm = id, .cap = -1 };
	return v;
}

/* The keys of [mediator] and [limits]: name, section, field bit, kind. */
enum kind { K_STR, K_SPEC, K_FALLBACK, K_PRIO, K_SERVE, K_LEVEL, K_BOOL, K_MS, K_BYTES };
struct key {
	const char *section, *name;
	unsigned bit;
	enum kind kind;
	size_t off;                  /* offset of the field in struct vgpu_config */
};
#define F(field) offsetof(struct vgpu_config, field)
static const struct key keys[] = {
	{ "mediator", "root", VGPU_CF_ROOT, K_STR, F(root) },
	{ "mediator", "state", VGPU_CF_STATE, K_STR, F(state) },
	{ "mediator", "executor", VGPU_CF_EXECUTOR, K_SPEC, F(executor) },
	{ "mediator", "fallback", VGPU_CF_FALLBACK, K_FALLBACK, F(fallback) },
	{ "mediator", "default_cap", VGPU_CF_DEFAULT_CAP, K_PRIO, F(default_cap) },
	{ "mediator", "serve", VGPU_CF_SERVE, K_SERVE, F(only_listed) },
	{ "mediator", "journal", VGPU_CF_JOURNAL, K_STR, F(journal) },
	{ "mediator", "log_level", VGPU_CF_LOG_LEVEL, K_LEVEL, F(log_level) },
	{ "mediator", "syslog", VGPU_CF_SYSLOG, K_BOOL, F(syslog) },
	{ "mediator", "test_ops", VGPU_CF_TEST_OPS, K_BOOL, F(test_ops) },
	{ "mediator", "metrics", VGPU_CF_METRICS, K_STR, F(metrics) },
	{ "mediator", "status_interval_ms", VGPU_CF_STATUS_MS, K_MS, F(status_ms) },
	{ "limits", "aging_ms", VGPU_CF_AGING, K_MS, F(aging_ms) },
	{ "limits", "rescan_ms", VGPU_CF_RESCAN, K_MS, F(rescan_ms) },
	{ "limits", "grace_ms", VGPU_CF_GRACE, K_MS, F(grace_ms) },
	{ "limits", "job_ms", VGPU_CF_JOB_MS, K_MS, F(job_ms) },
	{ "limits", "max_job_ms", VGPU_CF_MAX_JOB, K_MS, F(max_job_ms) },
	{ "limits", "max_payload", VGPU_CF_MAX_PAYLOAD, K_BYTES, F(max_payload) },
	{ "limits", "remote_timeout_ms", VGPU_CF_REMOTE_TIMEOUT, K_MS, F(remote_timeout_ms) },
	{ "limits", "output_ttl_ms", VGPU_CF_OUTPUT_TTL, K_MS, F(output_ttl_ms) },
	{ "limits", "max_vm_bytes", VGPU_CF_MAX_VM_BYTES, K_BYTES, F(max_vm_bytes) },
	{ "limits", "max_queued_bytes", VGPU_CF_MAX_QUEUED, K_BYTES, F(max_queued_bytes) },
	{ "limits", "max_vm_queued_bytes", VGPU_CF_MAX_VM_QUEUED, K_BYTES, F(max_vm_queued_bytes) },
};
#undef F

static int set_key(struct vgpu_config *c, const struct key *k, const char *v, char *err, size_t errlen)
{
	char *base = (char *)c;
	uint64_t u;
	int i;

	switch (k->kind) {
	case K_STR:
		if (!*v) {
			seterr(err, errlen, "%s: empty value", k->name);
			return -1;
		}
		return set_str((char **)(base + k->off), v, err, errlen);
	case K_SPEC:
	case K_FALLBACK:
		if (!spec_ok(v, k->kind == K_FALLBACK)) {
			seterr(err, errlen, "%s = %s: expected %s", k->name, v,
			       k->kind == K_FALLBACK ? "mock, remote:DIR or none" : "mock, cuda, auto or remote:DIR");
			return -1;
		}
		return set_str((char **)(base + k->off), v, err, errlen);
	case K_PRIO:
		if ((i = vgpu_prio_parse(v)) < 0) {
			seterr(err, errlen, "%s = %s: expected low, medium or high", k->name, v);
			return -1;
		}
		*(int *)(base + k->off) = i;
		return 0;
	case K_SERVE:
		if (strcmp(v, "all") != 0 && strcmp(v, "listed") != 0) {
			seterr(err, errlen, "%s = %s: expected all or listed", k->name, v);
			return -1;
		}
		*(int *)(base + k->off) = strcmp(v, "listed") == 0;
		return 0;
	case K_LEVEL:
		if ((i = vgpu_log_level_parse(v)) < 0) {
			seterr(err, errlen, "%s = %s: expected err, warn, info or debug", k->name, v);
			return -1;
		}
		*(int *)(base + k->off) = i;
		return 0;
	case K_BOOL:
		if ((i = parse_bool(v)) < 0) {
			seterr(err, errlen, "%s = %s: expected yes or no", k->name, v);
			return -1;
		}
		*(int *)(base + k->off) = i;
		return 0;
	case K_MS:
	case K_BYTES:
		if (parse_u64(v, &u) < 0) {
			seterr(err, errlen, "%s = %s: expected a whole number of %s", k->name, v,
			       k->kind == K_MS ? "milliseconds" : "bytes");
			return -1;
		}
		/* 0 means "off" for aging only; elsewhere it would spin or refuse all */
		if (u == 0 && k->off != offsetof(struct vgpu_config, aging_ms) &&
		    k->off != offsetof(struct vgpu_config, max_payload)) {
			seterr(err, errlen, "%s = 0: must be at least 1", k->name);
			return -1;
		}
		*(uint64_t *)(base + k->off) = u;
		return 0;
	}
	return -1;
}

static int set_vm_key(struct vgpu_config *c, uint32_t id, const char *key, const char *v, char *err,
		      size_t errlen)
{
	struct vgpu_vm_cap *vm = vgpu_config_find_vm(c, id);
	uint64_t u;
	int dup;

	if (!vm && !(vm = vgpu_config_add_vm(c, id, &dup))) {
		seterr(err, errlen, "out of memory");
		return -1;
	}
	if (strcmp(key, "cap") == 0) {
		if ((vm->cap = vgpu_prio_parse(v)) < 0) {
			seterr(err, errlen, "cap = %s: expected low, medium or high", v);
			return -1;
		}
	} else if (strcmp(key, "uid") == 0) {
		if (parse_u64(v, &u) < 0 || u > UINT32_MAX - 1) {
			seterr(err, errlen, "uid = %s: expected a uid 0..%" PRIu32, v, UINT32_MAX - 1);
			return -1;
		}
		vm->has_uid = 1;
		vm->uid = (uid_t)u;
	} else if (strcmp(key, "max_bytes") == 0) {
		if (parse_u64(v, &u) < 0) {
			seterr(err, errlen, "max_bytes = %s: expected a whole number of bytes (0: no quota)", v);
			return -1;
		}
		vm->max_bytes = u;
	} else if (strcmp(key, "max_queued") == 0) {
		if (parse_u64(v, &u) < 0 || u > UINT32_MAX) {
			seterr(err, errlen, "max_queued = %s: expected a whole number of jobs (0: no quota)", v);
			return -1;
		}
		vm->max_queued = (uint32_t)u;
	} else {
		seterr(err, errlen, "unknown key '%s' in [vm%" PRIu32 "] (known: cap, uid, max_bytes, max_queued)",
		       key, id);
		return -1;
	}
	return 0;
}

int vgpu_config_set(struct vgpu_config *c, const char *section, const char *key, const char *value,
		    char *err, size_t errlen)
{
	uint32_t id = section_vm(section);
	int known_section = 0;

	if (id)
		return set_vm_key(c, id, key, value, err, errlen);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (strcmp(keys[i].section, section) != 0)
			continue;
		known_section = 1;
		if (strcmp(keys[i].name, key) == 0)
			return set_key(c, &keys[i], value, err, errlen);
	}
	if (known_section)
		seterr(err, errlen, "unknown key '%s' in [%s]", key, section);
	else
		seterr(err, errlen, "unknown section [%s] (known: [mediator], [limits], [vmN] with N in 1..%d)",
		       section, VGPU_VM_MAX);
	return -1;
}

/* --- reading a file through inih ---------------------------------------------------- */

struct parse {
	struct vgpu_config *c;
	const char *name;
	/* the reader's side */
	FILE *f;
	const char *text;
	int line, headers, header_line, too_long;
	/* what the handler has seen */
	int last_headers;            /* header count at the previous key */
	char last_section[64];
	char **seen;                 /* "section\nkey" of each key so far */
	size_t nseen;
	char **sections;             /* sections whose keys are done (left for another) */
	size_t nsections;
	char *err;
	size_t errlen;
	int failed;                  /* the line where the handler failed */
};

static char *reader(char *str, int num, void *stream)
{
	struct parse *p = stream;
	size_t n;
	char *s = str;

	if (p->f) {
		if (!fgets(str, num, p->f))
			return NULL;
	} else {
		const char *nl;

		if (!*p->text)
			return NULL;
		nl = strchr(p->text, '\n');
		n = nl ? (size_t)(nl - p->text) + 1 : strlen(p->text);
		if (n > (size_t)num - 1)
			n = (size_t)num - 1;
		memcpy(str, p->text, n);
		str[n] = '\0';
		p->text += n;
	}
	n = strlen(str);
	if (n == (size_t)num - 1 && str[n - 1] != '\n' && !p->too_long)
		p->too_long = p->line + 1;
	if (n && str[n - 1] == '\n')
		p->line++;
	else if (!p->f ? *p->text == '\0' : feof(p->f))
		p->line++;               /* the last line, without '\n' */
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '[') {
		p->headers++;
		p->header_line = p->line;
	}
	return str;
}

static int remember(char ***list, size_t *n, const char *s)
{
	char **l = realloc(*list, (*n + 1) * sizeof(**list));

	if (!l)
		return -1;
	*list = l;
	if (!(l[*n] = strdup(s)))
		return -1;
	(*n)++;
	return 0;
}

static int listed(char **list, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], s) == 0)
			return 1;
	return 0;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;
	char key[256], msg[384];

	if (p->failed)
		return 0;
	if (!*section) {
		snprintf(msg, sizeof(msg), "'%s' before any section: put it under [mediator] or [limits]", name);
		goto bad;
	}
	if (p->headers != p->last_headers) {
		/* a section header came since the previous key: SECTION starts (again?) */
		if (p->last_section[0] && remember(&p->sections, &p->nsections, p->last_section) < 0)
			goto oom;
		if (listed(p->sections, p->nsections, section)) {
			seterr(p->err, p->errlen, "%s:%d: [%s] given twice%s", p->name, p->header_line, section,
			       section_vm(section) ? " (one section per VM)" : "");
			p->failed = p->header_line;
			return 0;
		}
		p->last_headers = p->headers;
		snprintf(p->last_section, sizeof(p->last_section), "%s", section);
	}
	snprintf(key, sizeof(key), "%s\n%s", section, name);
	if (listed(p->seen, p->nseen, key)) {
		snprintf(msg, sizeof(msg), "'%s' given twice in [%s]", name, section);
		goto bad;
	}
	if (remember(&p->seen, &p->nseen, key) < 0)
		goto oom;
	if (vgpu_config_set(p->c, section, name, value, msg, sizeof(msg)) < 0)
		goto bad;
	return 1;
oom:
	snprintf(msg, sizeof(msg), "out of memory");
bad:
	seterr(p->err, p->errlen, "%s:%d: %s", p->name, p->line, msg);
	p->failed = p->line;
	return 0;
}

static int parse(struct parse *p)
{
	int rc = ini_parse_stream(reader, p, handler, p);

	for (size_t i = 0; i < p->nseen; i++)
		free(p->seen[i]);
	for (size_t i = 0; i < p->nsections; i++)
		free(p->sections[i]);
	free(p->seen);
	free(p->sections);
	/* inih goes on after a line it cannot parse: report the first problem */
	if (p->too_long && (!p->failed || p->too_long <= p->failed)) {
		seterr(p->err, p->errlen, "%s:%d: line too long (at most 198 characters)", p->name, p->too_long);
		return -1;
	}
	if (p->failed && (rc <= 0 || p->failed <= rc))
		return -1;
	if (rc != 0) {
		seterr(p->err, p->errlen, "%s:%d: not a section header, a key = value line or a comment",
		       p->name, rc);
		return -1;
	}
	return 0;
}

int vgpu_config_load(struct vgpu_config *c, const char *path, char *err, size_t errlen)
{
	struct parse p = { .c = c, .name = path, .err = err, .errlen = errlen };
	int rc;

	p.f = fopen(path, "re");
	if (!p.f) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	rc = parse(&p);
	fclose(p.f);
	return rc;
}

int vgpu_config_load_string(struct vgpu_config *c, const char *text, const char *name, char *err,
			    size_t errlen)
{
	struct parse p = { .c = c, .name = name, .text = text, .err = err, .errlen = errlen };

	return parse(&p);
}

/* --- merging, checking --------------------------------------------------------------- */

static int dup_or_null(char **dst, const char *src)
{
	char *n = NULL;

	if (src && !(n = strdup(src)))
		return -ENOMEM;
	free(*dst);
	*dst = n;
	return 0;
}

int vgpu_config_merge(struct vgpu_config *dst, const struct vgpu_config *over)
{
	unsigned s = over->set;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const struct key *k = &keys[i];
		const char *from = (const char *)over;
		char *to = (char *)dst;

		if (!(s & k->bit))
			continue;
		switch (k->kind) {
		case K_STR: case K_SPEC: case K_FALLBACK:
			if (dup_or_null((char **)(to + k->off), *(char *const *)(from + k->off)) < 0)
				return -ENOMEM;
			break;
		case K_PRIO: case K_SERVE: case K_LEVEL: case K_BOOL:
			*(int *)(to + k->off) = *(const int *)(from + k->off);
			break;
		case K_MS: case K_BYTES:
			*(uint64_t *)(to + k->off) = *(const uint64_t *)(from + k->off);
			break;
		}
	}
	for (size_t i = 0; i < over->nvms; i++) {
		struct vgpu_vm_cap *v = vgpu_config_find_vm(dst, over->vms[i].vm);
		int dup;

		if (!v && !(v = vgpu_config_add_vm(dst, over->vms[i].vm, &dup)))
			return -ENOMEM;
		if (over->vms[i].cap >= 0)
			v->cap = over->vms[i].cap;
		if (over->vms[i].has_uid) {
			v->has_uid = 1;
			v->uid = over->vms[i].uid;
		}
	}
	dst->set |= s;
	return 0;
}

int vgpu_config_validate(const struct vgpu_config *c, char *err, size_t errlen)
{
	if (!c->root || !c->state) {
		seterr(err, errlen, "%s%s%s required (--root/--state, or root = and state = in [mediator])",
		       !c->root ? "root" : "", !c->root && !c->state ? " and " : "", !c->state ? "state" : "");
		return -1;
	}
	if (c->executor && !spec_ok(c->executor, 0)) {
		seterr(err, errlen, "executor = %s: expected mock, cuda, auto or remote:DIR", c->executor);
		return -1;
	}
	if (c->fallback && !spec_ok(c->fallback, 1)) {
		seterr(err, errlen, "fallback = %s: expected mock, remote:DIR or none", c->fallback);
		return -1;
	}
	if (c->job_ms > c->max_job_ms) {
		seterr(err, errlen, "job_ms (%" PRIu64 ") is above max_job_ms (%" PRIu64 ")", c->job_ms, c->max_job_ms);
		return -1;
	}
	if (c->only_listed && c->nvms == 0) {
		seterr(err, errlen, "serve = listed but no [vmN] section: no VM would be served");
		return -1;
	}
	return 0;
}
