/* status.c - the protocol's status code table (docs/PROTOCOL.md section 4).
 *
 * The only place a code is tied to its name; tests/unit/test_status.c checks that
 * every name here has a "### NAME" heading in the protocol document. */
#include <string.h>

#include "status.h"

static const char *const status_names[VGPU_STATUS_COUNT] = {
	[VGPU_OK] = "OK",
	[VGPU_BAD_REQUEST] = "BAD_REQUEST",
	[VGPU_CORRUPT] = "CORRUPT",
	[VGPU_TOO_LARGE] = "TOO_LARGE",
	[VGPU_BAD_FILE] = "BAD_FILE",
	[VGPU_WRONG_VM] = "WRONG_VM",
	[VGPU_UNKNOWN_OP] = "UNKNOWN_OP",
	[VGPU_BAD_PAYLOAD] = "BAD_PAYLOAD",
	[VGPU_TIMEOUT] = "TIMEOUT",
	[VGPU_EXEC_FAILED] = "EXEC_FAILED",
	[VGPU_LEAKED] = "LEAKED",
	[VGPU_INTERRUPTED] = "INTERRUPTED",
	[VGPU_CONFLICT] = "CONFLICT",
	[VGPU_UNAVAILABLE] = "UNAVAILABLE",
	[VGPU_WRONG_OWNER] = "WRONG_OWNER",
	[VGPU_UNSUPPORTED] = "UNSUPPORTED",
	[VGPU_BAD_KERNEL] = "BAD_KERNEL",
	[VGPU_KERNEL_FAULT] = "KERNEL_FAULT",
};

const char *vgpu_status_name(int code)
{
	if (code < 0 || code >= VGPU_STATUS_COUNT || !status_names[code])
		return "UNKNOWN";
	return status_names[code];
}

int vgpu_status_from_name(const char *name)
{
	if (!name)
		return -1;
	for (int i = 0; i < VGPU_STATUS_COUNT; i++)
		if (status_names[i] && strcmp(status_names[i], name) == 0)
			return i;
	return -1;
}
