/* x_estale_latency.c - two NFS faults beyond the ten, through nfssim over a local
 * directory (the mediator reads the directory; the clients use the mount). Two records:
 *
 * ESTALE: the server's file handle for response.txt went stale (the name now points to a
 * new inode, or the server restarted without a stable fsid=). nfssim fails the Nth read
 * of response.txt with ESTALE (read faults reach the caller; an open's ESTALE is retried
 * by the VFS itself). Naive control: fopen/fread once, no retry: the answer is lost to it.
 * Ours: every N = 1..4 (the seq probe's read, then the polls) is retried once and the
 * answer arrives with its own seq; a persistent ESTALE is reported (exit EIO, "Stale file
 * handle"), never taken as an answer, and the next request works. The same for the
 * output file: nfssim fails the Nth read of vm1/out-SEQ.bin (N = 1, 2) once, the client
 * fetches it on its retry and it equals the CPU reference; persistently: EIO, no output.
 * And for the mediator's saved answer (--state, read back when a VM is served again):
 * state.c's load, in process, with libfiu's safeio/read/read failing its Nth call with
 * ESTALE, keeps the saved seq; a persistent ESTALE is an error (the mediator then does
 * not serve the VM), never an empty state that would run an answered seq again.
 * LATENCY: latency_ms=50 on every NFS operation. Naive control: a client with a fixed
 * 200 ms wait (it works without latency) gives up. Ours: every answer right; the added
 * time per request is measured. Injections: nfssim's fault and latency counters.
 * Handling proved (src/): src/lib/safeio.c (ESTALE retry, vgpu_safe_read and
 * vgpu_safe_read_alloc), src/client/client.c (polling, output fetch, persistent ESTALE ->
 * EIO), src/mediator/state.c (load). */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fcntl.h>
#include <fiu.h>
#include <fiu-control.h>

#include "client/client.h"
#include "lib/opref.h"
#include "lib/record.h"
#include "mediator/state.h"
#include "../e2e/e2e_util.h"
#include "harness.h"
#include "naive/naive_mtime_poller.h"
#include "naive/naive_nfs.h"
#include "../common/testutil.h"

#define ROUNDS 3
#define NAIVE_WAIT_MS 200

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* One vadd through C; accounted; returns the client rc (with ERR) and checks the seq. */
static int ours_call(struct h_result *r, struct vgpu_client *c, uint32_t vm, int count_io_as_reported,
		     char *err, size_t errlen)
{
	struct vgpu_request q = { .op = VGPU_OP_VADD, .args.n = 1024, .args.has_seed = 1, .args.seed = 3,
				  .priority = VGPU_PRIO_MEDIUM, .output_file = -1 };
	struct vgpu_response resp;
	int rc;

	r->req.submitted++;
	rc = vgpu_client_call(c, &q, NULL, 0, &resp, NULL, NULL, err, errlen);
	if (rc == VGPU_CLIENT_OK && (resp.vm != vm || resp.seq != vgpu_client_last_seq(c)))
		r->req.misrouted++;
	else if (rc == VGPU_CLIENT_OK || (count_io_as_reported && rc == VGPU_CLIENT_EIO))
		r->req.answered++;
	else
		r->req.lost++;
	return rc;
}

/* The naive client with a fixed wait: writes a valid record in place, reads
 * response.txt until NAIVE_WAIT_MS. 1 when it got its answer. */
static int naive_fixed_wait(const char *dir, uint32_t vm, int64_t seq)
{
	struct vgpu_request q = { .vm = vm, .seq = seq, .op = VGPU_OP_PING, .priority = VGPU_PRIO_MEDIUM,
				  .output_file = -1 };
	char rec[1024], cmd[500], resp[500], buf[4096];
	double t0;

	snprintf(q.nonce, sizeof(q.nonce), "%016" PRIx64, (uint64_t)0x1a7e0000 + (uint64_t)seq);
	vgpu_request_encode(&q, rec, sizeof(rec));
	snprintf(cmd, sizeof(cmd), "%s/command.txt", dir);
	snprintf(resp, sizeof(resp), "%s/response.txt", dir);
	t0 = now_ms();
	naive_write_command(cmd, rec);
	while (now_ms() - t0 < NAIVE_WAIT_MS) {
		char want[32];
		snprintf(want, sizeof(want), "\nseq %" PRId64 "\n", seq);
		if (naive_nfs_read_once(resp, buf, sizeof(buf)) > 0 && strstr(buf, want))
			return 1;
		msleep(5);
	}
	return 0;
}

