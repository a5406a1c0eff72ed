/* client_core.c - the client side of the file protocol (docs/PROTOCOL.md 2, 3, 7, 8),
 * without ever waiting: start (pick the seq, spend it, publish in-SEQ.bin and command.txt
 * by temp+fsync+rename), poll (one open/read/close of response.txt: our seq and nonce, not
 * yet, or another writer; a stale seq is sent again here, once), collect (out-SEQ.bin
 * against its size and CRC), end (remove the payloads). Never prints. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client_int.h"
#include "../lib/crc_io.h"
#include "../lib/safeio.h"
#include "../lib/status.h"

#define fail vgpu_client_fail

/* Map a failure reading response.txt: EPERM, EIO, or 0 for "not a reason to stop". */
static int read_error(struct vgpu_client *c, int rc, char *err, size_t errlen)
{
	if (rc == -EACCES || rc == -EPERM)
		return fail(err, errlen, VGPU_CLIENT_EPERM, "cannot read %s/response.txt: %s; %s", c->dir,
			    vgpu_safeio_strerror(rc), vgpu_client_squash_hint);
	if (rc == -EIO || rc == -ESTALE)
		return fail(err, errlen, VGPU_CLIENT_EIO, "reading %s/response.txt: %s", c->dir, vgpu_safeio_strerror(rc));
	return 0;
}

/* When reading response.txt failed with RC because it is not a record file (a symlink,
 * FIFO, directory, socket, device, a hard-linked or oversized file): 1, and what it is in
 * KIND ("a FIFO"). Nothing of it was read: safeio's open (O_NOFOLLOW|O_NONBLOCK) or its
 * fstat() refused it; the lstat here only names it. */
