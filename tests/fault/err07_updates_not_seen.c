/* err07_updates_not_seen.c - ERRORS_LOG error 7: "Mediator Not Seeing Command File
 * Updates" (command written, never processed; content not seen).
 *
 * (a) Two commands within one second. Naive control: the errors log's own fix,
 * naive/naive_mtime_poller.c ("if (st.st_mtime > last_mtime) read") with the VM
 * writing in place (fprintf+fflush+fclose): it reads 1 of 2. Ours: the real
 * vgpu-mediator answers two quick requests of one VM, and an in-place rewrite with the
 * same inode, size and mtime (set back with futimens) is still seen: the content's CRC
 * is part of what "already seen" means.
 * (b) Torn writes. Naive: a command written in place in two parts with a pause is read
 * in between and acted on (n = 10 instead of 1048576); under fiu-run's short writes an
 * unchecked write() leaves half a command. Ours: the mediator waits for the complete
 * record (INCOMPLETE until the end line), answers BAD_REQUEST when it never completes
 * within --grace-ms, answers CORRUPT when old and new records are mixed (CRC), and never
 * executes half a command; the client library publishes whole records under short
 * writes.
 * (c) The errors log's "polling interval too long": a 2 s poll loop answers 1 or 2 of 3
 * commands after the VM's 1 s wait; ours, with --rescan-ms 60000, answers all within it.
 * (d) The inotify queue overflowed (the mediator held by SIGSTOP while max_queued_events
 * + 100 events arrive, then three VMs publish): all three answered within 5 s of SIGCONT,
 * with the periodic rescan a minute away.
 * (e) response.txt lost and the same record sent again: a naive mediator without saved
 * answers runs it twice; ours publishes the saved answer again, never re-runs.
 * Injections: each counted when it happened (same st_mtime second, the mediator's
 * "incomplete"/CORRUPT, late answers, the overflow seen by a watch of our own, ...).
 * Handling proved (src/): src/mediator/intake.c (the content-CRC key,
 * INCOMPLETE/--grace-ms, CORRUPT, republishing a saved answer), src/mediator/mediator.c
 * (inotify, IN_Q_OVERFLOW -> rescan), src/lib/record.c (CRC, end line), src/lib/safeio.c
 * (short writes finished). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/client.h"
#include "lib/record.h"
#include "lib/safeio.h"
#include "lib/status.h"
#include "../e2e/e2e_util.h"
#include "harness.h"
#include "naive/naive_mtime_poller.h"
#include "naive/naive_nfs.h"
#include "../common/testutil.h"

#define GRACE_MS 1500
#define PAUSE_MS 300

/* Sleep until 100..600 ms into a wall-clock second, so that two writes a few ms apart
 * share st_mtime's second (the file system's clock lags the wall clock by up to a tick). */
static void align_to_second(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_nsec >= 100000000L && ts.tv_nsec <= 600000000L)
		return;
	long wait_ns = ts.tv_nsec < 100000000L ? 100000000L - ts.tv_nsec : 1100000000L - ts.tv_nsec;
	msleep((int)(wait_ns / 1000000L) + 1);
}

/* ---- helpers for our side ------------------------------------------------------------ */

static int encode(uint32_t vm, int64_t seq, const char *nonce, enum vgpu_op op, uint64_t n, char *buf, size_t cap)
{
	struct vgpu_request q;

	memset(&q, 0, sizeof(q));
	q.vm = vm;
	q.seq = seq;
	snprintf(q.nonce, sizeof(q.nonce), "%s", nonce);
	q.priority = VGPU_PRIO_MEDIUM;
	q.op = op;
	q.output_file = -1;
	if (op == VGPU_OP_VADD) {
		q.args.n = n;
		q.args.has_seed = 1;
		q.args.seed = 7;
	}
	return vgpu_request_encode(&q, buf, cap);
}

static int wait_answers(const struct e2e_env *e, uint32_t vm, int64_t seq, int count, int timeout_ms)
{
	return e2e_journal_wait(e, "answer", vm, seq, count, timeout_ms) >= count ? 0 : -1;
}

/* Status NAMEs of the journal's answers for VM/SEQ, space separated, into OUT. */
static void answer_statuses(const struct e2e_env *e, uint32_t vm, int64_t seq, char *out, size_t cap)
{
	FILE *f = fopen(e->journal, "r");
	char line[512];

	out[0] = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned lvm;
		long long lseq;
		char *st;
		if (sscanf(line, "answer vm=%u seq=%lld", &lvm, &lseq) != 2 || lvm != vm || lseq != seq)
			continue;
		if ((st = strstr(line, "status=")) != NULL) {
			size_t len = strlen(out);
			snprintf(out + len, cap - len, "%s%.*s", len ? " " : "", (int)strcspn(st + 7, " \n"), st + 7);
		}
	}
	fclose(f);
}

