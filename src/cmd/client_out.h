/* client_out.h - what vgpu-client puts out, the same for an op and for `kernel`: a usage
 * error, an error status's line, the answer line, an output file; and the one reader of
 * its input files (--in, kernel's --ptx and --arg in:). */
#ifndef VGPU_CLIENT_OUT_H
#define VGPU_CLIENT_OUT_H

#include <stddef.h>
#include <stdint.h>
#include "client/client.h"

/* Usage errors from now on name WHAT ("kernel": "vgpu-client: kernel: ..."); NULL: none. */
void vgpu_client_usage_context(const char *what);

/* "vgpu-client: [WHAT: ]MESSAGE" and the --help hint on stderr; returns VGPU_CLIENT_EUSAGE. */
int vgpu_client_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "vgpu-client: seq=S status=X op=O: ERROR" on stderr (an answer with an error status). */
void vgpu_client_print_status_error(const struct vgpu_response *resp);

/* The answer line on stdout (nothing when QUIET), flushed: VGPU_CLIENT_OK, or
 * VGPU_CLIENT_EIO when stdout fails. */
int vgpu_client_print_answer(const struct vgpu_response *resp, int quiet);

/* PATH, a regular file of at most CAP bytes, into a new buffer *BUFP (a NUL after its
 * *LENP bytes): 0, -EINVAL when not a regular file, -EFBIG when larger, or -errno. */
int vgpu_client_read_file(const char *path, uint64_t cap, char **bufp, size_t *lenp);

/* LEN bytes of BUF into PATH (created or truncated, 0644): 0 or -errno. */
int vgpu_client_write_file(const char *path, const void *buf, size_t len);

#endif
