/* record_syntax.c - the syntax both record kinds share (docs/PROTOCOL.md section 3):
 * value parsers, framing (INCOMPLETE vs CORRUPT), the strict walk over "key value"
 * lines, and the encoder's output buffer. The fields of each kind are record.c's. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "errbuf.h"
#include "record_syntax.h"
#include "strcopy.h"

#define KEY_MAX 31

/* ---- names ------------------------------------------------------------------------ */

static const char *const prio_names[VGPU_PRIO_COUNT] = { "low", "medium", "high" };
const char *vgpu_prio_name(enum vgpu_prio p)
{
	return (unsigned)p < VGPU_PRIO_COUNT ? prio_names[p] : "?";
}

int vgpu_prio_parse(const char *s)
{
	for (int i = 0; s && i < VGPU_PRIO_COUNT; i++)
		if (strcmp(s, prio_names[i]) == 0)
			return i;
	return -1;
}

void vgpu_payload_name(char *name, const char *prefix, int64_t seq)
{
	size_t pl = strlen(prefix);

	/* PREFIX is "in" or "out"; a trailing '-' is tolerated. */
	snprintf(name, VGPU_NAME_MAX, "%s%s%" PRId64 ".bin", prefix,
		 pl && prefix[pl - 1] == '-' ? "" : "-", seq);
}

/* ---- value parsers: 0 or -1 --------------------------------------------------------- */

int vgpu_value_u64(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 20 || (s[0] == '0' && len > 1))
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (__builtin_mul_overflow(v, 10u, &v) || __builtin_add_overflow(v, (uint64_t)(s[i] - '0'), &v))
			return -1;
	}
	*out = v;
	return 0;
}

static int parse_hex32(const char *s, size_t len, uint32_t *out)
{
	uint32_t v = 0;

	if (len != 8)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int d;
		if (s[i] >= '0' && s[i] <= '9')
			d = s[i] - '0';
		else if (s[i] >= 'a' && s[i] <= 'f')
			d = s[i] - 'a' + 10;
		else
			return -1;
		v = v << 4 | (uint32_t)d;
	}
	*out = v;
	return 0;
}

