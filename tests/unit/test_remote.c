/* test_remote.c - Plan B (src/exec/exec_remote.c) against a fake GPU worker VM.
 *
 * The fake worker is a thread that serves a vmN directory through the file protocol,
 * like `vgpu-mediator --executor cuda` on the worker VM: it reads command.txt (and
 * in-SEQ.bin), computes with the CPU reference, publishes out-SEQ.bin and response.txt.
 * Modes make it answer errors, corrupt its output, answer for another writer, or fall
 * silent; each must come back to the Dom0 mediator as the documented status. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "exec/executor.h"
#include "lib/clock.h"
#include "lib/opref.h"
#include "exec/wire.h"
#include "lib/record.h"
#include "lib/record_status.h"
#include "lib/safeio.h"
#include "lib/status.h"
#include "../common/testutil.h"

enum fake_mode { FAKE_OK, FAKE_SILENT, FAKE_STATUS, FAKE_BAD_CRC, FAKE_OTHER_NONCE, FAKE_BAD_SUMMARY, FAKE_STALE,
		 FAKE_NOT_SUMMARY };

struct fake_worker {
	pthread_t thread;
	atomic_int stop;
	int dirfd;
	enum fake_mode mode;
	int status;                  /* FAKE_STATUS: the status to answer */
	const char *error;           /* and its text */
	int64_t answered;            /* last seq answered */
	int64_t stale_seq;           /* FAKE_STALE: the last stale seq answered */
	atomic_int requests;         /* requests seen */
	atomic_int stale;            /* FAKE_STALE: stale seqs answered CONFLICT */
	struct vgpu_request last;    /* the last request seen */
};

static char root[256], dir[300];
static struct fake_worker fw;

/* Compute REQ's output with the CPU reference; *outp malloc'ed. 0 or -1. */
static int fake_compute(const struct vgpu_request *req, float **outp, size_t *countp)
{
	size_t na, nb, nout;
	float *in, *out;

	if (req->op == VGPU_OP_SGEMM) {
		na = req->args.m * req->args.k; nb = req->args.k * req->args.n; nout = req->args.m * req->args.n;
	} else {
		na = nb = nout = req->args.n;
	}
	in = malloc((na + nb + 1) * sizeof(float));
	out = malloc((nout + 1) * sizeof(float));
	if (req->args.has_seed) {
		vgpu_gen_fill(in, na, req->args.seed, 0);
		vgpu_gen_fill(in + na, nb, req->args.seed, 1);
	} else {
		void *buf = NULL;
		size_t len = 0;
		if (vgpu_safe_read_alloc(fw.dirfd, req->input.name, req->input.bytes, &buf, &len) < 0 ||
		    len != (na + nb) * sizeof(float) || vgpu_crc32(buf, len) != req->input.crc) {
			free(buf);
			free(in);
			free(out);
			return -1;
		}
		memcpy(in, buf, len);
		free(buf);
	}
	if (req->op == VGPU_OP_VADD)
		vgpu_ref_vadd(in, in + na, out, nout);
	else if (req->op == VGPU_OP_SAXPY)
		vgpu_ref_saxpy(req->args.alpha, in, in + na, out, nout);
	else
		vgpu_ref_sgemm(in, in + na, out, req->args.m, req->args.n, req->args.k);
	free(in);
	*outp = out;
	*countp = nout;
	return 0;
}

