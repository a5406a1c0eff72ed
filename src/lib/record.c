/* record.c - the protocol's record encoder and strict decoder (docs/PROTOCOL.md sec. 3).
 *
 * Decoding runs in three stages so that the reader can act on the outcome: frame (find
 * the end line: INCOMPLETE when absent), check (LEN and CRC: CORRUPT), then parse the
 * verified bytes line by line against the grammar and the op's rules (MALFORMED). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "status.h"

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

static int valid_nonce(const char *s, size_t len)
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
static int parse_payload_ref(const char *s, size_t len, struct vgpu_payload_ref *ref)
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

static int set_err(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int set_err(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

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
		return set_err(err, errlen, VGPU_REC_TOO_LARGE, "record of %zu bytes is over the %d byte cap",
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
			return set_err(err, errlen, VGPU_REC_MALFORMED, "line 1: not a '%s' header", header);
		return set_err(err, errlen, VGPU_REC_INCOMPLETE, "no end line (%zu bytes so far)", len);
	}

	/* "end LEN CRC" between ls and nl. */
	const char *e = buf + ls + 4, *eend = nl, *sp;
	if ((size_t)(nl - buf) < ls + 4 || !(sp = memchr(e, ' ', (size_t)(eend - e))) ||
	    vgpu_value_u64(e, (size_t)(sp - e), &elen) < 0 ||
	    parse_hex32(sp + 1, (size_t)(eend - sp - 1), &ecrc) < 0)
		return set_err(err, errlen, VGPU_REC_MALFORMED, "end line: expected 'end LEN CRC' (8 lowercase hex digits)");
	/* A LEN no record can have is wrong, not a record still being written. */
	if (elen > VGPU_RECORD_MAX)
		return set_err(err, errlen, VGPU_REC_CORRUPT, "end line: length %" PRIu64 " is over the %d byte cap",
			       elen, VGPU_RECORD_MAX);
	if (elen > ls)
		return set_err(err, errlen, VGPU_REC_INCOMPLETE, "end line: length %" PRIu64 " but only %zu bytes before it",
			       elen, ls);
	if (elen < ls)
		return set_err(err, errlen, VGPU_REC_CORRUPT, "end line: length %" PRIu64 " but %zu bytes before it",
			       elen, ls);
	uint32_t crc = vgpu_crc32(buf, ls);
	if (crc != ecrc)
		return set_err(err, errlen, VGPU_REC_CORRUPT, "end line: CRC %08" PRIx32 " but the content's is %08" PRIx32,
			       ecrc, crc);
	if ((size_t)(nl - buf) + 1 != len)
		return set_err(err, errlen, VGPU_REC_MALFORMED, "%zu bytes after the end line",
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
	return strlen(name) == klen && memcmp(k, name, klen) == 0;
}

static int lookup_key(const char *const *keys, int nkeys, const char *k, size_t klen)
{
	for (int i = 0; i < nkeys; i++)
		if (key_is(k, klen, keys[i]))
			return i;
	return -1;
}

static int parse_enum(const char *v, size_t vlen, int (*parse)(const char *))
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
			if (valid_nonce(line + 6, n - 6))
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

/* ---- requests --------------------------------------------------------------------- */

/* The keys every request may have; an op's arguments (op.h) follow them as
 * RK_ARG + enum vgpu_arg. */
enum req_key {
	RK_VM, RK_SEQ, RK_NONCE, RK_PRIORITY, RK_OP, RK_INPUT, RK_OUTPUT, RK_TIMEOUT_MS, RK_ARG,
	RK_COUNT = RK_ARG + VGPU_ARG_COUNT
};
static const char *const req_keys[RK_ARG] = {
	"vm", "seq", "nonce", "priority", "op", "input", "output", "timeout_ms",
};

#define BIT(x) (1u << (x))
#define REQ_COMMON (BIT(RK_VM) | BIT(RK_SEQ) | BIT(RK_NONCE) | BIT(RK_PRIORITY) | BIT(RK_OP) | BIT(RK_TIMEOUT_MS))
#define REQ_DATA (BIT(RK_INPUT) | BIT(RK_OUTPUT))

static const char *req_key_name(int key)
{
	return key < RK_ARG ? req_keys[key] : vgpu_arg_table[key - RK_ARG].key;
}

