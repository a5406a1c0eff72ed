/* client.h - libvgpu-client: submit one request from a VM and wait for its answer.
 *
 * Usable without the CLI (src/cmd/vgpu-client.c is a thin user of it). Publishes the
 * payload and command.txt by temp+fsync+rename, then polls response.txt by
 * open/read/close with backoff until an answer with its own seq and nonce arrives.
 * Processes of one VM serialise on a local lock file (never on NFS). Never prints. */
#ifndef VGPU_CLIENT_H
#define VGPU_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include "../lib/record.h"

/* Results of vgpu_client_call(); also vgpu-client's exit codes (docs/CLIENT.md). */
enum vgpu_client_rc {
	VGPU_CLIENT_OK = 0,          /* answered with status OK */
	VGPU_CLIENT_ESTATUS = 1,     /* answered with an error status: resp->status/error */
	VGPU_CLIENT_EUSAGE = 2,      /* bad arguments */
	VGPU_CLIENT_ETIMEOUT = 3,    /* no answer in time: mediator down or not seeing us */
	VGPU_CLIENT_EPERM = 4,       /* permission denied: root_squash likely */
	VGPU_CLIENT_ENODIR = 5,      /* VM directory missing: export not mounted */
	VGPU_CLIENT_EIO = 6,         /* I/O error writing or reading (EIO, ENOSPC, ESTALE...) */
	VGPU_CLIENT_EPROTO = 7,      /* unreadable answer, or another writer (CONFLICT) */
	VGPU_CLIENT_ELOCK = 8,       /* could not take the local lock */
};

struct vgpu_client_opts {
	int timeout_ms;              /* total wait for the answer; default 30000 */
	const char *lock_dir;        /* local lock directory; default $XDG_RUNTIME_DIR or /tmp */
	int poll_min_ms, poll_max_ms;/* backoff; defaults 1 and 100 */
	uint32_t vm;                 /* 0: from the directory's name "vmN" */
};

struct vgpu_client;

/* Check DIR (exists, is a directory, writable) and prepare. Returns VGPU_CLIENT_OK or
 * ENODIR/EPERM/EUSAGE (EIO for other errors opening DIR, ELOCK for a bad lock_dir) with
 * ERR explaining the likely cause and the fix. */
int vgpu_client_open(struct vgpu_client **cp, const char *dir, const struct vgpu_client_opts *opts,
		     char *err, size_t errlen);
void vgpu_client_close(struct vgpu_client *c);

/* Send REQ (the library fills vm, seq, nonce and input; the caller sets op, priority,
 * sizes, seed/alpha...) with IN (IN_BYTES; NULL for generated input), and wait.
 * On an answer *resp is filled; when the answer has an output file, *outp gets a
 * malloc'ed copy (caller frees) and *out_bytes its size, checked against its CRC.
 * Returns enum vgpu_client_rc; ERR holds a readable line for anything but OK. */
int vgpu_client_call(struct vgpu_client *c, struct vgpu_request *req,
		     const void *in, size_t in_bytes, struct vgpu_response *resp,
		     void **outp, size_t *out_bytes, char *err, size_t errlen);

/* The seq the last call used. */
int64_t vgpu_client_last_seq(const struct vgpu_client *c);

/* One line for a client rc: "timeout", "permission denied", ... Can't fail. */
const char *vgpu_client_strerror(int rc);

#endif
