/* harness.c - scenario results: checks, verdicts and the JSON record; see harness.h. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "harness.h"

void h_begin(struct h_result *r, const char *id, const char *title, const char *backend)
{
	const char *s = getenv("VGPU_SEED");
	struct timespec ts;

	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%s", id);
	snprintf(r->title, sizeof(r->title), "%s", title);
	snprintf(r->backend, sizeof(r->backend), "%s", backend);
	r->reproduced = 1;
	r->handled = 1;
	clock_gettime(CLOCK_REALTIME, &ts);
	r->seed = s && *s ? strtoull(s, NULL, 10) : (uint64_t)ts.tv_sec * 1000003u + (uint64_t)ts.tv_nsec;
	printf("%s [%s] %s\n%s: seed %" PRIu64 " (VGPU_SEED=%" PRIu64 " replays)\n", id, backend, title, id,
	       r->seed, r->seed);
	fflush(stdout);
}

static void vappend(char *buf, size_t cap, const char *fmt, va_list ap)
{
	size_t len = strlen(buf);

	if (len && len + 2 < cap) {
		memcpy(buf + len, "; ", 3);
		len += 2;
	}
	if (len < cap)
		vsnprintf(buf + len, cap - len, fmt, ap);
}

void h_evidence(struct h_result *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vappend(r->evidence, sizeof(r->evidence), fmt, ap);
	va_end(ap);
}

int h_check(struct h_result *r, int cond, const char *fmt, ...)
{
	va_list ap;

	printf("  %s: ours: ", cond ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!cond)
		r->handled = 0;
	return cond;
}

int h_naive(struct h_result *r, int showed_symptom, const char *fmt, ...)
{
	va_list ap;

	printf("  %s: naive: ", showed_symptom ? "ok" : "FAIL (fault not reproduced)");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!showed_symptom)
		r->reproduced = 0;
	return showed_symptom;
}

uint64_t h_rand(uint64_t *state)
{
	uint64_t x = *state ? *state : 0x9e3779b97f4a7c15ULL;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

static int write_json(const struct h_result *r, int passed)
{
	const char *dir = getenv("VGPU_REPORT_DIR");
	char path[512], tmp[560];
	json_t *o, *q;
	int rc;

	if (!dir || !*dir)
		dir = "build/reports/scenarios";
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", dir);
		if (system(cmd) != 0)
			return -1;
	}
	q = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "submitted", (json_int_t)r->req.submitted,
		      "answered", (json_int_t)r->req.answered, "lost", (json_int_t)r->req.lost,
		      "duplicated", (json_int_t)r->req.duplicated, "misrouted", (json_int_t)r->req.misrouted,
		      "corrupted", (json_int_t)r->req.corrupted);
	o = json_pack("{s:s,s:s,s:s,s:b,s:b,s:I,s:o,s:s,s:s,s:b}", "id", r->id, "title", r->title,
		      "backend", r->backend, "reproduced", r->reproduced, "handled", r->handled,
		      "injections", (json_int_t)r->injections, "requests", q, "evidence", r->evidence,
		      "seed", "", "passed", passed);
	if (!o)
		return -1;
	{
		char seed[32];
		snprintf(seed, sizeof(seed), "%" PRIu64, r->seed);
		json_object_set_new(o, "seed", json_string(seed));
	}
	if (r->skipped[0])
		json_object_set_new(o, "skipped", json_string(r->skipped));
	snprintf(path, sizeof(path), "%s/%s-%s.json", dir, r->id, r->backend);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	rc = json_dump_file(o, tmp, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(o);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -1;
	return rc;
}

int h_finish(struct h_result *r)
{
	int passed = !r->skipped[0] && r->reproduced && r->handled && r->injections > 0 && r->req.lost == 0 &&
		     r->req.duplicated == 0 && r->req.misrouted == 0 && r->req.corrupted == 0;

	if (!r->skipped[0] && r->injections <= 0)
		printf("  FAIL: no fault was injected (injections = %ld): the scenario proved nothing\n",
		       r->injections);
	if (write_json(r, passed) < 0)
		printf("  FAIL: could not write the report record\n");
	if (r->skipped[0]) {
		printf("%s [%s]: SKIPPED: %s\n", r->id, r->backend, r->skipped);
		return 77;
	}
	printf("%s [%s]: %s (reproduced=%d handled=%d injections=%ld submitted=%ld answered=%ld lost=%ld "
	       "duplicated=%ld misrouted=%ld corrupted=%ld)\n", r->id, r->backend, passed ? "PASS" : "FAIL",
	       r->reproduced, r->handled, r->injections, r->req.submitted, r->req.answered, r->req.lost,
	       r->req.duplicated, r->req.misrouted, r->req.corrupted);
	fflush(stdout);
	return passed ? 0 : 1;
}
