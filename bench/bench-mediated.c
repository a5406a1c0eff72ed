/* bench-mediated - the same operation as bench-native, timed through vgpu-mediator on
 * a local directory: what a VM sees, request published to answer read.
 *
 * Two requesters: "inotify" publishes the payload and command.txt like any client and
 * waits for response.txt's rename with inotify (IN_MOVED_TO, local directory only, as
 * bench-floor's requester), so the time is the mediator's and the GPU's, not a polling
 * interval's; "policy" is the same requester looking at response.txt on the client's
 * polling schedule (bench-floor's policy waiter: the first look at once, back to back for
 * 1 ms...), so that "client" minus "policy" is the library's own cost; "client" uses libvgpu-client (vgpu_client_call_into(), one output buffer
 * kept across calls) with its default waiting policy, polling (VGPU_CLIENT_WAIT_POLL: docs/CLIENT.md
 * "Waiting"), as a VM on NFS does; "client-auto" the library's defaults untouched
 * (inotify here, the directory being local). Seed mode asks for
 * `output summary` (the GPU reduces the output, only the summary comes back: what
 * bench-native seed does); input mode sends in-SEQ.bin and fetches out-SEQ.bin, whose
 * CRC it checks (bench-native input copies the output back and summarises it); both
 * requesters use the project's payload paths: the CRC fused into the input's write and
 * the output's read, the output's buffer allocated once.
 *
 *   bench-mediated DIR/vmN inotify|policy|client|client-auto seed|input REPS OP N [M K]   (OP ping: N ignored)
 * prints: median_us=X p99_us=P min_us=Y exec_us=E (E: the executor's median exec_us) */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client/client.h"
#include "client/client_int.h"   /* vgpu_client_siphash_u64 */
#include "lib/clock.h"
#include "lib/crc_io.h"
#include "lib/opref.h"
#include "lib/record.h"
#include "lib/safeio.h"
#include "lib/status.h"
#include "bench_time.h"

static void die(const char *what, const char *why)
{
	fprintf(stderr, "bench-mediated: %s: %s\n", what, why);
	exit(1);
}

/* The request's nonce as libvgpu-client makes it (client_nonce.c): SipHash-2-4 of a
 * counter under a key drawn once, no system call per request (the floor's requester
 * makes none either). */
static void nonce(char out[17])
{
	static uint64_t key[2], next;
	static int keyed;

	if (!keyed) {
		if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key)) {
			key[0] = (uint64_t)now_us();
			key[1] = (uint64_t)getpid();
		}
		keyed = 1;
	}
	snprintf(out, 17, "%016" PRIx64, vgpu_client_siphash_u64(key, next++));
}

/* A stalled mediator must not hang the bench: this thread ends the process when no call
 * completed for BENCH_STALL_S seconds (60), so that the requester can wait as the
 * floor's does, in one blocking read(), with no timeout armed per call. */
static unsigned long progress;
static unsigned stall_s = 60;

static void *watchdog(void *arg)
{
	unsigned long seen = 0;
	unsigned idle = 0;

	(void)arg;
	for (;;) {
		sleep(1);
		unsigned long now = __atomic_load_n(&progress, __ATOMIC_RELAXED);
		idle = now == seen ? idle + 1 : 0;
		seen = now;
		if (idle >= stall_s) {
			fprintf(stderr, "bench-mediated: no answer for %u s (BENCH_STALL_S); giving up\n", stall_s);
			_exit(1);
		}
	}
	return NULL;
}

/* Block until response.txt is renamed into the directory (IN_MOVED_TO), in read() as
 * bench-floor's requester waits: no read of response.txt per temp file closed or payload
 * renamed. Returns at once on a queue overflow (the caller reads response.txt and checks
 * it anyway). */
