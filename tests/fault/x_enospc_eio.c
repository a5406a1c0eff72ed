/* x_enospc_eio.c - beyond the ten: ENOSPC and EIO at every step of publishing a file.
 *
 * 1. The client library, in this process, with libfiu's safeio/publish/ points (open,
 *    write, short write, fsync, close, rename) failing their Nth call, for every N, with
 *    ENOSPC and with EIO: each call is answered right, or fails with VGPU_CLIENT_EIO
 *    naming the error, leaving no temporary file, no half-written command.txt, and
 *    nothing executed for it. A short write must simply be finished.
 * 2. The mediator (under libfiu's preload, driven through its control FIFO) failing to
 *    publish response.txt once: it logs it, keeps serving, and the request is answered on
 *    the client's retry of the same record (the saved answer, never re-run).
 * 3. vgpu-client under the POSIX preload with random write() failures (probability 0.3):
 *    every run ends OK or with a clear error code, and leaves no temporary file.
 * 4. The mediator's --state refusing to save (ENOSPC, EIO) at every step of saving an
 *    answer (the journal's slot write: state/journal/{write,short,fsync}, failing until
 *    the test lifts the fault) and of saving the intent: the answer is
 *    not published while unsaved, the same record sent again is not run again, and once
 *    the state recovers the waiting client gets the answer, which is the one the state
 *    keeps; the job ran once. And SIGKILL while an answer is unsaved: the restarted
 *    mediator answers INTERRUPTED, the job is not run again (issue 10, point 3).
 * Naive control: fopen("w")+fprintf+fclose without checks, under the same ENOSPC and EIO,
 * reports success and leaves an empty command.txt. docs/HARNESS.md, IOFAULT.
 * Handling proved (src/): src/lib/safeio.c (vgpu_publish: every step checked, no temporary
 * left), src/client/client.c (VGPU_CLIENT_EIO), src/mediator/answer.c (publish retried from
 * the state), src/mediator/answer.c + state.c (an answer --state refuses is held, unpublished,
 * and saved by the rescans). */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fiu.h>
#include <fiu-control.h>

#include "client/client.h"
#include "lib/opref.h"
#include "lib/record.h"
#include "lib/safeio.h"
#include "lib/status.h"
#include "mediator/state.h"
#include "../e2e/e2e_util.h"
#include "harness.h"

static struct e2e_env env;
static struct h_result r;
static char self[512];

/* ---- accounting ---- */

static void vadd_req(struct vgpu_request *q, uint64_t seed, uint64_t n)
{
	memset(q, 0, sizeof(*q));
	q->op = VGPU_OP_VADD;
	q->priority = VGPU_PRIO_MEDIUM;
	q->args.n = n;
	q->args.has_seed = 1;
	q->args.seed = seed;
	q->output_file = 0;
}

static void summary_of_vadd(const float *a, const float *b, uint64_t n, char *buf, size_t cap)
{
	float *c = malloc(n * sizeof(float));
	struct vgpu_summary s;

	buf[0] = '\0';
	if (!c)
		return;
	vgpu_ref_vadd(a, b, c, n);
	vgpu_summarize(c, n, &s);
	vgpu_summary_format(&s, buf, cap);
	free(c);
}

static int vadd_seed_ok(int status, const char *result, uint64_t seed, uint64_t n)
{
	float *a = malloc(2 * n * sizeof(float));
	char want[200];

	if (!a)
		return 0;
	vgpu_gen_fill(a, n, seed, 0);
	vgpu_gen_fill(a + n, n, seed, 1);
	summary_of_vadd(a, a + n, n, want, sizeof(want));
	free(a);
	return status == VGPU_OK && strcmp(result, want) == 0;
}