static void fake_answer(const struct vgpu_request *req)
{
	struct vgpu_response r;
	char buf[VGPU_RECORD_MAX];
	int len;

	memset(&r, 0, sizeof(r));
	r.vm = req->vm;
	r.seq = req->seq;
	memcpy(r.nonce, req->nonce, sizeof(r.nonce));
	if (fw.mode == FAKE_OTHER_NONCE)
		memcpy(r.nonce, "0123456789abcdef", 17);
	r.op = req->op;
	r.priority = req->priority;
	r.queue_us = 10;
	r.exec_us = 1234;
	snprintf(r.executor, sizeof(r.executor), "cuda:0");
	snprintf(r.result, sizeof(r.result), "-");
	snprintf(r.error, sizeof(r.error), "-");
	r.status = VGPU_OK;
	if (fw.mode == FAKE_STATUS) {
		r.status = fw.status;
		snprintf(r.error, sizeof(r.error), "%s", fw.error);
	} else if (req->op == VGPU_OP_VADD || req->op == VGPU_OP_SAXPY || req->op == VGPU_OP_SGEMM) {
		float *out;
		size_t count;
		struct vgpu_summary sm;
		if (fake_compute(req, &out, &count) < 0) {
			r.status = VGPU_BAD_PAYLOAD;
			snprintf(r.error, sizeof(r.error), "payload missing or wrong");
		} else if (req->output_file == 0 || (req->output_file < 0 && req->args.has_seed)) {
			/* `output summary`: the result line only, like the real mediator */
			vgpu_summarize(out, count, &sm);
			if (fw.mode == FAKE_BAD_SUMMARY)
				sm.count++;
			vgpu_summary_format(&sm, r.result, sizeof(r.result));
			if (fw.mode == FAKE_NOT_SUMMARY)
				snprintf(r.result, sizeof(r.result), "pong");
			free(out);
		} else {
			vgpu_summarize(out, count, &sm);
			vgpu_summary_format(&sm, r.result, sizeof(r.result));
			vgpu_payload_name(r.output.name, "out", req->seq);
			r.output.bytes = count * sizeof(float);
			r.output.crc = vgpu_crc32(out, r.output.bytes) ^ (fw.mode == FAKE_BAD_CRC ? 1u : 0u);
			ck_assert_int_eq(vgpu_publish(fw.dirfd, r.output.name, out, r.output.bytes, 0644), 0);
			free(out);
		}
	}
	len = vgpu_response_encode(&r, buf, sizeof(buf));
	ck_assert_int_gt(len, 0);
	ck_assert_int_eq(vgpu_publish(fw.dirfd, "response.txt", buf, (size_t)len, 0644), 0);
}

static void *fake_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&fw.stop)) {
		char buf[VGPU_RECORD_MAX], err[128];
		size_t len = 0;
		struct vgpu_request req;

		if (fw.mode == FAKE_STALE && vgpu_safe_read(fw.dirfd, "command.txt", buf, sizeof(buf), &len, NULL) == 0 &&
		    vgpu_request_decode(buf, len, &req, err, sizeof(err)) == VGPU_REC_OK && req.seq < fw.answered &&
		    req.seq > fw.stale_seq) {
			/* as the real mediator: a seq below the mark is answered CONFLICT with
			 * the mark in "answered", and not run */
			struct vgpu_response r;
			char out[VGPU_RECORD_MAX];
			int n;

			memset(&r, 0, sizeof(r));
			r.vm = req.vm;
			r.seq = req.seq;
			memcpy(r.nonce, req.nonce, sizeof(r.nonce));
			r.status = VGPU_CONFLICT;
			r.op = req.op;
			r.answered = fw.answered;
			snprintf(r.executor, sizeof(r.executor), "-");
			snprintf(r.result, sizeof(r.result), "-");
			snprintf(r.error, sizeof(r.error), "seq %lld is stale", (long long)req.seq);
			n = vgpu_response_encode(&r, out, sizeof(out));
			if (n > 0 && vgpu_publish(fw.dirfd, "response.txt", out, (size_t)n, 0644) == 0) {
				fw.stale_seq = req.seq;
				atomic_fetch_add(&fw.stale, 1);
			}
		}
		if (vgpu_safe_read(fw.dirfd, "command.txt", buf, sizeof(buf), &len, NULL) == 0 &&
		    vgpu_request_decode(buf, len, &req, err, sizeof(err)) == VGPU_REC_OK && req.seq > fw.answered) {
			fw.last = req;
			atomic_fetch_add(&fw.requests, 1);
			fw.answered = req.seq;
			if (fw.mode != FAKE_SILENT)
				fake_answer(&req);
		}
		msleep(1);
	}
	return NULL;
}

static void fake_start(enum fake_mode mode)
{
	fw.mode = mode;
	ck_assert_int_eq(pthread_create(&fw.thread, NULL, fake_main, NULL), 0);
}

static void setup(void)
{
	snprintf(root, sizeof(root), "/tmp/vgpu-test-remote-XXXXXX");
	ck_assert(mkdtemp(root) != NULL);
	snprintf(dir, sizeof(dir), "%s/vm7", root);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	memset(&fw, 0, sizeof(fw));
	fw.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(fw.dirfd, 0);
}

