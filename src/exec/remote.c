/* remote.c - Plan B: an executor that forwards each job to a GPU worker VM.
 *
 * DIR is a VM directory (vmN) served by another vgpu-mediator running `--executor cuda`
 * (the GPU worker VM); this executor is that mediator's client, speaking the same file
 * protocol as any VM: it publishes in-SEQ.bin and command.txt by temp+fsync+rename,
 * then, on each reap(), reads response.txt fresh by name (never blocks, no fd to poll),
 * copies out-SEQ.bin into the job's output memfd (or, for a summary-only job, asks for
 * `output summary` and takes the worker's result line) and maps the status back.
 * A worker that does not answer in time makes the job UNAVAILABLE (docs/GPU.md). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "executor.h"
#include "../lib/clock.h"
#include "../lib/record.h"
#include "../lib/safeio.h"
#include "../lib/status.h"

#define REMOTE_DEFAULT_TIMEOUT_MS 10000

struct remote_exec {
	struct vgpu_executor base;   /* Base class. Must be first */
	char *dir;
	int dirfd;
	uint32_t vm;
	uint64_t timeout_ms;         /* how long past its deadline a job may stay unanswered */
	int64_t last_seq;            /* highest seq we used or saw in response.txt */
	int down;                    /* the last job got no answer: wait less for the next */

	/* the job in flight */
	int busy;
	int have_result;             /* failed at submit: reap() returns this at once */
	struct vgpu_job_result result;
	int64_t seq;
	char nonce[17];
	enum vgpu_op op;
	int out_fd;
	size_t out_bytes;
	size_t out_count;            /* floats of output; with out_bytes 0: summary only */
	int had_input;
	uint64_t give_up_ms;
	/* kept to send the job again, once, when its seq was stale (below the worker's
	 * high-water mark: response.txt lost while we restarted); never run by then */
	struct vgpu_exec_job keep;
	int resent;
};

static int is_compute(enum vgpu_op op)
{
	return op == VGPU_OP_VADD || op == VGPU_OP_SAXPY || op == VGPU_OP_SGEMM;
}

static void make_nonce(char out[17])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char r[8];
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		/* Not fatal: the nonce only tells our answers from others'. */
		struct timespec ts;
		uint64_t x;
		clock_gettime(CLOCK_REALTIME, &ts);
		x = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40);
		memcpy(r, &x, sizeof(r));
	}
	for (int i = 0; i < 8; i++) {
		out[2 * i] = hex[r[i] >> 4];
		out[2 * i + 1] = hex[r[i] & 15];
	}
	out[16] = 0;
}