/* ".tmp-*" files left in VM's directory. */
static int temp_files(uint32_t vm)
{
	char dir[400];
	struct dirent *d;
	DIR *dp;
	int n = 0;

	e2e_vmdir(&env, vm, dir, sizeof(dir));
	if (!(dp = opendir(dir)))
		return -1;
	while ((d = readdir(dp)))
		if (strncmp(d->d_name, ".tmp-", 5) == 0)
			n++;
	closedir(dp);
	return n;
}

/* command.txt of VM: 0 absent, 1 a whole valid record (its seq into *SEQ), -1 anything
 * else (empty, partial, corrupt). */
static int command_state(uint32_t vm, int64_t *seq)
{
	char dir[400], path[450], buf[VGPU_RECORD_MAX];
	struct vgpu_request q;
	char err[200];
	ssize_t n;
	int fd;

	e2e_vmdir(&env, vm, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/command.txt", dir);
	if ((fd = open(path, O_RDONLY)) < 0)
		return errno == ENOENT ? 0 : -1;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n <= 0 || vgpu_request_decode(buf, (size_t)n, &q, err, sizeof(err)) != VGPU_REC_OK)
		return -1;
	*seq = q.seq;
	return 1;
}

/* ---- 1. the client library, every publish step, every N ---- */

static int fail_at, calls, hit;

static int nth_call(const char *name, int *failnum, void **failinfo, unsigned int *flags)
{
	(void)name;
	(void)failnum;
	(void)failinfo;
	(void)flags;
	if (++calls == fail_at) {
		hit++;
		return 1;
	}
	return 0;
}

static void client_steps(uint64_t *rng)
{
	static const char *const points[] = { "open", "write", "short", "fsync", "close", "rename" };
	static const int errs[] = { ENOSPC, EIO };
	struct vgpu_client_opts o = { .timeout_ms = 10000, .lock_dir = env.dir };
	struct vgpu_client *c = NULL;
	char dir[400], err[512], name[64];
	int failed_ok = 0, failed_bad = 0, shorts_ok = 0, shorts_bad = 0, runs = 0;
	const uint64_t n = 1000;
	float *in = malloc(2 * n * sizeof(float));

	e2e_vmdir(&env, 1, dir, sizeof(dir));
	if (!in || vgpu_client_open(&c, dir, &o, err, sizeof(err)) != VGPU_CLIENT_OK) {
		h_check(&r, 0, "client open: %s", err);
		free(in);
		return;
	}
	for (size_t p = 0; p < sizeof(points) / sizeof(points[0]); p++) {
		for (size_t e = 0; e < sizeof(errs) / sizeof(errs[0]); e++) {
			if (strcmp(points[p], "short") == 0 && e > 0)
				continue;     /* a short write carries no errno */
			snprintf(name, sizeof(name), "safeio/publish/%s", points[p]);
			for (fail_at = 1; fail_at < 20; fail_at++) {
				struct vgpu_request q;
				struct vgpu_response resp;
				int rc, tmp, cs, was_hit;
				int64_t cseq = 0, seq;
				char want[200];

				/* a payload request: two files published per call (in-SEQ.bin, command.txt) */
				for (uint64_t i = 0; i < 2 * n; i++)
					in[i] = (float)((int64_t)(h_rand(rng) % 2000001) - 1000000) / 1e6f;
				memset(&q, 0, sizeof(q));
				q.op = VGPU_OP_VADD;
				q.priority = VGPU_PRIO_MEDIUM;
				q.args.n = n;
				q.output_file = 0;
				calls = hit = 0;
				fiu_enable_external(name, 1, (void *)(intptr_t)errs[e], 0, nth_call);
				memset(&resp, 0, sizeof(resp));
				rc = vgpu_client_call(c, &q, in, 2 * n * sizeof(float), &resp, NULL, NULL, err, sizeof(err));
				fiu_disable(name);
				was_hit = hit;
				seq = vgpu_client_last_seq(c);
				runs++;
				r.req.submitted++;
				tmp = temp_files(1);
				cs = command_state(1, &cseq);
				if (!was_hit) {
					/* fewer than N calls of this step: the enumeration is done */
					summary_of_vadd(in, in + n, n, want, sizeof(want));
					if (rc == VGPU_CLIENT_OK && strcmp(resp.result, want) == 0)
						r.req.answered++;
					else
						r.req.lost++;
					break;
				}
				r.injections++;
				if (strcmp(points[p], "short") == 0) {
					summary_of_vadd(in, in + n, n, want, sizeof(want));
					if (rc == VGPU_CLIENT_OK && strcmp(resp.result, want) == 0 && tmp == 0) {
						shorts_ok++;
						r.req.answered++;
					} else {
						shorts_bad++;
						r.req.lost++;
						printf("  FAIL: short write #%d: rc %d (%s), %d temp files\n", fail_at, rc, err, tmp);
					}
					continue;
				}
				/* reported failed to its client, clearly, and nothing half-done */
				if (rc == VGPU_CLIENT_EIO && strstr(err, strerror(errs[e])) && tmp == 0 &&
				    cs >= 0 && !(cs == 1 && cseq == seq) &&
				    e2e_journal_count(&env, "queue", 1, seq) == 0) {
					failed_ok++;
				} else {
					failed_bad++;
					r.req.lost++;
					printf("  FAIL: %s call #%d with %s: rc %d (%s), %d temp files, command.txt %s (seq %"
					       PRId64 ", ours %" PRId64 ")\n", name, fail_at, strerror(errs[e]), rc, err, tmp,
					       cs == 0 ? "absent" : cs == 1 ? "whole" : "BROKEN", cseq, seq);
				}
			}
		}
	}
	vgpu_client_close(c);
	free(in);
	h_check(&r, failed_bad == 0 && failed_ok > 0,
		"%d client calls with a publish step (open, write, fsync, close, rename) failing its Nth call with "
		"ENOSPC or EIO: all %d reported EIO naming the error, no temp file, no half-written command.txt, "
		"nothing queued", runs, failed_ok);
	h_check(&r, shorts_bad == 0 && shorts_ok > 0, "%d short writes finished: answered right", shorts_ok);
	h_evidence(&r, "ours: %d injected publish failures (every step, every N, ENOSPC and EIO) all reported "
		   "EIO with nothing left half-written; %d short writes completed", failed_ok, shorts_ok);
}

