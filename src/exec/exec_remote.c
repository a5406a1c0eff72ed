/* exec_remote.c - Plan B: an executor that forwards each job to a GPU worker VM.
 *
 * DIR is a VM directory (vmN) served by another vgpu-mediator running `--executor cuda`
 * (the GPU worker VM); this executor is that mediator's client. The protocol side (seq,
 * nonce, publishing, matching the answer, the stale-seq resend, the output's CRC) is
 * libvgpu-client's non-blocking core (src/client/client.h); this file is executor glue:
 * a job becomes a request, submit() starts it, each reap() polls once (never blocks, no
 * fd to poll), the output goes straight into the job's mapped output memfd (or, for a
 * summary-only job, the worker's result line is taken) and the status is mapped back.
 * A worker that does not answer in time makes the job UNAVAILABLE (docs/GPU.md). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <time.h>

#include "executor.h"
#include "../client/client.h"
#include "../lib/record.h"
#include "../lib/status.h"
#include "../lib/clock.h"


struct remote_exec {
	struct vgpu_executor base;   /* Base class. Must be first */
	char *dir;                   /* as configured, for messages */
	struct vgpu_client *client;  /* no_lock: our seq counter lives there */
	uint64_t timeout_ms;         /* how long past its deadline a job may stay unanswered */
	int down;                    /* the last job got no answer: wait less for the next */

	/* the job in flight */
	int busy;
	int have_result;             /* failed at submit: reap() returns this at once */
	struct vgpu_job_result result;
	struct vgpu_request req;
	struct vgpu_client_call call;
	void *in_map, *out_map;      /* the input read from its file, the output collected (never
				      * a map of the VM's own file, which it could truncate:
				      * SIGBUS); kept from job to job, grown when too small */
	size_t in_cap, out_cap;
	int out_fd;                  /* our dup of the job's output file, -1 */
	size_t in_bytes, out_bytes;
	size_t out_count;            /* floats of output; with out_bytes 0: summary only */
	uint64_t give_up_ms;
	/* the worker's mediator's heartbeat (its vmN/status.txt): silent for
	 * vgpu_client_silent_ms() means not running, whatever the job's deadline */
	uint64_t beat, beat_ms, beat_period_ms, next_beat_ms;
	int have_beat;
};

