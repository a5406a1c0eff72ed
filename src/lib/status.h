/* status.h - the protocol's status codes (docs/PROTOCOL.md section 4).
 *
 * One table; vgpu_status_name() and vgpu_status_from_name() are its only readers.
 * tests/unit/test_status.c fails when a code here has no heading in the doc. */
#ifndef VGPU_STATUS_H
#define VGPU_STATUS_H

enum vgpu_status {
	VGPU_OK = 0,
	VGPU_BAD_REQUEST = 1,
	VGPU_CORRUPT = 2,
	VGPU_TOO_LARGE = 3,
	VGPU_BAD_FILE = 4,
	VGPU_WRONG_VM = 5,
	VGPU_UNKNOWN_OP = 6,
	VGPU_BAD_PAYLOAD = 7,
	VGPU_TIMEOUT = 8,
	VGPU_EXEC_FAILED = 9,
	VGPU_LEAKED = 10,
	VGPU_INTERRUPTED = 11,
	VGPU_CONFLICT = 12,
	VGPU_UNAVAILABLE = 13,
	VGPU_WRONG_OWNER = 14,
	VGPU_UNSUPPORTED = 15,   /* the op exists, but this executor cannot run it (kernel on mock) */
	VGPU_BAD_KERNEL = 16,    /* kernel: the PTX did not load (JIT log in error) or could not launch */
	VGPU_KERNEL_FAULT = 17,  /* kernel: faulted on the device (illegal address, trap, ...) */
	VGPU_STATUS_COUNT
};

/* "OK", "BAD_REQUEST", ...; "UNKNOWN" for a code outside the table. Can't fail. */
const char *vgpu_status_name(int code);

/* Code for NAME, or -1 when NAME is not in the table. */
int vgpu_status_from_name(const char *name);

#endif