/* ---- 2. the mediator cannot publish response.txt ---- */

static int wait_journal_exec(uint32_t vm)
{
	int before = 0;

	for (int t = 0; t < 5000; t += 5) {
		FILE *f = fopen(env.journal, "r");
		char line[512];
		int n = 0;

		if (f) {
			while (fgets(line, sizeof(line), f)) {
				unsigned v;
				if (sscanf(line, "exec vm=%u", &v) == 1 && v == vm)
					n++;
			}
			fclose(f);
		}
		if (t == 0)
			before = n;
		else if (n > before)
			return 1;
		e2e_msleep(5);
	}
	return 0;
}

static const char *preload_dir(void)
{
	const char *d = getenv("FIU_PRELOAD_DIR");
	return d && *d ? d : "/usr/lib/fiu";
}

/* Send a libfiu remote-control command to the mediator (what fiu-ctrl does). 0 or -1. */
static int fiu_ctrl(const char *cmd)
{
	char in[400], out[400], reply[64] = "";
	int fd, n;

	snprintf(in, sizeof(in), "%s/fiu-ctrl-%d.in", env.dir, (int)env.mediator);
	snprintf(out, sizeof(out), "%s/fiu-ctrl-%d.out", env.dir, (int)env.mediator);
	if ((fd = open(in, O_WRONLY)) < 0)
		return -1;
	n = dprintf(fd, "%s\n", cmd);
	close(fd);
	if (n <= 0 || (fd = open(out, O_RDONLY)) < 0)
		return -1;
	n = (int)read(fd, reply, sizeof(reply) - 1);
	close(fd);
	return n > 0 && atoi(reply) == 0 ? 0 : -1;
}