static int req_key_lookup(const char *k, size_t klen)
{
	int key = lookup_key(req_keys, RK_ARG, k, klen);

	if (key < 0 && (key = vgpu_arg_lookup(k, klen)) >= 0)
		key += RK_ARG;
	return key;
}

/* The keys OP may have besides the common ones, as BIT(enum req_key). */
static unsigned op_allowed_keys(enum vgpu_op op)
{
	return vgpu_op_allowed(op) << RK_ARG | (vgpu_op_has_data(op) ? REQ_DATA : 0);
}

static int req_field(struct vgpu_request *r, int key, const char *v, size_t vlen)
{
	uint64_t u;
	int e;

	switch (key) {
	case RK_VM:
		if (vgpu_value_u64(v, vlen, &u) < 0 || u == 0 || u > VGPU_VM_MAX)
			return -1;
		r->vm = (uint32_t)u;
		return 0;
	case RK_SEQ:
		if (vgpu_value_u64(v, vlen, &u) < 0 || u == 0 || u > (uint64_t)VGPU_SEQ_MAX)
			return -1;
		r->seq = (int64_t)u;
		return 0;
	case RK_NONCE:
		if (!valid_nonce(v, vlen))
			return -1;
		memcpy(r->nonce, v, 16);
		r->nonce[16] = '\0';
		return 0;
	case RK_PRIORITY:
		if ((e = parse_enum(v, vlen, vgpu_prio_parse)) < 0)
			return -1;
		r->priority = (enum vgpu_prio)e;
		return 0;
	case RK_OP:
		if ((e = parse_enum(v, vlen, vgpu_op_parse)) < 0)
			return -1;
		r->op = (enum vgpu_op)e;
		return 0;
	case RK_INPUT: return parse_payload_ref(v, vlen, &r->input);
	case RK_OUTPUT:
		if (vlen == 4 && memcmp(v, "file", 4) == 0)
			r->output_file = 1;
		else if (vlen == 7 && memcmp(v, "summary", 7) == 0)
			r->output_file = 0;
		else
			return -1;
		return 0;
	case RK_TIMEOUT_MS: return vgpu_value_u64(v, vlen, &r->timeout_ms);
	}
	return vgpu_arg_parse((enum vgpu_arg)(key - RK_ARG), v, vlen, &r->args);
}

static int req_semantics(const struct vgpu_request *r, unsigned seen, char *err, size_t errlen)
{
	unsigned need = BIT(RK_VM) | BIT(RK_SEQ) | BIT(RK_NONCE) | BIT(RK_PRIORITY) | BIT(RK_OP);
	int i;

	for (i = 0; i < RK_COUNT; i++)
		if ((need & BIT(i)) && !(seen & BIT(i)))
			return set_err(err, errlen, VGPU_REC_MALFORMED, "missing field '%s'", req_key_name(i));
	need = vgpu_op_required(r->op) << RK_ARG;
	for (i = 0; i < RK_COUNT; i++)
		if ((need & BIT(i)) && !(seen & BIT(i)))
			return set_err(err, errlen, VGPU_REC_MALFORMED, "op %s: missing field '%s'",
				       vgpu_op_name(r->op), req_key_name(i));
	for (i = 0; i < RK_COUNT; i++)
		if ((seen & BIT(i)) && !((REQ_COMMON | op_allowed_keys(r->op)) & BIT(i)))
			return set_err(err, errlen, VGPU_REC_MALFORMED, "op %s: field '%s' does not belong to it",
				       vgpu_op_name(r->op), req_key_name(i));
	if (vgpu_op_has_data(r->op)) {
		int64_t in = vgpu_request_input_bytes(r), out = vgpu_request_output_bytes(r);
		if ((int)r->args.has_seed == !!r->input.name[0])
			return set_err(err, errlen, VGPU_REC_MALFORMED, "op %s: give exactly one of 'seed' and 'input'",
				       vgpu_op_name(r->op));
		if (in < 0 || out < 0)
			return set_err(err, errlen, VGPU_REC_MALFORMED, "op %s: sizes overflow", vgpu_op_name(r->op));
		if (r->input.name[0]) {
			char want[VGPU_NAME_MAX];
			vgpu_payload_name(want, "in", r->seq);
			if (strcmp(want, r->input.name) != 0)
				return set_err(err, errlen, VGPU_REC_MALFORMED, "input: file must be named %s", want);
			if (r->input.bytes != (uint64_t)in)
				return set_err(err, errlen, VGPU_REC_MALFORMED,
					       "input: %" PRIu64 " bytes, but op %s with these sizes needs %" PRId64,
					       r->input.bytes, vgpu_op_name(r->op), in);
		}
	}
	return VGPU_REC_OK;
}