static void teardown(void)
{
	char cmd[400];
	atomic_store(&fw.stop, 1);
	if (fw.thread)
		pthread_join(fw.thread, NULL);
	close(fw.dirfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	ck_assert_int_eq(system(cmd), 0);
}

static struct vgpu_executor *open_remote(uint64_t timeout_ms)
{
	struct vgpu_exec_opts o;
	struct vgpu_executor *ex = NULL;
	char err[512] = "";

	memset(&o, 0, sizeof(o));
	o.remote_timeout_ms = timeout_ms;
	ck_assert_msg(vgpu_remote_open(dir, &o, &ex, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(ex->nslots, 1);
	ck_assert_str_eq(ex->ops->slot_name(ex, 0), "remote");
	ck_assert_int_eq(ex->ops->fd(ex, 0), -1);
	return ex;
}

static int memfd_with(const void *data, size_t bytes)
{
	int fd = memfd_create("t", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)bytes), 0);
	if (data) {
		ck_assert_int_eq(pwrite(fd, data, bytes, 0), (ssize_t)bytes);
		ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW), 0);
	}
	return fd;
}

/* Submit and reap on the mediator's timer (every 2 ms) until the job ends. */
static uint64_t drive(struct vgpu_executor *ex, struct vgpu_exec_job *j, struct vgpu_job_result *res)
{
	uint64_t t0 = vgpu_now_ms();
	ck_assert_int_eq(ex->ops->submit(ex, 0, j), 0);
	ck_assert_int_eq(ex->ops->submit(ex, 0, j), -EBUSY);
	for (;;) {
		uint64_t now = vgpu_now_ms();
		if (ex->ops->reap(ex, 0, now, res) == 1)
			return now - t0;
		ck_assert_msg(now - t0 < 10000, "no result in 10 s");
		msleep(2);
	}
}

static struct vgpu_exec_job job_of(enum vgpu_op op)
{
	struct vgpu_exec_job j;
	memset(&j, 0, sizeof(j));
	j.job.op = op;
	j.in_fd = j.out_fd = -1;
	j.deadline_ms = vgpu_now_ms() + 5000;
	return j;
}

/* A compute job forwarded with payload input (or seed); the output must be the CPU's.
 * SUMMARY_ONLY: no output memfd; the job asks for `output summary` and the summary comes
 * from the worker's result line. */
