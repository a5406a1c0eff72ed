/* client.h - libvgpu-client: the client side of the file protocol (docs/PROTOCOL.md 7-8).
 *
 * One implementation, two layers. The core sends a request and looks for its answer
 * without ever waiting: vgpu_client_start() (seq, nonce, publish), vgpu_client_poll()
 * (one look at response.txt), vgpu_client_collect() (out-SEQ.bin, CRC-checked),
 * vgpu_client_end() (remove the payloads). Plan B (src/exec/exec_remote.c) drives it from the
 * mediator's event loop. vgpu_client_call() is the blocking call on top: local lock,
 * backoff, timeout; src/cmd/vgpu-client.c is a thin user of it. Never prints. */
#ifndef VGPU_CLIENT_H
#define VGPU_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include "../lib/record.h"

/* Results of the library's calls; also vgpu-client's exit codes (docs/CLIENT.md). */
enum vgpu_client_rc {
	VGPU_CLIENT_PENDING = -1,    /* vgpu_client_poll()/_collect() only: not there yet,
	                              * look again later; never an exit code */
	VGPU_CLIENT_OK = 0,          /* answered with status OK */
	VGPU_CLIENT_ESTATUS = 1,     /* answered with an error status: resp->status/error */
	VGPU_CLIENT_EUSAGE = 2,      /* bad arguments */
	VGPU_CLIENT_ETIMEOUT = 3,    /* no answer in time: mediator down or not seeing us */
	VGPU_CLIENT_EPERM = 4,       /* permission denied: root_squash likely */
	VGPU_CLIENT_ENODIR = 5,      /* VM directory missing: export not mounted */
	VGPU_CLIENT_EIO = 6,         /* I/O error writing or reading (EIO, ENOSPC, ESTALE...) */
	VGPU_CLIENT_EPROTO = 7,      /* unreadable or forged answer, response.txt not a file,
	                              * seqs used up, or another writer (CONFLICT) */
	VGPU_CLIENT_ELOCK = 8,       /* could not take the local lock */
};

struct vgpu_client_opts {
	int timeout_ms;              /* total wait for the answer; default 30000 */
	const char *lock_dir;        /* local lock directory; default /run/lock/vgpu-client (else
	                              * /var/lock/..., /tmp/...), made 1777 when missing: the same
	                              * for every user and environment. Never on NFS (ELOCK) */
	int poll_min_ms, poll_max_ms;/* the shortest and longest sleep between looks at
	                              * response.txt; 0: 0.25 ms and 100 ms (docs/CLIENT.md,
	                              * "Waiting") */
	uint32_t vm;                 /* 0: from the directory's name "vmN" */
	int no_lock;                 /* 1: no lock file: the seq counter lives in this object
	                              * alone (one writer per directory, e.g. Plan B); lock_dir
	                              * is not checked and vgpu_client_call() takes no lock */
};

struct vgpu_client;

/* Check DIR (exists, is a directory, writable) and prepare. Returns VGPU_CLIENT_OK or
 * ENODIR/EPERM/EUSAGE (EIO for other errors opening DIR, ELOCK for a bad lock_dir) with
 * ERR explaining the likely cause and the fix. */
int vgpu_client_open(struct vgpu_client **cp, const char *dir, const struct vgpu_client_opts *opts,
		     char *err, size_t errlen);
void vgpu_client_close(struct vgpu_client *c);

/* Send REQ (the library fills vm, seq, nonce and input; the caller sets op, priority,
 * args, output_file, timeout_ms) with IN (IN_BYTES; NULL for generated input), and wait.
 * On an answer *resp is filled; when the answer has an output file, *outp gets a
 * malloc'ed copy (caller frees) and *out_bytes its size, checked against its CRC. A
 * BAD_KERNEL answer's file is the JIT's log (PROTOCOL.md section 5.1): returned the same
 * way with ESTATUS, when it is at most VGPU_KERNEL_LOG_MAX bytes and its CRC matches.
 * Returns enum vgpu_client_rc; ERR holds a readable line for anything but OK.
 * Under the local lock (unless no_lock): start, poll with doubling backoff until the
 * answer or the timeout, collect, end. On ETIMEOUT in-SEQ.bin is left in place (the
 * mediator may still be about to read it). */