static int request_decode(const char *buf, size_t len, struct vgpu_request *r, char *err, size_t errlen)
{
	struct lines L;
	const char *s, *k, *v;
	size_t n, klen, vlen, body;
	unsigned seen = 0;
	int rc, key;
	char unknown_op[32] = "";

	rc = frame_check(buf, len, "VGPU1 REQUEST", &body, err, errlen);
	if (rc != VGPU_REC_OK)
		return rc;
	L = (struct lines){ .buf = buf, .len = body, .pos = 0, .lineno = 0 };
	rc = next_line(&L, &s, &n);
	if (rc <= 0 || n != 13 || memcmp(s, "VGPU1 REQUEST", 13) != 0) {
		if (rc > 0 && n > 4 && memcmp(s, "VGPU", 4) == 0 && s[4] != '1')
			return set_err(err, errlen, VGPU_REC_MALFORMED, "line 1: unsupported version (this is VGPU1)");
		return set_err(err, errlen, VGPU_REC_MALFORMED, "line 1: not a 'VGPU1 REQUEST' header");
	}
	r->output_file = -1;
	while ((rc = next_line(&L, &s, &n)) != 0) {
		if (rc < 0)
			return set_err(err, errlen, VGPU_REC_MALFORMED, "line %d: control character or non-ASCII byte",
				       L.lineno);
		if (split_field(s, n, &k, &klen, &v, &vlen) < 0)
			return set_err(err, errlen, VGPU_REC_MALFORMED, "line %d: expected 'key value'", L.lineno);
		if (vlen > VGPU_VALUE_MAX)
			return set_err(err, errlen, VGPU_REC_MALFORMED, "line %d: value over %d bytes", L.lineno,
				       VGPU_VALUE_MAX);
		if ((key = req_key_lookup(k, klen)) < 0)
			return set_err(err, errlen, VGPU_REC_MALFORMED, "line %d: unknown key '%.*s'", L.lineno,
				       (int)klen, k);
		if (seen & BIT(key))
			return set_err(err, errlen, VGPU_REC_MALFORMED, "line %d: duplicate key '%s'", L.lineno,
				       req_key_name(key));
		seen |= BIT(key);
		if (key == RK_OP && vlen > 0 && vlen < sizeof(unknown_op) && parse_enum(v, vlen, vgpu_op_parse) < 0 &&
		    strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789_") >= vlen) {
			/* a well-formed name we do not know: UNKNOWN_OP, not a syntax error */
			memcpy(unknown_op, v, vlen);
			unknown_op[vlen] = '\0';
			continue;
		}
		if (req_field(r, key, v, vlen) < 0)
			return set_err(err, errlen, VGPU_REC_MALFORMED, "line %d: %s: bad value", L.lineno,
				       req_key_name(key));
	}
	if (unknown_op[0])
		return set_err(err, errlen, VGPU_REC_UNKNOWN_OP, "unknown op '%s' (known: ping, vadd, saxpy, sgemm)",
			       unknown_op);
	return req_semantics(r, seen, err, errlen);
}

int vgpu_request_decode(const char *buf, size_t len, struct vgpu_request *req, char *err, size_t errlen)
{
	struct vgpu_request r;
	int rc;

	memset(&r, 0, sizeof(r));
	if (err && errlen > 0)
		err[0] = '\0';
	rc = request_decode(buf, len, &r, err, errlen);
	if (rc == VGPU_REC_OK) {
		*req = r;
		return rc;
	}
	memset(req, 0, sizeof(*req));
	if (rc != VGPU_REC_TOO_LARGE)
		salvage_seq_nonce(buf, len, &req->seq, req->nonce);
	return rc;
}

/* ---- responses -------------------------------------------------------------------- */

enum resp_key {
	PK_VM, PK_SEQ, PK_NONCE, PK_STATUS, PK_OP, PK_PRIORITY, PK_QUEUE_US, PK_EXEC_US,
	PK_EXECUTOR, PK_RESULT, PK_OUTPUT, PK_ERROR, PK_ANSWERED, PK_COUNT
};
static const char *const resp_keys[PK_COUNT] = {
	"vm", "seq", "nonce", "status", "op", "priority", "queue_us", "exec_us",
	"executor", "result", "output", "error", "answered",
};

