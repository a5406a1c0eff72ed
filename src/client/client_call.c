/* client_call.c - vgpu_client_call(), the blocking call over the non-blocking core
 * (client_core.c): usage checked first, then the local lock (client_lock.c), start, poll
 * with doubling backoff, collect into a new buffer, end; every wait, the lock's included,
 * is bounded by the call's one deadline. Never prints. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "../lib/kernel_args.h"
#include "../lib/safeio.h"
#include "../lib/status.h"

#define fail vgpu_client_fail

/* Look at response.txt until our answer, or DEADLINE (client_wait.c: when to look, and
 * what to say at the deadline). */
static int wait_answer(struct vgpu_client_call *call, struct vgpu_client_waiter *w, uint64_t deadline,
		       struct vgpu_response *resp, char *err, size_t errlen)
{
	struct vgpu_client *c = call->c;
	uint64_t deadline_us = deadline * 1000, now;
	char why[512];
	int rc;

	vgpu_client_wait_begin(w, call);
	while (w->looks++, (rc = vgpu_client_poll(call, resp, err, errlen)) == VGPU_CLIENT_PENDING) {
		uint64_t us;

		now = vgpu_now_us();
		if (now >= deadline_us)
			break;
		vgpu_client_wait_progress(w, now);
		us = vgpu_client_wait_next_us(w, now);
		vgpu_client_wait_sleep(w, us < deadline_us - now ? us : deadline_us - now);
	}
	if (rc != VGPU_CLIENT_PENDING)
		return rc;
	if (call->why[0])
		return fail(err, errlen, VGPU_CLIENT_EPROTO, "no answer for seq %" PRId64 " within %g s: %s",
			    call->req->seq, c->timeout_ms / 1000.0, call->why);
	w->next_status_us = 0;    /* what status.txt says now */
	vgpu_client_wait_next_us(w, vgpu_now_us());
	vgpu_client_wait_explain(w, vgpu_now_us(), why, sizeof(why));
	return fail(err, errlen, VGPU_CLIENT_ETIMEOUT, "no answer for seq %" PRId64 " within %g s: %s", call->req->seq,
		    c->timeout_ms / 1000.0, why);
}

/* Collect the output into a new buffer of the size the request makes (never the size
 * the answer claims: collect checks the two agree), retrying a name not visible yet
 * until DEADLINE. */
static int fetch_output(struct vgpu_client_call *call, const struct vgpu_response *resp, uint64_t deadline,
			void **outp, size_t *out_bytes, char *err, size_t errlen)
{
	int64_t want = vgpu_request_output_bytes(call->req);
	size_t bytes = want > 0 ? (size_t)want : 0;
	void *p;
	int rc;

	if (want <= 0 || (uint64_t)want != resp->output.bytes)    /* collect's message says why */
		return vgpu_client_collect(call, resp, NULL, 0, err, errlen);
	if (call->c->out_buf && bytes <= call->c->out_cap)        /* vgpu_client_call_into() */
		p = call->c->out_buf;
	else if (!(p = malloc(bytes)))
		return fail(err, errlen, VGPU_CLIENT_EIO, "out of memory for the %zu-byte output", bytes);
	while ((rc = vgpu_client_collect(call, resp, p, bytes, err, errlen)) == VGPU_CLIENT_PENDING &&
	       vgpu_now_ms() < deadline)
		vgpu_client_sleep_ms((uint64_t)call->c->poll_max_ms);
	if (rc != VGPU_CLIENT_OK) {
		if (p != call->c->out_buf)
			free(p);
		return rc == VGPU_CLIENT_PENDING ? VGPU_CLIENT_EPROTO : rc;
	}
	*outp = p;
	*out_bytes = bytes;
	return VGPU_CLIENT_OK;
}

/* A BAD_KERNEL answer's output file: the JIT's log, of its own size (at most
 * VGPU_KERNEL_LOG_MAX), its CRC checked. Best effort: *OUTP stays NULL when it cannot be
 * had by DEADLINE (the answer's error line says what went wrong anyway). */
