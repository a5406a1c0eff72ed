/* answer.c - the mediator's answers: build a response record, publish response.txt
 * (and out-SEQ.bin) through the VM directory's fd, then persist it as the VM's last
 * answer. Order matters for exactly-once: payload, state, response ("durable before
 * visible", PROTOCOL.md s.7). An answer the state directory refuses (ENOSPC, EIO) is
 * kept in memory, unpublished, and saved then published by the rescans. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fiu-local.h>

#include "mediator_int.h"
#include "lib/crc_io.h"
#include "lib/opref.h"
#include "lib/log.h"
#include "lib/safeio.h"
#include "lib/status.h"
#include "lib/strcopy.h"

static void account(struct vgpu_mediator *m, int status)
{
	m->stats.answered++;
	if (status == VGPU_OK)
		m->stats.ok++;
	else
		m->stats.errors++;
}

/* Make the saved (or unsaveable: NEWER 0) answer BUF visible as response.txt, and
 * account for it. WHAT names it in the log line. */
static int deliver(struct vgpu_mediator *m, struct vm *vm, int64_t seq, const char *nonce, int status,
		   const char *buf, size_t len, int newer, const char *what, uint64_t out_bytes)
{
	/* no fsync: response.txt is a copy of the saved answer, published again after a
	 * restart whenever it does not hold it (PROTOCOL.md s.7) */
	static const struct vgpu_publish_how how = { .nosync = 1 };
	int rc;

	fiu_do_on("mediator/crash/after-state", raise(SIGKILL));
	rc = vgpu_publish_ex(vm->dirfd, "response.txt", buf, len, NULL, 0, 0644, &how);
	fiu_do_on("mediator/crash/after-response", raise(SIGKILL));
	if (rc == 0 && vm->wd >= 0)
		m->own_events++;   /* its IN_MOVED_TO is queued for us: read before sleeping */
	if (rc < 0) {
		/* The VM directory refused it (full, EIO, something in the way): the state
		 * keeps the answer and every rescan tries to publish it again, so a client
		 * still polling gets it once the directory recovers. */
		vgpu_warn("vm%" PRIu32 ": publish response.txt for seq %" PRId64 ": %s; will retry",
			  vm->id, seq, vgpu_safeio_strerror(rc));
	}
	/* retry from the saved copy, which is this answer (it was saved: NEWER) */
	if (newer)
		vm->resp_pending = rc < 0;
	account(m, status);
	vgpu_metrics_answered(&m->metrics, vm->id, status, rc == 0 ? out_bytes : 0);
	vgpu_journal_add(&m->journal, "answer vm=%" PRIu32 " seq=%" PRId64 " nonce=%s status=%s", vm->id, seq,
		     nonce, vgpu_status_name(status));
	vgpu_info("vm%" PRIu32 ": seq %" PRId64 " %s", vm->id, seq, what);
	return rc;
}

/* Publish RESP to VM and, when PERSIST and it answers a request (seq > 0), persist it
 * first. An answer the state refuses is kept in vm->unsaved, not published. */
