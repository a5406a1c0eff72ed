/* record_status.c - the status record vmN/status.txt (docs/PROTOCOL.md section 10):
 * decoding and encoding over the shared record syntax (record_syntax.c). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "record_status.h"
#include "record_syntax.h"

enum st_key {
	SK_VM, SK_BEAT, SK_TIME_MS, SK_PERIOD_MS, SK_STATE, SK_SEQ, SK_NONCE, SK_PRIORITY, SK_CAP, SK_POSITION,
	SK_RUNNING, SK_SINCE_MS, SK_EXPECTED_MS, SK_EXECUTOR, SK_ANSWERED, SK_COUNT
};
static const char *const st_keys[SK_COUNT] = {
	"vm", "beat", "time_ms", "period_ms", "state", "seq", "nonce", "priority", "cap", "position",
	"running", "since_ms", "expected_ms", "executor", "answered",
};
static const char *const state_names[VGPU_PROGRESS_COUNT] = { "idle", "queued", "running" };

#define ZERO_NONCE "0000000000000000"

const char *vgpu_progress_state_name(enum vgpu_progress_state s)
{
	return (unsigned)s < VGPU_PROGRESS_COUNT ? state_names[s] : "?";
}

int vgpu_progress_state_parse(const char *s)
{
	for (int i = 0; i < VGPU_PROGRESS_COUNT; i++)
		if (strcmp(s, state_names[i]) == 0)
			return i;
	return -1;
}

/* [a-z0-9_:-]{1,31}: an executor's or slot's name (cuda:0) */
static int name_ok(const char *v, size_t vlen)
{
	if (vlen == 0 || vlen >= sizeof(((struct vgpu_status_rec *)0)->executor))
		return 0;
	for (size_t i = 0; i < vlen; i++)
		if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= '0' && v[i] <= '9') || v[i] == '_' || v[i] == '-' || v[i] == ':'))
			return 0;
	return 1;
}

static int u64_field(const char *v, size_t vlen, uint64_t *out)
{
	return vgpu_value_u64(v, vlen, out);
}

static int st_field(void *rec, int key, const char *v, size_t vlen)
{
	struct vgpu_status_rec *s = rec;
	uint64_t u;
	int e;

	switch (key) {
	case SK_VM:
		if (vgpu_value_u64(v, vlen, &u) < 0 || u == 0 || u > VGPU_VM_MAX)
			return -1;
		s->vm = (uint32_t)u;
		return 0;
	case SK_BEAT:
		return u64_field(v, vlen, &s->beat) < 0 || s->beat == 0 ? -1 : 0;
	case SK_TIME_MS: return u64_field(v, vlen, &s->time_ms);
	case SK_PERIOD_MS:
		return u64_field(v, vlen, &s->period_ms) < 0 || s->period_ms == 0 ? -1 : 0;
	case SK_STATE:
		if ((e = vgpu_rec_enum(v, vlen, vgpu_progress_state_parse)) < 0)
			return -1;
		s->state = (enum vgpu_progress_state)e;
		return 0;
	case SK_SEQ:
	case SK_ANSWERED:
		if (vgpu_value_u64(v, vlen, &u) < 0 || u > (uint64_t)VGPU_SEQ_MAX)
			return -1;
		*(key == SK_SEQ ? &s->seq : &s->answered) = (int64_t)u;
		return 0;
	case SK_NONCE:
		if (!vgpu_rec_nonce_ok(v, vlen))
			return -1;
		memcpy(s->nonce, v, 16);
		s->nonce[16] = '\0';
		return 0;
	case SK_PRIORITY:
	case SK_CAP:
		if ((e = vgpu_rec_enum(v, vlen, vgpu_prio_parse)) < 0)
			return -1;
		*(key == SK_PRIORITY ? &s->priority : &s->cap) = (enum vgpu_prio)e;
		return 0;
	case SK_POSITION: return u64_field(v, vlen, &s->position);
	case SK_RUNNING: return u64_field(v, vlen, &s->running);
	case SK_SINCE_MS: return u64_field(v, vlen, &s->since_ms);
	case SK_EXPECTED_MS: return u64_field(v, vlen, &s->expected_ms);
	case SK_EXECUTOR:
		if (!name_ok(v, vlen))
			return -1;
		memcpy(s->executor, v, vlen);
		s->executor[vlen] = '\0';
		return 0;
	}
	return -1;
}