/* Re-publish vmN's command.txt as it is (same seq and nonce): a client's retry. */
static int retry_command(uint32_t vm)
{
	char dir[400], buf[VGPU_RECORD_MAX];
	size_t len = 0;
	int dfd, rc;

	e2e_vmdir(&env, vm, dir, sizeof(dir));
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY)) < 0)
		return -errno;
	rc = vgpu_safe_read(dfd, "command.txt", buf, sizeof(buf), &len, NULL);
	if (rc == 0)
		rc = vgpu_publish(dfd, "command.txt", buf, len, 0644);
	close(dfd);
	return rc;
}

static int read_response(uint32_t vm, struct vgpu_response *resp)
{
	char dir[400], buf[VGPU_RECORD_MAX], err[200];
	size_t len = 0;
	int dfd, rc;

	e2e_vmdir(&env, vm, dir, sizeof(dir));
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY)) < 0)
		return -errno;
	rc = vgpu_safe_read(dfd, "response.txt", buf, sizeof(buf), &len, NULL);
	close(dfd);
	if (rc == 0 && vgpu_response_decode(buf, len, resp, err, sizeof(err)) != VGPU_REC_OK)
		rc = -EPROTO;
	return rc;
}

static void mediator_response(uint64_t *rng)
{
	static const int errs[] = { ENOSPC, EIO };

	for (size_t e = 0; e < 2; e++) {
		uint32_t vm = (uint32_t)(2 + e);
		struct vgpu_request q;
		struct vgpu_response resp;
		struct e2e_call c, next;
		char cmd[200], want[120];
		uint64_t seed = h_rand(rng), t0;
		int got = 0, ok;

		memset(&q, 0, sizeof(q));
		q.op = VGPU_OP_SPIN;
		q.priority = VGPU_PRIO_MEDIUM;
		q.args.ms = 300;
		e2e_call_start(&env, &c, vm, &q, 1500);
		if (!wait_journal_exec(vm)) {
			h_check(&r, 0, "vm%u's spin reached the executor", vm);
			e2e_call_wait(&c);
			continue;
		}
		snprintf(cmd, sizeof(cmd), "enable name=safeio/publish/rename,failinfo=%d,onetime=1", errs[e]);
		if (fiu_ctrl(cmd) < 0) {
			h_check(&r, 0, "libfiu control FIFO of the mediator: '%s'", cmd);
			e2e_call_wait(&c);
			continue;
		}
		e2e_call_wait(&c);
		r.req.submitted++;
		snprintf(want, sizeof(want), "publish response.txt for seq %" PRId64 ": %s", c.out.my_seq,
			 strerror(errs[e]));
		if (0 < e2e_log_count(&env, want))
			r.injections++;
		/* the client's retry of the same record gets the saved answer */
		retry_command(vm);
		t0 = e2e_mono_ms();
		while (!got && e2e_mono_ms() - t0 < 3000) {
			memset(&resp, 0, sizeof(resp));
			got = read_response(vm, &resp) == 0 && resp.seq == c.out.my_seq;
			if (!got)
				e2e_msleep(10);
		}
		ok = got && resp.status == VGPU_OK && resp.vm == vm;
		if (ok)
			r.req.answered++;
		else
			r.req.lost++;
		if (got && resp.vm != vm)
			r.req.misrouted++;
		if (e2e_journal_count(&env, "exec", vm, c.out.my_seq) != 1)
			r.req.duplicated++;
		/* The mediator keeps the answer and publishes it again on its next rescan, so
		 * the client still waiting gets it; a retry of the record gets it too. */
		h_check(&r, c.out.rc == VGPU_CLIENT_OK && 0 < e2e_log_count(&env, want) && ok &&
			e2e_journal_count(&env, "exec", vm, c.out.my_seq) == 1,
			"response.txt for vm%u seq %" PRId64 " failed with %s: logged (\"%s\"), re-published on the "
			"next rescan: the waiting client got %s; a retry of the record got the saved answer %s; run once",
			vm, c.out.my_seq, strerror(errs[e]), want, vgpu_client_strerror(c.out.rc),
			got ? vgpu_status_name(resp.status) : "nothing");
		vadd_req(&q, seed, 512);
		e2e_call_start(&env, &next, vm, &q, 5000);
		e2e_call_wait(&next);
		r.req.submitted++;
		if (vadd_seed_ok(next.out.status, next.out.result, seed, 512)) {
			r.req.answered++;
			h_check(&r, 1, "the mediator keeps serving: vm%u's next request OK", vm);
		} else {
			r.req.lost++;
			h_check(&r, 0, "the mediator keeps serving: vm%u's next request %d", vm, next.out.rc);
		}
	}
	h_evidence(&r, "ours: the mediator's failed response.txt (ENOSPC, EIO) was logged and answered on retry");
}