static void forward_compute(struct vgpu_executor *ex, enum vgpu_op op, int seeded, int summary_only)
{
	struct vgpu_exec_job j = job_of(op);
	struct vgpu_job_result res;
	size_t m = 9, n = 300, k = 4, na, nb, nout;
	float *in, *ref, *out;

	if (op == VGPU_OP_SGEMM) {
		na = m * k; nb = k * n; nout = m * n;
		j.job.args.m = m; j.job.args.n = n; j.job.args.k = k;
	} else {
		na = nb = nout = n;
		j.job.args.n = n;
		j.job.args.alpha = 0.5f;
	}
	in = malloc((na + nb) * sizeof(float));
	ref = malloc(nout * sizeof(float));
	vgpu_gen_fill(in, na, 5, 0);
	vgpu_gen_fill(in + na, nb, 5, 1);
	if (op == VGPU_OP_VADD)
		vgpu_ref_vadd(in, in + na, ref, n);
	else if (op == VGPU_OP_SAXPY)
		vgpu_ref_saxpy(0.5f, in, in + na, ref, n);
	else
		vgpu_ref_sgemm(in, in + na, ref, m, n, k);
	if (seeded) {
		j.job.args.has_seed = 1;
		j.job.args.seed = 5;
	} else {
		j.in_bytes = (na + nb) * sizeof(float);
		j.in_fd = memfd_with(in, j.in_bytes);
	}
	j.job.out_count = nout;
	if (!summary_only) {
		j.out_bytes = nout * sizeof(float);
		j.out_fd = memfd_with(NULL, j.out_bytes);
	}

	drive(ex, &j, &res);
	ck_assert_msg(res.status == VGPU_OK, "%s: %s", vgpu_status_name(res.status), res.error);
	ck_assert_uint_eq(res.exec_us, 1234);                 /* the worker's own measure */
	if (summary_only) {
		/* The CPU's summary, through the text of the result line (%.9g) and back. */
		struct vgpu_summary want;
		char line[256];
		vgpu_summarize(ref, nout, &want);
		vgpu_summary_format(&want, line, sizeof(line));
		ck_assert_int_eq(vgpu_summary_parse(line, &want), 0);
		ck_assert_int_eq(res.has_summary, 1);
		ck_assert_uint_eq(res.summary.count, nout);
		ck_assert(res.summary.sum == want.sum && res.summary.l2 == want.l2);
		ck_assert(res.summary.first == ref[0]);
		ck_assert_int_eq(fw.last.output_file, 0);           /* asked for the summary alone */
	} else {
		out = mmap(NULL, j.out_bytes, PROT_READ, MAP_SHARED, j.out_fd, 0);
		ck_assert(out != MAP_FAILED);
		ck_assert_msg(memcmp(out, ref, j.out_bytes) == 0, "forwarded %s output differs", vgpu_op_name(op));
		munmap(out, j.out_bytes);
		ck_assert_int_eq(fw.last.output_file, 1);
	}
	ck_assert_int_eq(fw.last.args.has_seed, seeded);
	ck_assert(fw.last.timeout_ms > 0 && fw.last.timeout_ms <= 5000);
	/* The payload files are cleaned up once the answer is taken. */
	{
		char name[VGPU_NAME_MAX];
		vgpu_payload_name(name, "in", fw.last.seq);
		ck_assert_int_ne(faccessat(fw.dirfd, name, F_OK, 0), 0);
		vgpu_payload_name(name, "out", fw.last.seq);
		ck_assert_int_ne(faccessat(fw.dirfd, name, F_OK, 0), 0);
	}
	if (j.in_fd >= 0)
		close(j.in_fd);
	if (j.out_fd >= 0)
		close(j.out_fd);
	free(in);
	free(ref);
}

START_TEST(test_forward_ops)
{
	struct vgpu_executor *ex = open_remote(2000);
	struct vgpu_exec_job j = job_of(VGPU_OP_PING);
	struct vgpu_job_result res;

	fake_start(FAKE_OK);
	drive(ex, &j, &res);
	ck_assert_int_eq(res.status, VGPU_OK);
	ck_assert_uint_eq(fw.last.vm, 7);                      /* the worker directory's VM */
	for (int summary_only = 0; summary_only < 2; summary_only++) {
		for (int seeded = 0; seeded < 2; seeded++) {
			forward_compute(ex, VGPU_OP_VADD, seeded, summary_only);
			forward_compute(ex, VGPU_OP_SAXPY, seeded, summary_only);
			forward_compute(ex, VGPU_OP_SGEMM, seeded, summary_only);
		}
	}
	ck_assert_int_eq(atomic_load(&fw.requests), 13);
	ck_assert_int_eq(fw.last.seq, 13);                     /* seqs 1..13, one each */
	vgpu_executor_close(ex);
}
END_TEST

/* Leave a response.txt in the worker's directory as if it had answered before we
 * started (seq SEQ with STATUS; ANSWERED its high-water mark, 0 for none). */
static void worker_answered_before(int64_t seq, int status, int64_t answered)
{
	struct vgpu_response r;
	char buf[VGPU_RECORD_MAX];
	int len;

	memset(&r, 0, sizeof(r));
	r.vm = 7;
	r.seq = seq;
	memcpy(r.nonce, seq ? "00000000000000aa" : "0000000000000000", 17);
	r.op = seq ? VGPU_OP_PING : VGPU_OP_NONE;
	r.status = status;
	r.answered = answered;
	snprintf(r.executor, sizeof(r.executor), seq ? "cuda:0" : "-");
	snprintf(r.result, sizeof(r.result), seq ? "pong" : "-");
	snprintf(r.error, sizeof(r.error), status == VGPU_OK ? "-" : "garbage");
	len = vgpu_response_encode(&r, buf, sizeof(buf));
	ck_assert_int_gt(len, 0);
	ck_assert_int_eq(vgpu_publish(fw.dirfd, "response.txt", buf, (size_t)len, 0644), 0);
	fw.answered = seq > answered ? seq : answered;
}

