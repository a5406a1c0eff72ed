/* client_kernel.c - vgpu_client_kernel(): the kernel op's payload in, its buffers out
 * (client_kernel.h). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "client_kernel.h"
#include "client_int.h"
#include "../lib/status.h"

#define fail vgpu_client_fail

int vgpu_kernel_payload(struct vgpu_kernel_call *k, void **payload, size_t *bytes, char *err, size_t errlen)
{
	uint64_t in_off[VGPU_KERNEL_ARGS_MAX], total;
	size_t text;
	char *p, why[160];

	*payload = NULL;
	*bytes = 0;
	if (!k->ptx)
		return fail(err, errlen, VGPU_CLIENT_EUSAGE, "kernel: no PTX given");
	text = strnlen(k->ptx, VGPU_KERNEL_PTX_MAX);
	if (text >= VGPU_KERNEL_PTX_MAX)
		return fail(err, errlen, VGPU_CLIENT_EUSAGE, "kernel: the PTX is over %u bytes", VGPU_KERNEL_PTX_MAX - 1);
	k->spec.ptx = (text + 1 + VGPU_KERNEL_PTX_ALIGN - 1) / VGPU_KERNEL_PTX_ALIGN * VGPU_KERNEL_PTX_ALIGN;
	if (vgpu_kernel_check(&k->spec, why, sizeof(why)) < 0)
		return fail(err, errlen, VGPU_CLIENT_EUSAGE, "kernel: %s", why);
	if (vgpu_kernel_layout(&k->spec, in_off, NULL, &total, NULL) < 0 || total > SIZE_MAX)
		return fail(err, errlen, VGPU_CLIENT_EUSAGE, "kernel: buffer sizes overflow");
	if (!(p = calloc(1, (size_t)total)))
		return fail(err, errlen, VGPU_CLIENT_EIO, "out of memory for the %" PRIu64 "-byte input", total);
	memcpy(p, k->ptx, text);
	if (vgpu_kernel_ptx_check(p, (size_t)k->spec.ptx, why, sizeof(why)) < 0) {
		free(p);
		return fail(err, errlen, VGPU_CLIENT_EUSAGE, "kernel: %s", why);
	}
	for (uint32_t i = 0; i < k->spec.nargs; i++) {
		if (in_off[i] == UINT64_MAX)
			continue;
		if (!k->in[i]) {
			free(p);
			return fail(err, errlen, VGPU_CLIENT_EUSAGE, "kernel: argument %u (%s) has no input data", i,
				    vgpu_karg_kind_name((enum vgpu_karg_kind)k->spec.args[i].kind));
		}
		memcpy(p + in_off[i], k->in[i], (size_t)k->spec.args[i].v.bytes);
	}
	*payload = p;
	*bytes = (size_t)total;
	return VGPU_CLIENT_OK;
}

/* The one wanted output buffer that is the whole output (the answer's file is read
 * straight into it: no buffer of our own, no copy), or NULL. */
static void *whole_output(const struct vgpu_kernel_call *k, const uint64_t *out_off, uint64_t out_total)
{
	void *dest = NULL;

	for (uint32_t i = 0; i < k->spec.nargs; i++) {
		if (out_off[i] == UINT64_MAX)
			continue;
		if (dest || !k->out[i] || k->spec.args[i].v.bytes != out_total)
			return NULL;
		dest = k->out[i];
	}
	return dest;
}

int vgpu_client_kernel(struct vgpu_client *c, struct vgpu_kernel_call *k, struct vgpu_response *resp,
		       char *err, size_t errlen)
{
	uint64_t out_off[VGPU_KERNEL_ARGS_MAX], out_total = 0;
	struct vgpu_request req;
	void *in = NULL, *out = NULL, *dest;
	size_t in_bytes = 0, out_bytes = 0;
	int rc;

	memset(resp, 0, sizeof(*resp));
	k->log = NULL;
	k->log_bytes = 0;
	rc = vgpu_kernel_payload(k, &in, &in_bytes, err, errlen);
	if (rc != VGPU_CLIENT_OK)
		return rc;
	vgpu_kernel_layout(&k->spec, NULL, out_off, NULL, &out_total);   /* checked by the payload */
	memset(&req, 0, sizeof(req));
	req.op = VGPU_OP_KERNEL;
	req.priority = k->priority;
	req.args.kernel = k->spec;
	req.output_file = out_total > 0 ? 1 : -1;
	req.timeout_ms = k->timeout_ms;
	/* One output buffer (the usual case): collected in place, as vgpu_client_call_into()
	 * does, CRC-checked as it is read. A BAD_KERNEL answer's log still comes back in a
	 * buffer of its own (vgpu_client_call_into() would drop it). */
	dest = out_total > 0 ? whole_output(k, out_off, out_total) : NULL;
	c->out_buf = dest;
	c->out_cap = dest ? (size_t)out_total : 0;
	rc = vgpu_client_call(c, &req, in, in_bytes, resp, &out, &out_bytes, err, errlen);
	c->out_buf = NULL;
	c->out_cap = 0;
	free(in);
	if (out == dest && dest) {
		out = NULL;           /* the caller's: never freed here */
		if (rc == VGPU_CLIENT_OK && out_bytes == out_total)
			return rc;
	}
	if (rc == VGPU_CLIENT_ESTATUS && resp->status == VGPU_BAD_KERNEL && out) {
		char *log = realloc(out, out_bytes + 1);   /* the JIT's log (client.h) */

		if (log) {
			log[out_bytes] = '\0';
			k->log = log;
			k->log_bytes = out_bytes;
		} else {
			free(out);
		}
		return rc;
	}
	if (rc == VGPU_CLIENT_OK && out_total > 0 && (!out || out_bytes != out_total)) {
		free(out);
		return fail(err, errlen, VGPU_CLIENT_EPROTO, "seq %" PRId64 ": the answer has no %" PRIu64
			    "-byte output file", resp->seq, out_total);
	}
	if (rc == VGPU_CLIENT_OK)
		for (uint32_t i = 0; i < k->spec.nargs; i++)
			if (out_off[i] != UINT64_MAX && k->out[i])
				memcpy(k->out[i], (char *)out + out_off[i], (size_t)k->spec.args[i].v.bytes);
	free(out);
	return rc;
}