/* ---- 4. the state directory refuses to save ---- */

static int start_mediator_under_fiu(void);

/* vmN's command.txt seq (the client's seq for its call in flight), 0 if unreadable. */
static int64_t command_seq(uint32_t vm)
{
	int64_t seq = 0;

	return command_state(vm, &seq) == 1 ? seq : 0;
}

/* The seq of the answer kept in STATE/vmN.journal (the mediator's own loader), 0 if none. */
static int64_t state_last_seq(uint32_t vm)
{
	struct vgpu_vm_state st;
	int64_t seq = 0;
	int dfd = open(env.state, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd >= 0 && vgpu_state_load(dfd, vm, &st) == 0) {
		seq = st.answered_seq;
		vgpu_state_release(&st);
	}
	if (dfd >= 0)
		close(dfd);
	return seq;
}

static void state_faults(void)
{
	/* the VM's journal exists from its first intent on: each change is one slot write */
	static const char *const steps[] = { "state/journal/write", "state/journal/short", "state/journal/fsync" };
	static const int errs[] = { ENOSPC, EIO };
	const uint32_t vm = 6;
	int held_ok = 0, held_bad = 0;

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]) + 1; i++) {
		for (size_t e = 0; e < 2; e++) {
			/* the last round fails the intent's save (before the job): EXEC_FAILED, never run */
			int intent = i == sizeof(steps) / sizeof(steps[0]);
			const char *step = intent ? "state/journal/write" : steps[i];
			struct vgpu_request q;
			struct vgpu_response resp;
			struct e2e_call c;
			char cmd[200], want[200];
			int64_t seq;
			int visible, ok, execs;

			memset(&q, 0, sizeof(q));
			q.op = VGPU_OP_SPIN;
			q.priority = VGPU_PRIO_MEDIUM;
			q.args.ms = 200;
			snprintf(cmd, sizeof(cmd), "enable name=%s,failinfo=%d", step, errs[e]);
			if (intent && fiu_ctrl(cmd) < 0) {
				h_check(&r, 0, "libfiu control FIFO of the mediator: '%s'", cmd);
				return;
			}
			e2e_call_start(&env, &c, vm, &q, 8000);
			if (!intent && (!wait_journal_exec(vm) || fiu_ctrl(cmd) < 0)) {
				h_check(&r, 0, "%s: the job reached the executor and the fault was set", step);
				e2e_call_wait(&c);
				return;
			}
			e2e_msleep(intent ? 300 : 500);   /* the spin ends, its answer is refused */
			seq = command_seq(vm);
			snprintf(want, sizeof(want), "saving the answer to seq %" PRId64 " in --state: %s", seq,
				 strerror(errs[e]));
			memset(&resp, 0, sizeof(resp));
			visible = read_response(vm, &resp) == 0 && resp.seq == seq;
			/* the client retries the same record: must not run again */
			retry_command(vm);
			e2e_msleep(250);
			snprintf(cmd, sizeof(cmd), "disable name=%s", step);
			fiu_ctrl(cmd);
			e2e_call_wait(&c);
			r.req.submitted++;
			execs = e2e_journal_count(&env, "exec", vm, seq);
			if (e2e_log_count(&env, want) > 0)
				r.injections++;
			ok = c.out.my_seq == seq && !visible && execs == (intent ? 0 : 1) &&
			     c.out.status == (intent ? VGPU_EXEC_FAILED : VGPU_OK) &&
			     e2e_journal_wait(&env, "answer", vm, seq, 1, E2E_WAIT_MS) == 1 &&
			     state_last_seq(vm) == seq && e2e_log_count(&env, want) > 0;
			if (execs > 1)
				r.req.duplicated++;
			if (c.out.status == (intent ? VGPU_EXEC_FAILED : VGPU_OK))
				r.req.answered++;
			else
				r.req.lost++;
			if (ok) {
				held_ok++;
			} else {
				held_bad++;
				printf("  FAIL: %s%s with %s: seq %" PRId64 " (client's %" PRId64 "): answer %s while unsaved, "
				       "executed %d, client got %s, answered %d time(s), state keeps seq %" PRId64 ", log %s\n",
				       intent ? "(intent) " : "", step, strerror(errs[e]), seq, c.out.my_seq,
				       visible ? "VISIBLE" : "held", execs,
				       c.out.status >= 0 ? vgpu_status_name(c.out.status) : vgpu_client_strerror(c.out.rc),
				       e2e_journal_count(&env, "answer", vm, seq), state_last_seq(vm),
				       e2e_log_count(&env, want) ? "ok" : "MISSING");
			}
		}
	}
	h_check(&r, held_bad == 0, "--state refusing (ENOSPC, EIO) at each of the 3 steps of saving an answer and at "
		"the intent: %d of %d answers held unpublished while unsaved, the record sent again not re-run, the "
		"waiting client answered once the state recovered, with the answer the state keeps", held_ok,
		held_ok + held_bad);

	/* SIGKILL while an answer is unsaved: INTERRUPTED after the restart, not re-run */
	{
		struct vgpu_request q;
		struct e2e_call c;
		int64_t seq;
		int execs;

		memset(&q, 0, sizeof(q));
		q.op = VGPU_OP_SPIN;
		q.priority = VGPU_PRIO_MEDIUM;
		q.args.ms = 200;
		e2e_call_start(&env, &c, vm, &q, 10000);
		if (!wait_journal_exec(vm) || fiu_ctrl("enable name=state/journal/write,failinfo=28") < 0) {
			h_check(&r, 0, "kill while unsaved: the job reached the executor and the fault was set");
			e2e_call_wait(&c);
			return;
		}
		e2e_msleep(500);
		seq = command_seq(vm);
		kill(env.mediator, SIGKILL);
		waitpid(env.mediator, NULL, 0);
		env.mediator = 0;
		r.injections++;
		if (start_mediator_under_fiu() < 0) {
			h_check(&r, 0, "the mediator restarted after SIGKILL (see %s)", env.log);
			e2e_call_wait(&c);
			return;
		}
		e2e_call_wait(&c);
		execs = e2e_journal_count(&env, "exec", vm, seq);
		r.req.submitted++;
		if (c.out.status == VGPU_INTERRUPTED)
			r.req.answered++;
		else
			r.req.lost++;
		if (execs > 1)
			r.req.duplicated++;
		h_check(&r, c.out.my_seq == seq && c.out.status == VGPU_INTERRUPTED && execs == 1 && state_last_seq(vm) == seq,
			"SIGKILL while the answer to seq %" PRId64 " was unsaved: after the restart the waiting client got %s, "
			"executed %d time(s), the state keeps seq %" PRId64, seq,
			c.out.status >= 0 ? vgpu_status_name(c.out.status) : vgpu_client_strerror(c.out.rc), execs,
			state_last_seq(vm));
	}
	h_evidence(&r, "ours: --state refusing at every step: answers held until saved (%d), never run twice; "
		   "SIGKILL while unsaved -> INTERRUPTED", held_ok);
}

