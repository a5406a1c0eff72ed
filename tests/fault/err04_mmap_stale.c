/* err04_mmap_stale.c - ERRORS_LOG error 4: "mmap Over NFS Not Reliable" (updates not
 * visible, stale data), through nfssim with kcache=1 (the kernel page cache plays the NFS
 * client's data cache: mapped pages are revalidated only at open/mmap time).
 *
 * Naive control (tests/fault/naive/naive_mmap_reader.c): (a) the errors log's "shared
 * memory" file that the host rewrites in place, mapped once by the VM through the mount:
 * the mapping keeps the old seq after each host update (the same reader on the host's own
 * directory sees every update: the stale view is the NFS client's); (b) response.txt
 * mapped once while our requests run: it never shows the new answers, but neither does
 * the same mapping on the host's own directory (response.txt is replaced by rename: a
 * new inode), so (b) is printed as the reason the client never maps, not counted as
 * the NFS symptom.
 * Ours (the client library through the same mount, with the real mediator): open, read,
 * close on every poll, seq and nonce checked: every answer is the one for its own seq,
 * with the CPU reference's output. Injections = stale views the naive reader returned in (a).
 * Handling proved (src/): src/client/client.c (open/read/close on every poll, seq and nonce
 * checked), src/lib/safeio.c (vgpu_safe_read). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/client.h"
#include "lib/opref.h"
#include "../e2e/e2e_util.h"
#include "harness.h"
#include "naive/naive_mmap_reader.h"
#include "naive/naive_mtime_poller.h"
#include "../common/testutil.h"

#define ROUNDS 5

/* Rewrite PATH in place (same inode, same size): "seq N" padded to 64 bytes. */
static int host_write_in_place(const char *path, long seq, int create)
{
	char buf[64];
	int fd = open(path, O_WRONLY | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0), 0644);

	if (fd < 0)
		return -errno;
	memset(buf, ' ', sizeof(buf));
	int n = snprintf(buf, sizeof(buf), "seq %06ld\n", seq);
	buf[n] = ' ';
	buf[sizeof(buf) - 1] = '\n';
	if (pwrite(fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf)) {
		close(fd);
		return -EIO;
	}
	return close(fd) < 0 ? -errno : 0;
}

static void naive_shared_memory(struct h_result *r, struct e2e_env *e)
{
	char cpath[500], spath[500], d[400];
	struct naive_map vm, host;
	int stale = 0, host_fresh = 0;

	e2e_vmdir(e, 2, d, sizeof(d));
	snprintf(cpath, sizeof(cpath), "%s/shm.txt", d);
	e2e_server_vmdir(e, 2, d, sizeof(d));
	snprintf(spath, sizeof(spath), "%s/shm.txt", d);
	if (host_write_in_place(spath, 1, 1) < 0 || naive_map_open(&vm, cpath) < 0 || naive_map_open(&host, spath) < 0) {
		h_naive(r, 0, "could not set up the shared-memory file: %s", strerror(errno));
		return;
	}
	printf("    mapped: the VM reads seq %ld, the host seq %ld\n", naive_map_seq(&vm), naive_map_seq(&host));
	for (long s = 2; s <= ROUNDS + 1; s++) {
		host_write_in_place(spath, s, 0);
		msleep(30);
		long v = naive_map_seq(&vm), h = naive_map_seq(&host);
		if (v != s)
			stale++;
		if (h == s)
			host_fresh++;
		printf("    host wrote seq %ld in place: the VM's mapping shows %ld, a mapping on the host %ld\n", s, v, h);
	}
	naive_map_close(&vm);
	naive_map_close(&host);
	r->injections += stale;
	h_naive(r, stale == ROUNDS && host_fresh == ROUNDS,
		"shared-memory file mapped once through the mount: %d of %d host updates never seen (stale mapping); "
		"the same reader on the host's directory saw %d of %d (control)", stale, ROUNDS, host_fresh, ROUNDS);
	h_evidence(r, "naive mmap of an in-place shared file through nfssim kcache=1: %d/%d updates stale (host-side "
		   "mapping %d/%d fresh)", stale, ROUNDS, host_fresh, ROUNDS);
}