static void set_result(struct vgpu_job_result *res, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_result(struct vgpu_job_result *res, int status, const char *fmt, ...)
{
	va_list ap;
	memset(res, 0, sizeof(*res));
	res->status = status;
	va_start(ap, fmt);
	vsnprintf(res->error, sizeof(res->error), fmt, ap);
	va_end(ap);
}

/* snprintf that may truncate on purpose (error texts are bounded). */
static void textf(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void textf(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
}

/* The worker's latest answer, or a negative code (-ENOENT: none yet; VGPU_REC_*). */
static int read_response(struct remote_exec *rx, struct vgpu_response *resp)
{
	char buf[VGPU_RECORD_MAX];
	char err[128];
	size_t len = 0;
	int rc = vgpu_safe_read(rx->dirfd, "response.txt", buf, sizeof(buf), &len, NULL);
	if (rc < 0)
		return rc;
	return vgpu_response_decode(buf, len, resp, err, sizeof(err));
}

static void remove_payloads(struct remote_exec *rx, int64_t seq)
{
	char name[VGPU_NAME_MAX];
	vgpu_payload_name(name, "in", seq);
	(void)unlinkat(rx->dirfd, name, 0);
	vgpu_payload_name(name, "out", seq);
	(void)unlinkat(rx->dirfd, name, 0);
}

static void finish(struct remote_exec *rx)
{
	if (rx->out_fd >= 0)
		close(rx->out_fd);
	rx->out_fd = -1;
	if (rx->keep.in_fd >= 0)
		close(rx->keep.in_fd);
	if (rx->keep.out_fd >= 0)
		close(rx->keep.out_fd);
	rx->keep.in_fd = rx->keep.out_fd = -1;
	rx->busy = 0;
	rx->have_result = 0;
}

/* Publish the input payload from the job's memfd; fills REF. 0 or -errno. */
static int publish_input(struct remote_exec *rx, const struct vgpu_exec_job *job, int64_t seq,
			 struct vgpu_payload_ref *ref)
{
	void *map;
	int rc;

	vgpu_payload_name(ref->name, "in", seq);
	map = mmap(NULL, job->in_bytes, PROT_READ, MAP_PRIVATE, job->in_fd, 0);
	if (map == MAP_FAILED)
		return -errno;
	ref->bytes = job->in_bytes;
	ref->crc = vgpu_crc32(map, job->in_bytes);
	rc = vgpu_publish(rx->dirfd, ref->name, map, job->in_bytes, 0644);
	munmap(map, job->in_bytes);
	return rc;
}

/* Publish JOB to the worker's directory under the next seq. 0, or -errno when nothing
 * was started (the job then is not busy). */
static int remote_send(struct remote_exec *rx, const struct vgpu_exec_job *job)
{
	struct vgpu_request req;
	struct vgpu_response last;
	char rec[VGPU_RECORD_MAX];
	uint64_t now = vgpu_now_ms();
	int len, rc;

	rx->out_fd = -1;
	rx->had_input = 0;
	/* The next seq must be above anything the worker answered for this directory,
	 * also after our own restart (PROTOCOL.md section 7: seq and answered). */
	if (read_response(rx, &last) == VGPU_REC_OK) {
		int64_t top = last.seq > last.answered ? last.seq : last.answered;
		if (top > rx->last_seq)
			rx->last_seq = top;
	}
	rx->seq = ++rx->last_seq;
	make_nonce(rx->nonce);

	memset(&req, 0, sizeof(req));
	req.vm = rx->vm;
	req.seq = rx->seq;
	memcpy(req.nonce, rx->nonce, sizeof(req.nonce));
	req.priority = VGPU_PRIO_HIGH;     /* the Dom0 queue already ordered the jobs */
	req.op = job->job.op;
	req.args = job->job.args;
	/* An output memfd: the worker's out-SEQ.bin is copied into it. None for a compute
	 * op: the caller wants only the summary, so ask the worker for that alone (also for
	 * payload input, whose default would be a file) and take it from its result line. */
	req.output_file = job->out_bytes > 0 ? 1 : rx->out_count > 0 ? 0 : -1;
	if (job->deadline_ms)
		req.timeout_ms = job->deadline_ms > now ? job->deadline_ms - now : 1;

	if (job->out_fd >= 0 && job->out_bytes > 0) {
		rx->out_fd = fcntl(job->out_fd, F_DUPFD_CLOEXEC, 3);
		if (rx->out_fd < 0)
			return -errno;
	}
	if (!job->job.args.has_seed && job->in_fd >= 0 && job->in_bytes > 0) {
		rc = publish_input(rx, job, rx->seq, &req.input);
		if (rc < 0) {
			set_result(&rx->result, VGPU_UNAVAILABLE, "remote %s: publishing %s: %s",
				   rx->dir, req.input.name, vgpu_safeio_strerror(rc));
			rx->have_result = 1;
			return 0;
		}
		rx->had_input = 1;
	}
	len = vgpu_request_encode(&req, rec, sizeof(rec));
	if (len < 0) {
		set_result(&rx->result, VGPU_EXEC_FAILED, "remote %s: cannot encode the request: %s",
			   rx->dir, strerror(-len));
		rx->have_result = 1;
		return 0;
	}
	rc = vgpu_publish(rx->dirfd, "command.txt", rec, (size_t)len, 0644);
	if (rc < 0) {
		set_result(&rx->result, VGPU_UNAVAILABLE, "remote %s: publishing command.txt: %s",
			   rx->dir, vgpu_safeio_strerror(rc));
		rx->have_result = 1;
		return 0;
	}
	/* An answer is due by the job's deadline (the worker's own watchdog answers
	 * TIMEOUT then) plus transport slack; with the worker already silent, sooner. */
	rx->give_up_ms = (job->deadline_ms && !rx->down ? job->deadline_ms : now) + rx->timeout_ms;
	return 0;
}

static int remote_submit(struct vgpu_executor *ex, int slot, const struct vgpu_exec_job *job)
{
	struct remote_exec *rx = (struct remote_exec *)ex;
	int rc;

	if (slot != 0)
		return -EINVAL;
	if (rx->busy)
		return -EBUSY;
	memset(&rx->result, 0, sizeof(rx->result));
	rx->busy = 1;
	rx->have_result = 0;
	rx->resent = 0;
	rx->op = job->job.op;
	rx->out_bytes = job->out_bytes;
	rx->out_count = is_compute(job->job.op) ? job->job.out_count : 0;
	rx->keep = *job;
	rx->keep.in_fd = job->in_fd >= 0 ? fcntl(job->in_fd, F_DUPFD_CLOEXEC, 3) : -1;
	rx->keep.out_fd = job->out_fd >= 0 ? fcntl(job->out_fd, F_DUPFD_CLOEXEC, 3) : -1;
	if ((job->in_fd >= 0 && rx->keep.in_fd < 0) || (job->out_fd >= 0 && rx->keep.out_fd < 0)) {
		rc = -errno;
		finish(rx);
		return rc;
	}
	rc = remote_send(rx, &rx->keep);
	if (rc < 0)
		finish(rx);
	return rc;
}

static int remote_fd(struct vgpu_executor *ex, int slot)
{
	(void)ex;
	(void)slot;
	return -1;    /* response.txt may be on NFS: polled on the mediator's timer */
}

/* Status the VM sees for the worker's status. Codes about the request itself mean
 * our forwarding went wrong, not the VM's job: EXEC_FAILED, naming the worker's code. */
static int map_status(int remote)
{
	switch (remote) {
	case VGPU_OK:
	case VGPU_TIMEOUT:
	case VGPU_EXEC_FAILED:
	case VGPU_LEAKED:
	case VGPU_UNAVAILABLE:
	case VGPU_UNKNOWN_OP:
		return remote;
	default:
		return VGPU_EXEC_FAILED;
	}
}

/* Copy out-SEQ.bin, checked against the response's size and CRC, into the job's memfd. */
static int fetch_output(struct remote_exec *rx, const struct vgpu_response *resp, char *err, size_t errlen)
{
	void *buf = NULL;
	size_t len = 0;
	int rc;

	if (!resp->output.name[0]) {
		snprintf(err, errlen, "the worker's answer has no output file");
		return -1;
	}
	if (resp->output.bytes != rx->out_bytes) {
		snprintf(err, errlen, "output %s holds %" PRIu64 " bytes, the job needs %zu",
			 resp->output.name, resp->output.bytes, rx->out_bytes);
		return -1;
	}
	rc = vgpu_safe_read_alloc(rx->dirfd, resp->output.name, rx->out_bytes, &buf, &len);
	if (rc < 0) {
		snprintf(err, errlen, "reading %s: %s", resp->output.name, vgpu_safeio_strerror(rc));
		return -1;
	}
	if (len != rx->out_bytes || vgpu_crc32(buf, len) != resp->output.crc) {
		snprintf(err, errlen, "%s: %zu bytes, CRC %08x; the answer says %" PRIu64 " bytes, CRC %08x",
			 resp->output.name, len, vgpu_crc32(buf, len), resp->output.bytes, resp->output.crc);
		free(buf);
		return -1;
	}
	for (size_t off = 0; off < len;) {
		ssize_t w = pwrite(rx->out_fd, (char *)buf + off, len - off, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			snprintf(err, errlen, "writing the job's output: %s", w < 0 ? strerror(errno) : "short write");
			free(buf);
			return -1;
		}
		off += (size_t)w;
	}
	free(buf);
	return 0;
}

/* Summary only: the worker's result line, parsed and checked against the job's size. */
static int take_summary(struct remote_exec *rx, const struct vgpu_response *resp, struct vgpu_job_result *res,
			char *err, size_t errlen)
{
	struct vgpu_summary sm;

	if (vgpu_summary_parse(resp->result, &sm) != 0) {
		snprintf(err, errlen, "the worker's result is not a summary: '%.80s'", resp->result);
		return -1;
	}
	if (sm.count != rx->out_count) {
		snprintf(err, errlen, "the worker's summary counts %" PRIu64 " floats, the job has %zu",
			 sm.count, rx->out_count);
		return -1;
	}
	res->summary = sm;
	res->has_summary = 1;
	return 0;
}

static int remote_reap(struct vgpu_executor *ex, int slot, uint64_t now_ms, struct vgpu_job_result *res)
{
	struct remote_exec *rx = (struct remote_exec *)ex;
	struct vgpu_response resp;
	char why[200];
	int rc;

	if (slot != 0 || !rx->busy)
		return 0;
	if (rx->have_result) {
		*res = rx->result;
		remove_payloads(rx, rx->seq);
		finish(rx);
		return 1;
	}

	rc = read_response(rx, &resp);
	if (rc == VGPU_REC_OK && resp.seq == rx->seq && strcmp(resp.nonce, rx->nonce) == 0 &&
	    resp.status == VGPU_CONFLICT && resp.answered >= rx->seq && !rx->resent) {
		/* Our seq was stale: the worker's response.txt was lost while we restarted, so
		 * we could not see its high-water mark. The job was not run: send it again,
		 * above the mark, once. */
		remove_payloads(rx, rx->seq);
		if (rx->out_fd >= 0)
			close(rx->out_fd);
		rx->out_fd = -1;
		rx->last_seq = resp.answered;
		rx->resent = 1;
		if (remote_send(rx, &rx->keep) < 0) {
			set_result(&rx->result, VGPU_EXEC_FAILED, "remote %s: cannot send the job again", rx->dir);
			rx->have_result = 1;
		}
		return 0;   /* running again, or have_result: reaped on the next call */
	}
	if (rc == VGPU_REC_OK && resp.seq == rx->seq && strcmp(resp.nonce, rx->nonce) == 0) {
		rx->down = 0;
		memset(res, 0, sizeof(*res));
		res->exec_us = resp.exec_us;
		res->status = map_status(resp.status);
		if (resp.status == VGPU_OK) {
			if (rx->out_bytes > 0 && fetch_output(rx, &resp, why, sizeof(why)) < 0)
				set_result(res, VGPU_EXEC_FAILED, "remote %s: seq %" PRId64 ": %s",
					   rx->dir, rx->seq, why);
			else if (rx->out_bytes == 0 && rx->out_count > 0 &&
				 take_summary(rx, &resp, res, why, sizeof(why)) < 0)
				set_result(res, VGPU_EXEC_FAILED, "remote %s: seq %" PRId64 ": %s",
					   rx->dir, rx->seq, why);
		} else if (res->status == resp.status) {
			unsigned long long leaked;
			textf(res->error, sizeof(res->error), "remote %s: %s", rx->dir, resp.error);
			if (resp.status == VGPU_LEAKED && sscanf(resp.error, "job leaked %llu", &leaked) == 1)
				res->leaked_bytes = leaked;
		} else {
			textf(res->error, sizeof(res->error), "remote %s answered %s: %s", rx->dir,
				 vgpu_status_name(resp.status), resp.error);
		}
		remove_payloads(rx, rx->seq);
		finish(rx);
		return 1;
	}
	if (rc == VGPU_REC_OK && resp.seq >= rx->seq) {
		/* Our seq (or a later one) answered for another nonce: a second writer. */
		set_result(res, VGPU_EXEC_FAILED,
			   "remote %s: seq %" PRId64 " answered for another writer (nonce %s, status %s); "
			   "two mediators forward to one worker directory?",
			   rx->dir, resp.seq, resp.nonce, vgpu_status_name(resp.status));
		if (resp.seq > rx->last_seq)
			rx->last_seq = resp.seq;
		remove_payloads(rx, rx->seq);
		finish(rx);
		return 1;
	}
	/* No answer yet (missing, older, or being replaced): wait, up to the limit. */
	if (now_ms >= rx->give_up_ms) {
		set_result(res, VGPU_UNAVAILABLE,
			   "remote worker %s did not answer seq %" PRId64 " (%s) in time; is "
			   "`vgpu-mediator --executor cuda` running there?", rx->dir, rx->seq,
			   vgpu_op_name(rx->op));
		rx->down = 1;
		if (rx->had_input) {
			char name[VGPU_NAME_MAX];
			vgpu_payload_name(name, "in", rx->seq);
			(void)unlinkat(rx->dirfd, name, 0);
		}
		finish(rx);
		return 1;
	}
	return 0;
}

static const char *remote_slot_name(struct vgpu_executor *ex, int slot)
{
	(void)ex;
	(void)slot;
	return "remote";
}

static void remote_close(struct vgpu_executor *ex)
{
	struct remote_exec *rx = (struct remote_exec *)ex;
	if (!rx)
		return;
	finish(rx);      /* the job in flight's descriptors */
	if (rx->dirfd >= 0)
		close(rx->dirfd);
	free(rx->dir);
	free(rx);
}

static const struct vgpu_executor_ops remote_ops = {
	.iversion = 1,
	.name = "remote",
	.submit = remote_submit,
	.fd = remote_fd,
	.reap = remote_reap,
	.slot_name = remote_slot_name,
	.close = remote_close,
};

/* "vmN" (N 1..65535, no leading zero) at the end of DIR -> N; 0 if not. */
static uint32_t vm_of_dir(const char *dir)
{
	size_t len = strlen(dir);
	const char *base;
	unsigned long v;
	char *end;

	while (len > 1 && dir[len - 1] == '/')
		len--;
	base = dir + len;
	while (base > dir && base[-1] != '/')
		base--;
	if (dir + len - base < 3 || strncmp(base, "vm", 2) != 0 || base[2] < '1' || base[2] > '9')
		return 0;
	errno = 0;
	v = strtoul(base + 2, &end, 10);
	if (errno || end != dir + len || v > VGPU_VM_MAX)
		return 0;
	return (uint32_t)v;
}

int vgpu_remote_open(const char *dir, const struct vgpu_exec_opts *opts,
		     struct vgpu_executor **exp, char *err, size_t errlen)
{
	struct remote_exec *rx;
	struct stat st;
	uint32_t vm;

	*exp = NULL;
	if (!dir || !*dir) {
		snprintf(err, errlen, "remote: no directory given (use remote:DIR, DIR the vmN directory "
			 "a GPU worker VM's mediator serves)");
		return -EINVAL;
	}
	vm = vm_of_dir(dir);
	if (!vm) {
		snprintf(err, errlen, "remote:%s: not a VM directory: the last component must be vmN "
			 "(N 1..65535), the directory the worker's `vgpu-mediator --executor cuda` serves "
			 "for this Dom0", dir);
		return -EINVAL;
	}
	rx = calloc(1, sizeof(*rx));
	if (!rx || !(rx->dir = strdup(dir))) {
		free(rx);
		snprintf(err, errlen, "remote: out of memory");
		return -ENOMEM;
	}
	rx->out_fd = -1;
	rx->keep.in_fd = rx->keep.out_fd = -1;
	rx->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rx->dirfd < 0 || fstat(rx->dirfd, &st) < 0) {
		int e = errno;
		snprintf(err, errlen, "remote:%s: %s (is the worker VM's export mounted?)", dir, strerror(e));
		remote_close(&rx->base);
		return -e;
	}
	if (faccessat(rx->dirfd, ".", W_OK, AT_EACCESS) < 0) {
		int e = errno;
		snprintf(err, errlen, "remote:%s: not writable: %s (root_squash: make the directory "
			 "owned by the squashed uid)", dir, strerror(e));
		remote_close(&rx->base);
		return -e;
	}
	rx->vm = vm;
	rx->timeout_ms = opts && opts->remote_timeout_ms ? opts->remote_timeout_ms : REMOTE_DEFAULT_TIMEOUT_MS;
	rx->base.ops = &remote_ops;
	rx->base.nslots = 1;
	*exp = &rx->base;
	return 0;
}