int vgpu_rec_nonce_ok(const char *s, size_t len)
{
	if (len != 16)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

int vgpu_value_float(const char *s, size_t len, float *out)
{
	char tmp[64];
	char *end;
	double d;

	/* strtod() syntax, but no leading space (strtod would skip it) and finite as float. */
	if (len == 0 || len >= sizeof(tmp) || s[0] == ' ')
		return -1;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	errno = 0;
	d = strtod(tmp, &end);
	if (end != tmp + len || errno == ERANGE || !isfinite(d) || !isfinite((float)d))
		return -1;
	*out = (float)d;
	return 0;
}

/* "NAME BYTES CRC" */
int vgpu_rec_payload_ref(const char *s, size_t len, struct vgpu_payload_ref *ref)
{
	const char *sp1 = memchr(s, ' ', len), *sp2;
	size_t nlen;

	if (!sp1)
		return -1;
	nlen = (size_t)(sp1 - s);
	sp2 = memchr(sp1 + 1, ' ', len - nlen - 1);
	if (!sp2 || nlen == 0 || nlen >= VGPU_NAME_MAX)
		return -1;
	if (vgpu_value_u64(sp1 + 1, (size_t)(sp2 - sp1 - 1), &ref->bytes) < 0 ||
	    parse_hex32(sp2 + 1, len - (size_t)(sp2 + 1 - s), &ref->crc) < 0)
		return -1;
	memcpy(ref->name, s, nlen);
	ref->name[nlen] = '\0';
	return 0;
}

/* ---- framing ---------------------------------------------------------------------- */

/* Find and check the end line. Returns VGPU_REC_OK with *BODYP the bytes before
 * it, or another outcome with ERR set. */
static int frame_check(const char *buf, size_t len, const char *header, size_t *bodyp,
		       char *err, size_t errlen)
{
	size_t ls = 0, hlen = strlen(header);
	const char *nl = NULL;
	uint64_t elen;
	uint32_t ecrc;

	if (len > VGPU_RECORD_MAX)
		return vgpu_errbuf(err, errlen, VGPU_REC_TOO_LARGE, "record of %zu bytes is over the %d byte cap",
			       len, VGPU_RECORD_MAX);
	/* The end line is the first line that starts with "end " (or is "end"). */
	while (ls < len) {
		size_t rest = len - ls;
		nl = memchr(buf + ls, '\n', rest);
		if ((rest >= 4 && memcmp(buf + ls, "end ", 4) == 0) ||
		    (rest >= 4 && memcmp(buf + ls, "end\n", 4) == 0))
			break;
		if (!nl) {
			ls = len;
			break;
		}
		ls = (size_t)(nl - buf) + 1;
	}
	if (ls >= len || !nl) {
		/* No complete end line: incomplete, unless the first line already says it is
		 * not a record of this kind. */
		const char *fnl = memchr(buf, '\n', len);
		if (fnl && ((size_t)(fnl - buf) != hlen || memcmp(buf, header, hlen) != 0))
			return vgpu_errbuf(err, errlen, VGPU_REC_MALFORMED, "line 1: not a '%s' header", header);
		return vgpu_errbuf(err, errlen, VGPU_REC_INCOMPLETE, "no end line (%zu bytes so far)", len);
	}

	/* "end LEN CRC" between ls and nl. */
	const char *e = buf + ls + 4, *eend = nl, *sp;
	if ((size_t)(nl - buf) < ls + 4 || !(sp = memchr(e, ' ', (size_t)(eend - e))) ||
	    vgpu_value_u64(e, (size_t)(sp - e), &elen) < 0 ||
	    parse_hex32(sp + 1, (size_t)(eend - sp - 1), &ecrc) < 0)
		return vgpu_errbuf(err, errlen, VGPU_REC_MALFORMED, "end line: expected 'end LEN CRC' (8 lowercase hex digits)");
	/* A LEN no record can have is wrong, not a record still being written. */
	if (elen > VGPU_RECORD_MAX)
		return vgpu_errbuf(err, errlen, VGPU_REC_CORRUPT, "end line: length %" PRIu64 " is over the %d byte cap",
			       elen, VGPU_RECORD_MAX);
	if (elen > ls)
		return vgpu_errbuf(err, errlen, VGPU_REC_INCOMPLETE, "end line: length %" PRIu64 " but only %zu bytes before it",
			       elen, ls);
	if (elen < ls)
		return vgpu_errbuf(err, errlen, VGPU_REC_CORRUPT, "end line: length %" PRIu64 " but %zu bytes before it",
			       elen, ls);
	uint32_t crc = vgpu_crc32(buf, ls);
	if (crc != ecrc)
		return vgpu_errbuf(err, errlen, VGPU_REC_CORRUPT, "end line: CRC %08" PRIx32 " but the content's is %08" PRIx32,
			       ecrc, crc);
	if ((size_t)(nl - buf) + 1 != len)
		return vgpu_errbuf(err, errlen, VGPU_REC_MALFORMED, "%zu bytes after the end line",
			       len - (size_t)(nl - buf) - 1);
	*bodyp = ls;
	return VGPU_REC_OK;
}

/* ---- line-level parsing ----------------------------------------------------------- */

/* Iterates the verified body: the header, then "key value" lines. */
struct lines {
	const char *buf;
	size_t len, pos;
	int lineno;
};

/* Next line into S and N. Returns 1, 0 at the end, -1 on a bad byte. */
static int next_line(struct lines *L, const char **s, size_t *n)
{
	const char *nl;

	if (L->pos >= L->len)
		return 0;
	nl = memchr(L->buf + L->pos, '\n', L->len - L->pos);
	if (!nl)        /* can't happen after frame_check: the body ends with '\n' */
		return -1;
	*s = L->buf + L->pos;
	*n = (size_t)(nl - *s);
	L->pos += *n + 1;
	L->lineno++;
	for (size_t i = 0; i < *n; i++)
		if ((unsigned char)(*s)[i] < 0x20 || (unsigned char)(*s)[i] > 0x7e)
			return -1;
	return 1;
}

/* Split "key value". Returns 0, or -1 with ERR set. */
static int split_field(const char *s, size_t n, const char **k, size_t *klen, const char **v,
		       size_t *vlen)
{
	const char *sp = memchr(s, ' ', n);
	size_t i;

	if (!sp)
		return -1;
	*k = s;
	*klen = (size_t)(sp - s);
	*v = sp + 1;
	*vlen = n - *klen - 1;
	if (*klen == 0 || *klen > KEY_MAX)
		return -1;
	for (i = 0; i < *klen; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_'))
			return -1;
	return 0;
}

static int key_is(const char *k, size_t klen, const char *name)
{
	/* most keys tried differ in their first byte: no strlen, no call, for those. K is
	 * split_field()'s key ([a-z_] only, no NUL): strncmp cannot stop early inside it */
	return klen > 0 && name[0] == k[0] && strncmp(name, k, klen) == 0 && name[klen] == '\0';
}

int vgpu_rec_key(const char *const *keys, int nkeys, const char *k, size_t klen)
{
	for (int i = 0; i < nkeys; i++)
		if (key_is(k, klen, keys[i]))
			return i;
	return -1;
}

int vgpu_rec_enum(const char *v, size_t vlen, int (*parse)(const char *))
{
	char tmp[16];

	if (vlen == 0 || vlen >= sizeof(tmp))
		return -1;
	memcpy(tmp, v, vlen);
	tmp[vlen] = '\0';
	return parse(tmp);
}

/* Best effort: the seq and nonce of a record that failed, for an error response. Only
 * values that parse, from lines ending in '\n', each key seen once. */
static void salvage_seq_nonce(const char *buf, size_t len, int64_t *seq, char *nonce)
{
	size_t pos = 0;
	int nseq = 0, nnonce = 0;
	uint64_t s = 0;
	char nn[17] = "";

	while (pos < len) {
		const char *line = buf + pos, *nl = memchr(line, '\n', len - pos);
		size_t n;
		if (!nl)
			break;
		n = (size_t)(nl - line);
		pos += n + 1;
		if (n > 4 && memcmp(line, "seq ", 4) == 0) {
			nseq++;
			if (vgpu_value_u64(line + 4, n - 4, &s) < 0 || s == 0 || s > (uint64_t)VGPU_SEQ_MAX)
				nseq = 99;
		} else if (n > 6 && memcmp(line, "nonce ", 6) == 0) {
			nnonce++;
			if (vgpu_rec_nonce_ok(line + 6, n - 6))
				memcpy(nn, line + 6, 16), nn[16] = '\0';
			else
				nnonce = 99;
		}
	}
	if (nseq == 1)
		*seq = (int64_t)s;
	if (nnonce == 1)
		memcpy(nonce, nn, 17);
}

/* ---- the field loop, shared by requests and responses ----------------------------- */


/* Frame, check and walk the lines of a record of grammar G: every line one known key,
 * once, with a valid value. *SEENP gets BIT(key) of the keys met. */
int vgpu_rec_decode_fields(const char *buf, size_t len, const struct vgpu_rec_grammar *g, void *rec, unsigned *seenp,
			 char *err, size_t errlen)
{
	struct lines L;
	const char *s, *k, *v;
	size_t n, klen, vlen, body = 0, hlen = strlen(g->header);
	unsigned seen = 0;
	int rc, key;

	rc = frame_check(buf, len, g->header, &body, err, errlen);
	if (rc != VGPU_REC_OK)
		return rc;
	L = (struct lines){ .buf = buf, .len = body, .pos = 0, .lineno = 0 };
	rc = next_line(&L, &s, &n);
	if (rc <= 0 || n != hlen || memcmp(s, g->header, hlen) != 0) {
		if (rc > 0 && n > 4 && memcmp(s, "VGPU", 4) == 0 && s[4] != '1')
			return vgpu_errbuf(err, errlen, VGPU_REC_MALFORMED, "line 1: unsupported version (this is VGPU1)");
		return vgpu_errbuf(err, errlen, VGPU_REC_MALFORMED, "line 1: not a '%s' header", g->header);
	}
	while ((rc = next_line(&L, &s, &n)) != 0) {
		if (rc < 0)
			return vgpu_errbuf(err, errlen, VGPU_REC_MALFORMED, "line %d: control character or non-ASCII byte",
				       L.lineno);
		if (split_field(s, n, &k, &klen, &v, &vlen) < 0)
			return vgpu_errbuf(err, errlen, VGPU_REC_MALFORMED, "line %d: expected 'key value'", L.lineno);
		if (vlen > VGPU_VALUE_MAX)
			return vgpu_errbuf(err, errlen, VGPU_REC_MALFORMED, "line %d: value over %d bytes", L.lineno,
				       VGPU_VALUE_MAX);
		if ((key = g->lookup(k, klen)) < 0)
			return vgpu_errbuf(err, errlen, VGPU_REC_MALFORMED, "line %d: unknown key '%.*s'", L.lineno,
				       (int)klen, k);
		if (seen & BIT(key))
			return vgpu_errbuf(err, errlen, VGPU_REC_MALFORMED, "line %d: duplicate key '%s'", L.lineno,
				       g->name(key));
		seen |= BIT(key);
		if (g->field(rec, key, v, vlen) < 0)
			return vgpu_errbuf(err, errlen, VGPU_REC_MALFORMED, "line %d: %s: bad value", L.lineno,
				       g->name(key));
	}
	*seenp = seen;
	return VGPU_REC_OK;
}

/* The public decoders' common ending: on failure the record is zeroed but for the seq
 * and nonce salvaged from BUF (PROTOCOL section 3). */
int vgpu_rec_decode_finish(int rc, const char *buf, size_t len, void *rec, size_t recsize, int64_t *seq,
			 char *nonce)
{
	if (rc == VGPU_REC_OK)
		return rc;
	memset(rec, 0, recsize);
	if (rc != VGPU_REC_TOO_LARGE)
		salvage_seq_nonce(buf, len, seq, nonce);
	return rc;
}

/* ---- encoding --------------------------------------------------------------------- */


void vgpu_rec_printf(struct vgpu_rec_out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len)
		o->overflow = 1;
	else
		o->len += (size_t)n;
}

static void rec_append(struct vgpu_rec_out *o, const char *s, size_t n)
{
	if (o->overflow)
		return;
	if (n >= o->cap - o->len) {    /* room for the bytes and a NUL, as vsnprintf */
		o->overflow = 1;
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void rec_key(struct vgpu_rec_out *o, const char *key)
{
	rec_append(o, key, strlen(key));
	rec_append(o, " ", 1);
}

void vgpu_rec_put(struct vgpu_rec_out *o, const char *key, const char *value)
{
	rec_key(o, key);
	rec_append(o, value, strlen(value));
	rec_append(o, "\n", 1);
}

void vgpu_rec_put_u64(struct vgpu_rec_out *o, const char *key, uint64_t value)
{
	char d[24];
	size_t n = vgpu_fmt_u64(d, value);

	d[n++] = '\n';
	rec_key(o, key);
	rec_append(o, d, n);
}

void vgpu_rec_put_i64(struct vgpu_rec_out *o, const char *key, int64_t value)
{
	char d[24];
	size_t n = 0;

	if (value < 0)
		d[n++] = '-';
	n += vgpu_fmt_u64(d + n, value < 0 ? 0 - (uint64_t)value : (uint64_t)value);
	d[n++] = '\n';
	rec_key(o, key);
	rec_append(o, d, n);
}

int vgpu_rec_text_ok(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	if (n == cap || n > VGPU_VALUE_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

/* Append the end line (the encoders then decode the record again where
 * VGPU_RECORD_SELFCHECK is on: record.c's selfcheck_*). */
int vgpu_rec_finish(struct vgpu_rec_out *o)
{
	if (o->overflow)
		return -ENOSPC;
	uint32_t crc = vgpu_crc32(o->buf, o->len);
	char end[48];          /* "end BODY CRC\n", no format string (one per record) */
	size_t n = 4;

	memcpy(end, "end ", 4);
	n += vgpu_fmt_u64(end + n, o->len);
	end[n++] = ' ';
	vgpu_fmt_hex(end + n, crc, 8);
	n += 8;
	end[n++] = '\n';
	rec_append(o, end, n);
	if (o->overflow)
		return -ENOSPC;
	if (o->len > VGPU_RECORD_MAX)
		return -EINVAL;
	return (int)o->len;
}

