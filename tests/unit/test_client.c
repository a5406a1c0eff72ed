/* test_client.c - libvgpu-client against a fake mediator thread written here (reads
 * command.txt, answers through vgpu_publish): seq numbering across calls and clients,
 * nonce checks, timeouts within their bound, lock waits, payloads, and the errors a VM
 * meets: missing directory (export not mounted), read-only directory (root_squash). */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/client.h"
#include "lib/record.h"
#include "lib/safeio.h"
#include "lib/status.h"
#include "../common/testutil.h"

enum fake_mode { FAKE_OK, FAKE_SILENT, FAKE_WRONG_NONCE, FAKE_OLD_THEN_OK, FAKE_CONFLICT, FAKE_BAD_PAYLOAD,
		 FAKE_BAD_OUTPUT_CRC };

struct fake {
	char dir[300];
	enum fake_mode mode;
	volatile int stop;
	int64_t handled;        /* last seq answered */
	int answers;
	pthread_t th;
};

static char tdir[256], vmdir[300], lockdir[300];
static struct fake fk;

static void publish_response(int dfd, const struct vgpu_request *q, int status, const char *nonce, int64_t seq,
			     const struct vgpu_payload_ref *out, const char *result)
{
	struct vgpu_response p;
	char buf[4096];
	int len;

	memset(&p, 0, sizeof(p));
	p.vm = q->vm;
	p.seq = seq;
	memcpy(p.nonce, nonce, 17);
	p.status = status;
	p.op = q->op;
	p.priority = q->priority;
	p.queue_us = 5;
	p.exec_us = 7;
	strcpy(p.executor, "mock");
	snprintf(p.result, sizeof(p.result), "%s", status == VGPU_OK ? result : "-");
	snprintf(p.error, sizeof(p.error), "%s", status == VGPU_OK ? "-" : "fake mediator says no");
	if (out)
		p.output = *out;
	len = vgpu_response_encode(&p, buf, sizeof(buf));
	if (len > 0)
		vgpu_publish(dfd, "response.txt", buf, (size_t)len, 0644);
}

/* vadd from in-SEQ.bin into out-SEQ.bin; fills REF. 0 or -1. */
static int fake_vadd(int dfd, const struct vgpu_request *q, struct vgpu_payload_ref *ref)
{
	void *p = NULL;
	size_t len = 0;
	float *a, *c;
	int rc;

	if (vgpu_safe_read_alloc(dfd, q->input.name, q->input.bytes, &p, &len) < 0 || len != q->input.bytes ||
	    vgpu_crc32(p, len) != q->input.crc) {
		free(p);
		return -1;
	}
	a = p;
	c = malloc(q->args.n * sizeof(float));
	for (uint64_t i = 0; i < q->args.n; i++)
		c[i] = a[i] + a[q->args.n + i];
	vgpu_payload_name(ref->name, "out", q->seq);
	ref->bytes = q->args.n * sizeof(float);
	ref->crc = vgpu_crc32(c, ref->bytes);
	if (fk.mode == FAKE_BAD_OUTPUT_CRC)
		ref->crc ^= 1;
	rc = vgpu_publish(dfd, ref->name, c, ref->bytes, 0644);
	free(c);
	free(p);
	return rc;
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	int dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char buf[VGPU_RECORD_MAX];

	while (!f->stop) {
		struct vgpu_request q;
		size_t len;
		struct timespec ts = { 0, 1000000 };

		if (vgpu_safe_read(dfd, "command.txt", buf, sizeof(buf), &len, NULL) == 0 &&
		    vgpu_request_decode(buf, len, &q, NULL, 0) == VGPU_REC_OK && q.seq > f->handled) {
			struct vgpu_payload_ref out;
			f->handled = q.seq;
			switch (f->mode) {
			case FAKE_SILENT:
				break;
			case FAKE_WRONG_NONCE:
				publish_response(dfd, &q, VGPU_OK, "0123456789abcdef", q.seq, NULL, "pong");
				break;
			case FAKE_CONFLICT:
				publish_response(dfd, &q, VGPU_CONFLICT, q.nonce, q.seq, NULL, "-");
				break;
			case FAKE_BAD_PAYLOAD:
				publish_response(dfd, &q, VGPU_BAD_PAYLOAD, q.nonce, q.seq, NULL, "-");
				break;
			case FAKE_OLD_THEN_OK:
				publish_response(dfd, &q, VGPU_OK, "0123456789abcdef", q.seq - 1, NULL, "old");
				nanosleep(&(struct timespec){ 0, 40000000 }, NULL);
				/* fall through */
			case FAKE_OK:
			case FAKE_BAD_OUTPUT_CRC:
				if (q.op == VGPU_OP_VADD && q.input.name[0]) {
					memset(&out, 0, sizeof(out));
					if (fake_vadd(dfd, &q, &out) == 0)
						publish_response(dfd, &q, VGPU_OK, q.nonce, q.seq, &out, "count=1");
					else
						publish_response(dfd, &q, VGPU_BAD_PAYLOAD, q.nonce, q.seq, NULL, "-");
				} else {
					publish_response(dfd, &q, VGPU_OK, q.nonce, q.seq, NULL,
							 q.op == VGPU_OP_PING ? "pong" : "count=0");
				}
				break;
			}
			f->answers++;
		}
		nanosleep(&ts, NULL);
	}
	close(dfd);
	return NULL;
}