static int st_lookup(const char *k, size_t klen)
{
	return vgpu_rec_key(st_keys, SK_COUNT, k, klen);
}

static const char *st_name(int key)
{
	return st_keys[key];
}

static const struct vgpu_rec_grammar st_grammar = {
	.header = "VGPU1 STATUS", .lookup = st_lookup, .name = st_name, .field = st_field,
};

/* Every key is required; idle has seq 0 and the zero nonce, the others a real seq. */
static int st_semantics(const struct vgpu_status_rec *s, unsigned seen, char *err, size_t errlen)
{
	for (int i = 0; i < SK_COUNT; i++)
		if (!(seen & BIT(i)))
			return vgpu_errbuf(err, errlen, VGPU_REC_MALFORMED, "missing field '%s'", st_keys[i]);
	if ((s->state == VGPU_PROGRESS_IDLE) != (s->seq == 0))
		return vgpu_errbuf(err, errlen, VGPU_REC_MALFORMED, "seq: 0 exactly when idle");
	if (s->state == VGPU_PROGRESS_IDLE && strcmp(s->nonce, ZERO_NONCE) != 0)
		return vgpu_errbuf(err, errlen, VGPU_REC_MALFORMED, "nonce: zeros when idle");
	if (s->state != VGPU_PROGRESS_QUEUED && s->position)
		return vgpu_errbuf(err, errlen, VGPU_REC_MALFORMED, "position: only when queued");
	return VGPU_REC_OK;
}

int vgpu_status_rec_decode(const char *buf, size_t len, struct vgpu_status_rec *s, char *err, size_t errlen)
{
	struct vgpu_status_rec r;
	unsigned seen = 0;
	int rc;

	memset(&r, 0, sizeof(r));
	if (err && errlen > 0)
		err[0] = '\0';
	rc = vgpu_rec_decode_fields(buf, len, &st_grammar, &r, &seen, err, errlen);
	if (rc == VGPU_REC_OK)
		rc = st_semantics(&r, seen, err, errlen);
	if (rc == VGPU_REC_OK)
		*s = r;
	else
		memset(s, 0, sizeof(*s));
	return rc;
}

int vgpu_status_rec_encode(const struct vgpu_status_rec *s, char *buf, size_t cap)
{
	struct vgpu_rec_out o = { .buf = buf, .cap = cap, .len = 0, .overflow = 0 };
	struct vgpu_status_rec chk;
	const char *nonce = s->state == VGPU_PROGRESS_IDLE ? ZERO_NONCE : s->nonce;
	int len;

	if (!buf || cap == 0)
		return -ENOSPC;
	if (s->vm == 0 || s->vm > VGPU_VM_MAX || s->beat == 0 || s->period_ms == 0 ||
	    (unsigned)s->state >= VGPU_PROGRESS_COUNT || s->seq < 0 || s->answered < 0 ||
	    (unsigned)s->priority >= VGPU_PRIO_COUNT || (unsigned)s->cap >= VGPU_PRIO_COUNT ||
	    !vgpu_rec_nonce_ok(nonce, strnlen(nonce, 17)) || !name_ok(s->executor, strnlen(s->executor, sizeof(s->executor))))
		return -EINVAL;
	vgpu_rec_printf(&o, "VGPU1 STATUS\nvm %" PRIu32 "\nbeat %" PRIu64 "\ntime_ms %" PRIu64 "\nperiod_ms %" PRIu64
			"\nstate %s\nseq %" PRId64 "\nnonce %s\npriority %s\ncap %s\nposition %" PRIu64
			"\nrunning %" PRIu64 "\nsince_ms %" PRIu64 "\nexpected_ms %" PRIu64 "\nexecutor %s\nanswered %" PRId64
			"\n", s->vm, s->beat, s->time_ms, s->period_ms, vgpu_progress_state_name(s->state), s->seq, nonce,
			vgpu_prio_name(s->priority), vgpu_prio_name(s->cap), s->position, s->running, s->since_ms,
			s->expected_ms, s->executor, s->answered);
	len = vgpu_rec_finish(&o);
	if (len < 0)
		return len;
	if (vgpu_status_rec_decode(buf, (size_t)len, &chk, NULL, 0) != VGPU_REC_OK)
		return -EINVAL;
	return len;
}