/* ---- 3. vgpu-client under random POSIX write() failures ---- */

static void client_posix(uint64_t *rng, int runs)
{
	int ok = 0, clear = 0, bad = 0;

	for (int i = 0; i < runs; i++) {
		char bin[400], dir[400], seed[32], pre[700];
		uint64_t s = h_rand(rng);
		int st = 0, tmp, cs;
		int64_t cseq = 0;
		pid_t pid;

		snprintf(bin, sizeof(bin), "%s/vgpu-client", env.build);
		e2e_vmdir(&env, 4, dir, sizeof(dir));
		snprintf(seed, sizeof(seed), "%" PRIu64, s);
		snprintf(pre, sizeof(pre), "%s/fiu_run_preload.so %s/fiu_posix_preload.so", preload_dir(), preload_dir());
		pid = fork();
		if (pid == 0) {
			int fd = open("/dev/null", O_WRONLY);
			dup2(fd, 1);
			dup2(fd, 2);
			setenv("LD_PRELOAD", pre, 1);
			setenv("FIU_ENABLE", "enable_random name=posix/io/rw/write,probability=0.3,failinfo=5", 1);
			setenv("FIU_CTRL_FIFO", "", 1);
			execl(bin, bin, "--dir", dir, "--lock-dir", env.dir, "--timeout", "5", "--seed", seed, "vadd",
			      "777", (char *)NULL);
			_exit(127);
		}
		waitpid(pid, &st, 0);
		st = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		tmp = temp_files(4);
		cs = command_state(4, &cseq);
		r.req.submitted++;
		if (st == VGPU_CLIENT_OK) {
			ok++;
			r.req.answered++;
		} else if ((st == VGPU_CLIENT_EIO || st == VGPU_CLIENT_ELOCK) && tmp == 0 && cs >= 0) {
			clear++;
			r.injections++;
		} else {
			bad++;
			r.req.lost++;
			printf("  FAIL: vgpu-client run %d: exit %d, %d temp files, command.txt %s\n", i, st, tmp,
			       cs < 0 ? "BROKEN" : "ok");
		}
	}
	h_check(&r, bad == 0, "vgpu-client under random write() failures (EIO, p=0.3), %d runs: %d OK, %d failed "
		"with a clear EIO/ELOCK exit and nothing half-written, %d otherwise", runs, ok, clear, bad);
	h_evidence(&r, "ours: vgpu-client under random EIO on write(): %d OK, %d clear errors, 0 half-written",
		   ok, clear);
}