static int executor_ok(const char *v, size_t vlen)
{
	if (vlen == 0 || vlen >= sizeof(((struct vgpu_response *)0)->executor))
		return 0;
	for (size_t i = 0; i < vlen; i++)
		if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= '0' && v[i] <= '9') || v[i] == ':' ||
		      v[i] == '-' || v[i] == '_'))
			return 0;
	return 1;
}

static int resp_field(struct vgpu_response *r, int key, const char *v, size_t vlen)
{
	uint64_t u;
	int e;
	const char *sp;

	switch (key) {
	case PK_VM:
		if (vgpu_value_u64(v, vlen, &u) < 0 || u == 0 || u > VGPU_VM_MAX)
			return -1;
		r->vm = (uint32_t)u;
		return 0;
	case PK_SEQ:         /* 0: the request could not be parsed */
		if (vgpu_value_u64(v, vlen, &u) < 0 || u > (uint64_t)VGPU_SEQ_MAX)
			return -1;
		r->seq = (int64_t)u;
		return 0;
	case PK_NONCE:
		if (!valid_nonce(v, vlen))
			return -1;
		memcpy(r->nonce, v, 16);
		r->nonce[16] = '\0';
		return 0;
	case PK_STATUS: {
		char name[32];
		if (!(sp = memchr(v, ' ', vlen)) || vgpu_value_u64(v, (size_t)(sp - v), &u) < 0 ||
		    u >= VGPU_STATUS_COUNT || vlen - (size_t)(sp - v) - 1 >= sizeof(name))
			return -1;
		memcpy(name, sp + 1, vlen - (size_t)(sp - v) - 1);
		name[vlen - (size_t)(sp - v) - 1] = '\0';
		if (strcmp(name, vgpu_status_name((int)u)) != 0)
			return -1;
		r->status = (int)u;
		return 0;
	}
	case PK_OP:
		if (vlen == 1 && v[0] == '-') {
			r->op = VGPU_OP_NONE;
			return 0;
		}
		if ((e = parse_enum(v, vlen, vgpu_op_parse)) < 0)
			return -1;
		r->op = (enum vgpu_op)e;
		return 0;
	case PK_PRIORITY:
		if ((e = parse_enum(v, vlen, vgpu_prio_parse)) < 0)
			return -1;
		r->priority = (enum vgpu_prio)e;
		return 0;
	case PK_QUEUE_US: return vgpu_value_u64(v, vlen, &r->queue_us);
	case PK_EXEC_US: return vgpu_value_u64(v, vlen, &r->exec_us);
	case PK_EXECUTOR:
		if (!(executor_ok(v, vlen)))
			return -1;
		memcpy(r->executor, v, vlen);
		r->executor[vlen] = '\0';
		return 0;
	case PK_RESULT:
		memcpy(r->result, v, vlen);
		r->result[vlen] = '\0';
		return 0;
	case PK_OUTPUT: return parse_payload_ref(v, vlen, &r->output);
	case PK_ERROR:
		memcpy(r->error, v, vlen);
		r->error[vlen] = '\0';
		return 0;
	case PK_ANSWERED:
		if (vgpu_value_u64(v, vlen, &u) < 0 || u == 0 || u > (uint64_t)VGPU_SEQ_MAX)
			return -1;
		r->answered = (int64_t)u;
		return 0;
	}
	return -1;
}

