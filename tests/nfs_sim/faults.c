/* faults.c - parsing and deciding nfssim fault rules (see faults.h for the syntax).
 * Deterministic: a probability rule draws from its own xorshift64* stream seeded from
 * its seed, so a run is replayed by giving the same seed and the same calls. */
#include "faults.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const op_names[NFSSIM_OP_COUNT] = {
	"getattr", "open", "create", "read", "write", "flush", "fsync", "release", "unlink",
	"rename", "mkdir", "rmdir", "readdir", "truncate", "chmod", "chown", "utimens", "statfs",
};

static const struct { const char *name; int err; } errnos[NFSSIM_NERR] = {
	{ "EIO", EIO }, { "ESTALE", ESTALE }, { "ENOSPC", ENOSPC }, { "EACCES", EACCES },
	{ "ETIMEDOUT", ETIMEDOUT }, { "EPERM", EPERM }, { "EROFS", EROFS }, { "EDQUOT", EDQUOT },
	{ "ENOENT", ENOENT }, { "EAGAIN", EAGAIN }, { "EINTR", EINTR },
};

const char *nfssim_op_name(int op)
{
	if (op == NFSSIM_OP_ANY)
		return "any";
	return op >= 0 && op < NFSSIM_OP_COUNT ? op_names[op] : NULL;
}

int nfssim_op_parse(const char *name)
{
	if (!strcasecmp(name, "any") || !strcmp(name, "*"))
		return NFSSIM_OP_ANY;
	if (!strcasecmp(name, "close"))
		return NFSSIM_OP_FLUSH;
	if (!strcasecmp(name, "setattr"))
		return NFSSIM_OP_TRUNCATE;
	for (int i = 0; i < NFSSIM_OP_COUNT; i++)
		if (!strcasecmp(name, op_names[i]))
			return i;
	return -2;
}

const char *nfssim_errno_name(int err)
{
	for (int i = 0; i < NFSSIM_NERR; i++)
		if (errnos[i].err == err)
			return errnos[i].name;
	return NULL;
}

int nfssim_errno_index(int err)
{
	for (int i = 0; i < NFSSIM_NERR; i++)
		if (errnos[i].err == err)
			return i;
	return NFSSIM_NERR;
}

int nfssim_errno_parse(const char *name)
{
	for (int i = 0; i < NFSSIM_NERR; i++)
		if (!strcasecmp(name, errnos[i].name))
			return errnos[i].err;
	char *end;
	errno = 0;
	long v = strtol(name, &end, 10);
	if (errno || end == name || *end || v <= 0 || v > 4095)
		return 0;
	return (int)v;
}

static int parse_ulong(const char *s, unsigned long *out)
{
	char *end;
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = (unsigned long)v;
	return 0;
}

static uint64_t rng_next(uint64_t *x)
{
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 0x2545F4914F6CDD1DULL;
}

static void rng_seed(struct nfssim_fault *f)
{
	f->rng = f->seed * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL;
	if (!f->rng)
		f->rng = 1;
}

int nfssim_fault_parse(const char *spec, uint64_t default_seed, struct nfssim_fault *f,
		       char *err, size_t errlen)
{
	char buf[256];
	char *save = NULL, *tok;
	int field = 0, have_when = 0;

	memset(f, 0, sizeof(*f));
	f->seed = default_seed;
	if (strlen(spec) >= sizeof(buf)) {
		snprintf(err, errlen, "fault rule too long");
		return -EINVAL;
	}
	strcpy(buf, spec);
	for (tok = strtok_r(buf, ":", &save); tok; tok = strtok_r(NULL, ":", &save), field++) {
		if (field == 0) {
			f->op = nfssim_op_parse(tok);
			if (f->op == -2) {
				snprintf(err, errlen, "fault: unknown operation '%s'", tok);
				return -EINVAL;
			}
		} else if (field == 1) {
			f->err = nfssim_errno_parse(tok);
			if (!f->err) {
				snprintf(err, errlen, "fault: unknown errno '%s'", tok);
				return -EINVAL;
			}
		} else if (!strncmp(tok, "nth=", 4) || !strncmp(tok, "from=", 5)) {
			int nth = tok[0] == 'n';
			if (parse_ulong(tok + (nth ? 4 : 5), &f->n) || f->n == 0) {
				snprintf(err, errlen, "fault: bad count in '%s' (N >= 1)", tok);
				return -EINVAL;
			}
			f->when = nth ? NFSSIM_NTH : NFSSIM_FROM;
			have_when++;
		} else if (!strncmp(tok, "prob=", 5)) {
			char *end;
			errno = 0;
			f->p = strtod(tok + 5, &end);
			if (errno || end == tok + 5 || *end || !(f->p >= 0.0 && f->p <= 1.0)) {
				snprintf(err, errlen, "fault: bad probability in '%s' (0..1)", tok);
				return -EINVAL;
			}
			f->when = NFSSIM_PROB;
			have_when++;
		} else if (!strncmp(tok, "seed=", 5)) {
			unsigned long s;
			if (parse_ulong(tok + 5, &s)) {
				snprintf(err, errlen, "fault: bad seed in '%s'", tok);
				return -EINVAL;
			}
			f->seed = s;
		} else if (!strncmp(tok, "path=", 5)) {
			if (strlen(tok + 5) >= sizeof(f->path)) {
				snprintf(err, errlen, "fault: path filter too long");
				return -EINVAL;
			}
			strcpy(f->path, tok + 5);
		} else {
			snprintf(err, errlen, "fault: unknown field '%s'", tok);
			return -EINVAL;
		}
	}
	if (field < 3 || have_when != 1) {
		snprintf(err, errlen, "fault: want OP:ERRNO:nth=N|from=N|prob=P[:seed=S][:path=S], got '%s'",
			 spec);
		return -EINVAL;
	}
	rng_seed(f);
	return 0;
}

void nfssim_fault_format(const struct nfssim_fault *f, char *buf, size_t len)
{
	const char *en = nfssim_errno_name(f->err);
	char e[16], w[64];
	if (!en) {
		snprintf(e, sizeof(e), "%d", f->err);
		en = e;
	}
	switch (f->when) {
	case NFSSIM_NTH: snprintf(w, sizeof(w), "nth=%lu", f->n); break;
	case NFSSIM_FROM: snprintf(w, sizeof(w), "from=%lu", f->n); break;
	default: snprintf(w, sizeof(w), "prob=%g:seed=%llu", f->p, (unsigned long long)f->seed); break;
	}
	snprintf(buf, len, "%s:%s:%s%s%s", nfssim_op_name(f->op), en, w, f->path[0] ? ":path=" : "",
		 f->path);
}

int nfssim_fault_check(struct nfssim_fault *f, int op, const char *path)
{
	if (f->op != NFSSIM_OP_ANY && f->op != op)
		return 0;
	if (f->path[0] && (!path || !strstr(path, f->path)))
		return 0;
	f->calls++;
	int hit;
	switch (f->when) {
	case NFSSIM_NTH: hit = f->calls == f->n; break;
	case NFSSIM_FROM: hit = f->calls >= f->n; break;
	default: hit = (double)(rng_next(&f->rng) >> 11) / 9007199254740992.0 < f->p; break;
	}
	if (!hit)
		return 0;
	f->hits++;
	return f->err;
}