static int read_response(const struct e2e_env *e, uint32_t vm, struct vgpu_response *resp)
{
	char dir[400], *buf = malloc(VGPU_RECORD_MAX), err[128];
	size_t len = 0;
	int dfd, rc = -1;

	e2e_vmdir(e, vm, dir, sizeof(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (buf && dfd >= 0 && vgpu_safe_read(dfd, "response.txt", buf, VGPU_RECORD_MAX, &len, NULL) == 0 &&
	    vgpu_response_decode(buf, len, resp, err, sizeof(err)) == VGPU_REC_OK)
		rc = 0;
	if (dfd >= 0)
		close(dfd);
	free(buf);
	return rc;
}

/* Write BUF into VM's command.txt in place: FLAGS (O_TRUNC or not), the first SPLIT
 * bytes, PAUSE_MS, the rest (unless SPLIT == LEN or STOP), then set the mtime to
 * *MTIME when given, then close. 0 or -errno. */
static int write_in_place(const struct e2e_env *e, uint32_t vm, const char *buf, size_t len, size_t split,
			  int flags, int pause_ms, int stop, const struct timespec *mtime)
{
	char path[512];
	int fd;

	e2e_vmdir(e, vm, path, sizeof(path));
	strncat(path, "/command.txt", sizeof(path) - strlen(path) - 1);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0644);
	if (fd < 0)
		return -errno;
	if (vgpu_write_full(fd, buf, split) < 0)
		goto fail;
	if (pause_ms)
		msleep(pause_ms);
	if (!stop && split < len && vgpu_write_full(fd, buf + split, len - split) < 0)
		goto fail;
	if (mtime) {
		struct timespec t[2] = { *mtime, *mtime };
		if (futimens(fd, t) < 0)
			goto fail;
	}
	return close(fd) < 0 ? -errno : 0;
fail:
	close(fd);
	return -errno;
}

/* ---- (a) two commands within one second ----------------------------------------------- */

static void naive_same_second(struct h_result *r, const char *base)
{
	char path[512], cmd[256];
	struct naive_poller p;
	int seen_first = 0, seen_second = 0;

	snprintf(path, sizeof(path), "%s/naive-command.txt", base);
	naive_poller_init(&p, path);
	align_to_second();
	struct stat m1, m2;

	naive_write_command(path, "vm 1 seq 1 op vadd n 1024\n");
	stat(path, &m1);
	if (naive_poller_poll(&p, cmd, sizeof(cmd)) == 1 && strstr(cmd, "seq 1"))
		seen_first = 1;
	msleep(5);
	naive_write_command(path, "vm 1 seq 2 op vadd n 2048\n");   /* same second */
	if (stat(path, &m2) == 0 && m2.st_mtime == m1.st_mtime)
		r->injections++;      /* the two updates did share st_mtime's second */
	for (int i = 0; i < 10; i++) {
		if (naive_poller_poll(&p, cmd, sizeof(cmd)) == 1 && strstr(cmd, "seq 2"))
			seen_second = 1;
		msleep(5);
	}
	msleep(1100);   /* a second later: still nothing new as far as st_mtime says */
	if (naive_poller_poll(&p, cmd, sizeof(cmd)) == 1 && strstr(cmd, "seq 2"))
		seen_second = 1;
	h_naive(r, seen_first && !seen_second,
		"st_mtime poller: read %d of 2 commands written 5 ms apart (seq 2 never read, even 1.1 s later)",
		p.reads);
	h_evidence(r, "naive st_mtime poller read %d of 2 commands written in one second", p.reads);
}

static void ours_same_second(struct h_result *r, struct e2e_env *e)
{
	char dir[400], err[512];
	struct vgpu_client *c;
	struct vgpu_client_opts o = { .timeout_ms = 10000, .poll_max_ms = 5, .lock_dir = e->dir };
	int ok = 0;
	struct timespec t0, t1;

	e2e_vmdir(e, 1, dir, sizeof(dir));
	if (vgpu_client_open(&c, dir, &o, err, sizeof(err)) != VGPU_CLIENT_OK) {
		h_check(r, 0, "vm1 client: %s", err);
		return;
	}
	char cpath[512];
	time_t cmt[2] = { 0, 1 };

	snprintf(cpath, sizeof(cpath), "%s/command.txt", dir);
	align_to_second();
	clock_gettime(CLOCK_REALTIME, &t0);
	for (int i = 0; i < 2; i++) {
		struct vgpu_request q = { .op = VGPU_OP_PING, .priority = VGPU_PRIO_MEDIUM };
		struct vgpu_response resp;
		struct stat cs;
		r->req.submitted++;
		if (vgpu_client_call(c, &q, NULL, 0, &resp, NULL, NULL, err, sizeof(err)) == VGPU_CLIENT_OK &&
		    resp.seq == vgpu_client_last_seq(c) && resp.vm == 1) {
			ok++;
			r->req.answered++;
		} else {
			r->req.lost++;
		}
		if (stat(cpath, &cs) == 0)
			cmt[i] = cs.st_mtime;
	}
	clock_gettime(CLOCK_REALTIME, &t1);
	if (cmt[0] == cmt[1])
		r->injections++;      /* both commands carried the same st_mtime second */
	vgpu_client_close(c);
	h_check(r, ok == 2 && e2e_journal_count(e, "exec", 1, 1) == 1 && e2e_journal_count(e, "exec", 1, 2) == 1,
		"vm1: two requests within %s second (%.0f ms) both executed once and answered",
		t0.tv_sec == t1.tv_sec ? "one" : "about one", (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
		(double)(t1.tv_nsec - t0.tv_nsec) / 1e6);

	/* In place, same inode, same size, same mtime: only the content differs. */
	{
		char a[1024], b[1024], st[128];
		int la = encode(2, 1, "00000000000000a1", VGPU_OP_PING, 0, a, sizeof(a));
		int lb = encode(2, 2, "00000000000000b2", VGPU_OP_PING, 0, b, sizeof(b));
		struct timespec mt = { 1700000000, 0 };
		struct stat s1, s2;
		char path[512];

		e2e_vmdir(e, 2, path, sizeof(path));
		strncat(path, "/command.txt", sizeof(path) - strlen(path) - 1);
		r->req.submitted += 2;
		if (la != lb || write_in_place(e, 2, a, (size_t)la, (size_t)la, O_TRUNC, 0, 0, &mt) < 0 ||
		    wait_answers(e, 2, 1, 1, 5000) < 0 || stat(path, &s1) < 0) {
			h_check(r, 0, "vm2: the first in-place record was answered");
			r->req.lost += 2;
			return;
		}
		r->req.answered++;
		write_in_place(e, 2, b, (size_t)lb, (size_t)lb, 0, 0, 0, &mt);
		stat(path, &s2);
		if (s1.st_ino == s2.st_ino && s1.st_size == s2.st_size && s1.st_mtim.tv_sec == s2.st_mtim.tv_sec &&
		    s1.st_mtim.tv_nsec == s2.st_mtim.tv_nsec)
			r->injections++;  /* metadata identical: only the content tells */
		if (wait_answers(e, 2, 2, 1, 5000) == 0)
			r->req.answered++;
		else
			r->req.lost++;
		answer_statuses(e, 2, 2, st, sizeof(st));
		h_check(r, s1.st_ino == s2.st_ino && s1.st_size == s2.st_size &&
			s1.st_mtim.tv_sec == s2.st_mtim.tv_sec && s1.st_mtim.tv_nsec == s2.st_mtim.tv_nsec,
			"vm2: the rewrite kept inode, size and mtime (%lld bytes, mtime %lld.%09ld)",
			(long long)s2.st_size, (long long)s2.st_mtim.tv_sec, s2.st_mtim.tv_nsec);
		h_check(r, strcmp(st, "OK") == 0 && e2e_journal_count(e, "exec", 2, 2) == 1,
			"vm2: the in-place rewrite with equal size and mtime was seen by its content: seq 2 executed once, "
			"answered %s", st[0] ? st : "never");
	}
	h_evidence(r, "ours: 2 requests in one second both answered; an in-place rewrite with same inode/size/mtime seen by CRC");
}

/* ---- (b) torn and short writes -------------------------------------------------------- */

static void naive_torn(struct h_result *r, const char *base)
{
	const char *text = "vm 1\nseq 3\nop vadd\nn 1048576\n";
	char path[512], cmd[256];
	struct naive_poller p;
	pid_t w;
	int acted_n = -1, reads_full = 0;
	const char *np;

	snprintf(path, sizeof(path), "%s/naive-torn.txt", base);
	naive_poller_init(&p, path);
	align_to_second();
	w = fork();
	if (w == 0)
		_exit(naive_write_command_torn(path, text, strstr(text, "n 1048576") - text + 4, PAUSE_MS) ? 1 : 0);
	r->injections++;
	msleep(PAUSE_MS / 3);
	if (naive_poller_poll(&p, cmd, sizeof(cmd)) == 1 && (np = strstr(cmd, "\nn ")) != NULL)
		acted_n = atoi(np + 3);
	waitpid(w, NULL, 0);
	for (int i = 0; i < 5; i++) {   /* the rest arrived within the same second: not seen */
		if (naive_poller_poll(&p, cmd, sizeof(cmd)) == 1 && strstr(cmd, "1048576"))
			reads_full = 1;
		msleep(10);
	}
	h_naive(r, acted_n >= 0 && acted_n != 1048576 && !reads_full,
		"command written in place in two parts %d ms apart: the poller read it in between and acted on n=%d "
		"(the VM wrote 1048576); the complete command was %s", PAUSE_MS, acted_n,
		reads_full ? "read later" : "never read (same second)");
	h_evidence(r, "naive reader acted on a torn command: n=%d instead of 1048576", acted_n);
}

/* The naive writer's one unchecked write(), run under fiu-run's short writes. */
static int helper_naive_write(const char *path)
{
	const char *text = "vm 1\nseq 4\nop vadd\nn 1048576\nend\n";
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ssize_t n;

	if (fd < 0)
		return 2;
	n = write(fd, text, strlen(text));   /* the naive writer does not look at n */
	close(fd);
	return n >= 0 && (size_t)n < strlen(text) ? 1 : 0;   /* 1: it was short */
}

/* Our client's call under fiu-run's short writes. Exit status: the client rc. */
static int helper_client_call(const char *dir, const char *lock_dir)
{
	struct vgpu_client *c;
	struct vgpu_client_opts o = { .timeout_ms = 10000, .poll_max_ms = 5, .lock_dir = lock_dir };
	struct vgpu_request q = { .op = VGPU_OP_VADD, .args.n = 4096, .args.has_seed = 1, .args.seed = 11,
				  .priority = VGPU_PRIO_MEDIUM };
	struct vgpu_response resp;
	char err[512];
	int rc;

	if ((rc = vgpu_client_open(&c, dir, &o, err, sizeof(err))) != VGPU_CLIENT_OK)
		return rc;
	rc = vgpu_client_call(c, &q, NULL, 0, &resp, NULL, NULL, err, sizeof(err));
	if (rc != VGPU_CLIENT_OK)
		fprintf(stderr, "helper: %s\n", err);
	vgpu_client_close(c);
	return rc;
}

static int run_under_fiu(const char *self, const char *mode, const char *a1, const char *a2)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		execlp("fiu-run", "fiu-run", "-x", "-c", "enable_random name=posix/io/rw/write/reduce,probability=0.5",
		       self, mode, a1, a2, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void short_writes(struct h_result *r, struct e2e_env *e, const char *self)
{
	char path[512], dir[400], cmd[256] = "";
	int shorts = 0, tries = 0, rc, ok = 0;
	struct naive_poller p;

	if (system("command -v fiu-run >/dev/null 2>&1") != 0) {
		printf("  note: fiu-run not found (package fiu-utils): short-write part skipped\n");
		return;
	}
	snprintf(path, sizeof(path), "%s/naive-short.txt", e->dir);
	for (tries = 0; tries < 20 && shorts == 0; tries++)
		shorts += run_under_fiu(self, "--helper-naive-write", path, "-") == 1;
	r->injections += shorts;
	naive_poller_init(&p, path);
	if (shorts && naive_poller_poll(&p, cmd, sizeof(cmd)) == 1)
		printf("    naive file after a short write: %zu bytes\n", strlen(cmd));
	h_naive(r, shorts > 0 && !strstr(cmd, "end\n"),
		"fiu-run posix/io/rw/write/reduce: the naive unchecked write() left a truncated command (%d short of %d runs)",
		shorts, tries);

	e2e_vmdir(e, 6, dir, sizeof(dir));
	for (int i = 0; i < 3; i++) {
		r->req.submitted++;
		rc = run_under_fiu(self, "--helper-client-call", dir, e->dir);
		if (rc == VGPU_CLIENT_OK) {
			ok++;
			r->req.answered++;
		} else {
			r->req.lost++;
			printf("    client under short writes: rc %d (%s)\n", rc, rc < 20 ? vgpu_client_strerror(rc) : "?");
		}
	}
	/* not counted as injections: whether fiu reduced one of the client's writes is not
	 * observable from here (each write() is reduced with probability 0.5) */
	h_check(r, ok == 3 && e2e_journal_count(e, "exec", 6, 0) == 3,
		"our client under the same short writes (each write() reduced with p=0.5): %d of 3 requests published whole and answered OK (exec %d)",
		ok, e2e_journal_count(e, "exec", 6, 0));
}

static void ours_torn(struct h_result *r, struct e2e_env *e)
{
	char buf[1024], st[128];
	struct vgpu_response resp;
	int len;

	/* b1: truncating in-place write, paused inside "n 65536": INCOMPLETE, then whole. */
	len = encode(3, 1, "00000000000000c3", VGPU_OP_VADD, 65536, buf, sizeof(buf));
	r->req.submitted++;
	write_in_place(e, 3, buf, (size_t)len, (size_t)(strstr(buf, "n 65536") - buf + 4), O_TRUNC, PAUSE_MS, 0, NULL);
	if (wait_answers(e, 3, 1, 1, 5000) == 0)
		r->req.answered++;
	else
		r->req.lost++;
	answer_statuses(e, 3, 1, st, sizeof(st));
	memset(&resp, 0, sizeof(resp));
	read_response(e, 3, &resp);
	if (0 < e2e_log_wait(e, "vm3: command.txt incomplete", 1, E2E_WAIT_MS))
		r->injections++;      /* the mediator did read it torn */
	h_check(r, 0 < e2e_log_count(e, "vm3: command.txt incomplete"),
		"vm3: the mediator read the torn command.txt and called it incomplete (log)");
	h_check(r, strcmp(st, "OK") == 0 && e2e_journal_count(e, "exec", 3, 1) == 1 &&
		strncmp(resp.result, "count=65536 ", 12) == 0,
		"vm3: it waited for the end line, then executed the whole command once: answers [%s], result \"%.40s\"",
		st, resp.result);

	/* b2: a writer that stops half-way (VM died): BAD_REQUEST after --grace-ms, not run. */
	len = encode(4, 1, "00000000000000d4", VGPU_OP_VADD, 65536, buf, sizeof(buf));
	r->req.submitted++;
	write_in_place(e, 4, buf, (size_t)len, (size_t)len / 2, O_TRUNC, 0, 1, NULL);
	{
		char cp[512];
		struct stat hs;
		e2e_vmdir(e, 4, cp, sizeof(cp));
		strncat(cp, "/command.txt", sizeof(cp) - strlen(cp) - 1);
		if (stat(cp, &hs) == 0 && hs.st_size == len / 2)
			r->injections++;  /* half a record is what the directory holds */
	}
	if (wait_answers(e, 4, 0, 1, GRACE_MS + 3000) == 0)
		r->req.answered++;
	else
		r->req.lost++;
	memset(&resp, 0, sizeof(resp));
	read_response(e, 4, &resp);
	h_check(r, resp.status == VGPU_BAD_REQUEST && e2e_journal_count(e, "exec", 4, 0) == 0,
		"vm4: half a command that never completes: %s after --grace-ms %d (\"%.60s...\"), never executed",
		vgpu_status_name(resp.status), GRACE_MS, resp.error);

	/* b3: a same-size in-place overwrite without O_TRUNC, paused half-way: the reader
	 * sees the new head and the old tail (old end line): CORRUPT by CRC; then the
	 * complete new record runs once. */
	{
		char a[1024], b[1024];
		int la = encode(5, 1, "00000000000000e5", VGPU_OP_PING, 0, a, sizeof(a));
		int lb = encode(5, 2, "00000000000000f5", VGPU_OP_PING, 0, b, sizeof(b));

		r->req.submitted += 2;
		write_in_place(e, 5, a, (size_t)la, (size_t)la, O_TRUNC, 0, 0, NULL);
		if (wait_answers(e, 5, 1, 1, 5000) == 0)
			r->req.answered++;
		else
			r->req.lost++;
		write_in_place(e, 5, b, (size_t)lb, (size_t)lb / 2, 0, PAUSE_MS, 0, NULL);
		wait_answers(e, 5, 2, 2, 5000);
		answer_statuses(e, 5, 2, st, sizeof(st));
		if (strstr(st, "CORRUPT"))
			r->injections++;  /* the mediator did read the old/new mix */
		if (e2e_journal_count(e, "exec", 5, 2) == 1)
			r->req.answered++;
		else
			r->req.lost++;
		h_check(r, strcmp(st, "CORRUPT OK") == 0 && e2e_journal_count(e, "exec", 5, 2) == 1,
			"vm5: old/new mix while overwritten in place answered CORRUPT (CRC), then the complete record "
			"ran once: answers [%s]", st);
	}
	h_evidence(r, "ours: torn write waited for (INCOMPLETE) then ran whole once; never-completed -> BAD_REQUEST; "
		   "old/new mix -> CORRUPT");
}

/* ---- (c) the polling interval: the errors log's "polling interval too long" ------------ */

#define NAIVE_INTERVAL_MS 2000    /* the naive mediator's poll loop: stat, then sleep */
#define CLIENT_WAIT_MS 1000       /* how long a VM waits for its answer, naive and ours */
#define LAT_REQS 3

/* The naive mediator: every NAIVE_INTERVAL_MS from T0 (monotonic ms), one st_mtime
 * poll of CMD; a new command is answered by rewriting RESP in place with its text. */
static void naive_interval_server(const char *cmd, const char *resp, uint64_t t0, int ticks)
{
	struct naive_poller p;
	char text[256];

	naive_poller_init(&p, cmd);
	for (int k = 1; k <= ticks; k++) {
		uint64_t now = e2e_mono_ms(), at = t0 + (uint64_t)k * NAIVE_INTERVAL_MS;
		if (at > now)
			msleep((int)(at - now));
		if (naive_poller_poll(&p, text, sizeof(text)) == 1) {
			char ans[300];
			snprintf(ans, sizeof(ans), "answer to %s", text);
			naive_write_command(resp, ans);
		}
	}
	_exit(0);
}

static void naive_interval(struct h_result *r, const char *base)
{
	char cmd[512], resp[512], text[64], buf[512];
	uint64_t t0, rng = r->seed ^ 0x1a7e;
	int timed_out = 0, answered = 0;
	long lat[LAT_REQS];
	pid_t srv;

	snprintf(cmd, sizeof(cmd), "%s/naive-interval-command.txt", base);
	snprintf(resp, sizeof(resp), "%s/naive-interval-response.txt", base);
	t0 = e2e_mono_ms() + 50;
	srv = fork();
	if (srv == 0)
		naive_interval_server(cmd, resp, t0, LAT_REQS + 1);
	/* request i is written at a seeded phase of stratum i of the interval, just after
	 * tick i: its answer waits for tick i+1 (phases grow, so commands are > 1 s apart) */
	for (int i = 0; i < LAT_REQS; i++) {
		uint64_t stratum = NAIVE_INTERVAL_MS / LAT_REQS, phase = 40 + (uint64_t)i * stratum +
			h_rand(&rng) % (stratum - 80), at = t0 + (uint64_t)i * NAIVE_INTERVAL_MS + phase, w;
		char want[64];

		while (e2e_mono_ms() < at)
			msleep((int)(at - e2e_mono_ms()));
		snprintf(text, sizeof(text), "vm 1 seq %d op ping\n", i + 1);
		snprintf(want, sizeof(want), "seq %d ", i + 1);
		w = e2e_mono_ms();
		naive_write_command(cmd, text);
		lat[i] = -1;
		while (e2e_mono_ms() - w < NAIVE_INTERVAL_MS + 500) {
			if (naive_nfs_read_once(resp, buf, sizeof(buf)) > 0 && strstr(buf, want)) {
				lat[i] = (long)(e2e_mono_ms() - w);
				break;
			}
			msleep(5);
		}
		if (lat[i] < 0 || lat[i] > CLIENT_WAIT_MS)
			timed_out++;
		else
			answered++;
		printf("    naive %d ms poller: command %d written %" PRIu64 " ms into the interval, answered after "
		       "%ld ms%s\n", NAIVE_INTERVAL_MS, i + 1, phase, lat[i], lat[i] < 0 || lat[i] > CLIENT_WAIT_MS ?
		       " (the VM had given up)" : "");
	}
	kill(srv, SIGKILL);
	waitpid(srv, NULL, 0);
	r->injections += timed_out;
	h_naive(r, timed_out > 0, "a poll loop with a %d ms interval (the errors log's \"polling interval too long\"): "
		"%d of %d commands answered later than the VM's %d ms wait (latencies %ld, %ld, %ld ms)",
		NAIVE_INTERVAL_MS, timed_out, LAT_REQS, CLIENT_WAIT_MS, lat[0], lat[1], lat[2]);
	h_evidence(r, "naive %d ms poll loop: %d of %d VMs timed out (%d ms wait)", NAIVE_INTERVAL_MS, timed_out,
		   LAT_REQS, CLIENT_WAIT_MS);
}

/* Ours with --rescan-ms 60000: inotify alone decides, within the same VM wait. */
static void ours_interval(struct h_result *r, struct e2e_env *e)
{
	char dir[400], err[512];
	struct vgpu_client *c;
	struct vgpu_client_opts o = { .timeout_ms = CLIENT_WAIT_MS, .poll_max_ms = 5, .lock_dir = e->dir };
	long worst = 0;
	int ok = 0;

	e2e_vmdir(e, 1, dir, sizeof(dir));
	if (vgpu_client_open(&c, dir, &o, err, sizeof(err)) != VGPU_CLIENT_OK) {
		h_check(r, 0, "vm1 client: %s", err);
		return;
	}
	for (int i = 0; i < LAT_REQS; i++) {
		struct vgpu_request q = { .op = VGPU_OP_PING, .priority = VGPU_PRIO_MEDIUM };
		struct vgpu_response resp;
		uint64_t t = e2e_mono_ms();
		int rc = vgpu_client_call(c, &q, NULL, 0, &resp, NULL, NULL, err, sizeof(err));
		long ms = (long)(e2e_mono_ms() - t);

		r->req.submitted++;
		if (rc == VGPU_CLIENT_OK && resp.seq == vgpu_client_last_seq(c) && resp.vm == 1) {
			ok++;
			r->req.answered++;
		} else {
			r->req.lost++;
			printf("    ours vm1: %s\n", err);
		}
		worst = ms > worst ? ms : worst;
	}
	vgpu_client_close(c);
	h_check(r, ok == LAT_REQS, "--rescan-ms 60000 (polling out of the way): %d of %d requests answered within "
		"the VM's %d ms wait (slowest %ld ms): inotify, not the poll interval", ok, LAT_REQS, CLIENT_WAIT_MS, worst);
}

/* ---- (d) the inotify queue overflowed: nothing may be missed ------------------------- */

/* Open and close two names alternately (consecutive events differ, so inotify does not
 * merge them) N times in DIR: N IN_CLOSE_WRITE events. */
static int flood_events(const char *dir, long n)
{
	char a[512], b[512];

	snprintf(a, sizeof(a), "%s/.flood-a", dir);
	snprintf(b, sizeof(b), "%s/.flood-b", dir);
	for (long i = 0; i < n; i++) {
		int fd = open(i & 1 ? b : a, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0 || close(fd) < 0)
			return -errno;
	}
	unlink(a);
	unlink(b);
	return 0;
}

#define OVF_VMS 3   /* vm4..vm6 */
static void ours_overflow(struct h_result *r, struct e2e_env *e)
{
	char dir[400], buf[1024], nonce[17];
	long maxq = 16384, ev = 0;
	int witness, wd = -1, seen_overflow = 0, answered = 0, right = 0;
	uint64_t t_cont, ms = 0;
	FILE *f = fopen("/proc/sys/fs/inotify/max_queued_events", "r");

	if (f) {
		if (fscanf(f, "%ld", &maxq) != 1)
			maxq = 16384;
		fclose(f);
	}
	/* our own inotify watch on vm4, read only afterwards: it overflows exactly when the
	 * mediator's does (same limit, same events), which proves the fault happened */
	e2e_server_vmdir(e, 4, dir, sizeof(dir));
	witness = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (witness >= 0)
		wd = inotify_add_watch(witness, dir, IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF);
	if (wd < 0) {
		h_check(r, 0, "inotify witness: %s", strerror(errno));
		if (witness >= 0)
			close(witness);
		return;
	}
	/* the mediator is held (a long step, a slow disk, descheduled) while the events come */
	kill(e->mediator, SIGSTOP);
	if (flood_events(dir, maxq + 100) < 0) {
		kill(e->mediator, SIGCONT);
		h_check(r, 0, "flooding %s: %s", dir, strerror(errno));
		close(witness);
		return;
	}
	/* three VMs publish a command (by rename): their events find the queue full */
	for (uint32_t v = 4; v < 4 + OVF_VMS; v++) {
		int dfd, len;

		e2e_server_vmdir(e, v, dir, sizeof(dir));
		snprintf(nonce, sizeof(nonce), "00000000000ff%03u", v);
		len = encode(v, 1, nonce, VGPU_OP_PING, 0, buf, sizeof(buf));
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		r->req.submitted++;
		if (dfd < 0 || len < 0 || vgpu_publish(dfd, "command.txt", buf, (size_t)len, 0644) < 0)
			h_check(r, 0, "vm%u: publishing command.txt", v);
		if (dfd >= 0)
			close(dfd);
	}
	{
		char evb[65536] __attribute__((aligned(__alignof__(struct inotify_event))));
		ssize_t n;
		while ((n = read(witness, evb, sizeof(evb))) > 0)
			for (char *p = evb; p < evb + n;) {
				const struct inotify_event *ie = (const struct inotify_event *)p;
				p += sizeof(*ie) + ie->len;
				ev++;
				seen_overflow |= (ie->mask & IN_Q_OVERFLOW) != 0;
			}
		close(witness);
	}
	if (seen_overflow)
		r->injections++;
	printf("    %ld events queued for vm4 while the mediator was stopped (max_queued_events %ld): %s\n", ev, maxq,
	       seen_overflow ? "IN_Q_OVERFLOW" : "no overflow");
	t_cont = e2e_mono_ms();
	kill(e->mediator, SIGCONT);
	for (uint32_t v = 4; v < 4 + OVF_VMS; v++) {
		struct vgpu_response resp;
		if (wait_answers(e, v, 1, 1, 5000) == 0) {
			answered++;
			r->req.answered++;
			if (read_response(e, v, &resp) == 0 && resp.status == VGPU_OK && resp.seq == 1 && resp.vm == v)
				right++;
		} else {
			r->req.lost++;
		}
	}
	ms = e2e_mono_ms() - t_cont;
	h_check(r, seen_overflow, "the inotify queue overflowed (a watch of our own on vm4 got IN_Q_OVERFLOW after %ld "
		"events)", ev);
	h_check(r, answered == OVF_VMS && right == OVF_VMS && ms < 5000,
		"--rescan-ms 60000: the %d commands whose events were dropped were all answered OK %" PRIu64
		" ms after the mediator ran again (the overflow forces a rescan; the periodic one is a minute away)",
		OVF_VMS, ms);
	h_check(r, 0 < e2e_log_wait(e, "inotify queue overflowed", 1, E2E_WAIT_MS),
		"the mediator logged the overflow (\"inotify queue overflowed; rescanning everything\")");
	h_evidence(r, "inotify queue overflowed (%ld events): the %d commands behind it answered in %" PRIu64 " ms with "
		   "--rescan-ms 60000", ev, OVF_VMS, ms);
}

/* ---- (e) response.txt lost: the same record sent again -------------------------------- */

/* The naive mediator keeps no record of its answers: the VM's resend of a command whose
 * answer it never saw is run again (in a later second; in the same one it is missed). */
static void naive_resend(struct h_result *r, const char *base)
{
	char cmd[512], text[256];
	struct naive_poller p;
	int runs = 0;
	struct timespec ts;

	snprintf(cmd, sizeof(cmd), "%s/naive-resend.txt", base);
	naive_poller_init(&p, cmd);
	naive_write_command(cmd, "vm 1 seq 7 nonce 00000000000000aa op vadd n 4096\n");
	runs += naive_poller_poll(&p, text, sizeof(text)) == 1;
	/* the answer is lost; the VM sends the same command again, a second later */
	clock_gettime(CLOCK_REALTIME, &ts);
	msleep(1000 - (int)(ts.tv_nsec / 1000000L) + 50);
	naive_write_command(cmd, "vm 1 seq 7 nonce 00000000000000aa op vadd n 4096\n");
	for (int i = 0; i < 20 && runs < 2; i++) {
		runs += naive_poller_poll(&p, text, sizeof(text)) == 1;
		msleep(5);
	}
	if (runs > 1)
		r->injections++;
	h_naive(r, runs > 1, "a mediator without saved answers: the VM's resend of seq 7 (its answer lost) ran %d times",
		runs);
}

static void ours_resend(struct h_result *r, struct e2e_env *e)
{
	char dir[400], rp[600], buf[1024], result1[1100] = "";
	struct vgpu_response resp;
	int dfd, len, back = 0;
	uint64_t t;

	e2e_server_vmdir(e, 3, dir, sizeof(dir));
	snprintf(rp, sizeof(rp), "%s/response.txt", dir);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	len = encode(3, 1, "0000000000000ae3", VGPU_OP_VADD, 4096, buf, sizeof(buf));
	r->req.submitted++;
	if (dfd < 0 || len < 0 || vgpu_publish(dfd, "command.txt", buf, (size_t)len, 0644) < 0 ||
	    wait_answers(e, 3, 1, 1, 5000) < 0 || read_response(e, 3, &resp) < 0 || resp.status != VGPU_OK) {
		h_check(r, 0, "vm3: the first answer to seq 1");
		r->req.lost++;
		if (dfd >= 0)
			close(dfd);
		return;
	}
	snprintf(result1, sizeof(result1), "%s", resp.result);
	/* lost: the VM never saw it (removed on the host, a cache that hid it) */
	unlink(rp);
	r->injections++;
	if (vgpu_publish(dfd, "command.txt", buf, (size_t)len, 0644) < 0)
		h_check(r, 0, "vm3: resending seq 1: %s", strerror(errno));
	t = e2e_mono_ms();
	while (e2e_mono_ms() - t < 5000 && !(back = access(rp, F_OK) == 0))
		msleep(5);
	memset(&resp, 0, sizeof(resp));
	if (back && read_response(e, 3, &resp) == 0 && resp.seq == 1 && strcmp(resp.nonce, "0000000000000ae3") == 0 &&
	    resp.status == VGPU_OK && strcmp(resp.result, result1) == 0)
		r->req.answered++;
	else
		r->req.lost++;
	close(dfd);
	h_check(r, back && resp.seq == 1 && resp.status == VGPU_OK && strcmp(resp.result, result1) == 0,
		"vm3's resent seq 1 (response.txt lost) got the saved answer again (%s, result %s) within %" PRIu64
		" ms", back ? vgpu_status_name(resp.status) : "no response.txt", back ? "the same" : "-", e2e_mono_ms() - t);
	h_check(r, e2e_journal_count(e, "exec", 3, 1) == 1, "vm3 seq 1 executed once (%d), never re-run for the "
		"resend", e2e_journal_count(e, "exec", 3, 1));
	if (e2e_journal_count(e, "exec", 3, 1) > 1)
		r->req.duplicated++;
	h_evidence(r, "response.txt lost, same record resent: the saved answer published again, not re-run");
}

int main(int argc, char **argv)
{
	char grace[16];
	const char *args[] = { "--executor", "mock", "--rescan-ms", "50", "--grace-ms", grace,
			       "--log-level", "debug", NULL };
	const char *args_slow[] = { "--executor", "mock", "--rescan-ms", "60000", NULL };
	struct h_result r;
	struct e2e_env e, e2;
	char self[1024];
	ssize_t n;

	if (argc == 4 && strcmp(argv[1], "--helper-naive-write") == 0)
		return helper_naive_write(argv[2]);
	if (argc == 4 && strcmp(argv[1], "--helper-client-call") == 0)
		return helper_client_call(argv[2], argv[3]);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = '\0';
	snprintf(grace, sizeof(grace), "%d", GRACE_MS);
	h_begin(&r, "ERR07", "Updates not seen: same-second commands, torn and short writes", "local");
	signal(SIGPIPE, SIG_IGN);
	if (e2e_setup(&e, 6) < 0 || e2e_setup(&e2, 6) < 0) {
		h_check(&r, 0, "private directory: %s", strerror(errno));
		e2e_teardown(&e);
		return h_finish(&r);
	}
	naive_same_second(&r, e.dir);
	naive_torn(&r, e.dir);
	naive_interval(&r, e.dir);
	naive_resend(&r, e.dir);
	/* (a) with the rescan out of the way: only inotify and the content decide */
	if (e2e_start_mediator(&e, args_slow) < 0) {
		h_check(&r, 0, "vgpu-mediator started (see %s)", e.log);
	} else {
		ours_same_second(&r, &e);
		ours_interval(&r, &e);
		ours_resend(&r, &e);
		ours_overflow(&r, &e);
		h_check(&r, e2e_stop_mediator(&e, 10000) == 0, "the mediator stopped cleanly (exit 0)");
	}
	/* (b) with a fast rescan, so that it does look while a write is half done */
	if (e2e_start_mediator(&e2, args) < 0) {
		h_check(&r, 0, "vgpu-mediator started (see %s)", e2.log);
	} else {
		ours_torn(&r, &e2);
		short_writes(&r, &e2, self);
		h_check(&r, kill(e2.mediator, 0) == 0, "the mediator is still serving");
		h_check(&r, e2e_stop_mediator(&e2, 10000) == 0, "the mediator stopped cleanly (exit 0)");
	}
	e2e_teardown(&e);
	e2e_teardown(&e2);
	return h_finish(&r);
}
