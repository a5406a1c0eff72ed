/* client_kernel.h - libvgpu-client: run a kernel of your own (the `kernel` op,
 * docs/KERNELS.md, docs/PROTOCOL.md section 5.1) in one call.
 *
 * A layer over vgpu_client_call() (client.h): it lays the PTX text and the input buffers
 * out as the op's input payload, sends it, and hands each output buffer back to where
 * the caller wants it. Never prints. */
#ifndef VGPU_CLIENT_KERNEL_H
#define VGPU_CLIENT_KERNEL_H

#include <stddef.h>
#include <stdint.h>
#include "client.h"
#include "../lib/kernel_args.h"

struct vgpu_kernel_call {
	const char *ptx;                         /* the module: PTX text, NUL-terminated */
	struct vgpu_kernel_args spec;            /* entry, grid, block, shared, nargs, args;
	                                          * spec.ptx is set by the call */
	const void *in[VGPU_KERNEL_ARGS_MAX];    /* in, inout: args[i].v.bytes bytes to send */
	void *out[VGPU_KERNEL_ARGS_MAX];         /* out, inout: room for args[i].v.bytes bytes;
	                                          * NULL: that buffer is not wanted */
	enum vgpu_prio priority;
	uint64_t timeout_ms;                     /* the job's limit on the host; 0: its default */
	/* set by the call: on BAD_KERNEL with the JIT's whole log in the answer (PROTOCOL.md
	 * section 5.1; at most VGPU_KERNEL_LOG_MAX bytes, CRC-checked), a malloc'ed copy,
	 * NUL-terminated (the caller frees it), and its length; NULL and 0 otherwise */
	char *log;
	size_t log_bytes;
};

/* The input payload of K (PTX region padded with NULs to a multiple of 8, then each in
 * and inout buffer in argument order) into a new buffer *PAYLOAD (caller frees) of
 * *BYTES; sets K->spec.ptx. Returns VGPU_CLIENT_OK, or EUSAGE with ERR filled (PTX not
 * text or over its cap, a buffer missing, a spec the grammar refuses). */
int vgpu_kernel_payload(struct vgpu_kernel_call *k, void **payload, size_t *bytes, char *err, size_t errlen);

/* Send K through C and wait (vgpu_client_call()). On OK each wanted out/inout buffer
 * is filled from the answer's output file (when one buffer is the whole output, the file
 * is read straight into it: after a failure its bytes are then unspecified). Returns enum vgpu_client_rc with *RESP as
 * vgpu_client_call() fills it (ESTATUS: RESP's status and error, e.g. BAD_KERNEL with
 * the start of the JIT's log, and its whole log in K->log; KERNEL_FAULT, UNSUPPORTED). */
int vgpu_client_kernel(struct vgpu_client *c, struct vgpu_kernel_call *k, struct vgpu_response *resp,
		       char *err, size_t errlen);

#endif
