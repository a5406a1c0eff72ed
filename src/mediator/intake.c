/* intake.c - read one VM's command.txt and decide: queue a job, answer an error, wait
 * (incomplete record), or ignore (already handled). Everything from the VM is untrusted:
 * no symlinks, FIFOs, directories or hard links, sizes capped before reading, the
 * record parsed strictly, the VM id checked against the directory, payloads checked
 * against their declared size and CRC (docs/PROTOCOL.md sections 3, 7, 8). With the VM's
 * uid configured, command.txt and payloads must be the VM's own files (WRONG_OWNER).
 * Error answers are rate-limited per VM: past its budget a VM's command.txt waits
 * unread (docs/SECURITY.md). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fiu-local.h>

#include "mediator_int.h"
#include "lib/log.h"
#include "lib/safeio.h"
#include "lib/status.h"

#define CMD "command.txt"

static void key_of(const struct stat *st, struct file_key *k)
{
	memset(k, 0, sizeof(*k));
	k->dev = st->st_dev;
	k->ino = st->st_ino;
	k->size = st->st_size;
	k->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

static int key_seen(const struct vm *vm, const struct file_key *k)
{
	return vm->seen_valid && memcmp(&vm->seen, k, sizeof(*k)) == 0;
}

static void mark_seen(struct vm *vm, const struct file_key *k)
{
	vm->seen = *k;
	vm->seen_valid = 1;
	vm->incomplete_since_ms = 0;
}

/* May VM get one more error answer now? Else its command.txt is read again (not marked
 * seen) once its budget allows: a flood of invalid records costs one read per turn at
 * most, and no answers, fsyncs or log lines beyond the budget. */
static int budget(struct vgpu_mediator *m, struct vm *vm)
{
	uint64_t now = vgpu_now_ms();

	if (vgpu_ratelimit_take(&vm->rejects, now))
		return 1;
	vm->seen_valid = 0;
	vm->intake_after_ms = vgpu_ratelimit_next(&vm->rejects, now);
	if (vm->intake_after_ms <= now)
		vm->intake_after_ms = now + 1;
	vgpu_vm_warn(m, vm, "too many invalid records (%u answered at once, then %u a second); the rest wait "
		     "unread", m->cfg.reject_burst, m->cfg.reject_per_s);
	return 0;
}

/* A file in VM's directory that is not the VM's own (ST: fstat of the opened file). */
static int foreign(const struct vm *vm, const struct stat *st)
{
	return vm->has_uid && st->st_uid != vm->uid;
}