int vgpu_client_call(struct vgpu_client *c, struct vgpu_request *req,
		     const void *in, size_t in_bytes, struct vgpu_response *resp,
		     void **outp, size_t *out_bytes, char *err, size_t errlen);

/* vgpu_client_call() with the output read into the caller's OUT (OUT_CAP bytes), which
 * the caller keeps from call to call: no fresh memory to allocate and fault in per call
 * (a 64 MiB output costs ~25 ms of page faults otherwise). *out_bytes gets the output's
 * size (0 when the answer has none). EUSAGE, before anything is sent, when the output
 * the request makes is larger than OUT_CAP. OUT NULL: the output is not read. */
int vgpu_client_call_into(struct vgpu_client *c, struct vgpu_request *req,
			  const void *in, size_t in_bytes, struct vgpu_response *resp,
			  void *out, size_t out_cap, size_t *out_bytes, char *err, size_t errlen);

/* --- The non-blocking core -------------------------------------------------------
 * One call at a time per struct vgpu_client. Nothing here sleeps; each function does a
 * bounded amount of file I/O on the directory (publishing fsyncs). */

/* One request in flight: caller-owned storage, filled by vgpu_client_start(); its
 * fields are the library's (read them, don't write them). It holds no resources of its
 * own: dropping it is fine once vgpu_client_end() removed the files. */
/* How long reads of response.txt or out-SEQ.bin may keep failing with ESTALE before the
 * call reports EIO. A rename over the file on the server makes the client's handle stale
 * until its lookup is redone: on the kernel's NFSv4.2 client, several polls in a row
 * (tests/vm, docs/NFSSIM.md); a persistent ESTALE is the server's problem. */
#define VGPU_CLIENT_STALE_MS 2000

struct vgpu_client_call {
	struct vgpu_client *c;
	struct vgpu_request *req;    /* the caller's, as last published: vm, seq, nonce, input */
	const void *in;              /* the caller's input, kept for a resend; NULL for none */
	size_t in_bytes;
	int resent;                  /* the stale-seq resend happened (only once) */
	uint64_t stale_since_ms;     /* first of a run of ESTALE reads; 0: none (see
	                              * VGPU_CLIENT_STALE_MS) */
	char why[256];               /* while pending: why response.txt does not count yet
	                              * ("" when it simply holds an older answer or none) */
};

/* Check REQ and IN, then send: the next seq is max(this client's counter, seq and
 * answered in response.txt) + 1, spent (the lock file's counter when vgpu_client_call()
 * holds the lock) before anything is published; a random nonce; IN published as
 * in-SEQ.bin, then command.txt, each by temp+fsync+rename. REQ and IN stay the caller's
 * and must outlive the call (a stale seq is sent again from them). Returns OK with
 * *CALL ready to poll, or EUSAGE/EPERM/ENODIR/EIO/ELOCK/EPROTO with ERR filled and
 * nothing left in the directory. EPROTO: the VM's seqs are used up (the mark is
 * 2^63-1; never an overflow). */
int vgpu_client_start(struct vgpu_client *c, struct vgpu_client_call *call, struct vgpu_request *req,
		      const void *in, size_t in_bytes, char *err, size_t errlen);

/* One look at response.txt (open with O_NOFOLLOW|O_NONBLOCK, fstat, read, close: never
 * blocks on a FIFO, never follows a link). Returns
 *   OK       *RESP is our answer (our seq and nonce), any status but CONFLICT;
 *   PENDING  not yet: no answer, an older one, an unreadable record, or response.txt is
 *            not a regular file (a symlink, FIFO, socket, device, hard-linked or over
 *            64 KiB: the mediator's rename replaces it; a directory: the mediator keeps
 *            retrying until someone removes it), call->why saying which.
 *            A stale seq (CONFLICT with the mark in `answered`, first time) is sent again
 *            above the mark here, and is PENDING too;
 *   EPROTO   another writer: our seq (or a later one) answered for another nonce, or
 *            CONFLICT for ours; the counter moves above the seq seen. Also seqs used
 *            up on a resend;
 *   EPERM, ENODIR, EIO  reading failed (a failed resend gives its own codes).
 * ERR is filled for anything but OK and PENDING. *RESP is scratch unless OK. */