/* ---- naive control ---- */

/* The errors log's writer: fopen in place, fprintf, fflush, fclose, nothing checked. */
static int naive_write_command(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return 1;
	fprintf(f, "%s", text);
	fflush(f);
	fclose(f);
	return 0;     /* "done" */
}

static void naive_control(void)
{
	static const int errs[] = { ENOSPC, EIO };
	struct vgpu_request q;
	char rec[1024], path[450], dir[400], fiu[240], pre[700];
	int len, shown = 0;

	memset(&q, 0, sizeof(q));
	q.vm = 5;
	q.seq = 1;
	snprintf(q.nonce, sizeof(q.nonce), "0123456789abcdef");
	q.op = VGPU_OP_PING;
	q.priority = VGPU_PRIO_LOW;
	q.output_file = -1;
	len = vgpu_request_encode(&q, rec, sizeof(rec) - 1);
	if (len < 0) {
		h_naive(&r, 0, "could not encode a record");
		return;
	}
	rec[len] = '\0';
	e2e_vmdir(&env, 5, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/command.txt", dir);
	snprintf(pre, sizeof(pre), "%s/fiu_run_preload.so %s/fiu_posix_preload.so", preload_dir(), preload_dir());
	for (size_t e = 0; e < 2; e++) {
		struct stat st;
		int status = 0;
		pid_t pid;

		unlink(path);
		/* stdio's own writes bypass the write() wrapper: fail at the stdio calls */
		snprintf(fiu, sizeof(fiu), "enable name=posix/stdio/sp/*,failinfo=%d\nenable name=posix/stdio/gp/*,"
			 "failinfo=%d\nenable name=posix/stdio/fflush,failinfo=%d", errs[e], errs[e], errs[e]);
		pid = fork();
		if (pid == 0) {
			setenv("LD_PRELOAD", pre, 1);
			setenv("FIU_ENABLE", fiu, 1);
			setenv("FIU_CTRL_FIFO", "", 1);
			execl(self, self, "--naive-write", path, rec, (char *)NULL);
			_exit(127);
		}
		waitpid(pid, &status, 0);
		r.injections++;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && stat(path, &st) == 0 && st.st_size < len) {
			shown++;
			h_naive(&r, 1, "fprintf+fclose in place under %s: reported success, command.txt has %lld of %d bytes",
				strerror(errs[e]), (long long)st.st_size, len);
		} else {
			h_naive(&r, 0, "fprintf+fclose in place under %s: exit %d, command.txt %s", strerror(errs[e]),
				WIFEXITED(status) ? WEXITSTATUS(status) : -1, stat(path, &st) == 0 ? "present" : "absent");
		}
	}
	unlink(path);
	if (shown)
		h_evidence(&r, "naive: fprintf+fclose in place under ENOSPC/EIO reported success and left an empty "
			   "command.txt");
}