static void fake_start(enum fake_mode mode)
{
	fk.mode = mode;
	fk.stop = 0;
	ck_assert_int_eq(pthread_create(&fk.th, NULL, fake_main, &fk), 0);
}

static void fake_stop(void)
{
	fk.stop = 1;
	pthread_join(fk.th, NULL);
}

static void setup(void)
{
	strcpy(tdir, "/tmp/test_client.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tdir));
	ck_assert_int_eq(chmod(tdir, 0755), 0);
	snprintf(vmdir, sizeof(vmdir), "%s/vm7", tdir);
	snprintf(lockdir, sizeof(lockdir), "%s/locks", tdir);
	ck_assert_int_eq(mkdir(vmdir, 0755), 0);
	ck_assert_int_eq(mkdir(lockdir, 0755), 0);
	ck_assert_int_eq(chmod(lockdir, 01777), 0);
	memset(&fk, 0, sizeof(fk));
	strcpy(fk.dir, vmdir);
}

static void teardown(void)
{
	char cmd[512];

	chmod(vmdir, 0755);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tdir);
	ck_assert_int_eq(system(cmd), 0);
}

static struct vgpu_client_opts test_opts(int timeout_ms)
{
	struct vgpu_client_opts o = { .timeout_ms = timeout_ms, .lock_dir = lockdir, .poll_min_ms = 1,
				      .poll_max_ms = 20, .vm = 0 };
	return o;
}

static int do_ping(struct vgpu_client *c, struct vgpu_response *resp, char *err, size_t errlen)
{
	struct vgpu_request q;

	memset(&q, 0, sizeof(q));
	q.op = VGPU_OP_PING;
	q.priority = VGPU_PRIO_LOW;
	q.output_file = -1;
	return vgpu_client_call(c, &q, NULL, 0, resp, NULL, NULL, err, errlen);
}