static void wait_response(int ifd)
{
	char ev[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	for (;;) {
		n = read(ifd, ev, sizeof(ev));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("inotify read", n < 0 ? strerror(errno) : "end of file");
		for (char *q = ev; q < ev + n;) {
			const struct inotify_event *e = (const struct inotify_event *)q;
			if ((e->mask & IN_Q_OVERFLOW) || (e->len && strcmp(e->name, "response.txt") == 0))
				return;
			q += sizeof(*e) + e->len;
		}
	}
}

/* The client's polling schedule (bench-floor's policy_wait, src/client/client_wait.c's
 * constants): wait before the next look at E us since the publish. */
static void policy_wait(uint64_t e)
{
	struct timespec ts = { 0, 0 };
	uint64_t s = e / 32;

	if (e < 1000) {
		if (e >= 200)
			sched_yield();
		return;
	}
	s = s < 250 ? 250 : s > 100000 ? 100000 : s;
	ts.tv_nsec = (long)(s * 1000);
	nanosleep(&ts, NULL);
}

/* One request through the file protocol, answered when response.txt holds our seq and
 * nonce. The input is published with its CRC computed while it is written, the output
 * read into OUT (kept by the caller across calls) with its CRC computed while it is
 * read: the project's payload paths (vgpu_publish_ex, lib/crc_io.h), no second pass. */
static void raw_call(int dirfd, int ifd, int policy, struct vgpu_request *req, const float *in, size_t in_bytes,
		     void *out, size_t out_bytes, struct vgpu_response *resp)
{
	static char buf[VGPU_RECORD_MAX];
	char err[160];
	size_t len;
	int rc, n;

	if (in) {
		struct vgpu_publish_how how = { .crc = &req->input.crc };
		vgpu_payload_name(req->input.name, "in", req->seq);
		req->input.bytes = in_bytes;
		if ((rc = vgpu_publish_ex(dirfd, req->input.name, in, in_bytes, NULL, 0, 0644, &how)) < 0)
			die("publish input", vgpu_safeio_strerror(rc));
	}
	n = vgpu_request_encode(req, buf, sizeof(buf));
	if (n < 0)
		die("encode", strerror(-n));
	if ((rc = vgpu_publish(dirfd, "command.txt", buf, (size_t)n, 0644)) < 0)
		die("publish command.txt", vgpu_safeio_strerror(rc));
	for (uint64_t t0 = vgpu_now_us();;) {
		if (policy)
			policy_wait(vgpu_now_us() - t0);
		else
			wait_response(ifd);
		if (vgpu_safe_read(dirfd, "response.txt", buf, sizeof(buf), &len, NULL) == 0 &&
		    vgpu_response_decode(buf, len, resp, err, sizeof(err)) == VGPU_REC_OK &&
		    resp->seq == req->seq && strcmp(resp->nonce, req->nonce) == 0)
			break;
	}
	if (resp->status != VGPU_OK)
		die(vgpu_status_name(resp->status), resp->error);
	if (out_bytes) {
		struct stat st;
		uint32_t crc = 0;
		int fd;
		if ((rc = vgpu_safe_open(dirfd, resp->output.name, out_bytes, &fd, &st)) < 0)
			die("open output", vgpu_safeio_strerror(rc));
		if ((uint64_t)st.st_size != out_bytes || resp->output.bytes != out_bytes)
			die("output", "size differs");
		rc = vgpu_pread_crc(fd, out, out_bytes, &crc, NULL);
		close(fd);
		if (rc < 0)
			die("read output", vgpu_safeio_strerror(rc));
		if (crc != resp->output.crc)
			die("output", "CRC differs");
		unlinkat(dirfd, resp->output.name, 0);
	}
	if (in)
		unlinkat(dirfd, req->input.name, 0);
}

int main(int argc, char **argv)
{
	const char *dir, *waiter, *mode, *opname;
	struct vgpu_request req;
	struct vgpu_response resp;
	size_t na = 0, nb = 0, nout = 0, in_bytes = 0, out_bytes = 0;
	float *in = NULL;
	void *out = NULL;       /* the output's buffer, allocated once, kept across calls */
	double *t, *e;
	int reps, seeded, raw, dirfd = -1, ifd = -1;
	int64_t seq = 0;
	struct vgpu_client *c = NULL;
	char err[512];

	if (argc < 7) {
		fprintf(stderr, "usage: bench-mediated DIR/vmN inotify|policy|client|client-auto seed|input REPS OP N [M K]\n");
		return 2;
	}
	dir = argv[1];
	waiter = argv[2];
	mode = argv[3];
	reps = atoi(argv[4]);
	opname = argv[5];
	raw = strcmp(waiter, "inotify") == 0 || strcmp(waiter, "policy") == 0;
	seeded = strcmp(mode, "seed") == 0;

	memset(&req, 0, sizeof(req));
	req.op = vgpu_op_parse(opname);
	req.priority = VGPU_PRIO_MEDIUM;
	req.output_file = -1;
	if (req.op == VGPU_OP_SGEMM) {
		if (argc < 9)
			return 2;
		req.args.m = strtoull(argv[6], NULL, 10);
		req.args.n = strtoull(argv[7], NULL, 10);
		req.args.k = strtoull(argv[8], NULL, 10);
		na = req.args.m * req.args.k; nb = req.args.k * req.args.n; nout = req.args.m * req.args.n;
	} else if (req.op == VGPU_OP_VADD || req.op == VGPU_OP_SAXPY) {
		req.args.n = strtoull(argv[6], NULL, 10);
		na = nb = nout = req.args.n;
		req.args.alpha = 1.5f;
	} else if (req.op != VGPU_OP_PING) {
		die(opname, "not a benchmarked op");
	}
	if (req.op != VGPU_OP_PING) {
		if (seeded) {
			req.args.has_seed = 1;
			req.args.seed = 1;
			req.output_file = 0;    /* `output summary`: reduced where the output lives */
		} else {
			in_bytes = (na + nb) * sizeof(float);
			out_bytes = nout * sizeof(float);
			in = malloc(in_bytes);
			if (!in)
				die("malloc", "out of memory");
			vgpu_gen_fill(in, na, 1, 0);
			vgpu_gen_fill(in + na, nb, 1, 1);
			out = malloc(out_bytes);
			if (!out)
				die("malloc", "out of memory");
			req.output_file = 1;
		}
	}
	t = calloc((size_t)reps + 1, sizeof(double));
	e = calloc((size_t)reps + 1, sizeof(double));
	if (!t || !e || reps < 1)
		return 1;

	if (raw) {
		const char *base = strrchr(dir, '/');
		struct vgpu_response last;
		size_t len;
		static char buf[VGPU_RECORD_MAX];
		dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dirfd < 0)
			die(dir, strerror(errno));
		if (waiter[0] == 'i') {    /* "policy" polls: no watch whose events pile up */
			ifd = inotify_init1(IN_CLOEXEC);
			if (ifd < 0 || inotify_add_watch(ifd, dir, IN_MOVED_TO) < 0)
				die(dir, strerror(errno));
		}
		req.vm = (uint32_t)strtoul(base ? base + 3 : dir + 2, NULL, 10);
		if (vgpu_safe_read(dirfd, "response.txt", buf, sizeof(buf), &len, NULL) == 0 &&
		    vgpu_response_decode(buf, len, &last, err, sizeof(err)) == VGPU_REC_OK)
			seq = last.seq;
	} else {
		struct vgpu_client_opts o = { .timeout_ms = 600000 };   /* the default policy */
		if (strcmp(waiter, "client") != 0 && strcmp(waiter, "client-auto") != 0)
			die(waiter, "not a requester (inotify, policy, client, client-auto)");
		if (vgpu_client_open(&c, dir, &o, err, sizeof(err)) != VGPU_CLIENT_OK)
			die(dir, err);
		if (strcmp(waiter, "client") == 0)
			vgpu_client_set_wait(c, VGPU_CLIENT_WAIT_POLL);
	}

	{
		const char *v = getenv("BENCH_STALL_S");
		pthread_t th;
		if (v && atoi(v) > 0)
			stall_s = (unsigned)atoi(v);
		if (pthread_create(&th, NULL, watchdog, NULL) != 0)
			die("pthread_create", "no watchdog");
		pthread_detach(th);
	}
	for (int r = -1; r < reps; r++) {       /* r = -1: warm-up, not timed */
		double t0 = now_us();
		if (raw) {
			req.seq = ++seq;
			nonce(req.nonce);
			raw_call(dirfd, ifd, waiter[0] == 'p', &req, in, in_bytes, out, out_bytes, &resp);
		} else {
			size_t olen = 0;
			int rc = vgpu_client_call_into(c, &req, in, in_bytes, &resp, out, out_bytes, &olen,
						       err, sizeof(err));
			if (rc != VGPU_CLIENT_OK)
				die(vgpu_client_strerror(rc), err);
			if (olen != out_bytes)
				die("output", "size differs");
		}
		__atomic_add_fetch(&progress, 1, __ATOMIC_RELAXED);
		if (r >= 0) {
			t[r] = now_us() - t0;
			e[r] = (double)resp.exec_us;
		}
	}
	qsort(t, (size_t)reps, sizeof(double), cmp_double);
	qsort(e, (size_t)reps, sizeof(double), cmp_double);
	printf("median_us=%.1f p99_us=%.1f min_us=%.1f exec_us=%.0f executor=%s\n", t[reps / 2],
	       t[(int)(0.99 * reps + 0.999999) - 1 < 0 ? 0 : (int)(0.99 * reps + 0.999999) - 1], t[0], e[reps / 2],
	       resp.executor);
	vgpu_client_close(c);
	free(in);
	free(out);
	free(t);
	free(e);
	return 0;
}