static void fetch_log(struct vgpu_client_call *call, const struct vgpu_response *resp, uint64_t deadline,
		      void **outp, size_t *out_bytes)
{
	void *p = NULL;
	size_t len = 0;
	int rc;

	if (resp->output.bytes == 0 || resp->output.bytes > VGPU_KERNEL_LOG_MAX)
		return;
	while ((rc = vgpu_safe_read_alloc(call->c->dirfd, resp->output.name, VGPU_KERNEL_LOG_MAX, &p, &len)) == -ENOENT &&
	       vgpu_now_ms() < deadline)
		vgpu_client_sleep_ms((uint64_t)call->c->poll_max_ms);   /* a name not visible yet (NFS) */
	if (rc != 0)
		return;
	if (len != resp->output.bytes || vgpu_crc32(p, len) != resp->output.crc) {
		free(p);
		return;
	}
	*outp = p;
	*out_bytes = len;
}

int vgpu_client_call(struct vgpu_client *c, struct vgpu_request *req, const void *in, size_t in_bytes,
		     struct vgpu_response *resp, void **outp, size_t *out_bytes, char *err, size_t errlen)
{
	uint64_t deadline = vgpu_now_ms() + (uint64_t)c->timeout_ms;
	struct vgpu_client_call call;
	struct vgpu_client_waiter w;
	int rc;

	if (outp)
		*outp = NULL;
	if (out_bytes)
		*out_bytes = 0;
	memset(resp, 0, sizeof(*resp));
	/* Usage errors before the lock: they must not wait for another client's answer. */
	rc = vgpu_client_check_request(req, in, in_bytes, err, errlen);
	if (rc != VGPU_CLIENT_OK)
		return rc;
	if (!c->no_lock && (rc = vgpu_client_lock_take(c, deadline, err, errlen)) != VGPU_CLIENT_OK)
		return rc;
	vgpu_client_wait_init(&w, c);
	rc = vgpu_client_start(c, &call, req, in, in_bytes, err, errlen);
	if (rc != VGPU_CLIENT_OK)
		goto out;
	rc = wait_answer(&call, &w, deadline, resp, err, errlen);
	if (rc == VGPU_CLIENT_OK && resp->status == VGPU_BAD_KERNEL && resp->output.name[0] && outp && out_bytes)
		fetch_log(&call, resp, deadline, outp, out_bytes);
	else if (rc == VGPU_CLIENT_OK && resp->output.name[0] && outp && out_bytes)
		rc = fetch_output(&call, resp, deadline, outp, out_bytes, err, errlen);
	if (rc == VGPU_CLIENT_OK && resp->status != VGPU_OK)
		rc = fail(err, errlen, VGPU_CLIENT_ESTATUS, "seq %" PRId64 ": %s: %s", req->seq,
			  vgpu_status_name(resp->status), resp->error);
	/* On a timeout the mediator may still be about to read in-SEQ.bin: leave it. It is
	 * only ever read for its own seq, and later calls use higher seqs. */
	if (rc != VGPU_CLIENT_ETIMEOUT)
		vgpu_client_end(&call);
out:
	vgpu_client_lock_release(c);
	return rc;
}

int vgpu_client_call_into(struct vgpu_client *c, struct vgpu_request *req, const void *in, size_t in_bytes,
			  struct vgpu_response *resp, void *out, size_t out_cap, size_t *out_bytes, char *err,
			  size_t errlen)
{
	int64_t want = vgpu_request_output_bytes(req);
	int file = req->output_file == 1 || (req->output_file < 0 && !req->args.has_seed);   /* an out-SEQ.bin */
	void *p = NULL;
	size_t n = 0;
	int rc;

	if (out_bytes)
		*out_bytes = 0;
	/* Checked before anything is sent: the output must fit, never cut or overrun. */
	if (out && vgpu_op_has_data(req->op) && file && want > 0 && (uint64_t)want > out_cap) {
		memset(resp, 0, sizeof(*resp));
		return fail(err, errlen, VGPU_CLIENT_EUSAGE, "%s: the output is %" PRId64 " bytes, the buffer holds %zu",
			    vgpu_op_name(req->op), want, out_cap);
	}
	c->out_buf = out;
	c->out_cap = out ? out_cap : 0;
	rc = vgpu_client_call(c, req, in, in_bytes, resp, out ? &p : NULL, out ? &n : NULL, err, errlen);
	c->out_buf = NULL;
	c->out_cap = 0;
	if (p && p != out) {    /* not the output: nothing else is returned in OUT */
		free(p);
		n = 0;
	}
	if (out_bytes)
		*out_bytes = n;
	return rc;
}