static int response_decode(const char *buf, size_t len, struct vgpu_response *r, char *err, size_t errlen)
{
	struct lines L;
	const char *s, *k, *v;
	size_t n, klen, vlen, body;
	unsigned seen = 0, need = ((1u << PK_COUNT) - 1) & ~BIT(PK_OUTPUT) & ~BIT(PK_ANSWERED);
	int rc, key;

	rc = frame_check(buf, len, "VGPU1 RESPONSE", &body, err, errlen);
	if (rc != VGPU_REC_OK)
		return rc;
	L = (struct lines){ .buf = buf, .len = body, .pos = 0, .lineno = 0 };
	rc = next_line(&L, &s, &n);
	if (rc <= 0 || n != 14 || memcmp(s, "VGPU1 RESPONSE", 14) != 0) {
		if (rc > 0 && n > 4 && memcmp(s, "VGPU", 4) == 0 && s[4] != '1')
			return set_err(err, errlen, VGPU_REC_MALFORMED, "line 1: unsupported version (this is VGPU1)");
		return set_err(err, errlen, VGPU_REC_MALFORMED, "line 1: not a 'VGPU1 RESPONSE' header");
	}
	while ((rc = next_line(&L, &s, &n)) != 0) {
		if (rc < 0)
			return set_err(err, errlen, VGPU_REC_MALFORMED, "line %d: control character or non-ASCII byte",
				       L.lineno);
		if (split_field(s, n, &k, &klen, &v, &vlen) < 0)
			return set_err(err, errlen, VGPU_REC_MALFORMED, "line %d: expected 'key value'", L.lineno);
		if (vlen > VGPU_VALUE_MAX)
			return set_err(err, errlen, VGPU_REC_MALFORMED, "line %d: value over %d bytes", L.lineno,
				       VGPU_VALUE_MAX);
		if ((key = lookup_key(resp_keys, PK_COUNT, k, klen)) < 0)
			return set_err(err, errlen, VGPU_REC_MALFORMED, "line %d: unknown key '%.*s'", L.lineno,
				       (int)klen, k);
		if (seen & BIT(key))
			return set_err(err, errlen, VGPU_REC_MALFORMED, "line %d: duplicate key '%s'", L.lineno,
				       resp_keys[key]);
		seen |= BIT(key);
		if (resp_field(r, key, v, vlen) < 0)
			return set_err(err, errlen, VGPU_REC_MALFORMED, "line %d: %s: bad value", L.lineno,
				       resp_keys[key]);
	}
	for (int i = 0; i < PK_COUNT; i++)
		if ((need & BIT(i)) && !(seen & BIT(i)))
			return set_err(err, errlen, VGPU_REC_MALFORMED, "missing field '%s'", resp_keys[i]);
	if (r->output.name[0]) {
		char want[VGPU_NAME_MAX];
		vgpu_payload_name(want, "out", r->seq);
		if (strcmp(want, r->output.name) != 0)
			return set_err(err, errlen, VGPU_REC_MALFORMED, "output: file must be named %s", want);
	}
	return VGPU_REC_OK;
}

int vgpu_response_decode(const char *buf, size_t len, struct vgpu_response *resp, char *err, size_t errlen)
{
	struct vgpu_response r;
	int rc;

	memset(&r, 0, sizeof(r));
	if (err && errlen > 0)
		err[0] = '\0';
	rc = response_decode(buf, len, &r, err, errlen);
	if (rc == VGPU_REC_OK) {
		*resp = r;
		return rc;
	}
	memset(resp, 0, sizeof(*resp));
	if (rc != VGPU_REC_TOO_LARGE)
		salvage_seq_nonce(buf, len, &resp->seq, resp->nonce);
	return rc;
}

/* ---- encoding --------------------------------------------------------------------- */

struct out {
	char *buf;
	size_t cap, len;
	int overflow;
};

static void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(struct out *o, const char *fmt, ...)
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

