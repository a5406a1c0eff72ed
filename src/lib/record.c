/* record.c - the fields of requests and responses: decoding, their rules, encoding
 * (docs/PROTOCOL.md section 3).
 *
 * Decoding runs in three stages so that the reader can act on the outcome: frame (find
 * the end line: INCOMPLETE when absent), check (LEN and CRC: CORRUPT), then parse the
 * verified bytes line by line against the grammar and the op's rules (MALFORMED). The
 * first two and the line walk are record_syntax.c's; an op's arguments are op.c's. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "record_syntax.h"
#include "status.h"


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

#define REQ_COMMON (BIT(RK_VM) | BIT(RK_SEQ) | BIT(RK_NONCE) | BIT(RK_PRIORITY) | BIT(RK_OP) | BIT(RK_TIMEOUT_MS))
#define REQ_DATA (BIT(RK_INPUT) | BIT(RK_OUTPUT))

static const char *req_key_name(int key)
{
	return key < RK_ARG ? req_keys[key] : vgpu_arg_table[key - RK_ARG].key;
}

static int req_key_lookup(const char *k, size_t klen)
{
	int key = vgpu_rec_key(req_keys, RK_ARG, k, klen);

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
		if (!vgpu_rec_nonce_ok(v, vlen))
			return -1;
		memcpy(r->nonce, v, 16);
		r->nonce[16] = '\0';
		return 0;
	case RK_PRIORITY:
		if ((e = vgpu_rec_enum(v, vlen, vgpu_prio_parse)) < 0)
			return -1;
		r->priority = (enum vgpu_prio)e;
		return 0;
	case RK_OP:
		if ((e = vgpu_rec_enum(v, vlen, vgpu_op_parse)) < 0)
			return -1;
		r->op = (enum vgpu_op)e;
		return 0;
	case RK_INPUT: return vgpu_rec_payload_ref(v, vlen, &r->input);
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
			return vgpu_errbuf(err, errlen, VGPU_REC_MALFORMED, "missing field '%s'", req_key_name(i));
	need = vgpu_op_required(r->op) << RK_ARG;
	for (i = 0; i < RK_COUNT; i++)
		if ((need & BIT(i)) && !(seen & BIT(i)))
			return vgpu_errbuf(err, errlen, VGPU_REC_MALFORMED, "op %s: missing field '%s'",
				       vgpu_op_name(r->op), req_key_name(i));
	for (i = 0; i < RK_COUNT; i++)
		if ((seen & BIT(i)) && !((REQ_COMMON | op_allowed_keys(r->op)) & BIT(i)))
			return vgpu_errbuf(err, errlen, VGPU_REC_MALFORMED, "op %s: field '%s' does not belong to it",
				       vgpu_op_name(r->op), req_key_name(i));
	{
		char why[160];
		if (vgpu_op_check(r->op, &r->args, why, sizeof(why)) < 0)
			return vgpu_errbuf(err, errlen, VGPU_REC_MALFORMED, "op %s: %s", vgpu_op_name(r->op), why);
	}
	if (vgpu_op_has_data(r->op)) {
		int64_t in = vgpu_request_input_bytes(r), out = vgpu_request_output_bytes(r);
		if ((int)r->args.has_seed == !!r->input.name[0])
			return vgpu_errbuf(err, errlen, VGPU_REC_MALFORMED, "op %s: give exactly one of 'seed' and 'input'",
				       vgpu_op_name(r->op));
		if (in < 0 || out < 0)
			return vgpu_errbuf(err, errlen, VGPU_REC_MALFORMED, "op %s: sizes overflow", vgpu_op_name(r->op));
		if (r->input.name[0]) {
			char want[VGPU_NAME_MAX];
			vgpu_payload_name(want, "in", r->seq);
			if (strcmp(want, r->input.name) != 0)
				return vgpu_errbuf(err, errlen, VGPU_REC_MALFORMED, "input: file must be named %s", want);
			if (r->input.bytes != (uint64_t)in)
				return vgpu_errbuf(err, errlen, VGPU_REC_MALFORMED,
					       "input: %" PRIu64 " bytes, but op %s with these sizes needs %" PRId64,
					       r->input.bytes, vgpu_op_name(r->op), in);
		}
	}
	return VGPU_REC_OK;
}

/* A request being decoded; an op name we do not know is kept to answer UNKNOWN_OP
 * rather than BAD_REQUEST, once the rest of the record is known to be well-formed. */