int vgpu_client_poll(struct vgpu_client_call *call, struct vgpu_response *resp, char *err, size_t errlen);

/* Read the output RESP names into BUF, which holds exactly BYTES (what the caller
 * expects; vgpu_client_call() passes the size the request makes), and check its size and
 * CRC against RESP. RESP's size must be what the request makes (op table,
 * vgpu_request_output_bytes()) and BYTES, checked before a byte is read. Returns OK,
 * PENDING (the file is not visible yet, ERR says so: NFS caches; try again, or give up
 * with ERR), EPROTO (no output file, a size other than the request's or BYTES, CRC or
 * an unreadable file), EPERM or EIO. BUF is scratch unless OK. */
int vgpu_client_collect(struct vgpu_client_call *call, const struct vgpu_response *resp, void *buf, size_t bytes,
			char *err, size_t errlen);

/* Remove in-SEQ.bin and out-SEQ.bin of the call's seq (best effort: a leftover is
 * ignored by the mediator and never reused, seqs only grow). Can't fail. */
void vgpu_client_end(struct vgpu_client_call *call);

/* --- Waiting (docs/CLIENT.md, "Waiting") ---------------------------------------- */

enum vgpu_client_wait_mode {
	VGPU_CLIENT_WAIT_AUTO = 0,   /* inotify where the directory is local, else polling */
	VGPU_CLIENT_WAIT_POLL = 1,   /* polling only (what a VM over NFS does) */
	VGPU_CLIENT_WAIT_INOTIFY = 2,/* inotify whatever the file system (and polling behind it) */
};
/* How vgpu_client_call() waits; AUTO by default. Can't fail. */
void vgpu_client_set_wait(struct vgpu_client *c, int mode);

/* Called by vgpu_client_call() once a second while it waits, from the first second on:
 * SEQ, the seconds waited and one line on where the request is ("queued behind 2 jobs
 * (1 running) for 3.0 s at priority low (this VM's cap: low)", "running for 4.2 s on
 * cuda:0", "vgpu-mediator is not running (no heartbeat ...)"), from vmN/status.txt. */
typedef void (*vgpu_client_progress_fn)(int64_t seq, double waited_s, const char *line, void *arg);
void vgpu_client_set_progress(struct vgpu_client *c, vgpu_client_progress_fn fn, void *arg);

/* The heartbeat of the mediator serving C's directory (vmN/status.txt, PROTOCOL.md
 * section 10): its beat counter into *BEAT and its period into *PERIOD_MS. 0, or a
 * negative errno (-ENOENT: no status.txt) or enum vgpu_rec_result when it is not a
 * status record of this VM. One open/read/close; for a caller with its own loop (Plan B
 * watches its worker's mediator with it). */
int vgpu_client_heartbeat(struct vgpu_client *c, uint64_t *beat, uint64_t *period_ms);
/* The rule both the client and Plan B apply: a mediator whose beat has not moved for
 * this long (two periods and a second) is not running. */
#define VGPU_CLIENT_BEAT_MS 2000    /* the period a mediator of this version uses */
static inline uint64_t vgpu_client_silent_ms(uint64_t period_ms)
{
	return 2 * period_ms + 1000;
}

/* --- Small things ---------------------------------------------------------------- */

/* The seq the last call used. */
int64_t vgpu_client_last_seq(const struct vgpu_client *c);

/* The local lock file's path ("" with no_lock); owned by C. */
const char *vgpu_client_lock_path(const struct vgpu_client *c);

/* "vmN" (N 1..65535, no leading zero) as the last component of PATH, trailing slashes
 * ignored -> N; 0 if it is not one. */
uint32_t vgpu_client_dir_vm(const char *path);

/* One line for a client rc: "timeout", "permission denied", ... Can't fail. */
const char *vgpu_client_strerror(int rc);

#endif