static int count_names(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

START_TEST(test_seq_increments)
{
	struct vgpu_client_opts o = test_opts(5000);
	struct vgpu_client *c;
	struct vgpu_response r;
	char err[512];

	fake_start(FAKE_OK);
	ck_assert_int_eq(vgpu_client_open(&c, vmdir, &o, err, sizeof(err)), VGPU_CLIENT_OK);
	for (int i = 1; i <= 3; i++) {
		ck_assert_msg(do_ping(c, &r, err, sizeof(err)) == VGPU_CLIENT_OK, "%s", err);
		ck_assert_int_eq(vgpu_client_last_seq(c), i);
		ck_assert_int_eq(r.seq, i);
		ck_assert_uint_eq(r.vm, 7);
		ck_assert_str_eq(r.result, "pong");
	}
	vgpu_client_close(c);
	/* a second client object (another process, same lock file) continues the count */
	ck_assert_int_eq(vgpu_client_open(&c, vmdir, &o, err, sizeof(err)), VGPU_CLIENT_OK);
	ck_assert_int_eq(do_ping(c, &r, err, sizeof(err)), VGPU_CLIENT_OK);
	ck_assert_int_eq(r.seq, 4);
	vgpu_client_close(c);
	/* the lock directory was wiped (a reboot): response.txt still holds seq 4 */
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -f '%s'/*", lockdir);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(vgpu_client_open(&c, vmdir, &o, err, sizeof(err)), VGPU_CLIENT_OK);
	ck_assert_int_eq(do_ping(c, &r, err, sizeof(err)), VGPU_CLIENT_OK);
	ck_assert_int_eq(r.seq, 5);
	vgpu_client_close(c);
	/* with a counter in the lock file, response.txt is not read before sending: the
	 * counter (5) below the mark there (40: a lock file from elsewhere) sends seq 6, whose
	 * first poll finds the higher answer; the call continues above it, once */
	{
		struct vgpu_request q = { .vm = 7, .seq = 40, .op = VGPU_OP_PING, .priority = VGPU_PRIO_LOW };
		int dfd = open(vmdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		ck_assert_int_ge(dfd, 0);
		fk.handled = 40;       /* the fake answers nothing at or below it */
		snprintf(q.nonce, sizeof(q.nonce), "00000000000000aa");
		publish_response(dfd, &q, VGPU_OK, q.nonce, 40, NULL, "pong");
		close(dfd);
	}
	ck_assert_int_eq(vgpu_client_open(&c, vmdir, &o, err, sizeof(err)), VGPU_CLIENT_OK);
	ck_assert_msg(do_ping(c, &r, err, sizeof(err)) == VGPU_CLIENT_OK, "%s", err);
	ck_assert_int_eq(r.seq, 41);
	vgpu_client_close(c);
	fake_stop();
	ck_assert_int_eq(fk.answers, 6);          /* seq 6 was not answered: 41 was */
	ck_assert_int_eq(count_names(vmdir, ".tmp-"), 0);
}
END_TEST

START_TEST(test_wrong_nonce_not_accepted)
{
	struct vgpu_client_opts o = test_opts(3000);
	struct vgpu_client *c;
	struct vgpu_response r;
	char err[512];

	fake_start(FAKE_WRONG_NONCE);
	ck_assert_int_eq(vgpu_client_open(&c, vmdir, &o, err, sizeof(err)), VGPU_CLIENT_OK);
	ck_assert_int_eq(do_ping(c, &r, err, sizeof(err)), VGPU_CLIENT_EPROTO);
	ck_assert_msg(strstr(err, "another writer uses this VM directory") != NULL, "%s", err);
	vgpu_client_close(c);
	fake_stop();
}
END_TEST

START_TEST(test_older_answer_skipped)
{
	struct vgpu_client_opts o = test_opts(3000);
	struct vgpu_client *c;
	struct vgpu_response r;
	char err[512];

	fake_start(FAKE_OLD_THEN_OK);
	ck_assert_int_eq(vgpu_client_open(&c, vmdir, &o, err, sizeof(err)), VGPU_CLIENT_OK);
	ck_assert_msg(do_ping(c, &r, err, sizeof(err)) == VGPU_CLIENT_OK, "%s", err);
	ck_assert_int_eq(r.seq, 1);
	ck_assert_str_eq(r.result, "pong");
	vgpu_client_close(c);
	fake_stop();
}
END_TEST

START_TEST(test_conflict_and_error_status)
{
	struct vgpu_client_opts o = test_opts(3000);
	struct vgpu_client *c;
	struct vgpu_response r;
	char err[512];

	fake_start(FAKE_CONFLICT);
	ck_assert_int_eq(vgpu_client_open(&c, vmdir, &o, err, sizeof(err)), VGPU_CLIENT_OK);
	ck_assert_int_eq(do_ping(c, &r, err, sizeof(err)), VGPU_CLIENT_EPROTO);
	ck_assert_msg(strstr(err, "another writer") != NULL, "%s", err);
	fake_stop();
	fake_start(FAKE_BAD_PAYLOAD);
	ck_assert_int_eq(do_ping(c, &r, err, sizeof(err)), VGPU_CLIENT_ESTATUS);
	ck_assert_int_eq(r.status, VGPU_BAD_PAYLOAD);
	ck_assert_msg(strstr(err, "BAD_PAYLOAD") != NULL, "%s", err);
	vgpu_client_close(c);
	fake_stop();
}
END_TEST

START_TEST(test_timeout_bounded)
{
	struct vgpu_client_opts o = test_opts(300);
	struct vgpu_client *c;
	struct vgpu_response r;
	char err[512];
	uint64_t t0;

	fake_start(FAKE_SILENT);
	ck_assert_int_eq(vgpu_client_open(&c, vmdir, &o, err, sizeof(err)), VGPU_CLIENT_OK);
	t0 = tu_now_ms();
	ck_assert_int_eq(do_ping(c, &r, err, sizeof(err)), VGPU_CLIENT_ETIMEOUT);
	uint64_t took = tu_now_ms() - t0;
	ck_assert_uint_ge(took, 300);
	ck_assert_uint_lt(took, 300 + 250);
	ck_assert_msg(strstr(err, "no answer for seq 1 within 0.3 s") != NULL, "%s", err);
	ck_assert_msg(strstr(err, "vgpu-mediator running") != NULL, "%s", err);
	ck_assert_int_eq(fk.answers, 1);         /* the fake did see the request */
	vgpu_client_close(c);
	fake_stop();
}
END_TEST

START_TEST(test_lock_wait_bounded)
{
	struct vgpu_client_opts o = test_opts(2000);
	struct vgpu_client *c;
	struct vgpu_response r;
	char err[512], path[700];
	struct dirent *e;
	DIR *d;
	int fd = -1;
	uint64_t t0;

	fake_start(FAKE_OK);
	ck_assert_int_eq(vgpu_client_open(&c, vmdir, &o, err, sizeof(err)), VGPU_CLIENT_OK);
	ck_assert_int_eq(do_ping(c, &r, err, sizeof(err)), VGPU_CLIENT_OK);
	vgpu_client_close(c);
	/* hold the lock that the first call created, as a stuck vgpu-client would */
	d = opendir(lockdir);
	while ((e = readdir(d)) != NULL)
		if (strstr(e->d_name, "-vm7.lock")) {
			snprintf(path, sizeof(path), "%s/%s", lockdir, e->d_name);
			fd = open(path, O_RDWR);
		}
	closedir(d);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(flock(fd, LOCK_EX), 0);
	o.timeout_ms = 200;
	ck_assert_int_eq(vgpu_client_open(&c, vmdir, &o, err, sizeof(err)), VGPU_CLIENT_OK);
	t0 = tu_now_ms();
	ck_assert_int_eq(do_ping(c, &r, err, sizeof(err)), VGPU_CLIENT_ELOCK);
	ck_assert_uint_lt(tu_now_ms() - t0, 200 + 200);
	ck_assert_msg(strstr(err, "another vgpu-client") != NULL, "%s", err);
	close(fd);
	ck_assert_int_eq(do_ping(c, &r, err, sizeof(err)), VGPU_CLIENT_OK);
	ck_assert_int_eq(r.seq, 2);
	vgpu_client_close(c);
	fake_stop();
}
END_TEST

START_TEST(test_payload_round_trip)
{
	struct vgpu_client_opts o = test_opts(5000);
	struct vgpu_client *c;
	struct vgpu_response r;
	struct vgpu_request q;
	char err[512];
	float in[2 * 64];
	void *out = NULL;
	size_t out_bytes = 0;

	for (int i = 0; i < 64; i++) {
		in[i] = (float)i;
		in[64 + i] = 0.5f * (float)i;
	}
	fake_start(FAKE_OK);
	ck_assert_int_eq(vgpu_client_open(&c, vmdir, &o, err, sizeof(err)), VGPU_CLIENT_OK);
	memset(&q, 0, sizeof(q));
	q.op = VGPU_OP_VADD;
	q.args.n = 64;
	q.output_file = 1;
	ck_assert_msg(vgpu_client_call(c, &q, in, sizeof(in), &r, &out, &out_bytes, err, sizeof(err)) == VGPU_CLIENT_OK,
		      "%s", err);
	ck_assert_uint_eq(out_bytes, 64 * sizeof(float));
	for (int i = 0; i < 64; i++)
		ck_assert(((float *)out)[i] == 1.5f * (float)i);
	free(out);
	ck_assert_str_eq(q.input.name, "in-1.bin");
	/* both payloads are cleaned up */
	ck_assert_int_eq(count_names(vmdir, "in-"), 0);
	ck_assert_int_eq(count_names(vmdir, "out-"), 0);
	fake_stop();

	/* an output whose CRC disagrees with the response is refused */
	fake_start(FAKE_BAD_OUTPUT_CRC);
	memset(&q, 0, sizeof(q));
	q.op = VGPU_OP_VADD;
	q.args.n = 64;
	q.output_file = 1;
	ck_assert_int_eq(vgpu_client_call(c, &q, in, sizeof(in), &r, &out, &out_bytes, err, sizeof(err)),
			 VGPU_CLIENT_EPROTO);
	ck_assert_ptr_null(out);
	ck_assert_msg(strstr(err, "CRC") != NULL, "%s", err);
	vgpu_client_close(c);
	fake_stop();
}
END_TEST

/* vgpu_client_call_into(): the output lands in the caller's buffer, the same one call
 * after call; a buffer too small for the output the request makes is refused before
 * anything is sent (no seq spent, no file published). */
START_TEST(test_payload_into_reused_buffer)
{
	struct vgpu_client_opts o = test_opts(5000);
	struct vgpu_client *c;
	struct vgpu_response r;
	struct vgpu_request q;
	char err[512];
	float in[2 * 64], out[64 + 1];
	size_t out_bytes = 1;

	for (int i = 0; i < 64; i++) {
		in[i] = (float)i;
		in[64 + i] = 0.5f * (float)i;
	}
	fake_start(FAKE_OK);
	ck_assert_int_eq(vgpu_client_open(&c, vmdir, &o, err, sizeof(err)), VGPU_CLIENT_OK);
	for (int k = 0; k < 2; k++) {
		memset(&q, 0, sizeof(q));
		q.op = VGPU_OP_VADD;
		q.args.n = 64;
		q.output_file = 1;
		memset(out, 0, sizeof(out));
		out[64] = 7.0f;
		in[0] = (float)k;
		ck_assert_msg(vgpu_client_call_into(c, &q, in, sizeof(in), &r, out, sizeof(out), &out_bytes, err,
						    sizeof(err)) == VGPU_CLIENT_OK, "%s", err);
		ck_assert_uint_eq(out_bytes, 64 * sizeof(float));
		ck_assert(out[0] == (float)k);
		for (int i = 1; i < 64; i++)
			ck_assert(out[i] == 1.5f * (float)i);
		ck_assert(out[64] == 7.0f);    /* nothing beyond the output */
	}
	ck_assert_int_eq(count_names(vmdir, "in-"), 0);
	ck_assert_int_eq(count_names(vmdir, "out-"), 0);
	/* one float short: refused before the seq is spent */
	memset(&q, 0, sizeof(q));
	q.op = VGPU_OP_VADD;
	q.args.n = 64;
	q.output_file = 1;
	ck_assert_int_eq(vgpu_client_call_into(c, &q, in, sizeof(in), &r, out, 63 * sizeof(float), &out_bytes, err,
					       sizeof(err)), VGPU_CLIENT_EUSAGE);
	ck_assert_msg(strstr(err, "buffer holds 252") != NULL, "%s", err);
	ck_assert_uint_eq(out_bytes, 0);
	ck_assert_int_eq(vgpu_client_last_seq(c), 2);
	ck_assert_int_eq(count_names(vmdir, "in-"), 0);
	fake_stop();

	/* an output whose CRC disagrees with the response is refused here too */
	fake_start(FAKE_BAD_OUTPUT_CRC);
	ck_assert_int_eq(vgpu_client_call_into(c, &q, in, sizeof(in), &r, out, sizeof(out), &out_bytes, err,
					       sizeof(err)), VGPU_CLIENT_EPROTO);
	ck_assert_msg(strstr(err, "CRC") != NULL, "%s", err);
	ck_assert_uint_eq(out_bytes, 0);
	vgpu_client_close(c);
	fake_stop();
}
END_TEST

START_TEST(test_usage_errors)
{
	struct vgpu_client_opts o = test_opts(1000);
	struct vgpu_client *c;
	struct vgpu_response r;
	struct vgpu_request q;
	char err[512], other[400];
	float in[8] = { 0 };

	ck_assert_int_eq(vgpu_client_open(&c, vmdir, &o, err, sizeof(err)), VGPU_CLIENT_OK);
	memset(&q, 0, sizeof(q));
	q.op = VGPU_OP_VADD;
	q.args.n = 4;
	ck_assert_int_eq(vgpu_client_call(c, &q, NULL, 0, &r, NULL, NULL, err, sizeof(err)), VGPU_CLIENT_EUSAGE);
	ck_assert_int_eq(vgpu_client_call(c, &q, in, 4, &r, NULL, NULL, err, sizeof(err)), VGPU_CLIENT_EUSAGE);
	q.args.has_seed = 1;
	ck_assert_int_eq(vgpu_client_call(c, &q, in, sizeof(in), &r, NULL, NULL, err, sizeof(err)), VGPU_CLIENT_EUSAGE);
	memset(&q, 0, sizeof(q));
	ck_assert_int_eq(vgpu_client_call(c, &q, NULL, 0, &r, NULL, NULL, err, sizeof(err)), VGPU_CLIENT_EUSAGE);
	q.op = VGPU_OP_PING;
	ck_assert_int_eq(vgpu_client_call(c, &q, in, sizeof(in), &r, NULL, NULL, err, sizeof(err)), VGPU_CLIENT_EUSAGE);
	vgpu_client_close(c);
	/* nothing was sent */
	ck_assert_int_eq(count_names(vmdir, "command.txt"), 0);

	/* a directory not named vmN needs --vm */
	snprintf(other, sizeof(other), "%s/guest", tdir);
	ck_assert_int_eq(mkdir(other, 0755), 0);
	ck_assert_int_eq(vgpu_client_open(&c, other, &o, err, sizeof(err)), VGPU_CLIENT_EUSAGE);
	ck_assert_msg(strstr(err, "--vm") != NULL, "%s", err);
	o.vm = 9;
	ck_assert_int_eq(vgpu_client_open(&c, other, &o, err, sizeof(err)), VGPU_CLIENT_OK);
	vgpu_client_close(c);
	ck_assert_int_eq(vgpu_client_open(&c, "", &o, err, sizeof(err)), VGPU_CLIENT_EUSAGE);
	ck_assert_str_ne(vgpu_client_strerror(VGPU_CLIENT_ETIMEOUT), vgpu_client_strerror(VGPU_CLIENT_EIO));
}
END_TEST

START_TEST(test_missing_dir)
{
	struct vgpu_client_opts o = test_opts(1000);
	struct vgpu_client *c = (struct vgpu_client *)&o;
	char err[512], path[400];

	snprintf(path, sizeof(path), "%s/vm8", tdir);
	ck_assert_int_eq(vgpu_client_open(&c, path, &o, err, sizeof(err)), VGPU_CLIENT_ENODIR);
	ck_assert_ptr_null(c);
	ck_assert_msg(strstr(err, "is the export mounted?") != NULL, "%s", err);
	ck_assert_msg(strstr(err, "mount -t nfs") != NULL, "%s", err);
	ck_assert_msg(strstr(err, path) != NULL, "%s", err);
}
END_TEST

/* The checks of a squashed root: run as uid 65534 (forked and setuid when we are root).
 * Returns 0 when every check passed, else the number of the failed one. */
static int squashed_checks(void)
{
	struct vgpu_client_opts o = test_opts(1000);
	struct vgpu_client *c;
	struct vgpu_response r;
	char err[512], own[400];
	int rc;

	/* 1: a VM directory owned by root, 0555: not writable at open */
	rc = vgpu_client_open(&c, vmdir, &o, err, sizeof(err));
	if (rc != VGPU_CLIENT_EPERM || !strstr(err, "root_squash") || !strstr(err, "65534"))
		return fprintf(stderr, "check 1: rc %d: %s\n", rc, err), 1;
	/* 2: writable at open, read-only by the time of the call: the create fails */
	snprintf(own, sizeof(own), "%s/vm9", tdir);
	if (mkdir(own, 0755) < 0 && errno != EEXIST)
		return fprintf(stderr, "check 2: mkdir %s: %s\n", own, strerror(errno)), 2;
	rc = vgpu_client_open(&c, own, &o, err, sizeof(err));
	if (rc != VGPU_CLIENT_OK)
		return fprintf(stderr, "check 2: open rc %d: %s\n", rc, err), 2;
	chmod(own, 0555);
	rc = do_ping(c, &r, err, sizeof(err));
	vgpu_client_close(c);
	chmod(own, 0755);
	if (rc != VGPU_CLIENT_EPERM || !strstr(err, "root_squash") || !strstr(err, "command.txt"))
		return fprintf(stderr, "check 2: rc %d: %s\n", rc, err), 3;
	return 0;
}

START_TEST(test_readonly_dir_is_eperm)
{
	ck_assert_int_eq(chmod(vmdir, 0555), 0);
	if (geteuid() != 0) {
		ck_assert_int_eq(squashed_checks(), 0);
		return;
	}
	/* root bypasses permissions: become the squashed uid, as the NFS server sees us */
	ck_assert_int_eq(chmod(tdir, 0777), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(100);
		_exit(squashed_checks());
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

/* The core without the blocking loop, as Plan B drives it: start returns at once, poll
 * looks once per call, collect reads into the caller's buffer, end removes the payloads. */
START_TEST(test_core_nonblocking)
{
	struct vgpu_client_opts o = test_opts(5000);
	struct vgpu_client_call call;
	struct vgpu_client *c;
	struct vgpu_response r;
	struct vgpu_request q;
	char err[512];
	float in[2 * 16], out[16];
	uint64_t t0;
	int rc, polls = 0;

	for (int i = 0; i < 16; i++) {
		in[i] = (float)i;
		in[16 + i] = 2.0f;
	}
	o.no_lock = 1;
	ck_assert_int_eq(vgpu_client_open(&c, vmdir, &o, err, sizeof(err)), VGPU_CLIENT_OK);
	memset(&q, 0, sizeof(q));
	q.op = VGPU_OP_VADD;
	q.args.n = 16;
	q.output_file = 1;
	/* a usage error publishes nothing */
	ck_assert_int_eq(vgpu_client_start(c, &call, &q, in, 8, err, sizeof(err)), VGPU_CLIENT_EUSAGE);
	ck_assert_int_eq(count_names(vmdir, "command.txt"), 0);
	/* nobody answers yet: one look, and PENDING */
	ck_assert_msg(vgpu_client_start(c, &call, &q, in, sizeof(in), err, sizeof(err)) == VGPU_CLIENT_OK, "%s", err);
	ck_assert_int_eq(q.seq, 1);
	ck_assert_int_eq(count_names(vmdir, "in-1.bin"), 1);
	t0 = tu_now_ms();
	ck_assert_int_eq(vgpu_client_poll(&call, &r, err, sizeof(err)), VGPU_CLIENT_PENDING);
	ck_assert_uint_lt(tu_now_ms() - t0, 100);
	fake_start(FAKE_OK);
	while ((rc = vgpu_client_poll(&call, &r, err, sizeof(err))) == VGPU_CLIENT_PENDING && polls++ < 5000)
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	ck_assert_msg(rc == VGPU_CLIENT_OK, "%d: %s", rc, err);
	ck_assert_int_eq(r.seq, 1);
	/* the caller's buffer must be the output's exact size */
	ck_assert_int_eq(vgpu_client_collect(&call, &r, out, sizeof(out) - 4, err, sizeof(err)), VGPU_CLIENT_EPROTO);
	ck_assert_msg(vgpu_client_collect(&call, &r, out, sizeof(out), err, sizeof(err)) == VGPU_CLIENT_OK, "%s", err);
	for (int i = 0; i < 16; i++)
		ck_assert(out[i] == (float)i + 2.0f);
	vgpu_client_end(&call);
	ck_assert_int_eq(count_names(vmdir, "in-"), 0);
	ck_assert_int_eq(count_names(vmdir, "out-"), 0);
	/* no lock file: the counter lives in the object */
	ck_assert_int_eq(count_names(lockdir, "vgpu-client-"), 0);
	vgpu_client_close(c);
	fake_stop();

	ck_assert_uint_eq(vgpu_client_dir_vm("/mnt/vgpu/vm7"), 7);
	ck_assert_uint_eq(vgpu_client_dir_vm("/mnt/vgpu/vm65535//"), 65535);
	ck_assert_uint_eq(vgpu_client_dir_vm("vm12"), 12);
	ck_assert_uint_eq(vgpu_client_dir_vm("/mnt/vgpu/vm08"), 0);
	ck_assert_uint_eq(vgpu_client_dir_vm("/mnt/vgpu/vm65536"), 0);
	ck_assert_uint_eq(vgpu_client_dir_vm("/mnt/vgpu/vm"), 0);
	ck_assert_uint_eq(vgpu_client_dir_vm("/"), 0);
}
END_TEST

static Suite *client_suite(void)
{
	Suite *s = suite_create("client");
	TCase *tc = tcase_create("call");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_seq_increments);
	tcase_add_test(tc, test_wrong_nonce_not_accepted);
	tcase_add_test(tc, test_older_answer_skipped);
	tcase_add_test(tc, test_conflict_and_error_status);
	tcase_add_test(tc, test_timeout_bounded);
	tcase_add_test(tc, test_lock_wait_bounded);
	tcase_add_test(tc, test_payload_round_trip);
	tcase_add_test(tc, test_payload_into_reused_buffer);
	tcase_add_test(tc, test_usage_errors);
	tcase_add_test(tc, test_missing_dir);
	tcase_add_test(tc, test_readonly_dir_is_eperm);
	tcase_add_test(tc, test_core_nonblocking);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	umask(022);
	return tu_run(client_suite(), CK_ENV);
}