struct req_decoding {
	struct vgpu_request r;
	char unknown_op[32];
};

/* Could V (VLEN bytes, not NUL-terminated) be an op's name: [a-z0-9_]+? */
static int op_name_chars(const char *v, size_t vlen)
{
	for (size_t i = 0; i < vlen; i++)
		if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= '0' && v[i] <= '9') || v[i] == '_'))
			return 0;
	return 1;
}

static int req_field_cb(void *rec, int key, const char *v, size_t vlen)
{
	struct req_decoding *d = rec;

	if (key == RK_OP && vlen > 0 && vlen < sizeof(d->unknown_op) && vgpu_rec_enum(v, vlen, vgpu_op_parse) < 0 &&
	    op_name_chars(v, vlen)) {
		memcpy(d->unknown_op, v, vlen);
		d->unknown_op[vlen] = '\0';
		return 0;
	}
	return req_field(&d->r, key, v, vlen);
}

static const struct vgpu_rec_grammar req_grammar = {
	.header = "VGPU1 REQUEST", .lookup = req_key_lookup, .name = req_key_name, .field = req_field_cb,
};

int vgpu_request_decode(const char *buf, size_t len, struct vgpu_request *req, char *err, size_t errlen)
{
	struct req_decoding d;
	unsigned seen = 0;
	int rc;

	memset(&d, 0, sizeof(d));
	d.r.output_file = -1;
	if (err && errlen > 0)
		err[0] = '\0';
	rc = vgpu_rec_decode_fields(buf, len, &req_grammar, &d, &seen, err, errlen);
	if (rc == VGPU_REC_OK && d.unknown_op[0]) {
		char known[128] = "";
		for (int op = VGPU_OP_NONE + 1; op < VGPU_OP_COUNT; op++)
			if (!vgpu_op_is_test((enum vgpu_op)op))
				snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s", known[0] ? ", " : "",
					 vgpu_op_name((enum vgpu_op)op));
		rc = vgpu_errbuf(err, errlen, VGPU_REC_UNKNOWN_OP, "unknown op '%s' (known: %s)", d.unknown_op, known);
	}
	if (rc == VGPU_REC_OK)
		rc = req_semantics(&d.r, seen, err, errlen);
	if (rc == VGPU_REC_OK)
		*req = d.r;
	return vgpu_rec_decode_finish(rc, buf, len, req, sizeof(*req), &req->seq, req->nonce);
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
		if (!vgpu_rec_nonce_ok(v, vlen))
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
		if ((e = vgpu_rec_enum(v, vlen, vgpu_op_parse)) < 0)
			return -1;
		r->op = (enum vgpu_op)e;
		return 0;
	case PK_PRIORITY:
		if ((e = vgpu_rec_enum(v, vlen, vgpu_prio_parse)) < 0)
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
	case PK_OUTPUT: return vgpu_rec_payload_ref(v, vlen, &r->output);
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

static int resp_key_lookup(const char *k, size_t klen)
{
	return vgpu_rec_key(resp_keys, PK_COUNT, k, klen);
}

static const char *resp_key_name(int key)
{
	return resp_keys[key];
}

static int resp_field_cb(void *rec, int key, const char *v, size_t vlen)
{
	return resp_field(rec, key, v, vlen);
}

static const struct vgpu_rec_grammar resp_grammar = {
	.header = "VGPU1 RESPONSE", .lookup = resp_key_lookup, .name = resp_key_name, .field = resp_field_cb,
};

static int resp_semantics(const struct vgpu_response *r, unsigned seen, char *err, size_t errlen)
{
	unsigned need = ((1u << PK_COUNT) - 1) & ~BIT(PK_OUTPUT) & ~BIT(PK_ANSWERED);

	for (int i = 0; i < PK_COUNT; i++)
		if ((need & BIT(i)) && !(seen & BIT(i)))
			return vgpu_errbuf(err, errlen, VGPU_REC_MALFORMED, "missing field '%s'", resp_keys[i]);
	if (r->output.name[0]) {
		char want[VGPU_NAME_MAX];
		vgpu_payload_name(want, "out", r->seq);
		if (strcmp(want, r->output.name) != 0)
			return vgpu_errbuf(err, errlen, VGPU_REC_MALFORMED, "output: file must be named %s", want);
	}
	return VGPU_REC_OK;
}