/* libfiu callback for safeio/read/read in this process: fail the Nth call (0: every
 * call) with the failinfo given at enable time (ESTALE); counts calls and hits. */
static int read_fail_at, read_calls, read_hits;
static int nth_read(const char *name, int *failnum, void **failinfo, unsigned int *flags)
{
	(void)name;
	(void)failnum;
	(void)failinfo;
	(void)flags;
	read_calls++;
	if (read_fail_at == 0 || read_calls == read_fail_at) {
		read_hits++;
		return 1;
	}
	return 0;
}

/* vadd with an output file through C: OUT-SEQ.bin is fetched and checked against the
 * CPU reference. Accounted like ours_call; returns the client rc. */
static int ours_output_call(struct h_result *r, struct vgpu_client *c, uint32_t vm, int count_io_as_reported,
			    char *err, size_t errlen)
{
	const uint64_t n = 1024;
	struct vgpu_request q = { .op = VGPU_OP_VADD, .args.n = n, .args.has_seed = 1, .args.seed = 9,
				  .priority = VGPU_PRIO_MEDIUM, .output_file = 1 };
	struct vgpu_response resp;
	void *out = NULL;
	size_t out_bytes = 0;
	float *ref = malloc(3 * n * sizeof(float));
	int rc;

	r->req.submitted++;
	rc = vgpu_client_call(c, &q, NULL, 0, &resp, &out, &out_bytes, err, errlen);
	if (rc == VGPU_CLIENT_OK && ref) {
		vgpu_gen_fill(ref, n, q.args.seed, 0);
		vgpu_gen_fill(ref + n, n, q.args.seed, 1);
		vgpu_ref_vadd(ref, ref + n, ref + 2 * n, n);
	}
	if (rc == VGPU_CLIENT_OK && (resp.vm != vm || resp.seq != vgpu_client_last_seq(c)))
		r->req.misrouted++;
	else if (rc == VGPU_CLIENT_OK && (!ref || out_bytes != n * sizeof(float) ||
					  vgpu_rel_error(out, ref + 2 * n, n) > 1e-5))
		r->req.corrupted++;
	else if (rc == VGPU_CLIENT_OK || (count_io_as_reported && rc == VGPU_CLIENT_EIO))
		r->req.answered++;
	else
		r->req.lost++;
	if (rc == VGPU_CLIENT_OK && r->req.corrupted)
		snprintf(err, errlen, "output differs from the CPU reference");
	free(out);
	free(ref);
	return rc;
}