/* snprintf that may truncate on purpose (error texts are bounded). */
static void textf(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void textf(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
}

static void finish(struct remote_exec *rx)
{
	if (rx->out_fd >= 0)
		close(rx->out_fd);
	rx->out_fd = -1;
	rx->busy = 0;
	rx->have_result = 0;
}

/* *P holds at least BYTES (*CAP: what it holds). 0 or -ENOMEM. */
static int reserve(void **p, size_t *cap, size_t bytes)
{
	if (bytes <= *cap)
		return 0;
	free(*p);
	*cap = 0;
	if (!(*p = malloc(bytes)))
		return -ENOMEM;
	*cap = bytes;
	return 0;
}

static int remote_submit(struct vgpu_executor *ex, int slot, const struct vgpu_exec_job *job)
{
	struct remote_exec *rx = (struct remote_exec *)ex;
	int data = vgpu_op_has_data(job->job.op);
	uint64_t now = vgpu_now_ms();
	char err[256];
	int rc;

	if (slot != 0)
		return -EINVAL;
	if (rx->busy)
		return -EBUSY;
	memset(&rx->result, 0, sizeof(rx->result));
	rx->have_result = 0;
	if (job->job.op == VGPU_OP_KERNEL) {
		/* The worker VM's mediator would run every VM's kernels as its one VM, in one
		 * GPU context: no isolation between them (docs/KERNELS.md). Answered at once. */
		vgpu_job_result_set(&rx->result, VGPU_UNSUPPORTED, "op kernel is not supported through Plan B "
				    "(the worker VM would run every VM's kernels in one GPU context)");
		rx->busy = 1;
		rx->have_result = 1;
		return 0;
	}
	rx->out_bytes = job->out_fd >= 0 ? job->out_bytes : 0;
	rx->out_count = data ? job->job.out_count : 0;
	rx->in_bytes = !job->job.args.has_seed && job->in_fd >= 0 ? job->in_bytes : 0;
	/* Read, not mapped: the core publishes the input from the buffer (and again from it
	 * for a resend) and collects the output into one, written to the job's file at the
	 * end. Plan B does this in the mediator's loop (docs/EXECUTOR.md). */
	if (reserve(&rx->in_map, &rx->in_cap, rx->in_bytes) < 0 || reserve(&rx->out_map, &rx->out_cap, rx->out_bytes) < 0 ||
	    (rx->out_bytes && (rx->out_fd = dup(job->out_fd)) < 0)) {
		rc = -ENOMEM;
		finish(rx);
		return rc;
	}
	rx->busy = 1;
	rx->have_beat = 0;              /* the worker's heartbeat is watched from now on */
	rx->next_beat_ms = 0;
	if (rx->in_bytes &&
	    vgpu_exec_read_input(job->in_fd, rx->in_bytes, job->in_check, job->in_crc, rx->in_map, &rx->result) != 0) {
		rx->have_result = 1;
		return 0;
	}

	memset(&rx->req, 0, sizeof(rx->req));
	rx->req.priority = VGPU_PRIO_HIGH;     /* the Dom0 queue already ordered the jobs */
	rx->req.op = job->job.op;
	rx->req.args = job->job.args;
	/* An output memfd: the worker's out-SEQ.bin is read into it. None for a compute op:
	 * the caller wants only the summary, so ask the worker for that alone (also for
	 * payload input, whose default would be a file) and take it from its result line. */
	rx->req.output_file = rx->out_bytes > 0 ? 1 : rx->out_count > 0 ? 0 : -1;
	if (job->deadline_ms)
		rx->req.timeout_ms = job->deadline_ms > now ? job->deadline_ms - now : 1;

	rc = vgpu_client_start(rx->client, &rx->call, &rx->req, rx->in_bytes ? rx->in_map : NULL, rx->in_bytes, err,
			       sizeof(err));
	if (rc != VGPU_CLIENT_OK) {
		/* A directory we cannot write is a worker we cannot reach; a request that does
		 * not encode is our own failure. */
		vgpu_job_result_set(&rx->result, rc == VGPU_CLIENT_EUSAGE ? VGPU_EXEC_FAILED : VGPU_UNAVAILABLE, "remote %s: %s",
			   rx->dir, err);
		rx->have_result = 1;
		return 0;
	}
	/* An answer is due by the job's deadline (the worker's own watchdog answers
	 * TIMEOUT then) plus transport slack; with the worker already silent, sooner. */
	rx->give_up_ms = (job->deadline_ms && !rx->down ? job->deadline_ms : now) + rx->timeout_ms;
	return 0;
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

/* The collected output into the job's file (CRC-32 while writing, fdatasync). */
static int write_out(struct remote_exec *rx, struct vgpu_job_result *res, char *why, size_t whylen)
{
	struct vgpu_job_result w;

	memset(&w, 0, sizeof(w));
	if (vgpu_exec_write_output(rx->out_fd, rx->out_map, rx->out_bytes, &w) != 0) {
		textf(why, whylen, "%s", w.error);
		return -1;
	}
	res->has_out_crc = 1;
	res->out_crc = w.out_crc;
	return 0;
}

/* Our answer RESP into RES. */
static void take_answer(struct remote_exec *rx, const struct vgpu_response *resp, struct vgpu_job_result *res)
{
	char why[200];

	memset(res, 0, sizeof(*res));
	res->exec_us = resp->exec_us;
	res->status = map_status(resp->status);
	if (resp->status == VGPU_OK) {
		if ((rx->out_bytes > 0 &&
		     (vgpu_client_collect(&rx->call, resp, rx->out_map, rx->out_bytes, why, sizeof(why)) != VGPU_CLIENT_OK ||
		      write_out(rx, res, why, sizeof(why)) < 0)) ||
		    (rx->out_bytes == 0 && rx->out_count > 0 && take_summary(rx, resp, res, why, sizeof(why)) < 0))
			vgpu_job_result_set(res, VGPU_EXEC_FAILED, "remote %s: seq %" PRId64 ": %s", rx->dir, rx->req.seq, why);
	} else if (res->status == resp->status) {
		unsigned long long leaked;
		textf(res->error, sizeof(res->error), "remote %s: %s", rx->dir, resp->error);
		if (resp->status == VGPU_LEAKED && sscanf(resp->error, "job leaked %llu", &leaked) == 1)
			res->leaked_bytes = leaked;
	} else {
		textf(res->error, sizeof(res->error), "remote %s answered %s: %s", rx->dir,
		      vgpu_status_name(resp->status), resp->error);
	}
}

/* Has the worker's mediator stopped beating (docs/GPU.md, Plan B's timeouts)? Its
 * status.txt is read at most twice a second; a worker that never wrote one (an older
 * version) is judged by the deadline alone. */
static int worker_silent(struct remote_exec *rx, uint64_t now_ms)
{
	uint64_t beat, period;

	if (now_ms >= rx->next_beat_ms) {
		rx->next_beat_ms = now_ms + 500;
		if (vgpu_client_heartbeat(rx->client, &beat, &period) == 0 && (!rx->have_beat || beat != rx->beat)) {
			rx->have_beat = 1;
			rx->beat = beat;
			rx->beat_ms = now_ms;
			rx->beat_period_ms = period;
		}
	}
	return rx->have_beat && now_ms - rx->beat_ms >= vgpu_client_silent_ms(rx->beat_period_ms);
}

static int remote_reap(struct vgpu_executor *ex, int slot, uint64_t now_ms, struct vgpu_job_result *res)
{
	struct remote_exec *rx = (struct remote_exec *)ex;
	struct vgpu_response resp;
	char err[256];
	int rc;

	if (slot != 0 || !rx->busy)
		return 0;
	if (rx->have_result) {
		*res = rx->result;
		finish(rx);
		return 1;
	}
	rc = vgpu_client_poll(&rx->call, &resp, err, sizeof(err));
	if (rc == VGPU_CLIENT_OK) {
		rx->down = 0;
		take_answer(rx, &resp, res);
	} else if (rc == VGPU_CLIENT_EPROTO || rc == VGPU_CLIENT_EUSAGE || rc == VGPU_CLIENT_ELOCK) {
		vgpu_job_result_set(res, VGPU_EXEC_FAILED, "remote %s: %s%s", rx->dir, err,
			   rc == VGPU_CLIENT_EPROTO ? "; two mediators forward to one worker directory?" : "");
	} else if (worker_silent(rx, now_ms)) {
		vgpu_job_result_set(res, VGPU_UNAVAILABLE, "remote worker %s: its vgpu-mediator is not running (no "
				    "heartbeat in status.txt for %.1f s); seq %" PRId64 " (%s) not answered", rx->dir,
				    (double)(now_ms - rx->beat_ms) / 1000.0, rx->req.seq, vgpu_op_name(rx->req.op));
		rx->down = 1;
	} else if (now_ms < rx->give_up_ms) {
		/* No answer yet (missing, older, being replaced, or the export failing for
		 * now): wait, up to the limit. */
		return 0;
	} else {
		vgpu_job_result_set(res, VGPU_UNAVAILABLE,
			   "remote worker %s did not answer seq %" PRId64 " (%s) in time; is "
			   "`vgpu-mediator --executor cuda` running there?", rx->dir, rx->req.seq,
			   vgpu_op_name(rx->req.op));
		rx->down = 1;
	}
	vgpu_client_end(&rx->call);
	finish(rx);
	return 1;
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
	finish(rx);      /* the job in flight */
	free(rx->in_map);
	free(rx->out_map);
	vgpu_client_close(rx->client);
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

/* The -errno for a failed vgpu_client_open(). */
static int open_errno(int rc)
{
	switch (rc) {
	case VGPU_CLIENT_ENODIR: return -ENOENT;
	case VGPU_CLIENT_EPERM: return -EACCES;
	case VGPU_CLIENT_EUSAGE: return -EINVAL;
	default: return -EIO;
	}
}

int vgpu_remote_open(const char *dir, const struct vgpu_exec_opts *opts,
		     struct vgpu_executor **exp, char *err, size_t errlen)
{
	struct vgpu_client_opts co = { .no_lock = 1 };
	struct remote_exec *rx;
	char cerr[400];
	int rc;

	*exp = NULL;
	if (!dir || !*dir) {
		snprintf(err, errlen, "remote: no directory given (use remote:DIR, DIR the vmN directory "
			 "a GPU worker VM's mediator serves)");
		return -EINVAL;
	}
	co.vm = vgpu_client_dir_vm(dir);
	if (!co.vm) {
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
	rc = vgpu_client_open(&rx->client, dir, &co, cerr, sizeof(cerr));
	if (rc != VGPU_CLIENT_OK) {
		snprintf(err, errlen, "remote:%s: %s (the worker VM's directory, as this Dom0 mounts it)", dir, cerr);
		remote_close(&rx->base);
		return open_errno(rc);
	}
	rx->timeout_ms = opts && opts->remote_timeout_ms ? opts->remote_timeout_ms : VGPU_REMOTE_TIMEOUT_MS;
	rx->base.ops = &remote_ops;
	rx->base.nslots = 1;
	*exp = &rx->base;
	return 0;
}