/* One vadd of N with SEED through C; checks seq and output against the CPU reference. */
static int ours_call(struct h_result *r, struct vgpu_client *c, size_t n, uint64_t seed, struct vgpu_response *resp)
{
	struct vgpu_request q = { .op = VGPU_OP_VADD, .args.n = n, .args.has_seed = 1, .args.seed = seed,
				  .priority = VGPU_PRIO_MEDIUM, .output_file = 1 };
	float *in = malloc(2 * n * sizeof(float)), *ref = malloc(n * sizeof(float)), *out = NULL;
	size_t ob = 0;
	char err[512];
	int ok;

	vgpu_gen_fill(in, n, seed, 0);
	vgpu_gen_fill(in + n, n, seed, 1);
	vgpu_ref_vadd(in, in + n, ref, n);
	r->req.submitted++;
	int rc = vgpu_client_call(c, &q, NULL, 0, resp, (void **)&out, &ob, err, sizeof(err));
	ok = rc == VGPU_CLIENT_OK && resp->vm == 1 && resp->seq == vgpu_client_last_seq(c) && out &&
	     ob == n * sizeof(float) && vgpu_rel_error(out, ref, n) <= 1e-5;
	if (rc == VGPU_CLIENT_OK && ok)
		r->req.answered++;
	else if (rc == VGPU_CLIENT_OK)
		r->req.corrupted++;
	else
		r->req.lost++;
	if (!ok)
		printf("    ours: rc %d seq %" PRId64 ": %s\n", rc, resp->seq, rc ? err : "wrong answer");
	free(in);
	free(ref);
	free(out);
	return ok;
}