int vgpu_response_decode(const char *buf, size_t len, struct vgpu_response *resp, char *err, size_t errlen)
{
	struct vgpu_response r;
	unsigned seen = 0;
	int rc;

	memset(&r, 0, sizeof(r));
	if (err && errlen > 0)
		err[0] = '\0';
	rc = vgpu_rec_decode_fields(buf, len, &resp_grammar, &r, &seen, err, errlen);
	if (rc == VGPU_REC_OK)
		rc = resp_semantics(&r, seen, err, errlen);
	if (rc == VGPU_REC_OK)
		*resp = r;
	return vgpu_rec_decode_finish(rc, buf, len, resp, sizeof(*resp), &resp->seq, resp->nonce);
}

/* What an encoder wrote, decoded again: whatever it writes the decoder accepts (one
 * grammar, one place). For requests always: the decoder's semantic rules (an op's
 * arguments, input, seed and sizes) are not all repeated in the encoder, and the client
 * relies on a refusal here before it spends a seq (client_core.c). For responses an
 * assertion, as SQLite's assert(): checked in every build but a release one
 * (VGPU_RECORD_SELFCHECK, the Makefile), where it would cost a whole decode per answer on
 * the ping's path; the response encoder checks every rule the decoder enforces up front,
 * and the fuzzers (docs/SECURITY.md) and test_record's random answers check the property. */
static int selfcheck_request(const char *buf, int len)
{
	struct vgpu_request chk;

	return vgpu_request_decode(buf, (size_t)len, &chk, NULL, 0) == VGPU_REC_OK;
}

static int selfcheck_response(const char *buf, int len)
{
#ifdef VGPU_RECORD_SELFCHECK
	struct vgpu_response chk;

	return vgpu_response_decode(buf, (size_t)len, &chk, NULL, 0) == VGPU_REC_OK;
#else
	(void)buf;
	(void)len;
	return 1;
#endif
}

/* The op's arguments in its .params order, then seed, input and output for data ops. */
static int request_encode_args(struct vgpu_rec_out *o, const struct vgpu_request *r)
{
	char val[VGPU_VALUE_MAX + 1];
	unsigned req = vgpu_op_required(r->op);
	int a;

	for (const char *p = vgpu_op_get(r->op)->params, *sp; *p; p = *sp ? sp + 1 : sp) {
		sp = strchrnul(p, ' ');
		a = vgpu_arg_lookup(p, (size_t)(sp - p));
		if (a < 0 || !(req & (1u << a)) || vgpu_arg_format((enum vgpu_arg)a, &r->args, val, sizeof(val)) < 0)
			return -1;
		vgpu_rec_printf(o, "%s %s\n", vgpu_arg_table[a].key, val);
	}
	if (!vgpu_op_has_data(r->op))
		return 0;
	if (r->args.has_seed) {
		if (vgpu_arg_format(VGPU_ARG_SEED, &r->args, val, sizeof(val)) < 0)
			return -1;
		vgpu_rec_printf(o, "seed %s\n", val);
	}
	if (r->input.name[0])
		vgpu_rec_printf(o, "input %s %" PRIu64 " %08" PRIx32 "\n", r->input.name, r->input.bytes, r->input.crc);
	if (r->output_file >= 0)
		vgpu_rec_printf(o, "output %s\n", r->output_file ? "file" : "summary");
	return 0;
}