static int publish(struct vgpu_mediator *m, struct vm *vm, struct vgpu_response *resp, int persist)
{
	char *buf;
	char what[1100];
	int len, rc, src = 0, newer = persist && resp->seq > vm->st.answered_seq;

	/* VGPU_RECORD_MAX bytes, the mediator's (mediator_int.h); NULL after an unsaved
	 * answer had to keep it */
	if (!m->rec_out && !(m->rec_out = malloc(VGPU_RECORD_MAX)))
		return -ENOMEM;
	buf = m->rec_out;

	/* Tell the VM its high-water mark where the seq does not say it already (rejects,
	 * stale seqs), so a client that lost count can recover. An answer at the mark
	 * carries no "answered" line: it reads as before, also to older clients. */
	{
		int64_t mark = persist && resp->seq > vm->st.answered_seq ? resp->seq : vm->st.answered_seq;
		resp->answered = mark != resp->seq ? mark : 0;
	}
	len = vgpu_response_encode(resp, buf, VGPU_RECORD_MAX);
	if (len < 0) {
		vgpu_err("vm%" PRIu32 ": encoding the answer to seq %" PRId64 " failed (%d)", vm->id, resp->seq, len);
		return len;
	}
	/* Durable before visible: a VM may take response.txt the moment it is renamed into
	 * place, and a power cut loses what is not yet fsynced. So the output file's name
	 * (fsync of the VM directory) and the saved answer (the state) are on disk first;
	 * a restart publishes a saved answer that did not reach response.txt. */
	if (newer) {
		if (resp->output.name[0] && (src = vgpu_fsync_dir(vm->dirfd)) < 0)
			vgpu_warn("vm%" PRIu32 ": fsync of the VM directory: %s", vm->id, strerror(-src));
		src = vgpu_state_answered(m->statefd, vm->id, &vm->st, resp->seq, resp->nonce, buf, (size_t)len);
		if (src < 0) {
			/* Not saved: publishing it now could answer twice (a restart finds the
			 * intent and answers INTERRUPTED; a re-read record runs again). Keep it
			 * here, unpublished, with the VM's commands held; the rescans save it and
			 * then publish it. The job is never run again meanwhile. */
			vgpu_err("vm%" PRIu32 ": saving the answer to seq %" PRId64 " in --state: %s; not published "
				 "until it is saved (retried every rescan); vm%" PRIu32 "'s commands wait",
				 vm->id, resp->seq, strerror(-src), vm->id);
			free(vm->unsaved);
			if ((vm->unsaved = malloc((size_t)len))) {
				memcpy(vm->unsaved, buf, (size_t)len);
			} else {   /* hold the buffer itself; the next publish allocates another */
				vm->unsaved = buf;
				m->rec_out = NULL;
			}
			vm->unsaved_len = (size_t)len;
			vm->unsaved_seq = resp->seq;
			memcpy(vm->unsaved_nonce, resp->nonce, sizeof(vm->unsaved_nonce));
			vm->unsaved_status = resp->status;
			vm->unsaved_warned = 0;
			return src;
		}
	}
	what[0] = '\0';
	if (vgpu_log_enabled(VGPU_LOG_INFO))   /* the answer's log line */
		snprintf(what, sizeof(what), "%s %s%s%s", vgpu_op_name(resp->op), vgpu_status_name(resp->status),
			 resp->status ? ": " : "", resp->status ? resp->error : "");
	rc = deliver(m, vm, resp->seq, resp->nonce, resp->status, buf, (size_t)len, newer, what,
		     resp->output.name[0] ? resp->output.bytes : 0);
	return rc;
}

int vgpu_answer_save_unsaved(struct vgpu_mediator *m, struct vm *vm)
{
	char what[64];
	int rc;

	if (!vm->unsaved)
		return 0;
	rc = vgpu_state_answered(m->statefd, vm->id, &vm->st, vm->unsaved_seq, vm->unsaved_nonce, vm->unsaved,
				 vm->unsaved_len);
	if (rc < 0) {
		if (!vm->unsaved_warned++)
			vgpu_warn("vm%" PRIu32 ": the answer to seq %" PRId64 " still cannot be saved: %s; will retry",
				  vm->id, vm->unsaved_seq, strerror(-rc));
		return rc;
	}
	snprintf(what, sizeof(what), "%s (saved after the state directory recovered)",
		 vgpu_status_name(vm->unsaved_status));
	deliver(m, vm, vm->unsaved_seq, vm->unsaved_nonce, vm->unsaved_status, vm->unsaved, vm->unsaved_len, 1, what, 0);
	free(vm->unsaved);
	vm->unsaved = NULL;
	vm->unsaved_len = 0;
	return 0;      /* the caller looks at its command.txt next (intake) */
}

static void response_init(struct vgpu_response *r, const struct vm *vm, int64_t seq, const char *nonce,
			  enum vgpu_op op, int status)
{
	memset(r, 0, sizeof(*r));
	r->vm = vm->id;
	r->seq = seq;
	vgpu_strcopy(r->nonce, sizeof(r->nonce), nonce && strlen(nonce) == 16 ? nonce : "0000000000000000");
	r->status = status;
	r->op = op;
	r->priority = VGPU_PRIO_LOW;
	vgpu_strcopy(r->executor, sizeof(r->executor), "-");
	vgpu_strcopy(r->result, sizeof(r->result), "-");
	vgpu_strcopy(r->error, sizeof(r->error), "-");
}