static int odd_response(struct vgpu_client *c, int rc, char *kind, size_t cap)
{
	struct stat st;

	if (rc == -ENOENT || rc == -ENOTDIR || rc == -EACCES || rc == -EPERM || rc == -EIO || rc == -ESTALE)
		return 0;
	if (fstatat(c->dirfd, "response.txt", &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (rc != -ELOOP && rc > VGPU_EBADTYPE)
			return 0;
		snprintf(kind, cap, "not a regular file");
		return 1;
	}
	if (S_ISLNK(st.st_mode))
		snprintf(kind, cap, "a symbolic link");
	else if (S_ISFIFO(st.st_mode))
		snprintf(kind, cap, "a FIFO");
	else if (S_ISDIR(st.st_mode))
		snprintf(kind, cap, "a directory (no answer can be renamed over it: rmdir it)");
	else if (S_ISSOCK(st.st_mode))
		snprintf(kind, cap, "a socket");
	else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
		snprintf(kind, cap, "a device");
	else if (rc == VGPU_ELINKS)
		snprintf(kind, cap, "a file with %ju hard links", (uintmax_t)st.st_nlink);
	else if (rc == VGPU_ETOOBIG)
		snprintf(kind, cap, "%jd bytes, over the %d a record may have", (intmax_t)st.st_size, VGPU_RECORD_MAX);
	else if (rc <= VGPU_EBADTYPE)
		snprintf(kind, cap, "%s", vgpu_safeio_strerror(rc));
	else
		return 0;
	return 1;
}

/* The VM's high-water mark in response.txt now: its seq or answered (0 when there is
 * none, or it is unreadable or no regular file). */
static int response_seq(struct vgpu_client *c, int64_t *seq, char *err, size_t errlen)
{
	struct vgpu_response resp;
	size_t len;
	int rc = vgpu_safe_read(c->dirfd, "response.txt", c->buf, VGPU_RECORD_MAX, &len, NULL);

	*seq = 0;
	if (rc < 0)
		return read_error(c, rc, err, errlen);
	if (vgpu_response_decode(c->buf, len, &resp, NULL, 0) == VGPU_REC_OK)
		*seq = resp.seq > resp.answered ? resp.seq : resp.answered;
	return VGPU_CLIENT_OK;
}

int vgpu_client_check_request(const struct vgpu_request *req, const void *in, size_t in_bytes, char *err,
			      size_t errlen)
{
	const char *op = vgpu_op_name(req->op);
	int64_t need;

	if (req->op <= VGPU_OP_NONE || req->op >= VGPU_OP_COUNT)
		return fail(err, errlen, VGPU_CLIENT_EUSAGE, "no operation given");
	if (!vgpu_op_has_data(req->op)) {
		if (in)
			return fail(err, errlen, VGPU_CLIENT_EUSAGE, "%s takes no input", op);
		return VGPU_CLIENT_OK;
	}
	need = vgpu_request_input_bytes(req);
	if (need <= 0)
		return fail(err, errlen, VGPU_CLIENT_EUSAGE, "%s: sizes missing or too large", op);
	if (in && req->args.has_seed)
		return fail(err, errlen, VGPU_CLIENT_EUSAGE, "%s: give either a seed or an input, not both", op);
	if (!in && !req->args.has_seed)
		return fail(err, errlen, VGPU_CLIENT_EUSAGE, "%s: needs --seed S or --in FILE", op);
	if (in && in_bytes != (uint64_t)need)
		return fail(err, errlen, VGPU_CLIENT_EUSAGE, "%s: input is %zu bytes, the sizes need %" PRId64, op,
			    in_bytes, need);
	return VGPU_CLIENT_OK;
}

/* Pick the next seq, spend it, publish. Nothing is left behind on failure. */
static int send_call(struct vgpu_client_call *call, char *err, size_t errlen)
{
	struct vgpu_client *c = call->c;
	struct vgpu_request *req = call->req;
	int64_t rseq, mark;
	int rc, e, len;

	/* Under the lock, a counter in the lock file is at or above every seq this VM's
	 * clients spent: response.txt is read only without one (a new or wiped lock file,
	 * or no lock). A counter below the mediator's mark is answered CONFLICT with the
	 * mark, or found in response.txt by the first poll: judge_answer() sends again
	 * above it, once (PROTOCOL.md s.7). */
	rseq = 0;
	c->mark_unread = c->lock_held && c->counter > 0;
	if (!c->mark_unread && (rc = response_seq(c, &rseq, err, errlen)) != VGPU_CLIENT_OK)
		return rc;
	mark = c->counter > rseq ? c->counter : rseq;
	/* The next seq is mark + 1: at the last one there is none (and no overflow). */
	if (mark >= VGPU_SEQ_MAX)
		return fail(err, errlen, VGPU_CLIENT_EPROTO,
			    "vm%" PRIu32 "'s sequence numbers are used up: %s holds seq %" PRId64 ", the last there is, "
			    "so no request can follow. If a VM process forged it, remove %s/response.txt%s%s; if "
			    "vgpu-mediator really answered it, reset vm%" PRIu32 "'s state on the host (docs/CLIENT.md, "
			    "EPROTO)", c->vm, rseq >= mark ? "response.txt" : "the seq counter (lock file or CONFLICT answer)",
			    mark, c->dir, c->lock_held ? " and " : "", c->lock_held ? c->lock_path : "", c->vm);
	req->seq = mark + 1;
	req->vm = c->vm;
	vgpu_client_make_nonce(c, req->nonce);
	memset(&req->input, 0, sizeof(req->input));
	if (call->in) {
		vgpu_payload_name(req->input.name, "in", req->seq);
		req->input.bytes = call->in_bytes;
	}
	/* Encoded once to know it encodes before the seq is spent; the input's CRC (fixed
	 * width in the record) is only known once in-SEQ.bin is written, below. */
	len = vgpu_request_encode(req, c->buf, VGPU_RECORD_MAX);
	if (len < 0)
		return fail(err, errlen, VGPU_CLIENT_EUSAGE, "request does not encode: %s", strerror(-len));
	/* The seq is spent before anything is published: a crash after this point never
	 * reuses it with another nonce. */
	if (c->lock_held && (e = vgpu_client_lock_store(c, req->seq)) < 0)
		return fail(err, errlen, VGPU_CLIENT_ELOCK, "writing lock file %s: %s", c->lock_path, strerror(-e));
	c->counter = c->last_seq = req->seq;
	if (call->in) {
		/* The CRC of the bytes as written, computed chunk by chunk while they are
		 * written: one pass over the input, not two (issue 13). */
		struct vgpu_publish_how how = { .crc = &req->input.crc };

		if ((e = vgpu_publish_ex(c->dirfd, req->input.name, call->in, call->in_bytes, NULL, 0, 0644, &how)) < 0)
			return vgpu_client_write_error(c, req->input.name, e, err, errlen);
		len = vgpu_request_encode(req, c->buf, VGPU_RECORD_MAX);
		if (len < 0) {    /* it encoded above with the same widths: never */
			vgpu_client_end(call);
			return fail(err, errlen, VGPU_CLIENT_EUSAGE, "request does not encode: %s", strerror(-len));
		}
	}
	if ((e = vgpu_publish(c->dirfd, "command.txt", c->buf, (size_t)len, 0644)) < 0) {
		rc = vgpu_client_write_error(c, "command.txt", e, err, errlen);
		vgpu_client_end(call);
		return rc;
	}
	return VGPU_CLIENT_OK;
}

int vgpu_client_start(struct vgpu_client *c, struct vgpu_client_call *call, struct vgpu_request *req,
		      const void *in, size_t in_bytes, char *err, size_t errlen)
{
	int rc = vgpu_client_check_request(req, in, in_bytes, err, errlen);

	memset(call, 0, sizeof(*call));
	call->c = c;
	call->req = req;
	call->in = in;
	call->in_bytes = in ? in_bytes : 0;
	return rc == VGPU_CLIENT_OK ? send_call(call, err, errlen) : rc;
}

void vgpu_client_end(struct vgpu_client_call *call)
{
	char name[VGPU_NAME_MAX];

	if (call->in) {         /* a call without input or output has no files to remove */
		vgpu_payload_name(name, "in", call->req->seq);
		unlinkat(call->c->dirfd, name, 0);
	}
	if (vgpu_op_has_data(call->req->op)) {
		vgpu_payload_name(name, "out", call->req->seq);
		unlinkat(call->c->dirfd, name, 0);
	}
}

/* RESP (decoded from response.txt) against our request: see vgpu_client_poll(). */
static int judge_answer(struct vgpu_client_call *call, const struct vgpu_response *resp, char *err, size_t errlen)
{
	struct vgpu_client *c = call->c;
	struct vgpu_request *req = call->req;
	int rc;

	if (resp->seq == req->seq && strcmp(resp->nonce, req->nonce) == 0) {
		if (resp->status != VGPU_CONFLICT)
			return VGPU_CLIENT_OK;
		/* A stale seq (this VM's counter was lost: a wiped lock directory and no
		 * response.txt) is answered CONFLICT with the VM's high-water mark, and was
		 * never run: continue above the mark, once. */
		if (!call->resent && resp->answered >= req->seq) {
			vgpu_client_end(call);
			c->counter = resp->answered;
			call->resent = 1;
			call->why[0] = '\0';
			rc = send_call(call, err, errlen);
			return rc == VGPU_CLIENT_OK ? VGPU_CLIENT_PENDING : rc;
		}
		return fail(err, errlen, VGPU_CLIENT_EPROTO,
			    "another writer uses this VM directory (seq %" PRId64 ": CONFLICT: %s)", req->seq, resp->error);
	}
	if (resp->seq >= req->seq) {
		if (resp->seq > c->counter)
			c->counter = resp->seq;
		if (resp->seq > req->seq && c->mark_unread && !call->resent) {
			/* the lock file's counter was below the VM's mark, which was not read
			 * before sending (a lock file from elsewhere): continue above it, once */
			vgpu_client_end(call);
			call->resent = 1;
			call->why[0] = '\0';
			rc = send_call(call, err, errlen);
			return rc == VGPU_CLIENT_OK ? VGPU_CLIENT_PENDING : rc;
		}
		return fail(err, errlen, VGPU_CLIENT_EPROTO,
			    "another writer uses this VM directory: response.txt answers seq %" PRId64
			    " nonce %s, ours is seq %" PRId64 " nonce %s", resp->seq, resp->nonce, req->seq, req->nonce);
	}
	if (resp->seq == 0 && resp->status != VGPU_OK)
		snprintf(call->why, sizeof(call->why), "response.txt answers an unparsable request: %s %.120s",
			 vgpu_status_name(resp->status), resp->error);
	else
		call->why[0] = '\0';    /* an older answer: ours is not there yet */
	return VGPU_CLIENT_PENDING;
}

/* A read that failed with ESTALE: pending while the run of them is shorter than
 * VGPU_CLIENT_STALE_MS, then EIO naming WHAT. Any other outcome ends the run. */
static int stale_read(struct vgpu_client_call *call, const char *what, char *err, size_t errlen)
{
	uint64_t now = vgpu_now_ms();

	if (!call->stale_since_ms)
		call->stale_since_ms = now ? now : 1;
	if (now - call->stale_since_ms < VGPU_CLIENT_STALE_MS) {
		snprintf(call->why, sizeof(call->why), "%s: stale file handle (replaced on the server); retrying", what);
		return fail(err, errlen, VGPU_CLIENT_PENDING, "reading %s/%s: %s; retrying", call->c->dir, what,
			    vgpu_safeio_strerror(-ESTALE));
	}
	return fail(err, errlen, VGPU_CLIENT_EIO, "reading %s/%s: %s for %d ms", call->c->dir, what,
		    vgpu_safeio_strerror(-ESTALE), VGPU_CLIENT_STALE_MS);
}

/* BUF (LEN bytes of response.txt) decoded into RESP and DERR (sizeof(c->rec_derr)): the
 * kept result when the bytes are the last ones decoded, else decoded and kept. */
static int decode_response(struct vgpu_client *c, size_t len, struct vgpu_response *resp, char *derr)
{
	int rc;

	if (c->rec_len == len && len && memcmp(c->rec, c->buf, len) == 0) {
		*resp = c->rec_resp;
		memcpy(derr, c->rec_derr, sizeof(c->rec_derr));
		return c->rec_rc;
	}
	memset(resp, 0, sizeof(*resp));
	rc = vgpu_response_decode(c->buf, len, resp, derr, sizeof(c->rec_derr));
	c->rec_len = 0;
	if (len <= sizeof(c->rec)) {
		memcpy(c->rec, c->buf, len);
		c->rec_len = len;
		c->rec_rc = rc;
		c->rec_resp = *resp;
		memcpy(c->rec_derr, derr, sizeof(c->rec_derr));
	}
	return rc;
}

int vgpu_client_poll(struct vgpu_client_call *call, struct vgpu_response *resp, char *err, size_t errlen)
{
	struct vgpu_client *c = call->c;
	char derr[sizeof(c->rec_derr)], kind[96];
	size_t len;
	int rc = vgpu_safe_read(c->dirfd, "response.txt", c->buf, VGPU_RECORD_MAX, &len, NULL);

	if (rc == -ESTALE)
		return stale_read(call, "response.txt", err, errlen);
	call->stale_since_ms = 0;
	if (rc == 0) {
		if (decode_response(c, len, resp, derr) == VGPU_REC_OK)
			return judge_answer(call, resp, err, errlen);
		/* Publication is atomic, so this is not a half-written answer; an old bad
		 * record may still be replaced by ours: keep polling, remember. */
		snprintf(call->why, sizeof(call->why), "response.txt is unreadable (%s)", derr);
	} else if (rc == -EACCES || rc == -EPERM) {
		return read_error(c, rc, err, errlen);
	} else if (rc == -ENOTDIR || (rc == -ENOENT && faccessat(c->dirfd, ".", F_OK, 0) < 0)) {
		return fail(err, errlen, VGPU_CLIENT_ENODIR, "VM directory %s vanished while waiting", c->dir);
	} else if (rc == -ENOENT) {
		call->why[0] = '\0';    /* what was wrong before is gone; we are just waiting */
	} else if (odd_response(c, rc, kind, sizeof(kind))) {
		/* Never followed or read. The mediator's answer is renamed over it, or (a
		 * directory) published once someone removes it, the mediator retrying: keep
		 * polling until the deadline, then say what was there. */
		snprintf(call->why, sizeof(call->why), "%s/response.txt is %s, not an answer; only vgpu-mediator "
			 "writes it", c->dir, kind);
	} else if (rc == -ELOOP || rc == VGPU_EBADTYPE || rc == VGPU_ELINKS) {
		/* not a record when opened, a regular file by the time odd_response() looked:
		 * the mediator's answer was renamed over it meanwhile; look again */
		call->why[0] = '\0';
	} else {
		return fail(err, errlen, VGPU_CLIENT_EIO, "reading %s/response.txt: %s", c->dir, vgpu_safeio_strerror(rc));
	}
	return VGPU_CLIENT_PENDING;
}

/* DIRFD/NAME (checked as vgpu_safe_read() does, at most CAP bytes) into BUF, its CRC-32
 * computed while it is read (one pass over the bytes); *LENP and *CRCP. ESTALE is tried
 * once more. 0 or as vgpu_safe_read(). */
static int read_output(int dirfd, const char *name, void *buf, size_t cap, size_t *lenp, uint32_t *crcp)
{
	int rc = -ESTALE;

	for (int i = 0; i < 2 && rc == -ESTALE; i++) {
		struct stat st;
		int fd;

		*crcp = 0;
		*lenp = 0;
		rc = vgpu_safe_open(dirfd, name, cap, &fd, &st);
		if (rc < 0)
			continue;
		rc = vgpu_pread_crc(fd, buf, (size_t)st.st_size, crcp, lenp);
		close(fd);
		if (rc == -ENODATA)
			rc = VGPU_ESHORT;   /* it shrank while read */
	}
	return rc;
}

int vgpu_client_collect(struct vgpu_client_call *call, const struct vgpu_response *resp, void *buf, size_t bytes,
			char *err, size_t errlen)
{
	const char *name = resp->output.name;
	int64_t want = vgpu_request_output_bytes(call->req);
	size_t len = 0;
	uint32_t crc = 0;
	int rc;

	if (!name[0])
		return fail(err, errlen, VGPU_CLIENT_EPROTO, "the answer to seq %" PRId64 " has no output file",
			    call->req->seq);
	/* The request says how much output there is; the answer is believed only as far as
	 * it agrees, before anything is allocated or read. */
	if (want <= 0 || resp->output.bytes != (uint64_t)want)
		return fail(err, errlen, VGPU_CLIENT_EPROTO, "the answer to seq %" PRId64 " names output %s of %" PRIu64
			    " bytes, but %s with these sizes makes %" PRId64 " bytes: a broken or forged answer, refused",
			    call->req->seq, name, resp->output.bytes, vgpu_op_name(call->req->op), want > 0 ? want : 0);
	if (resp->output.bytes != bytes)
		return fail(err, errlen, VGPU_CLIENT_EPROTO, "output %s holds %" PRIu64 " bytes, the job needs %zu", name,
			    resp->output.bytes, bytes);
	rc = read_output(call->c->dirfd, name, buf, bytes, &len, &crc);
	if (rc == -ESTALE)
		return stale_read(call, name, err, errlen);
	call->stale_since_ms = 0;
	if (rc == -ENOENT)    /* the name may not be visible yet through a client's caches */
		return fail(err, errlen, VGPU_CLIENT_PENDING, "output %s: %s", name, vgpu_safeio_strerror(rc));
	if (rc == -EIO)
		return fail(err, errlen, VGPU_CLIENT_EIO, "reading %s: %s", name, vgpu_safeio_strerror(rc));
	if (rc == -EACCES || rc == -EPERM)
		return fail(err, errlen, VGPU_CLIENT_EPERM, "reading %s: %s; %s", name, vgpu_safeio_strerror(rc),
			    vgpu_client_squash_hint);
	if (rc < 0)
		return fail(err, errlen, VGPU_CLIENT_EPROTO, "output %s: %s", name, vgpu_safeio_strerror(rc));
	if (len != bytes || crc != resp->output.crc)
		return fail(err, errlen, VGPU_CLIENT_EPROTO, "output %s: %zu bytes / CRC %08" PRIx32 " differ from the "
			    "response's %" PRIu64 " bytes CRC %08" PRIx32, name, len, crc, resp->output.bytes,
			    resp->output.crc);
	return VGPU_CLIENT_OK;
}