int vgpu_request_encode(const struct vgpu_request *r, char *buf, size_t cap)
{
	struct vgpu_rec_out o = { .buf = buf, .cap = cap, .len = 0, .overflow = 0 };
	int len;

	if (!buf || cap == 0)
		return -ENOSPC;
	if (r->vm == 0 || r->vm > VGPU_VM_MAX || r->seq <= 0 || (unsigned)r->priority >= VGPU_PRIO_COUNT ||
	    r->op <= VGPU_OP_NONE || r->op >= VGPU_OP_COUNT || !vgpu_rec_nonce_ok(r->nonce, strnlen(r->nonce, 17)) ||
	    (r->input.name[0] && !vgpu_rec_text_ok(r->input.name, sizeof(r->input.name))))
		return -EINVAL;
	vgpu_rec_printf(&o, "VGPU1 REQUEST\nvm %" PRIu32 "\nseq %" PRId64 "\nnonce %s\npriority %s\nop %s\n",
		   r->vm, r->seq, r->nonce, vgpu_prio_name(r->priority), vgpu_op_name(r->op));
	if (request_encode_args(&o, r) < 0)
		return -EINVAL;
	if (r->timeout_ms)
		vgpu_rec_printf(&o, "timeout_ms %" PRIu64 "\n", r->timeout_ms);
	len = vgpu_rec_finish(&o);
	if (len < 0)
		return len;
	if (!selfcheck_request(buf, len))
		return -EINVAL;
	return len;
}

int vgpu_response_encode(const struct vgpu_response *r, char *buf, size_t cap)
{
	struct vgpu_rec_out o = { .buf = buf, .cap = cap, .len = 0, .overflow = 0 };
	int len;

	if (!buf || cap == 0)
		return -ENOSPC;
	if (r->vm == 0 || r->vm > VGPU_VM_MAX || r->seq < 0 || r->answered < 0 || r->status < 0 || r->status >= VGPU_STATUS_COUNT ||
	    (unsigned)r->op >= VGPU_OP_COUNT || (unsigned)r->priority >= VGPU_PRIO_COUNT ||
	    !vgpu_rec_nonce_ok(r->nonce, strnlen(r->nonce, 17)) ||
	    !executor_ok(r->executor, strnlen(r->executor, sizeof(r->executor))) ||
	    !vgpu_rec_text_ok(r->result, sizeof(r->result)) || !vgpu_rec_text_ok(r->error, sizeof(r->error)) ||
	    (r->output.name[0] && !vgpu_rec_text_ok(r->output.name, sizeof(r->output.name))))
		return -EINVAL;
	/* field by field, no format string: one of these per answer, on the ping's path */
	vgpu_rec_put(&o, "VGPU1", "RESPONSE");
	vgpu_rec_put_u64(&o, "vm", r->vm);
	vgpu_rec_put_i64(&o, "seq", r->seq);
	vgpu_rec_put(&o, "nonce", r->nonce);
	{
		/* "CODE NAME"; the code is below VGPU_STATUS_COUNT (checked above), two digits */
		const char *name = vgpu_status_name(r->status);
		char sv[64];
		size_t n = 0, nl = strnlen(name, sizeof(sv) - 4);

		if (r->status >= 10)
			sv[n++] = (char)('0' + r->status / 10);
		sv[n++] = (char)('0' + r->status % 10);
		sv[n++] = ' ';
		memcpy(sv + n, name, nl);
		sv[n + nl] = '\0';
		vgpu_rec_put(&o, "status", sv);
	}
	vgpu_rec_put(&o, "op", vgpu_op_name(r->op));
	vgpu_rec_put(&o, "priority", vgpu_prio_name(r->priority));
	vgpu_rec_put_u64(&o, "queue_us", r->queue_us);
	vgpu_rec_put_u64(&o, "exec_us", r->exec_us);
	vgpu_rec_put(&o, "executor", r->executor);
	vgpu_rec_put(&o, "result", r->result);
	if (r->output.name[0])
		vgpu_rec_printf(&o, "output %s %" PRIu64 " %08" PRIx32 "\n", r->output.name, r->output.bytes,
			   r->output.crc);
	vgpu_rec_put(&o, "error", r->error);
	if (r->answered > 0)
		vgpu_rec_put_i64(&o, "answered", r->answered);
	len = vgpu_rec_finish(&o);
	if (len < 0)
		return len;
	if (!selfcheck_response(buf, len))
		return -EINVAL;
	return len;
}
_Static_assert(VGPU_STATUS_COUNT <= 100, "response encode writes the status code as at most two digits");