static void answer_va(struct vgpu_mediator *m, struct vm *vm, int64_t seq, const char *nonce,
		      enum vgpu_op op, int status, int persist, const char *fmt, va_list ap)
{
	struct vgpu_response *r = malloc(sizeof(*r));

	if (!r) {
		vgpu_err("vm%" PRIu32 ": out of memory answering seq %" PRId64, vm->id, seq);
		return;
	}
	response_init(r, vm, seq, nonce, op, status);
	vgpu_metrics_rejected(&m->metrics, vm->id);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	for (char *p = r->error; *p; p++)   /* the grammar allows printable ASCII only */
		if (*p < 0x20 || *p > 0x7e)
			*p = '?';
	publish(m, vm, r, persist);
	free(r);
}

void vgpu_answer_error(struct vgpu_mediator *m, struct vm *vm, int64_t seq, const char *nonce,
		       enum vgpu_op op, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	answer_va(m, vm, seq, nonce, op, status, 1, fmt, ap);
	va_end(ap);
}

void vgpu_answer_reject(struct vgpu_mediator *m, struct vm *vm, int64_t seq, const char *nonce,
			int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	answer_va(m, vm, seq, nonce, VGPU_OP_NONE, status, 0, fmt, ap);
	va_end(ap);
}

/* JOB's output file, written by the executor, as out-SEQ.bin: its CRC-32 from the
 * executor (computed while it wrote; only an executor that gives none makes us read the
 * file here), then owner, mode and name (outputs.c). Fills REF. 0 or -errno. */
static int publish_output(struct vm *vm, struct job *job, const struct vgpu_job_result *res,
			  struct vgpu_payload_ref *ref)
{
	int rc;

	vgpu_payload_name(ref->name, "out", job->req.seq);
	/* a BAD_KERNEL's file is the JIT's log, of its own size (PROTOCOL.md section 5.1) */
	ref->bytes = res->status == VGPU_BAD_KERNEL ? res->log_bytes : job->out_bytes;
	if (res->has_out_crc) {
		ref->crc = res->out_crc;
	} else {
		uint32_t crc = 0;
		void *buf = malloc(VGPU_CRC_CHUNK);

		rc = buf ? 0 : -ENOMEM;
		for (size_t off = 0; rc == 0 && off < job->out_bytes; off += VGPU_CRC_CHUNK) {
			size_t len = job->out_bytes - off < VGPU_CRC_CHUNK ? job->out_bytes - off : VGPU_CRC_CHUNK;
			ssize_t n = pread(job->out_fd, buf, len, (off_t)off);

			if (n != (ssize_t)len)
				rc = n < 0 ? -errno : VGPU_ESHORT;
			else
				crc = vgpu_crc32_update(crc, buf, len);
		}
		free(buf);
		if (rc == 0 && fdatasync(job->out_fd) != 0)
			rc = -errno;
		if (rc < 0) {
			ref->name[0] = '\0';
			return rc;
		}
		ref->crc = crc;
	}
	rc = vgpu_outputs_commit(vm, job, ref->name);
	if (rc < 0)
		ref->name[0] = '\0';
	return rc;
}