/* A command.txt that is not a plain file: answer once per version of it. */
static void reject_file(struct vgpu_mediator *m, struct vm *vm, int rc)
{
	struct stat st;
	struct file_key k;
	const char *what;

	if (fstatat(vm->dirfd, CMD, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;  /* gone meanwhile */
	key_of(&st, &k);
	if (key_seen(vm, &k) || !budget(m, vm))
		return;
	mark_seen(vm, &k);
	if (rc == VGPU_ETOOBIG) {
		vgpu_answer_reject(m, vm, 0, NULL, VGPU_TOO_LARGE,
				  "command.txt is %lld bytes; a record is at most %d", (long long)st.st_size,
				  VGPU_RECORD_MAX);
		return;
	}
	what = S_ISLNK(st.st_mode) ? "a symbolic link" : S_ISFIFO(st.st_mode) ? "a FIFO" :
	       S_ISDIR(st.st_mode) ? "a directory" : S_ISSOCK(st.st_mode) ? "a socket" :
	       rc == VGPU_ELINKS ? "a file with several hard links" : "not a regular file";
	vgpu_answer_reject(m, vm, 0, NULL, VGPU_BAD_FILE,
			  "command.txt is %s; publish a regular file by rename", what);
}

/* Read VM's payload into a new memfd, checking name, size and CRC. 0, or a status
 * code with MSG filled. */
static int load_payload(struct vgpu_mediator *m, struct vm *vm, struct job *job, char *msg, size_t msglen)
{
	const struct vgpu_payload_ref *ref = &job->req.input;
	int64_t want = vgpu_request_input_bytes(&job->req);
	char expect[VGPU_NAME_MAX];
	struct stat st;
	int fd = -1, mfd = -1, rc, status = VGPU_BAD_PAYLOAD;
	void *map = MAP_FAILED;

	vgpu_payload_name(expect, "in", job->req.seq);
	if (strcmp(ref->name, expect) != 0) {
		snprintf(msg, msglen, "input must be named %s, not %s", expect, ref->name);
		return VGPU_BAD_PAYLOAD;
	}
	if (want < 0 || (uint64_t)want != ref->bytes) {
		snprintf(msg, msglen, "input declares %" PRIu64 " bytes; op %s with these sizes needs %" PRId64,
			 ref->bytes, vgpu_op_name(job->req.op), want);
		return VGPU_BAD_PAYLOAD;
	}
	if (ref->bytes > m->cfg.max_payload) {
		snprintf(msg, msglen, "input of %" PRIu64 " bytes is over the %" PRIu64 "-byte cap",
			 ref->bytes, m->cfg.max_payload);
		return VGPU_TOO_LARGE;
	}
	rc = vgpu_safe_open(vm->dirfd, ref->name, m->cfg.max_payload, &fd, &st);
	if (rc < 0) {
		snprintf(msg, msglen, "%s: %s", ref->name, vgpu_safeio_strerror(rc));
		return rc == VGPU_ETOOBIG ? VGPU_TOO_LARGE : (rc == -ELOOP || rc == VGPU_EBADTYPE || rc == VGPU_ELINKS)
			? VGPU_BAD_FILE : VGPU_BAD_PAYLOAD;
	}
	if (foreign(vm, &st)) {
		/* not read: another VM's (or user's) bytes must not become this VM's input */
		snprintf(msg, msglen, "%s belongs to uid %u, not vm%" PRIu32 "'s uid %u: written by another VM "
			 "or user; not read", ref->name, (unsigned)st.st_uid, vm->id, (unsigned)vm->uid);
		vgpu_vm_warn(m, vm, "%s", msg);
		close(fd);
		return VGPU_WRONG_OWNER;
	}
	if ((uint64_t)st.st_size != ref->bytes) {
		snprintf(msg, msglen, "%s holds %lld bytes, the record says %" PRIu64 " (short write?)",
			 ref->name, (long long)st.st_size, ref->bytes);
		goto out;
	}
	mfd = memfd_create("vgpu-in", MFD_CLOEXEC);
	if (mfd < 0 || ftruncate(mfd, (off_t)ref->bytes) < 0) {
		snprintf(msg, msglen, "memfd for the input: %s", strerror(errno));
		status = VGPU_EXEC_FAILED;
		goto out;
	}
	if (ref->bytes) {
		map = mmap(NULL, ref->bytes, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
		if (map == MAP_FAILED) {
			snprintf(msg, msglen, "mapping the input: %s", strerror(errno));
			status = VGPU_EXEC_FAILED;
			goto out;
		}
		rc = vgpu_read_full(fd, map, ref->bytes);
		if (rc < 0) {
			snprintf(msg, msglen, "reading %s: %s", ref->name, vgpu_safeio_strerror(rc));
			goto out;
		}
		if (vgpu_crc32(map, ref->bytes) != ref->crc) {
			snprintf(msg, msglen, "%s: CRC-32 differs from the record's %08x", ref->name, ref->crc);
			goto out;
		}
	}
	job->in_fd = mfd;
	job->in_bytes = ref->bytes;
	mfd = -1;
	status = 0;
out:
	if (map != MAP_FAILED)
		munmap(map, ref->bytes);
	if (mfd >= 0)
		close(mfd);
	close(fd);
	return status;
}

static int make_output(struct job *job, char *msg, size_t msglen)
{
	int64_t bytes = vgpu_request_output_bytes(&job->req);

	if (bytes <= 0)
		return 0;
	job->out_count = (size_t)bytes / sizeof(float);
	if (!vgpu_wants_output_file(&job->req))
		return 0;   /* summary only: the executor keeps the output, computes the summary */
	job->out_fd = memfd_create("vgpu-out", MFD_CLOEXEC);
	if (job->out_fd < 0 || ftruncate(job->out_fd, bytes) < 0) {
		snprintf(msg, msglen, "memfd for %" PRId64 " output bytes: %s", bytes, strerror(errno));
		return VGPU_EXEC_FAILED;
	}
	job->out_bytes = (size_t)bytes;
	return 0;
}

static void handle_request(struct vgpu_mediator *m, struct vm *vm, const struct vgpu_request *req)
{
	char msg[512];
	struct job *job;
	int status;

	if (req->vm != vm->id) {
		/* not persisted: another VM's seq must not move this VM's high-water mark */
		if (!budget(m, vm))
			return;
		vgpu_answer_reject(m, vm, req->seq, req->nonce, VGPU_WRONG_VM,
				   "record says vm %" PRIu32 " but was found in vm%" PRIu32 "/", req->vm, vm->id);
		return;
	}
	if (req->seq <= vm->st.answered_seq) {
		if (req->seq == vm->st.answered_seq && strcmp(req->nonce, vm->st.answered_nonce) == 0) {
			/* Already answered; response.txt may have lost it. Never re-run. */
			if (!vgpu_answer_delivered(vm) && budget(m, vm))
				vgpu_answer_republish(m, vm);
			return;
		}
		if (!budget(m, vm))
			return;
		if (req->seq == vm->st.answered_seq) {
			vgpu_warn("vm%" PRIu32 ": seq %" PRId64 " reused with another nonce (%s, answered %s): "
				  "two writers for one VM directory?", vm->id, req->seq, req->nonce, vm->st.answered_nonce);
			vgpu_answer_error(m, vm, req->seq, req->nonce, req->op, VGPU_CONFLICT,
					  "seq %" PRId64 " was already used by another writer in vm%" PRIu32
					  "/; two clients share this VM directory", req->seq, vm->id);
			return;
		}
		/* Below the high-water mark with a nonce we never answered at that seq: a
		 * writer that lost count (a VM reinstalled, its lock directory wiped). Tell
		 * it where the VM's seqs are; the answer carries "answered" for that. Not
		 * persisted (seq < answered). Never run. */
		vgpu_warn("vm%" PRIu32 ": stale seq %" PRId64 " (answered up to %" PRId64 "); answered CONFLICT",
			  vm->id, req->seq, vm->st.answered_seq);
		vgpu_answer_error(m, vm, req->seq, req->nonce, req->op, VGPU_CONFLICT,
				  "seq %" PRId64 " is stale: vm%" PRIu32 " has answers up to seq %" PRId64
				  "; use a seq above it", req->seq, vm->id, vm->st.answered_seq);
		return;
	}
	{
		/* The executor allocates generated inputs and every output: one VM must not
		 * make it allocate terabytes. Same cap as for payloads. */
		int64_t gen = req->args.has_seed ? vgpu_request_input_bytes(req) : 0;
		int64_t out = vgpu_request_output_bytes(req);
		uint64_t leak = req->op == VGPU_OP_LEAK ? req->args.bytes : 0;

		/* The VM's next seq shows it has read its older outputs (PROTOCOL.md s.1.1). */
		vgpu_outputs_superseded(m, vm, req->seq);
		if (gen < 0 || out < 0 || (uint64_t)gen > m->cfg.max_payload || (uint64_t)out > m->cfg.max_payload ||
		    leak > m->cfg.max_payload) {
			if (!budget(m, vm))
				return;
			vgpu_answer_error(m, vm, req->seq, req->nonce, req->op, VGPU_TOO_LARGE,
					  "op %s with these sizes needs %" PRId64 " input and %" PRId64
					  " output bytes; the cap is %" PRIu64 " (--max-payload)", vgpu_op_name(req->op),
					  gen, out, m->cfg.max_payload);
			return;
		}
	}
	if (vgpu_op_is_test(req->op) && !m->cfg.test_ops) {
		if (!budget(m, vm))
			return;
		vgpu_answer_error(m, vm, req->seq, req->nonce, req->op, VGPU_UNKNOWN_OP,
				  "op %s exists only when the mediator runs with --test-ops", vgpu_op_name(req->op));
		return;
	}
	job = vgpu_job_new(vm, req);
	if (!job) {
		vgpu_err("vm%" PRIu32 ": out of memory queueing seq %" PRId64 "; will retry", vm->id, req->seq);
		vm->seen_valid = 0;
		return;
	}
	msg[0] = '\0';
	status = req->input.name[0] ? load_payload(m, vm, job, msg, sizeof(msg)) : 0;
	if (status == 0)
		status = make_output(job, msg, sizeof(msg));
	if (status == 0 && job->out_bytes) {
		/* What one VM may hold in the export (its outputs until read or expired). */
		uint64_t held = vgpu_outputs_held(vm);

		if (held + job->out_bytes > m->cfg.max_vm_bytes) {
			snprintf(msg, sizeof(msg), "vm%" PRIu32 " already holds %" PRIu64 " bytes of outputs; %zu more "
				 "would pass its %" PRIu64 "-byte cap (--max-vm-bytes): read and remove them, or send "
				 "the next request (which removes the last output)", vm->id, held, job->out_bytes,
				 m->cfg.max_vm_bytes);
			status = VGPU_TOO_LARGE;
		}
	}
	if (status != 0) {
		if (!budget(m, vm)) {
			vgpu_job_free(job);
			return;
		}
		vgpu_answer_error(m, vm, req->seq, req->nonce, req->op, status, "%s", msg);
		vgpu_job_free(job);
		return;
	}
	job->prio = (int)req->priority > vm->cap ? vm->cap : (int)req->priority;
	if (job->prio != (int)req->priority)
		vgpu_debug("vm%" PRIu32 ": seq %" PRId64 " asked for %s, capped to %s", vm->id, req->seq,
			   vgpu_prio_name(req->priority), vgpu_prio_name((enum vgpu_prio)job->prio));
	job->enqueued_us = vgpu_now_us();
	vm->job = job;
	vgpu_pq_push(&m->queue, &job->item, job->prio, job->enqueued_us / 1000);
	vgpu_metrics_queued(&m->metrics, vm->id, job->in_bytes);
	vgpu_journal_add(&m->journal, "queue vm=%" PRIu32 " seq=%" PRId64 " nonce=%s prio=%s", vm->id, req->seq, req->nonce,
		     vgpu_prio_name((enum vgpu_prio)job->prio));
}

void vgpu_intake_scan(struct vgpu_mediator *m, struct vm *vm)
{
	char *buf = NULL, err[256];
	struct vgpu_request *req = NULL;
	struct file_key k;
	struct stat st;
	size_t len = 0;
	int fd, rc;

	if (vm->intake_after_ms) {
		if (vgpu_now_ms() < vm->intake_after_ms)
			return;     /* over its error budget: read again when it refills */
		vm->intake_after_ms = 0;
	}
	if (vm->unsaved)
		return;         /* its last answer is not saved yet: nothing new before it */
	rc = vgpu_safe_open(vm->dirfd, CMD, VGPU_RECORD_MAX, &fd, &st);
	if (rc == -ENOENT) {
		vm->incomplete_since_ms = 0;
		return;
	}
	if (rc == -ELOOP || rc == VGPU_EBADTYPE || rc == VGPU_ELINKS || rc == VGPU_ETOOBIG) {
		reject_file(m, vm, rc);
		return;
	}
	if (rc < 0) {
		if (!vm->warned++)
			vgpu_warn("vm%" PRIu32 ": open(%s): %s; will retry", vm->id, CMD, vgpu_safeio_strerror(rc));
		return;
	}
	vm->warned = 0;
	if (foreign(vm, &st)) {
		/* Not the VM's own file: another VM (or user) wrote into this VM's directory.
		 * Not read; answered once per version of the file. */
		close(fd);
		key_of(&st, &k);
		if (key_seen(vm, &k) || vm->job || !budget(m, vm))
			return;
		mark_seen(vm, &k);
		vgpu_vm_warn(m, vm, "command.txt belongs to uid %u, not the VM's uid %u: written by another VM or "
			     "user; refused (WRONG_OWNER)", (unsigned)st.st_uid, (unsigned)vm->uid);
		vgpu_answer_reject(m, vm, 0, NULL, VGPU_WRONG_OWNER,
				  "command.txt belongs to uid %u, not vm%" PRIu32 "'s uid %u: written by another VM or "
				  "user; not read, not run (check the export's anonuid, docs/XEN.md)",
				  (unsigned)st.st_uid, vm->id, (unsigned)vm->uid);
		return;
	}
	buf = malloc(VGPU_RECORD_MAX);
	req = malloc(sizeof(*req));
	if (!buf || !req) {
		close(fd);
		goto out;
	}
	rc = vgpu_read_full(fd, buf, (size_t)st.st_size);
	close(fd);
	len = (size_t)st.st_size;
	fiu_do_on("mediator/intake/read", rc = -EIO);
	if (rc < 0) {
		vgpu_warn("vm%" PRIu32 ": reading %s: %s; will retry", vm->id, CMD, vgpu_safeio_strerror(rc));
		goto out;
	}
	/* Content decides, not metadata: an in-place rewrite within one mtime tick with
	 * the same size is still a new version. */
	key_of(&st, &k);
	k.crc = vgpu_crc32(buf, len);
	if (key_seen(vm, &k))
		goto out;
	if (vm->job) {
		/* One request at a time per VM; a new version while one is queued or running
		 * is read again once that one is answered. */
		vm->cmd_waiting = 1;
		goto out;
	}
	rc = vgpu_request_decode(buf, len, req, err, sizeof(err));
	switch (rc) {
	case VGPU_REC_OK:
		mark_seen(vm, &k);
		handle_request(m, vm, req);
		break;
	case VGPU_REC_INCOMPLETE: {
		uint64_t now = vgpu_now_ms();

		if (!vm->incomplete_since_ms) {
			vm->incomplete_since_ms = now;
			vgpu_debug("vm%" PRIu32 ": %s incomplete (%s); waiting up to %" PRIu64 " ms",
				   vm->id, CMD, err, m->cfg.grace_ms);
		} else if (now - vm->incomplete_since_ms >= m->cfg.grace_ms && budget(m, vm)) {
			mark_seen(vm, &k);
			vgpu_answer_reject(m, vm, req->seq, req->nonce, VGPU_BAD_REQUEST,
					  "incomplete record after %" PRIu64 " ms (%s): write to a temporary name and "
					  "rename it to command.txt", m->cfg.grace_ms, err);
		}
		break;
	}
	case VGPU_REC_CORRUPT:
		if (!budget(m, vm))
			break;
		mark_seen(vm, &k);
		vgpu_answer_reject(m, vm, req->seq, req->nonce, VGPU_CORRUPT, "%s", err);
		break;
	case VGPU_REC_UNKNOWN_OP:
		if (!budget(m, vm))
			break;
		mark_seen(vm, &k);
		vgpu_answer_reject(m, vm, req->seq, req->nonce, VGPU_UNKNOWN_OP, "%s", err);
		break;
	case VGPU_REC_TOO_LARGE:
		if (!budget(m, vm))
			break;
		mark_seen(vm, &k);
		vgpu_answer_reject(m, vm, req->seq, req->nonce, VGPU_TOO_LARGE, "%s", err);
		break;
	default:
		if (!budget(m, vm))
			break;
		mark_seen(vm, &k);
		vgpu_answer_reject(m, vm, req->seq, req->nonce, VGPU_BAD_REQUEST, "%s", err);
		break;
	}
out:
	free(buf);
	free(req);
}