/* A ping through a fresh remote executor must go out as seq 42 and be answered. */
static void assert_next_ping_is_seq_42(void)
{
	struct vgpu_executor *ex = open_remote(2000);
	struct vgpu_exec_job j = job_of(VGPU_OP_PING);
	struct vgpu_job_result res;

	fake_start(FAKE_OK);
	drive(ex, &j, &res);
	ck_assert_int_eq(res.status, VGPU_OK);
	ck_assert_int_eq(fw.last.seq, 42);
	vgpu_executor_close(ex);
}

/* The worker already answered seq 41 (e.g. before our restart): we go on at 42. */
START_TEST(test_seq_continues_after_worker_answer)
{
	worker_answered_before(41, VGPU_OK, 0);
	assert_next_ping_is_seq_42();
}
END_TEST

/* The worker answered up to seq 41, but its response.txt was lost while we restarted:
 * our seq 1 is stale, answered CONFLICT with the mark; the job, never run, is sent again
 * above it, and the caller sees only the answer. */
START_TEST(test_stale_seq_sent_again_above_the_mark)
{
	struct vgpu_executor *ex;
	struct vgpu_exec_job j = job_of(VGPU_OP_PING);
	struct vgpu_job_result res;

	fw.answered = 41;
	ex = open_remote(2000);
	fake_start(FAKE_STALE);
	drive(ex, &j, &res);
	ck_assert_msg(res.status == VGPU_OK, "%s: %s", vgpu_status_name(res.status), res.error);
	ck_assert_int_eq(atomic_load(&fw.stale), 1);
	ck_assert_int_eq(atomic_load(&fw.requests), 1);    /* run once, at seq 42 */
	ck_assert_int_eq(fw.last.seq, 42);
	vgpu_executor_close(ex);
}
END_TEST

/* A reject (seq 0) in response.txt that carries the mark: the next seq is above it. */
START_TEST(test_seq_from_answered_field)
{
	worker_answered_before(0, VGPU_BAD_REQUEST, 41);
	assert_next_ping_is_seq_42();
}
END_TEST

START_TEST(test_silent_worker_unavailable)
{
	struct vgpu_executor *ex = open_remote(300);
	struct vgpu_exec_job j = job_of(VGPU_OP_VADD);
	struct vgpu_job_result res;
	uint64_t ms;

	fake_start(FAKE_SILENT);
	j.job.args.n = 10;
	j.job.args.has_seed = 1;
	j.out_bytes = 40;
	j.out_fd = memfd_with(NULL, 40);
	j.deadline_ms = vgpu_now_ms() + 200;
	ms = drive(ex, &j, &res);
	printf("  silent worker: %s after %llu ms: %s\n", vgpu_status_name(res.status),
	       (unsigned long long)ms, res.error);
	ck_assert_int_eq(res.status, VGPU_UNAVAILABLE);
	ck_assert_msg(strstr(res.error, dir) && strstr(res.error, "did not answer"), "%s", res.error);
	ck_assert(ms >= 450 && ms < 2000);                     /* deadline + remote timeout */
	/* Known silent now: the next job gives up after the remote timeout alone. */
	j.deadline_ms = vgpu_now_ms() + 5000;
	ms = drive(ex, &j, &res);
	ck_assert_int_eq(res.status, VGPU_UNAVAILABLE);
	ck_assert(ms < 1500);
	ck_assert_int_eq(atomic_load(&fw.requests), 2);
	close(j.out_fd);
	vgpu_executor_close(ex);
}
END_TEST

/* The worker's mediator writes status.txt with BEAT, period 200 ms (PROTOCOL.md s.10). */
static void worker_beat(uint64_t beat)
{
	struct vgpu_status_rec st;
	char buf[1024];
	int len;

	memset(&st, 0, sizeof(st));
	st.vm = 7;
	st.beat = beat;
	st.period_ms = 200;
	st.state = VGPU_PROGRESS_IDLE;
	strcpy(st.nonce, "0000000000000000");
	strcpy(st.executor, "cuda");
	len = vgpu_status_rec_encode(&st, buf, sizeof(buf));
	ck_assert_int_gt(len, 0);
	ck_assert_int_eq(vgpu_publish(fw.dirfd, "status.txt", buf, (size_t)len, 0644), 0);
}

