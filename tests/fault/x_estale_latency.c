/* x_estale_latency.c - two NFS faults beyond the ten, through nfssim over a local
 * directory (the mediator reads the directory; the clients use the mount). Two records:
 *
 * ESTALE: the server's file handle for response.txt went stale (the name now points to a
 * new inode, or the server restarted without a stable fsid=). nfssim fails the Nth read
 * of response.txt with ESTALE (read faults reach the caller; an open's ESTALE is retried
 * by the VFS itself). Naive control: fopen/fread once, no retry: the answer is lost to it.
 * Ours: every N = 1..4 (the seq probe's read, then the polls) is retried once and the
 * answer arrives with its own seq; a persistent ESTALE is reported (exit EIO, "Stale file
 * handle"), never taken as an answer, and the next request works.
 * LATENCY: latency_ms=50 on every NFS operation. Naive control: a client with a fixed
 * 200 ms wait (it works without latency) gives up. Ours: every answer right; the added
 * time per request is measured. Injections: nfssim's fault and latency counters.
 * Handling proved (src/): src/lib/safeio.c (ESTALE retry), src/client/client.c (polling,
 * persistent ESTALE -> EIO). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/client.h"
#include "lib/record.h"
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

static int estale(struct e2e_env *e)
{
	struct h_result r;
	struct vgpu_client_opts o = { .timeout_ms = 15000, .poll_max_ms = 20, .lock_dir = e->dir };
	struct vgpu_client *c1 = NULL, *c2 = NULL;
	char dir[400], path[500], buf[4096], err[512], rule[200];
	int ok = 0, hits = 0, rc;

	h_begin(&r, "ESTALE", "ESTALE reading response.txt: retried once, persistent one reported", "nfssim-local");
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
	r.injections = hits;
	h_evidence(&r, "naive single read lost its answer to one ESTALE; ours: 4/4 answered with one ESTALE at each read, "
		   "persistent ESTALE reported as EIO, next request answered");
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
	a = estale(&e);
	b = latency(&e);
	if (e2e_stop_mediator(&e, 10000) != 0)
		printf("  note: the mediator did not stop cleanly\n");
	e2e_teardown(&e);
	return a ? a : b;
}