int main(void)
{
	const char *margs[] = { "--executor", "mock", "--rescan-ms", "100", NULL };
	struct h_result r;
	struct e2e_env e;
	struct vgpu_client *c = NULL;
	struct vgpu_client_opts o = { .timeout_ms = 20000, .poll_max_ms = 20 };
	struct vgpu_response resp;
	struct naive_map m, hm;
	char dir[400], ndir[400], ncmd[500], path[500], hpath[500], err[512];
	int stale = 0, host_stale = 0, ok = 0;
	uint64_t st;

	h_begin(&r, "ERR04", "mmap over NFS: a mapped protocol file shows stale data", "nfssim-local");
	if (access("/dev/fuse", F_OK) < 0) {
		snprintf(r.skipped, sizeof(r.skipped), "/dev/fuse missing: no FUSE, no nfssim");
		return h_finish(&r);
	}
	st = r.seed;
	if (e2e_setup_backend(&e, 2, "nfssim-local", "kcache=1,lookupcache=positive,acdirmin=1") < 0) {
		h_check(&r, 0, "nfssim-local mounted with kcache=1: %s", e.errmsg);
		e2e_teardown(&e);
		return h_finish(&r);
	}
	o.lock_dir = e.dir;
	naive_shared_memory(&r, &e);
	if (e2e_start_mediator(&e, margs) < 0) {
		h_check(&r, 0, "vgpu-mediator started (see %s)", e.log);
		goto out;
	}
	e2e_vmdir(&e, 1, dir, sizeof(dir));
	if (vgpu_client_open(&c, dir, &o, err, sizeof(err)) != VGPU_CLIENT_OK) {
		h_check(&r, 0, "client open: %s", err);
		goto out;
	}
	/* (b) a naive VM (vm2) on the same mount: writes its command in place (complete
	 * records, so the mediator answers them) and reads the answer from response.txt,
	 * mapped once; our client runs vm1's requests in between. */
	e2e_vmdir(&e, 2, ndir, sizeof(ndir));
	snprintf(ncmd, sizeof(ncmd), "%s/command.txt", ndir);
	snprintf(path, sizeof(path), "%s/response.txt", ndir);
	e2e_server_vmdir(&e, 2, ndir, sizeof(ndir));
	snprintf(hpath, sizeof(hpath), "%s/response.txt", ndir);
	for (int k = 1; k <= ROUNDS + 1; k++) {
		char rec[1024];
		struct vgpu_request q = { .vm = 2, .seq = k, .op = VGPU_OP_PING, .priority = VGPU_PRIO_MEDIUM,
					  .output_file = -1 };
		snprintf(q.nonce, sizeof(q.nonce), "%016x", 0xabc0 + k);
		if (vgpu_request_encode(&q, rec, sizeof(rec)) < 0 || naive_write_command(ncmd, rec) < 0)
			break;
		r.req.submitted++;
		for (int w = 0; w < 5000 && e2e_journal_count(&e, "answer", 2, k) == 0; w += 5)
			msleep(5);
		if (e2e_journal_count(&e, "answer", 2, k) == 1)
			r.req.answered++;
		else
			r.req.lost++;
		if (k == 1) {
			if (naive_map_open(&m, path) < 0 || naive_map_open(&hm, hpath) < 0) {
				h_check(&r, 0, "mmap of response.txt: %s", strerror(errno));
				goto out;
			}
			printf("    naive vm2 mapped response.txt: seq %ld\n", naive_map_seq(&m));
		} else {
			long v = naive_map_seq(&m), h = naive_map_seq(&hm);
			if (v != k)
				stale++;
			if (h != k)
				host_stale++;
			printf("    vm2's answer seq %d is on the host; the naive mapping shows seq %ld (a mapping on the "
			       "host: %ld)\n", k, v, h);
		}
		ok += ours_call(&r, c, 1000 + 97 * (size_t)k, h_rand(&st), &resp);
	}
	naive_map_close(&m);
	naive_map_close(&hm);
	/* Not an NFS effect and not counted: response.txt is replaced by rename, so a
	 * mapping of it is a mapping of the old inode on any file system (the host-side
	 * control shows the same). The NFS symptom is (a)'s. */
	printf("    (b) vm2's response.txt mapped once: %d of %d new answers never seen through the mount, %d of %d on the "
	       "host's own directory too: a file replaced by rename is a new inode, on any file system; this is why the "
	       "client never maps, not an NFS effect (not counted)\n", stale, ROUNDS, host_stale, ROUNDS);
	h_check(&r, ok == ROUNDS + 1, "the client library through the same kcache=1 mount: %d of %d answers with their own "
		"seq and the CPU reference's output (open/read/close per poll, seq+nonce checked, no mmap)", ok, ROUNDS + 1);
	{
		long inval = e2e_nfssim_stat(&e, NULL, "attr_cache.cto_invalidations");
		printf("    nfssim: cto_invalidations %ld (opens that dropped a changed file's cached pages)\n", inval);
	}
	h_evidence(&r, "(b) a mapping of the renamed response.txt: %d/%d answers never seen, on the host too; ours: %d/%d right answers, own seq", stale,
		   ROUNDS, ok, ROUNDS + 1);
	h_check(&r, e2e_stop_mediator(&e, 10000) == 0, "the mediator stopped cleanly (exit 0)");
	/* after the stop: the journal line follows the published answer */
	h_check(&r, e2e_journal_count(&e, "exec", 1, 0) == ROUNDS + 1 && e2e_journal_count(&e, "answer", 1, 0) == ROUNDS + 1,
		"journal: %d executed, %d answered (each once)", e2e_journal_count(&e, "exec", 1, 0),
		e2e_journal_count(&e, "answer", 1, 0));
out:
	vgpu_client_close(c);
	e2e_teardown(&e);
	return h_finish(&r);
}