/* vgpu-mediator under libfiu's preload with its control FIFO (fiu_ctrl()). 0 or -1. */
static int start_mediator_under_fiu(void)
{
	static const char *const args[] = { "--executor", "mock", "--test-ops", "--rescan-ms", "100", NULL };
	char fifo[400], pre[400];
	int rc;

	snprintf(fifo, sizeof(fifo), "%s/fiu-ctrl", env.dir);
	snprintf(pre, sizeof(pre), "%s/fiu_run_preload.so", preload_dir());
	setenv("FIU_ENABLE", "", 1);
	setenv("FIU_CTRL_FIFO", fifo, 1);
	setenv("LD_PRELOAD", pre, 1);
	rc = e2e_start_mediator(&env, args);
	unsetenv("LD_PRELOAD");
	unsetenv("FIU_ENABLE");
	unsetenv("FIU_CTRL_FIFO");
	return rc;
}

int main(int argc, char **argv)
{
	char pre[400];
	uint64_t rng;
	ssize_t n;

	if (argc == 4 && strcmp(argv[1], "--naive-write") == 0)
		return naive_write_command(argv[2], argv[3]);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = '\0';
	h_begin(&r, "IOFAULT", "ENOSPC and EIO at every step of publishing (open, write, short write, fsync, close, "
		"rename)", "local");
	rng = r.seed;
	snprintf(pre, sizeof(pre), "%s/fiu_posix_preload.so", preload_dir());
	if (access(pre, R_OK) != 0) {
		snprintf(r.skipped, sizeof(r.skipped), "libfiu's preload libraries not found in %s (install fiu-utils "
			 "or set FIU_PRELOAD_DIR)", preload_dir());
		return h_finish(&r);
	}
	fiu_init(0);
	if (e2e_setup(&env, 6) < 0) {
		h_check(&r, 0, "private directory: %s", strerror(errno));
		return h_finish(&r);
	}
	naive_control();
	if (start_mediator_under_fiu() < 0) {
		h_check(&r, 0, "vgpu-mediator under libfiu's preload started (see %s)", env.log);
	} else {
		client_steps(&rng);
		mediator_response(&rng);
		state_faults();
		client_posix(&rng, 12);
		h_check(&r, e2e_stop_mediator(&env, 5000) == 0, "the mediator served throughout and stops on SIGTERM");
	}
	unsetenv("LD_PRELOAD");
	e2e_teardown(&env);
	return h_finish(&r);
}