/* Plan B's timeouts (docs/GPU.md): a worker whose mediator beats is waited for up to the
 * job's deadline; once its heartbeat stops for two periods and a second (1.4 s here) the
 * job is UNAVAILABLE then, long before its deadline (60 s) plus --remote-timeout-ms. */
START_TEST(test_worker_heartbeat_stops_unavailable)
{
	struct vgpu_executor *ex = open_remote(30000);
	struct vgpu_exec_job j = job_of(VGPU_OP_PING);
	struct vgpu_job_result res;
	uint64_t t0, stop_ms = 1500, beat = 1, now;

	fake_start(FAKE_SILENT);
	worker_beat(beat);
	j.deadline_ms = vgpu_now_ms() + 60000;
	t0 = vgpu_now_ms();
	ck_assert_int_eq(ex->ops->submit(ex, 0, &j), 0);
	while (ex->ops->reap(ex, 0, now = vgpu_now_ms(), &res) != 1) {
		ck_assert_msg(now - t0 < 8000, "no result in 8 s");
		if (now - t0 < stop_ms && now - t0 >= beat * 100)
			worker_beat(++beat);          /* alive for the first 1.5 s */
		msleep(2);
	}
	printf("  worker heartbeat stopped at %llu ms: %s after %llu ms: %s\n", (unsigned long long)stop_ms,
	       vgpu_status_name(res.status), (unsigned long long)(now - t0), res.error);
	ck_assert_int_eq(res.status, VGPU_UNAVAILABLE);
	ck_assert_msg(strstr(res.error, "not running (no heartbeat"), "%s", res.error);
	ck_assert_uint_ge(now - t0, stop_ms + 1000);
	ck_assert_uint_lt(now - t0, stop_ms + 1400 + 1500);
	vgpu_executor_close(ex);
}
END_TEST

static void status_case(int status, const char *text, int expect, const char *expect_text)
{
	struct vgpu_executor *ex = open_remote(2000);
	struct vgpu_exec_job j = job_of(VGPU_OP_SPIN);
	struct vgpu_job_result res;

	fw.status = status;
	fw.error = text;
	fake_start(FAKE_STATUS);
	j.job.args.ms = 10;
	drive(ex, &j, &res);
	printf("  worker %s -> %s: %s\n", vgpu_status_name(status), vgpu_status_name(res.status), res.error);
	ck_assert_int_eq(res.status, expect);
	ck_assert_msg(strstr(res.error, expect_text) != NULL, "%s", res.error);
	vgpu_executor_close(ex);
}

START_TEST(test_status_timeout)
{
	status_case(VGPU_TIMEOUT, "job exceeded its 1000 ms limit; worker killed and restarted", VGPU_TIMEOUT,
		    "exceeded its 1000 ms");
}
END_TEST

START_TEST(test_status_leaked)
{
	struct vgpu_executor *ex = open_remote(2000);
	struct vgpu_exec_job j = job_of(VGPU_OP_LEAK);
	struct vgpu_job_result res;

	fw.status = VGPU_LEAKED;
	fw.error = "job leaked 4096 bytes of device memory; reclaimed";
	fake_start(FAKE_STATUS);
	j.job.args.bytes = 4096;
	drive(ex, &j, &res);
	ck_assert_int_eq(res.status, VGPU_LEAKED);
	ck_assert_uint_eq(res.leaked_bytes, 4096);
	ck_assert_int_eq(fw.last.op, VGPU_OP_LEAK);
	ck_assert_uint_eq(fw.last.args.bytes, 4096);
	vgpu_executor_close(ex);
}
END_TEST

START_TEST(test_status_exec_failed)
{
	status_case(VGPU_EXEC_FAILED, "worker for cuda:0 died (signal 11 SIGSEGV); restarted", VGPU_EXEC_FAILED,
		    "SIGSEGV");
}
END_TEST

START_TEST(test_status_request_error)
{
	/* A protocol error on the worker side is our forwarding's failure, named. */
	status_case(VGPU_BAD_REQUEST, "line 3: seq: not a number", VGPU_EXEC_FAILED, "answered BAD_REQUEST");
}
END_TEST