/* The summary of JOB's output file, for an executor that gave none: read here. */
static int summarize_file(const struct job *job, struct vgpu_summary *s)
{
	struct stat st;
	void *p;

	if (fstat(job->out_fd, &st) != 0)
		return -errno;
	if ((uint64_t)st.st_size < job->out_bytes)
		return VGPU_ESHORT;
	p = mmap(NULL, job->out_bytes, PROT_READ, MAP_SHARED, job->out_fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	vgpu_summarize(p, job->out_bytes / sizeof(float), s);
	munmap(p, job->out_bytes);
	return 0;
}

void vgpu_answer_job(struct vgpu_mediator *m, struct job *job, const struct vgpu_job_result *res,
		     const char *executor)
{
	struct vm *vm = job->vm;
	struct vgpu_response *r = malloc(sizeof(*r));
	char name[VGPU_NAME_MAX];

	if (!r) {
		vgpu_err("vm%" PRIu32 ": out of memory answering seq %" PRId64, vm->id, job->req.seq);
		return;
	}
	response_init(r, vm, job->req.seq, job->req.nonce, job->req.op, res->status);
	r->priority = (enum vgpu_prio)job->prio;
	r->queue_us = job->started_us > job->enqueued_us ? job->started_us - job->enqueued_us : 0;
	r->exec_us = res->exec_us;
	vgpu_strcopy(r->executor, sizeof(r->executor), executor);
	if (res->status != VGPU_OK)
		vgpu_strcopy(r->error, sizeof(r->error), res->error[0] ? res->error : vgpu_status_name(res->status));

	if (res->status == VGPU_OK && !vgpu_op_has_data(job->req.op)) {
		vgpu_op_format_result(job->req.op, NULL, r->result, sizeof(r->result));
	} else if (res->status == VGPU_OK && job->out_count && !job->out_bytes) {
		/* summary only: the executor summarised the output where it lives */
		if (res->has_summary) {
			vgpu_op_format_result(job->req.op, &res->summary, r->result, sizeof(r->result));
		} else {
			r->status = VGPU_EXEC_FAILED;
			snprintf(r->error, sizeof(r->error), "executor %s returned no summary of the output", executor);
		}
	} else if (res->status == VGPU_OK && job->out_fd >= 0 && job->out_bytes) {
		struct vgpu_summary s;
		int rc = 0;

		/* The executor summarised the output it wrote (on the device, for CUDA); only
		 * for one that did not is the file read here. */
		if (res->has_summary && res->summary.count == job->out_bytes / sizeof(float))
			s = res->summary;
		else
			rc = summarize_file(job, &s);
		if (rc < 0) {
			r->status = VGPU_EXEC_FAILED;
			snprintf(r->error, sizeof(r->error), "executor %s: its output: %s", executor,
				 vgpu_safeio_strerror(rc));
		} else {
			vgpu_op_format_result(job->req.op, &s, r->result, sizeof(r->result));
			rc = publish_output(vm, job, res, &r->output);
			if (rc < 0) {
				r->status = VGPU_EXEC_FAILED;
				snprintf(r->error, sizeof(r->error), "writing out-%" PRId64 ".bin into the VM directory: %s",
					 job->req.seq, vgpu_safeio_strerror(rc));
				r->output.name[0] = '\0';
			}
		}
	} else if (res->status == VGPU_BAD_KERNEL && res->log_bytes && res->log_bytes <= VGPU_KERNEL_LOG_MAX &&
		   res->has_out_crc && job->out_fd >= 0) {
		/* the JIT's whole log as the answer's output file (PROTOCOL.md section 5.1) */
		size_t len = strlen(r->error);

		if (publish_output(vm, job, res, &r->output) == 0)
			snprintf(r->error + len, sizeof(r->error) - len, " (the JIT's whole log: %s, %" PRIu64 " bytes)",
				 r->output.name, r->output.bytes);
		else
			r->output.name[0] = '\0';
	} else if (res->status == VGPU_OK) {
		r->status = VGPU_EXEC_FAILED;
		snprintf(r->error, sizeof(r->error), "executor %s gave no output for %s", executor,
			 vgpu_op_name(job->req.op));
	}
	fiu_do_on("mediator/crash/before-response", raise(SIGKILL));
	publish(m, vm, r, 1);
	if (job->req.input.name[0]) {
		vgpu_payload_name(name, "in", job->req.seq);
		vgpu_unlink_later(&m->closer, vm, name);   /* freed off the loop */
	}
	free(r);
}

int vgpu_answer_delivered(const struct vm *vm)
{
	char *buf = malloc(VGPU_RECORD_MAX);
	struct vgpu_response *r = malloc(sizeof(*r));
	size_t len = 0;
	int yes = 0;

	if (buf && r && vgpu_safe_read(vm->dirfd, "response.txt", buf, VGPU_RECORD_MAX, &len, NULL) == 0 &&
	    vgpu_response_decode(buf, len, r, NULL, 0) == VGPU_REC_OK)
		/* ours at the mark, or a later reject (seq 0, an error) that replaced it on
		 * purpose; the initial response.txt (seq 0, OK: PROTOCOL.md s.10) is not */
		yes = (r->seq == vm->st.answered_seq && strcmp(r->nonce, vm->st.answered_nonce) == 0) ||
		      (r->seq == 0 && r->status != VGPU_OK);
	free(buf);
	free(r);
	return yes;
}

int vgpu_answer_republish(struct vgpu_mediator *m, struct vm *vm)
{
	int rc;

	(void)m;
	if (!vm->st.last)
		return 0;
	rc = vgpu_publish(vm->dirfd, "response.txt", vm->st.last, vm->st.last_len, 0644);
	if (rc < 0) {
		vm->resp_pending = 1;   /* the rescans keep trying */
		if (!vm->warned++)
			vgpu_warn("vm%" PRIu32 ": re-publishing the answer to seq %" PRId64 ": %s; will retry",
				  vm->id, vm->st.answered_seq, vgpu_safeio_strerror(rc));
		return rc;
	}
	vgpu_info("vm%" PRIu32 ": published the answer to seq %" PRId64 " again", vm->id, vm->st.answered_seq);
	vm->resp_pending = 0;
	return 0;
}

void vgpu_answer_recover(struct vgpu_mediator *m, struct vm *vm)
{
	char *buf;
	size_t len = 0;
	struct vgpu_response *r;
	char err[128];
	int64_t seq = vm->st.running_seq;
	char nonce[17];

	if (seq <= 0 || seq <= vm->st.answered_seq)
		return;
	memcpy(nonce, vm->st.running_nonce, sizeof(nonce));
	buf = malloc(VGPU_RECORD_MAX);
	r = malloc(sizeof(*r));
	if (buf && r && vgpu_safe_read(vm->dirfd, "response.txt", buf, VGPU_RECORD_MAX, &len, NULL) == 0 &&
	    vgpu_response_decode(buf, len, r, err, sizeof(err)) == VGPU_REC_OK &&
	    r->vm == vm->id && r->seq == seq && strcmp(r->nonce, nonce) == 0) {
		/* died after publishing, before persisting: the VM has its answer */
		if (vgpu_state_answered(m->statefd, vm->id, &vm->st, seq, nonce, buf, len) == 0)
			vgpu_info("vm%" PRIu32 ": seq %" PRId64 " was answered before the restart; adopted", vm->id, seq);
	} else {
		vgpu_answer_error(m, vm, seq, nonce, VGPU_OP_NONE, VGPU_INTERRUPTED,
				  "the mediator stopped while this job ran; it was not run again (at-most-once); submit it again");
	}
	free(buf);
	free(r);
}

/* A VM served for the first time gets a response.txt before its first request: seq 0,
 * status OK, op "-" (PROTOCOL.md s.10, "The initial response.txt"). A client that looks
 * the name up before the first answer then finds a file, never a missing name, which
 * the kernel NFS client would cache as missing for up to acdirmax with the default mount
 * options (30 s measured in check-knfs: ERRORS_LOG error 7). Nothing is saved and no
 * request is answered: seq 0 is below every request's seq, so a client reads it as "not
 * ours yet", and its next seq is 1 as before. Left alone when the VM has an answer or
 * when anything (even a dangling link) is at the name. */
void vgpu_answer_initial(struct vgpu_mediator *m, struct vm *vm)
{
	struct vgpu_response r;
	struct stat st;
	char *buf;
	int len, rc;

	if (vm->st.answered_seq > 0 || vm->unsaved)
		return;
	if (fstatat(vm->dirfd, "response.txt", &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT)
		return;
	if (!(buf = malloc(VGPU_RECORD_MAX)))
		return;
	response_init(&r, vm, 0, "0000000000000000", VGPU_OP_NONE, VGPU_OK);
	len = vgpu_response_encode(&r, buf, VGPU_RECORD_MAX);
	rc = len < 0 ? len : vgpu_publish(vm->dirfd, "response.txt", buf, (size_t)len, 0644);
	if (rc < 0)
		vgpu_warn("vm%" PRIu32 ": the initial response.txt: %s; the VM's first answer creates it",
			  vm->id, vgpu_safeio_strerror(rc));
	(void)m;
	free(buf);
}