static int text_ok(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	if (n == cap || n > VGPU_VALUE_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

/* Append the end line; then check the whole record with the decoder, so that whatever
 * the encoder writes the decoder accepts (one grammar, one place). */
static int out_finish(struct out *o)
{
	if (o->overflow)
		return -ENOSPC;
	uint32_t crc = vgpu_crc32(o->buf, o->len);
	size_t body = o->len;
	out_printf(o, "end %zu %08" PRIx32 "\n", body, crc);
	if (o->overflow)
		return -ENOSPC;
	if (o->len > VGPU_RECORD_MAX)
		return -EINVAL;
	return (int)o->len;
}

/* The op's arguments in its .params order, then seed, input and output for data ops. */
static int request_encode_args(struct out *o, const struct vgpu_request *r)
{
	char val[64];
	unsigned req = vgpu_op_required(r->op);
	int a;

	for (const char *p = vgpu_op_get(r->op)->params, *sp; *p; p = *sp ? sp + 1 : sp) {
		sp = strchrnul(p, ' ');
		a = vgpu_arg_lookup(p, (size_t)(sp - p));
		if (a < 0 || !(req & (1u << a)) || vgpu_arg_format((enum vgpu_arg)a, &r->args, val, sizeof(val)) < 0)
			return -1;
		out_printf(o, "%s %s\n", vgpu_arg_table[a].key, val);
	}
	if (!vgpu_op_has_data(r->op))
		return 0;
	if (r->args.has_seed) {
		if (vgpu_arg_format(VGPU_ARG_SEED, &r->args, val, sizeof(val)) < 0)
			return -1;
		out_printf(o, "seed %s\n", val);
	}
	if (r->input.name[0])
		out_printf(o, "input %s %" PRIu64 " %08" PRIx32 "\n", r->input.name, r->input.bytes, r->input.crc);
	if (r->output_file >= 0)
		out_printf(o, "output %s\n", r->output_file ? "file" : "summary");
	return 0;
}

int vgpu_request_encode(const struct vgpu_request *r, char *buf, size_t cap)
{
	struct out o = { .buf = buf, .cap = cap, .len = 0, .overflow = 0 };
	struct vgpu_request chk;
	int len;

	if (!buf || cap == 0)
		return -ENOSPC;
	if (r->vm == 0 || r->vm > VGPU_VM_MAX || r->seq <= 0 || (unsigned)r->priority >= VGPU_PRIO_COUNT ||
	    r->op <= VGPU_OP_NONE || r->op >= VGPU_OP_COUNT || !valid_nonce(r->nonce, strnlen(r->nonce, 17)) ||
	    (r->input.name[0] && !text_ok(r->input.name, sizeof(r->input.name))))
		return -EINVAL;
	out_printf(&o, "VGPU1 REQUEST\nvm %" PRIu32 "\nseq %" PRId64 "\nnonce %s\npriority %s\nop %s\n",
		   r->vm, r->seq, r->nonce, vgpu_prio_name(r->priority), vgpu_op_name(r->op));
	if (request_encode_args(&o, r) < 0)
		return -EINVAL;
	if (r->timeout_ms)
		out_printf(&o, "timeout_ms %" PRIu64 "\n", r->timeout_ms);
	len = out_finish(&o);
	if (len < 0)
		return len;
	if (vgpu_request_decode(buf, (size_t)len, &chk, NULL, 0) != VGPU_REC_OK)
		return -EINVAL;
	return len;
}

int vgpu_response_encode(const struct vgpu_response *r, char *buf, size_t cap)
{
	struct out o = { .buf = buf, .cap = cap, .len = 0, .overflow = 0 };
	struct vgpu_response chk;
	int len;

	if (!buf || cap == 0)
		return -ENOSPC;
	if (r->vm == 0 || r->vm > VGPU_VM_MAX || r->seq < 0 || r->answered < 0 || r->status < 0 || r->status >= VGPU_STATUS_COUNT ||
	    (unsigned)r->op >= VGPU_OP_COUNT || (unsigned)r->priority >= VGPU_PRIO_COUNT ||
	    !valid_nonce(r->nonce, strnlen(r->nonce, 17)) ||
	    !executor_ok(r->executor, strnlen(r->executor, sizeof(r->executor))) ||
	    !text_ok(r->result, sizeof(r->result)) || !text_ok(r->error, sizeof(r->error)) ||
	    (r->output.name[0] && !text_ok(r->output.name, sizeof(r->output.name))))
		return -EINVAL;
	out_printf(&o, "VGPU1 RESPONSE\nvm %" PRIu32 "\nseq %" PRId64 "\nnonce %s\nstatus %d %s\nop %s\n"
		   "priority %s\nqueue_us %" PRIu64 "\nexec_us %" PRIu64 "\nexecutor %s\nresult %s\n",
		   r->vm, r->seq, r->nonce, r->status, vgpu_status_name(r->status), vgpu_op_name(r->op),
		   vgpu_prio_name(r->priority), r->queue_us, r->exec_us, r->executor, r->result);
	if (r->output.name[0])
		out_printf(&o, "output %s %" PRIu64 " %08" PRIx32 "\n", r->output.name, r->output.bytes,
			   r->output.crc);
	out_printf(&o, "error %s\n", r->error);
	if (r->answered > 0)
		out_printf(&o, "answered %" PRId64 "\n", r->answered);
	len = out_finish(&o);
	if (len < 0)
		return len;
	if (vgpu_response_decode(buf, (size_t)len, &chk, NULL, 0) != VGPU_REC_OK)
		return -EINVAL;
	return len;
}