START_TEST(test_bad_output_crc)
{
	struct vgpu_executor *ex = open_remote(2000);
	struct vgpu_exec_job j = job_of(VGPU_OP_VADD);
	struct vgpu_job_result res;

	fake_start(FAKE_BAD_CRC);
	j.job.args.n = 64;
	j.job.args.has_seed = 1;
	j.out_bytes = 256;
	j.out_fd = memfd_with(NULL, 256);
	drive(ex, &j, &res);
	ck_assert_int_eq(res.status, VGPU_EXEC_FAILED);
	ck_assert_msg(strstr(res.error, "CRC") != NULL, "%s", res.error);
	close(j.out_fd);
	vgpu_executor_close(ex);
}
END_TEST

START_TEST(test_bad_summary)
{
	/* A summary that does not describe the job's output (wrong count) is refused. */
	struct vgpu_executor *ex = open_remote(2000);
	struct vgpu_exec_job j = job_of(VGPU_OP_VADD);
	struct vgpu_job_result res;

	fake_start(FAKE_BAD_SUMMARY);
	j.job.args.n = 64;
	j.job.args.has_seed = 1;
	j.job.out_count = 64;
	drive(ex, &j, &res);
	ck_assert_int_eq(res.status, VGPU_EXEC_FAILED);
	ck_assert_msg(strstr(res.error, "summary counts 65") != NULL, "%s", res.error);
	ck_assert_int_eq(res.has_summary, 0);
	vgpu_executor_close(ex);
}
END_TEST

START_TEST(test_not_a_summary)
{
	/* An OK answer whose result line is no summary at all is refused, quoting it. */
	struct vgpu_executor *ex = open_remote(2000);
	struct vgpu_exec_job j = job_of(VGPU_OP_VADD);
	struct vgpu_job_result res;

	fake_start(FAKE_NOT_SUMMARY);
	j.job.args.n = 16;
	j.job.args.has_seed = 1;
	j.job.out_count = 16;
	drive(ex, &j, &res);
	ck_assert_int_eq(res.status, VGPU_EXEC_FAILED);
	ck_assert_msg(strstr(res.error, "the worker's result is not a summary: 'pong'") != NULL, "%s", res.error);
	ck_assert_int_eq(res.has_summary, 0);
	vgpu_executor_close(ex);
}
END_TEST

/* Plan B does not forward kernels: the worker VM would run them all as one VM. */
START_TEST(test_kernel_not_forwarded)
{
	struct vgpu_executor *ex = open_remote(2000);
	struct vgpu_exec_job j = job_of(VGPU_OP_KERNEL);
	struct vgpu_job_result res;

	ck_assert_int_eq(ex->ops->submit(ex, 0, &j), 0);
	ck_assert_int_eq(ex->ops->reap(ex, 0, vgpu_now_ms(), &res), 1);
	ck_assert_int_eq(res.status, VGPU_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(res.error, "not supported through Plan B"));
	j = job_of(VGPU_OP_PING);                     /* the slot is free again */
	ck_assert_int_eq(ex->ops->submit(ex, 0, &j), 0);
	vgpu_executor_close(ex);
}
END_TEST

START_TEST(test_slot_bounds)
{
	struct vgpu_executor *ex = open_remote(2000);
	struct vgpu_exec_job j = job_of(VGPU_OP_PING);
	struct vgpu_job_result res;

	ck_assert_int_eq(ex->ops->submit(ex, 1, &j), -EINVAL);
	ck_assert_int_eq(ex->ops->reap(ex, 1, vgpu_now_ms(), &res), 0);
	ck_assert_int_eq(ex->ops->reap(ex, 0, vgpu_now_ms(), &res), 0);   /* nothing in flight */
	vgpu_executor_close(ex);
	vgpu_executor_close(NULL);
}
END_TEST

