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
	m->vm_timers = 1;
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

/* Open VM's payload and check it: name, size, owner, a regular file with one link; not
 * read here. The executor reads it off the event loop and checks its CRC-32 while reading
 * (docs/EXECUTOR.md "Payloads off the loop"), so a big payload never stalls the other
 * VMs. What was checked is what is read: the descriptor, not the name. 0, or a status
 * code with MSG filled. */
static int load_payload(struct vgpu_mediator *m, struct vm *vm, struct job *job, char *msg, size_t msglen)
{
	const struct vgpu_payload_ref *ref = &job->req.input;
	int64_t want = vgpu_request_input_bytes(&job->req);
	char expect[VGPU_NAME_MAX];
	struct stat st;
	int fd = -1, rc;

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
		close(fd);
		return VGPU_BAD_PAYLOAD;
	}
	job->in_fd = fd;
	job->in_bytes = ref->bytes;
	job->in_crc = ref->crc;
	return 0;
}

static int make_output(struct vm *vm, struct job *job, char *msg, size_t msglen)
{
	int64_t bytes = vgpu_request_output_bytes(&job->req);
	int rc;

	if (bytes <= 0)
		return 0;
	job->out_count = (size_t)bytes / sizeof(float);
	if (!vgpu_wants_output_file(&job->req))
		return 0;   /* summary only: the executor keeps the output, computes the summary */
	rc = vgpu_outputs_create(vm, job);
	if (rc < 0) {
		snprintf(msg, msglen, "a file for %" PRId64 " output bytes in vm%" PRIu32 "/: %s", bytes, vm->id,
			 strerror(-rc));
		return VGPU_EXEC_FAILED;
	}
	job->out_bytes = (size_t)bytes;
	return 0;
}

/* Payload bytes REQ makes a job hold while queued and running (its input file and its
 * output file: on a tmpfs export that is Dom0's memory). */
static uint64_t payload_need(const struct vgpu_request *req)
{
	int64_t out = vgpu_request_output_bytes(req);
	uint64_t need = req->input.name[0] ? req->input.bytes : 0;

	if (out > 0 && vgpu_wants_output_file(req))
		need += (uint64_t)out;
	return need;
}

/* Is another VM waiting for the budget since before VM? */
static int older_waiter(const struct vgpu_mediator *m, const struct vm *vm)
{
	if (!m->budget_waiting)
		return 0;
	for (size_t i = 0; i < m->nvms; i++) {
		const struct vm *o = m->vms[i];

		if (o != vm && o->budget_ticket && (!vm->budget_mine || o->budget_ticket < vm->budget_mine))
			return 1;
	}
	return 0;
}

/* The payload budget (docs/SECURITY.md, "Memory"): 0 admit, 1 wait (unread, its place kept
 * by a ticket: the oldest waiter goes first), or TOO_LARGE with MSG (it could never fit). */
static int payload_budget(struct vgpu_mediator *m, struct vm *vm, int64_t seq, uint64_t need, char *msg,
			  size_t msglen)
{
	if (!need)
		return 0;
	if (need > m->cfg.max_vm_queued_bytes || need > m->cfg.max_queued_bytes) {
		int vm_cap = need > m->cfg.max_vm_queued_bytes;

		snprintf(msg, msglen, "its input and output files take %" PRIu64 " bytes; %s %" PRIu64 " (%s)", need,
			 vm_cap ? "one VM's request may hold at most" : "all queued requests together may hold at most",
			 vm_cap ? m->cfg.max_vm_queued_bytes : m->cfg.max_queued_bytes,
			 vm_cap ? "--max-vm-queued-bytes" : "--max-queued-bytes");
		return VGPU_TOO_LARGE;
	}
	if (m->payload_held + need <= m->cfg.max_queued_bytes && !older_waiter(m, vm))
		return 0;
	if (!vm->budget_mine) {
		m->stats.budget_waits++;
		vgpu_info("vm%" PRIu32 ": seq %" PRId64 " waits for payload memory (%" PRIu64 " bytes; %" PRIu64
			  " of %" PRIu64 " held by queued jobs, --max-queued-bytes)", vm->id, seq,
			  need, m->payload_held, m->cfg.max_queued_bytes);
	}
	if (!vm->budget_ticket)
		m->budget_waiting++;
	vm->budget_ticket = vm->budget_mine ? vm->budget_mine : ++m->budget_tickets;
	vm->seen_valid = 0;    /* read again when the budget frees up */
	return 1;
}

static void handle_request(struct vgpu_mediator *m, struct vm *vm, const struct vgpu_request *req)
{
	char msg[512];
	struct job *job;
	uint64_t need;
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
	need = payload_need(req);
	msg[0] = '\0';
	status = payload_budget(m, vm, req->seq, need, msg, sizeof(msg));
	if (status == 1)
		return;
	if (status != 0) {
		if (budget(m, vm))
			vgpu_answer_error(m, vm, req->seq, req->nonce, req->op, status, "%s", msg);
		return;
	}
	job = vgpu_job_new(vm, req);
	if (!job) {
		vgpu_err("vm%" PRIu32 ": out of memory queueing seq %" PRId64 "; will retry", vm->id, req->seq);
		vm->seen_valid = 0;
		return;
	}
	job->held = need;
	job->held_from = &m->payload_held;
	job->closer = &m->closer;
	m->payload_held += need;
	status = req->input.name[0] ? load_payload(m, vm, job, msg, sizeof(msg)) : 0;
	if (status == 0)
		status = make_output(vm, job, msg, sizeof(msg));
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

static void scan(struct vgpu_mediator *m, struct vm *vm);

void vgpu_intake_scan(struct vgpu_mediator *m, struct vm *vm)
{
	if ((vm->intake_after_ms && vgpu_now_ms() < vm->intake_after_ms) || vm->unsaved)
		return;     /* not looked at now: a waiting VM keeps its place */
	/* A VM waiting for the payload budget keeps its ticket only if this look ends waiting
	 * again (payload_budget()); any other outcome (answered, queued, command.txt gone or
	 * replaced) gives its place up, so a VM that went away never blocks the others. */
	vm->budget_mine = vm->budget_ticket;
	if (vm->budget_ticket)
		m->budget_waiting--;
	vm->budget_ticket = 0;
	scan(m, vm);
	vm->budget_mine = 0;
}

void vgpu_intake_waiters(struct vgpu_mediator *m)
{
	while (m->budget_waiting) {   /* no walk over every VM per answer when nobody waits */
		struct vm *oldest = NULL;

		for (size_t i = 0; i < m->nvms; i++)
			if (m->vms[i]->budget_ticket && (!oldest || m->vms[i]->budget_ticket < oldest->budget_ticket))
				oldest = m->vms[i];
		if (!oldest)
			return;
		vgpu_intake_scan(m, oldest);
		if (oldest->budget_ticket)
			return;     /* it still does not fit: nor do the younger ones (they wait behind it) */
	}
}

static void scan(struct vgpu_mediator *m, struct vm *vm)
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
	rc = vgpu_safe_open_rec(vm->dirfd, CMD, VGPU_RECORD_MAX, &fd, &st);
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
	buf = m->rec_in;     /* VGPU_RECORD_MAX bytes, the mediator's (mediator_int.h) */
	req = malloc(sizeof(*req));
	if (!req) {
		close(fd);
		goto out;
	}
	rc = vgpu_read_rec(fd, buf, (size_t)st.st_size);
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
			m->vm_timers = 1;
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
	free(req);
}