/* ESTALE on out-SEQ.bin (the client's fetch of the output). Returns injections. */
static long estale_output(struct h_result *r, struct e2e_env *e, struct vgpu_client *c1)
{
	char rule[200], err[512], dir[400], path[600], buf[64];
	long hits = 0, f;
	int ok = 0, rc, first, again;

	/* naive: one fopen/fread of the output file, no retry */
	if (ours_output_call(r, c1, 1, 0, err, sizeof(err)) != VGPU_CLIENT_OK) {
		h_check(r, 0, "vm1's first output request: %s", err);
		return 0;
	}
	/* the client removes out-SEQ.bin once it has it: the naive reader reads a copy the
	 * host leaves, named like one */
	{
		char sdir[400], src[600];
		int in, o;
		ssize_t k;

		e2e_server_vmdir(e, 1, sdir, sizeof(sdir));
		snprintf(src, sizeof(src), "%s/out-999.bin", sdir);
		o = open(src, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		in = open("/dev/urandom", O_RDONLY);
		for (int i = 0; o >= 0 && in >= 0 && i < 4 && (k = read(in, buf, sizeof(buf))) > 0; i++)
			if (write(o, buf, (size_t)k) != k)
				break;
		if (o >= 0)
			close(o);
		if (in >= 0)
			close(in);
	}
	e2e_vmdir(e, 1, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/out-999.bin", dir);
	e2e_nfssim_ctl(e, NULL, "clear_faults reset fault=read:ESTALE:nth=1:path=vm1/out-999.bin");
	{
		char big[4096];
		first = naive_nfs_read_once(path, big, sizeof(big));
		again = naive_nfs_read_once(path, big, sizeof(big));
	}
	f = e2e_nfssim_stat(e, NULL, "faults.read:ESTALE");
	hits += f > 0 ? f : 0;
	h_naive(r, f > 0 && first == -ESTALE && again > 0,
		"fopen/fread of an output file once: %s, gave up (a read right after: %d bytes)",
		first < 0 ? strerror(-first) : "no error", again);
	unlink(path);
	/* ours: the Nth read of out-SEQ.bin fails once (N = 1: the data, 2: the EOF probe,
	 * ...), for every N until the client makes fewer reads than N */
	int tried = 0;
	for (int n = 1; n <= 4; n++) {
		snprintf(rule, sizeof(rule), "clear_faults reset fault=read:ESTALE:nth=%d:path=vm1/out-", n);
		e2e_nfssim_ctl(e, NULL, rule);
		rc = ours_output_call(r, c1, 1, 0, err, sizeof(err));
		f = e2e_nfssim_stat(e, NULL, "faults.read:ESTALE");
		printf("    read #%d of vm1/out-SEQ.bin -> ESTALE (%ld injected): rc %d%s%s\n", n, f, rc, rc ? ": " : "",
		       rc ? err : "");
		if (f <= 0 && rc == VGPU_CLIENT_OK)
			break;     /* not reached: fewer reads than N */
		hits += f > 0 ? f : 0;
		tried++;
		ok += rc == VGPU_CLIENT_OK && f == 1;
	}
	h_check(r, tried > 0 && ok == tried, "one ESTALE at read 1..%d of out-SEQ.bin: %d of %d outputs fetched "
		"(retried once) and equal to the CPU reference", tried, ok, tried);
	e2e_nfssim_ctl(e, NULL, "clear_faults reset fault=read:ESTALE:from=1:path=vm1/out-");
	rc = ours_output_call(r, c1, 1, 1, err, sizeof(err));
	f = e2e_nfssim_stat(e, NULL, "faults.read:ESTALE");
	hits += f > 0 ? f : 0;
	h_check(r, rc == VGPU_CLIENT_EIO && strstr(err, "tale") && f >= 2,
		"persistent ESTALE on out-SEQ.bin: exit %d (6 = EIO) \"%s\" (%ld injected), never taken as output",
		rc, err, f);
	e2e_nfssim_ctl(e, NULL, "clear_faults");
	return hits;
}

/* ESTALE while the mediator loads a VM's saved answer (--state, state.c through
 * safeio's vgpu_safe_read_alloc), here in process with libfiu's safeio/read/read. The
 * state directory is the running mediator's own. Returns injections. */
static long estale_state(struct h_result *r, struct e2e_env *e, int64_t want_seq)
{
	struct vgpu_vm_state st;
	int dfd = open(e->state, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc, ok = 0, tried = 0;
	long hits = 0;

	if (dfd < 0) {
		h_check(r, 0, "state directory %s: %s", e->state, strerror(errno));
		return 0;
	}
	rc = vgpu_state_load(dfd, 1, &st);
	h_check(r, rc == 0 && st.answered_seq == want_seq, "vm1's saved answer loads without faults (seq %" PRId64
		", the mediator answered up to %" PRId64 ")", rc == 0 ? st.answered_seq : (int64_t)rc, want_seq);
	if (rc == 0)
		vgpu_state_release(&st);
	for (read_fail_at = 1; read_fail_at < 10; read_fail_at++) {
		read_calls = read_hits = 0;
		fiu_enable_external("safeio/read/read", 1, (void *)(intptr_t)ESTALE, 0, nth_read);
		rc = vgpu_state_load(dfd, 1, &st);
		fiu_disable("safeio/read/read");
		if (!read_hits)
			break;     /* fewer reads than N: done */
		hits += read_hits;
		tried++;
		ok += rc == 0 && st.answered_seq == want_seq;
		printf("    state load, read #%d of vm1.journal -> ESTALE: rc %d, answered_seq %" PRId64 "\n", read_fail_at,
		       rc, rc == 0 ? st.answered_seq : 0);
		if (rc == 0)
			vgpu_state_release(&st);
	}
	h_check(r, tried > 0 && ok == tried, "one ESTALE at read 1..%d of the saved answer (state): %d of %d loads "
		"retried and kept seq %" PRId64, tried, ok, tried, want_seq);
	read_fail_at = 0;
	read_calls = read_hits = 0;
	fiu_enable_external("safeio/read/read", 1, (void *)(intptr_t)ESTALE, 0, nth_read);
	memset(&st, 0, sizeof(st));
	rc = vgpu_state_load(dfd, 1, &st);
	fiu_disable("safeio/read/read");
	hits += read_hits;
	h_check(r, rc == -ESTALE && read_hits >= 2, "a persistent ESTALE on the state is an error (%s, %d reads "
		"failed), never an empty state that would answer seq %" PRId64 " again", rc < 0 ? strerror(-rc) : "loaded",
		read_hits, want_seq);
	if (rc == 0)
		vgpu_state_release(&st);
	close(dfd);
	return hits;
}

static int estale(struct e2e_env *e)
{
	struct h_result r;
	struct vgpu_client_opts o = { .timeout_ms = 15000, .poll_max_ms = 20, .lock_dir = e->dir };
	struct vgpu_client *c1 = NULL, *c2 = NULL;
	char dir[400], path[500], buf[4096], err[512], rule[200];
	int ok = 0, hits = 0, rc;

	h_begin(&r, "ESTALE", "ESTALE reading response.txt, out-SEQ.bin and the saved state: retried once, persistent "
		"one reported", "nfssim-local");
	e2e_vmdir(e, 1, dir, sizeof(dir));
	rc = vgpu_client_open(&c1, dir, &o, err, sizeof(err));
	e2e_vmdir(e, 2, dir, sizeof(dir));
	if (rc || vgpu_client_open(&c2, dir, &o, err, sizeof(err))) {
		h_check(&r, 0, "clients: %s", err);
		goto out;
	}
	/* naive: an answer is there; one transient ESTALE on its single read */
	if (ours_call(&r, c2, 2, 0, err, sizeof(err)) != VGPU_CLIENT_OK) {
		h_check(&r, 0, "vm2's first answer: %s", err);
		goto out;
	}
	snprintf(path, sizeof(path), "%s/response.txt", dir);
	e2e_nfssim_ctl(e, NULL, "clear_faults reset fault=read:ESTALE:nth=1:path=vm2/response.txt");
	{
		int first = naive_nfs_read_once(path, buf, sizeof(buf));
		int again = naive_nfs_read_once(path, buf, sizeof(buf));
		hits += (int)e2e_nfssim_stat(e, NULL, "faults_total");
		h_naive(&r, first == -ESTALE && again > 0,
			"fopen/fread of response.txt once: %s, gave up (the answer is lost to it); a read right after would "
			"have worked (%d bytes)", first < 0 ? strerror(-first) : "no error", again);
	}
	/* ours: the Nth read of vm1's response.txt fails once, for every N */
	for (int n = 1; n <= 4; n++) {
		snprintf(rule, sizeof(rule), "clear_faults reset fault=read:ESTALE:nth=%d:path=vm1/response.txt", n);
		e2e_nfssim_ctl(e, NULL, rule);
		rc = ours_call(&r, c1, 1, 0, err, sizeof(err));
		long f = e2e_nfssim_stat(e, NULL, "faults.read:ESTALE");
		hits += (int)(f > 0 ? f : 0);
		ok += rc == VGPU_CLIENT_OK;
		printf("    read #%d of vm1/response.txt -> ESTALE (%ld injected): rc %d%s%s\n", n, f, rc, rc ? ": " : "",
		       rc ? err : "");
	}
	h_check(&r, ok == 4, "one ESTALE at read 1..4 of response.txt: %d of 4 requests answered with their own seq "
		"(retried once)", ok);
	/* persistent: reported, not taken as an answer */
	e2e_nfssim_ctl(e, NULL, "clear_faults reset fault=read:ESTALE:from=1:path=vm1/response.txt");
	rc = ours_call(&r, c1, 1, 1, err, sizeof(err));
	hits += (int)e2e_nfssim_stat(e, NULL, "faults_total");
	h_check(&r, rc == VGPU_CLIENT_EIO && (strstr(err, "ESTALE") || strstr(err, "tale")),
		"persistent ESTALE: exit %d (6 = EIO) \"%s\"", rc, err);
	e2e_nfssim_ctl(e, NULL, "clear_faults");
	rc = ours_call(&r, c1, 1, 0, err, sizeof(err));
	h_check(&r, rc == VGPU_CLIENT_OK, "after the server recovers the next request is answered (seq %" PRId64 ")",
		vgpu_client_last_seq(c1));
	hits += estale_output(&r, e, c1);
	/* the mediator's journal line for vm1's last answer follows response.txt */
	e2e_journal_wait(e, "answer", 1, vgpu_client_last_seq(c1), 1, E2E_WAIT_MS);
	hits += estale_state(&r, e, vgpu_client_last_seq(c1));
	r.injections = hits;
	h_evidence(&r, "naive single read lost its answer (and an output file) to one ESTALE; ours: response.txt 4/4 "
		   "and out-SEQ.bin 2/2 read with one ESTALE at each read, the saved answer (state) loaded through one "
		   "ESTALE at each read; persistent ESTALE reported as EIO (client) or an error (state)");
out:
	vgpu_client_close(c1);
	vgpu_client_close(c2);
	return h_finish(&r);
}

static int latency(struct e2e_env *e)
{
	struct h_result r;
	struct vgpu_client_opts o = { .timeout_ms = 30000, .lock_dir = e->dir };
	struct vgpu_client *c = NULL;
	char dir[400], err[512];
	double base = 0, slow = 0;
	int ok = 0, naive_fast, naive_slow;

	h_begin(&r, "LATENCY", "50 ms added to every NFS operation: answers right, added time measured", "nfssim-local");
	e2e_vmdir(e, 4, dir, sizeof(dir));
	if (vgpu_client_open(&c, dir, &o, err, sizeof(err)) != VGPU_CLIENT_OK) {
		h_check(&r, 0, "client: %s", err);
		goto out;
	}
	e2e_nfssim_ctl(e, NULL, "clear_faults reset latency_ms=0");
	for (int i = 0; i < ROUNDS; i++) {
		double t0 = now_ms();
		ok += ours_call(&r, c, 4, 0, err, sizeof(err)) == VGPU_CLIENT_OK;
		base += now_ms() - t0;
	}
	e2e_vmdir(e, 3, dir, sizeof(dir));
	naive_fast = naive_fixed_wait(dir, 3, 1);
	e2e_nfssim_ctl(e, NULL, "latency_ms=50");
	naive_slow = naive_fixed_wait(dir, 3, 2);
	for (int i = 0; i < ROUNDS; i++) {
		double t0 = now_ms();
		ok += ours_call(&r, c, 4, 0, err, sizeof(err)) == VGPU_CLIENT_OK;
		slow += now_ms() - t0;
	}
	r.injections = e2e_nfssim_stat(e, NULL, "latency_injected");
	e2e_nfssim_ctl(e, NULL, "latency_ms=0");
	h_naive(&r, naive_fast && !naive_slow, "client with a fixed %d ms wait: answered without latency, gave up "
		"with 50 ms per NFS operation", NAIVE_WAIT_MS);
	h_check(&r, ok == 2 * ROUNDS, "%d of %d requests answered with their own seq; mean %.0f ms per request without "
		"latency, %.0f ms with 50 ms per operation (+%.0f ms, %ld delayed operations)", ok, 2 * ROUNDS,
		base / ROUNDS, slow / ROUNDS, (slow - base) / ROUNDS, r.injections);
	h_evidence(&r, "naive %d ms fixed wait gave up under latency; ours all answered, %.0f -> %.0f ms per request",
		   NAIVE_WAIT_MS, base / ROUNDS, slow / ROUNDS);
out:
	vgpu_client_close(c);
	return h_finish(&r);
}

int main(void)
{
	const char *margs[] = { "--executor", "mock", "--rescan-ms", "100", NULL };
	struct e2e_env e;
	int a, b;

	if (access("/dev/fuse", F_OK) < 0) {
		struct h_result r;
		h_begin(&r, "ESTALE", "ESTALE reading response.txt", "nfssim-local");
		snprintf(r.skipped, sizeof(r.skipped), "/dev/fuse missing: no FUSE, no nfssim");
		h_finish(&r);
		h_begin(&r, "LATENCY", "latency on every NFS operation", "nfssim-local");
		snprintf(r.skipped, sizeof(r.skipped), "/dev/fuse missing: no FUSE, no nfssim");
		return h_finish(&r);
	}
	if (e2e_setup_backend(&e, 4, "nfssim-local", NULL) < 0 || e2e_start_mediator(&e, margs) < 0) {
		struct h_result r;
		h_begin(&r, "ESTALE", "ESTALE reading response.txt", "nfssim-local");
		h_check(&r, 0, "nfssim-local and mediator: %s", e.errmsg);
		e2e_teardown(&e);
		return h_finish(&r);
	}
	fiu_init(0);
	a = estale(&e);
	b = latency(&e);
	if (e2e_stop_mediator(&e, 10000) != 0)
		printf("  note: the mediator did not stop cleanly\n");
	e2e_teardown(&e);
	return a ? a : b;
}