START_TEST(test_open_errors_more)
{
	struct vgpu_executor *ex = (struct vgpu_executor *)1;
	struct vgpu_exec_opts o;
	char err[1024], path[400], want[1200];

	memset(&o, 0, sizeof(o));
	ck_assert_int_eq(vgpu_remote_open("", &o, &ex, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_null(ex);
	ck_assert_str_eq(err, "remote: no directory given (use remote:DIR, DIR the vmN directory a GPU worker VM's "
			      "mediator serves)");
	ck_assert_int_eq(vgpu_remote_open(NULL, &o, &ex, err, sizeof(err)), -EINVAL);
	/* a vmN that cannot be opened for another reason (a symlink loop): EIO, saying why */
	snprintf(path, sizeof(path), "%s/vm6", root);
	ck_assert_int_eq(symlink("vm6", path), 0);
	ck_assert_int_eq(vgpu_remote_open(path, &o, &ex, err, sizeof(err)), -EIO);
	snprintf(want, sizeof(want), "remote:%s: cannot open VM directory %s: %s", path, path, strerror(ELOOP));
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
	ck_assert_ptr_null(ex);
}
END_TEST

START_TEST(test_other_writer)
{
	struct vgpu_executor *ex = open_remote(2000);
	struct vgpu_exec_job j = job_of(VGPU_OP_PING);
	struct vgpu_job_result res;

	fake_start(FAKE_OTHER_NONCE);
	drive(ex, &j, &res);
	ck_assert_int_eq(res.status, VGPU_EXEC_FAILED);
	ck_assert_msg(strstr(res.error, "another writer") != NULL, "%s", res.error);
	vgpu_executor_close(ex);
}
END_TEST

START_TEST(test_open_errors)
{
	struct vgpu_executor *ex = NULL;
	struct vgpu_exec_opts o;
	char err[512], path[400];

	memset(&o, 0, sizeof(o));
	ck_assert_int_eq(vgpu_remote_open(root, &o, &ex, err, sizeof(err)), -EINVAL);   /* not vmN */
	ck_assert_msg(strstr(err, "vmN") != NULL, "%s", err);
	snprintf(path, sizeof(path), "%s/vm8", root);                                    /* missing */
	ck_assert_int_eq(vgpu_remote_open(path, &o, &ex, err, sizeof(err)), -ENOENT);
	ck_assert_msg(strstr(err, "mounted") != NULL, "%s", err);
	snprintf(path, sizeof(path), "%s/vm08", root);
	ck_assert_int_eq(vgpu_remote_open(path, &o, &ex, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_null(ex);
	snprintf(path, sizeof(path), "%s/", dir);                                         /* trailing / */
	ck_assert_int_eq(vgpu_remote_open(path, &o, &ex, err, sizeof(err)), 0);
	vgpu_executor_close(ex);
}
END_TEST

START_TEST(test_publish_failure_unavailable)
{
	/* The worker's directory vanished under us (export gone): UNAVAILABLE at once. */
	struct vgpu_executor *ex = open_remote(2000);
	struct vgpu_exec_job j = job_of(VGPU_OP_PING);
	struct vgpu_job_result res;
	char cmd[400];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert(drive(ex, &j, &res) < 100);
	ck_assert_int_eq(res.status, VGPU_UNAVAILABLE);
	ck_assert_msg(strstr(res.error, "command.txt") != NULL, "%s", res.error);
	vgpu_executor_close(ex);
}
END_TEST

static Suite *remote_suite(void)
{
	Suite *s = suite_create("remote");
	TCase *tc = tcase_create("plan_b");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_forward_ops);
	tcase_add_test(tc, test_seq_continues_after_worker_answer);
	tcase_add_test(tc, test_stale_seq_sent_again_above_the_mark);
	tcase_add_test(tc, test_seq_from_answered_field);
	tcase_add_test(tc, test_silent_worker_unavailable);
	tcase_add_test(tc, test_worker_heartbeat_stops_unavailable);
	tcase_add_test(tc, test_status_timeout);
	tcase_add_test(tc, test_status_leaked);
	tcase_add_test(tc, test_status_exec_failed);
	tcase_add_test(tc, test_status_request_error);
	tcase_add_test(tc, test_bad_output_crc);
	tcase_add_test(tc, test_bad_summary);
	tcase_add_test(tc, test_other_writer);
	tcase_add_test(tc, test_not_a_summary);
	tcase_add_test(tc, test_slot_bounds);
	tcase_add_test(tc, test_kernel_not_forwarded);
	tcase_add_test(tc, test_open_errors_more);
	tcase_add_test(tc, test_open_errors);
	tcase_add_test(tc, test_publish_failure_unavailable);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(remote_suite(), CK_VERBOSE);
}
