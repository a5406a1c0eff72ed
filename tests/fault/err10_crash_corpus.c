/* err10_crash_corpus.c - ERRORS_LOG error 10: "Mediator Crashes or Segfaults"
 * (buffer overflow in file reading, NULL dereference).
 *
 * The corpus: tests/fault/corpus/NN-what.EXPECTED (made by make_corpus.py: truncated,
 * binary, NUL bytes, huge numbers, negative sizes, missing fields, unknown op, wrong
 * magic, CRLF, over 64 KiB, n=1e12, bad CRC/LEN, ...), plus non-files made here at run
 * time (symlink to /etc/passwd, FIFO, directory, hard link).
 * Naive control: naive/naive_fscanf_reader.c (fopen/fscanf/atoi) on every corpus entry
 * in a child process under alarm(), and under valgrind when installed: it crashes,
 * hangs, accepts nonsense (n=-1) or makes memory errors.
 * Ours: the real vgpu-mediator, under valgrind --error-exitcode=99 --leak-check=full,
 * gets every entry as vm1/command.txt (published by rename), answers each with the
 * error status the protocol names, executes none, and keeps serving: valid requests
 * from vm2 and vm1 are answered OK afterwards, and it exits 0 on SIGTERM.
 * Injections = corpus entries delivered.
 * Handling proved (src/): src/lib/record.c (the parser), src/lib/safeio.c (symlink, FIFO,
 * hard link, size refusals), src/mediator/intake.c (error answers, nothing executed). */
#include <dirent.h>
#include <errno.h>
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

#include "client/client.h"
#include "lib/record.h"
#include "lib/safeio.h"
#include "lib/status.h"
#include "../e2e/e2e_util.h"
#include "harness.h"
#include "naive/naive_fscanf_reader.h"
#include "../common/testutil.h"

#define MAX_ENTRIES 64
#define GRACE_MS 300

struct entry {
	char name[256];          /* file name, or the runtime kind */
	char expected[32];       /* status name */
	char path[800];          /* corpus file; "" for runtime entries */
	int kind;                /* 0 file, 1 symlink, 2 FIFO, 3 directory, 4 hard link */
};

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

/* The corpus directory: $VGPU_CORPUS, else tests/fault/corpus under the working dir. */
static int load_corpus(struct entry *ents, int max)
{
	const char *dir = getenv("VGPU_CORPUS") ? getenv("VGPU_CORPUS") : "tests/fault/corpus";
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d)) && n < max) {
		const char *dot = strrchr(de->d_name, '.');
		if (de->d_name[0] < '0' || de->d_name[0] > '9' || !dot || strcmp(dot, ".py") == 0)
			continue;
		memset(&ents[n], 0, sizeof(ents[n]));
		snprintf(ents[n].name, sizeof(ents[n].name), "%s", de->d_name);
		snprintf(ents[n].expected, sizeof(ents[n].expected), "%s", dot + 1);
		snprintf(ents[n].path, sizeof(ents[n].path), "%s/%s", dir, de->d_name);
		n++;
	}
	closedir(d);
	qsort(ents, (size_t)n, sizeof(ents[0]), cmp_entry);
	static const char *const kinds[] = { "", "symlink-to-etc-passwd", "fifo", "directory", "hard-link" };
	for (int k = 1; k <= 4 && n < max; k++, n++) {
		memset(&ents[n], 0, sizeof(ents[n]));
		snprintf(ents[n].name, sizeof(ents[n].name), "%d-%s", 90 + k, kinds[k]);
		snprintf(ents[n].expected, sizeof(ents[n].expected), "BAD_FILE");
		ents[n].kind = k;
	}
	return n;
}

static int copy_file(const char *from, const char *to)
{
	FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
	char buf[8192];
	size_t n;
	int rc = 0;

	if (!in || !out)
		rc = -1;
	while (rc == 0 && (n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, n, out) != n)
			rc = -1;
	if (in)
		fclose(in);
	if (out && fclose(out) != 0)
		rc = -1;
	return rc;
}

/* Make entry E as DIR/NAME ("command.txt" or a naive path), replacing what is there:
 * files by temp + rename, non-files made under a temp name and renamed. 0 or -errno. */
static int materialise(const struct entry *e, const char *dir, const char *name, int seq)
{
	char tmp[700], dst[700], tmp2[700];
	struct stat st;

	snprintf(dst, sizeof(dst), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s/.tmp-corpus-%d", dir, seq);
	snprintf(tmp2, sizeof(tmp2), "%s/.tmp-corpus-%d-link", dir, seq);
	if (lstat(dst, &st) == 0 && S_ISDIR(st.st_mode))
		rmdir(dst);
	if (e->kind == 0) {
		if (copy_file(e->path, tmp) < 0)
			return -EIO;
	} else if (e->kind == 1) {
		if (symlink("/etc/passwd", tmp) < 0)
			return -errno;
	} else if (e->kind == 2) {
		if (mkfifo(tmp, 0644) < 0)
			return -errno;
	} else if (e->kind == 3) {
		unlink(dst);
		if (mkdir(tmp, 0755) < 0)
			return -errno;
	} else {
		FILE *f = fopen(tmp2, "w");
		if (!f)
			return -errno;
		fprintf(f, "VGPU1 REQUEST\nvm 1\n");
		fclose(f);
		if (link(tmp2, tmp) < 0)     /* tmp2 stays: the published file has two links */
			return -errno;
	}
	return rename(tmp, dst) < 0 ? -errno : 0;
}

/* ---- naive ---------------------------------------------------------------------- */

struct naive_out {
	int rc, vm, seq, n;
	char op[32];
};

static int naive_child(const char *path, struct naive_out *out, int *sig)
{
	int p[2], st;
	pid_t pid;

	if (pipe(p) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		struct naive_cmd c;
		struct naive_out o;
		close(p[0]);
		alarm(2);   /* a FIFO blocks fopen() for good */
		memset(&o, 0, sizeof(o));
		o.rc = naive_fscanf_read(path, &c);
		o.vm = c.vm;
		o.seq = c.seq;
		o.n = c.n;
		memcpy(o.op, c.op, sizeof(o.op));
		o.op[sizeof(o.op) - 1] = '\0';
		if (write(p[1], &o, sizeof(o)) != (ssize_t)sizeof(o))
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], out, sizeof(*out)) != (ssize_t)sizeof(*out))
		memset(out, 0, sizeof(*out));
	close(p[0]);
	waitpid(pid, &st, 0);
	*sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
	return 0;
}

static int have_valgrind(void)
{
	return system("command -v valgrind >/dev/null 2>&1") == 0;
}

static void part_naive(struct h_result *r, struct entry *ents, int n, const char *base, const char *self)
{
	char dir[400];
	int crashed = 0, hung = 0, accepted = 0, vg_errors = 0, vg_runs = 0, vg = have_valgrind();

	snprintf(dir, sizeof(dir), "%s/naive", base);
	mkdir(dir, 0755);
	for (int i = 0; i < n; i++) {
		struct naive_out o;
		char path[700], name[64];
		int sig = 0;

		snprintf(name, sizeof(name), "cmd-%02d", i);
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		if (materialise(&ents[i], dir, name, 1000 + i) < 0) {
			printf("    naive: could not make %s\n", ents[i].name);
			continue;
		}
		naive_child(path, &o, &sig);
		if (sig == SIGALRM) {
			hung++;
			printf("    naive %-28s hung (stopped by alarm after 2 s)\n", ents[i].name);
		} else if (sig) {
			crashed++;
			printf("    naive %-28s crashed: %s\n", ents[i].name, strsignal(sig));
		} else if (o.rc == 1) {
			accepted++;
			printf("    naive %-28s accepted a malformed command: vm %d seq %d op '%.20s' n %d\n",
			       ents[i].name, o.vm, o.seq, o.op, o.n);
		} else if (vg && ents[i].kind != 2) {
			char cmd[2000];
			int rc;
			snprintf(cmd, sizeof(cmd), "timeout 20 valgrind -q --error-exitcode=99 '%s' --naive-read '%s' "
				 ">/dev/null 2>&1", self, path);
			rc = system(cmd);
			vg_runs++;
			if (WIFEXITED(rc) && WEXITSTATUS(rc) == 99) {
				vg_errors++;
				printf("    naive %-28s memory errors under valgrind\n", ents[i].name);
			}
		}
	}
	if (!vg)
		printf("  note: valgrind not installed: the naive reader ran without it\n");
	h_naive(r, crashed + hung + accepted + vg_errors > 0,
		"fopen/fscanf/atoi reader on %d entries: %d crashed, %d hung, %d accepted a malformed command, "
		"%d of %d others had memory errors under valgrind", n, crashed, hung, accepted, vg_errors, vg_runs);
	h_evidence(r, "naive fscanf/atoi reader: %d crashes, %d hangs, %d malformed commands accepted, %d valgrind errors "
		   "on %d entries", crashed, hung, accepted, vg_errors, n);
}

/* ---- ours ----------------------------------------------------------------------- */

/* The status NAME of the last journal answer for VM into OUT, and the count. */
static int last_answer(const struct e2e_env *e, uint32_t vm, char *out, size_t cap)
{
	FILE *f = fopen(e->journal, "r");
	char line[512];
	int count = 0;

	out[0] = '\0';
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned lvm;
		char *st;
		if (sscanf(line, "answer vm=%u", &lvm) != 1 || lvm != vm)
			continue;
		count++;
		if ((st = strstr(line, "status=")) != NULL) {
			snprintf(out, cap, "%s", st + 7);
			out[strcspn(out, " \n")] = '\0';
		}
	}
	fclose(f);
	return count;
}

/* A wrapper "vgpu-mediator" in BIN that runs the real one under valgrind. */
static int valgrind_wrapper(struct e2e_env *e, char *bindir, size_t cap, const char *vglog)
{
	char real[600], path[700], worker[700];
	FILE *f;

	if (realpath(e->build, real) == NULL)
		return -1;
	snprintf(bindir, cap, "%s/vgbin", e->dir);
	if (mkdir(bindir, 0755) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/vgpu-mediator", bindir);
	f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f, "#!/bin/sh\nexec valgrind -q --error-exitcode=99 --leak-check=full --log-file='%s' '%s/vgpu-mediator' \"$@\"\n",
		vglog, real);
	fclose(f);
	chmod(path, 0755);
	/* the mediator finds vgpu-worker next to /proc/self/exe, which valgrind reports as
	 * the real binary: nothing else to place here */
	(void)worker;
	return 0;
}

static void part_ours(struct h_result *r, struct e2e_env *e, struct entry *ents, int n)
{
	char grace[16], bindir[400], vglog[400], dir[400], status[32];
	const char *args[] = { "--executor", "mock", "--grace-ms", grace, "--rescan-ms", "200", NULL };
	int vg = have_valgrind(), right = 0, errs = 0, exit_status;
	int vmdir_fd;

	snprintf(grace, sizeof(grace), "%d", GRACE_MS);
	snprintf(vglog, sizeof(vglog), "%s/valgrind.log", e->dir);
	if (vg && valgrind_wrapper(e, bindir, sizeof(bindir), vglog) == 0)
		e->build = bindir;
	else if (!vg)
		printf("  note: valgrind not installed (package valgrind): the mediator runs without it\n");
	if (e2e_start_mediator(e, args) < 0) {
		h_check(r, 0, "vgpu-mediator%s started (see %s)", vg ? " under valgrind" : "", e->log);
		return;
	}
	e2e_vmdir(e, 1, dir, sizeof(dir));
	vmdir_fd = open(dir, O_RDONLY | O_DIRECTORY);
	for (int i = 0; i < n; i++) {
		int before = last_answer(e, 1, status, sizeof(status)), now = before;

		if (materialise(&ents[i], dir, "command.txt", i) < 0) {
			h_check(r, 0, "%s delivered as vm1/command.txt", ents[i].name);
			continue;
		}
		r->injections++;
		r->req.submitted++;
		for (int w = 0; w < GRACE_MS + 15000 && now == before; w += 5) {
			msleep(5);
			now = last_answer(e, 1, status, sizeof(status));
		}
		if (now == before) {
			r->req.lost++;
			printf("    ours  %-28s no answer\n", ents[i].name);
			continue;
		}
		r->req.answered++;
		if (strcmp(status, "OK") != 0)
			errs++;
		if (strcmp(status, ents[i].expected) == 0)
			right++;
		printf("    ours  %-28s answered %s%s%s\n", ents[i].name, status,
		       strcmp(status, ents[i].expected) ? ", the protocol says " : "",
		       strcmp(status, ents[i].expected) ? ents[i].expected : "");
	}
	if (vmdir_fd >= 0)
		close(vmdir_fd);
	h_check(r, errs == n && e2e_journal_count(e, "exec", 1, 0) == 0,
		"%d of %d corpus entries answered with an error status, none executed (exec lines for vm1: %d)", errs, n,
		e2e_journal_count(e, "exec", 1, 0));
	h_check(r, right == n, "%d of %d answered with the status docs/PROTOCOL.md names for them", right, n);

	/* still serving: another VM, then the VM that sent the garbage */
	for (uint32_t vm = 2; vm >= 1; vm--) {
		char vdir[400], err[512];
		struct vgpu_client *c;
		struct vgpu_client_opts o = { .timeout_ms = 5000, .poll_max_ms = 20, .lock_dir = e->dir };
		struct vgpu_request q = { .op = VGPU_OP_VADD, .args.n = 1000, .args.has_seed = 1, .args.seed = 3,
					  .priority = VGPU_PRIO_MEDIUM };
		struct vgpu_response resp;
		int rc = -1;

		e2e_vmdir(e, vm, vdir, sizeof(vdir));
		if (vm == 1) {   /* the directory case may have left command.txt a directory */
			char p[500];
			snprintf(p, sizeof(p), "%s/command.txt", vdir);
			rmdir(p);
		}
		r->req.submitted++;
		if (vgpu_client_open(&c, vdir, &o, err, sizeof(err)) == VGPU_CLIENT_OK) {
			rc = vgpu_client_call(c, &q, NULL, 0, &resp, NULL, NULL, err, sizeof(err));
			if (rc == VGPU_CLIENT_OK && (resp.vm != vm || resp.seq != vgpu_client_last_seq(c)))
				rc = -2;
			vgpu_client_close(c);
		}
		if (rc == VGPU_CLIENT_OK)
			r->req.answered++;
		else
			r->req.lost++;
		h_check(r, rc == VGPU_CLIENT_OK, "after the corpus, a valid request from vm%u is answered OK%s%s", vm,
			rc ? ": " : "", rc ? err : "");
	}
	h_check(r, e->mediator > 0 && kill(e->mediator, 0) == 0 && waitpid(e->mediator, NULL, WNOHANG) == 0,
		"the mediator process is still alive after %d malformed inputs", n);
	exit_status = e2e_stop_mediator(e, 30000);
	h_check(r, exit_status == 0, "SIGTERM: the mediator exited %d%s", exit_status,
		vg ? (exit_status == 99 ? " (valgrind found errors: see its log)" : " under valgrind: no memory errors or leaks")
		   : "");
	if (vg && exit_status != 0) {
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "head -40 '%s'", vglog);
		if (system(cmd) != 0)
			printf("    (no valgrind log)\n");
	}
	(void)last_answer(e, 1, status, sizeof(status));
	h_evidence(r, "ours%s: %d/%d entries answered with an error (%d with the documented code), none executed; still "
		   "serving; exit %d", vg ? " under valgrind" : "", errs, n, right, exit_status);
}

int main(int argc, char **argv)
{
	struct entry ents[MAX_ENTRIES];
	struct h_result r;
	struct e2e_env e;
	char self[1024];
	ssize_t sn;
	int n;

	if (argc == 3 && strcmp(argv[1], "--naive-read") == 0) {
		struct naive_cmd c;
		return naive_fscanf_read(argv[2], &c) < 0 ? 2 : 0;
	}
	sn = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[sn > 0 ? sn : 0] = '\0';
	h_begin(&r, "ERR10", "Crash corpus: malformed and hostile command files", "local");
	signal(SIGPIPE, SIG_IGN);
	n = load_corpus(ents, MAX_ENTRIES);
	if (n < 15) {
		h_check(&r, 0, "corpus: %d entries (run from the source tree or set VGPU_CORPUS)", n);
		return h_finish(&r);
	}
	if (e2e_setup(&e, 2) < 0) {
		h_check(&r, 0, "private directory: %s", strerror(errno));
		return h_finish(&r);
	}
	part_naive(&r, ents, n, e.dir, self);
	part_ours(&r, &e, ents, n);
	e2e_teardown(&e);
	return h_finish(&r);
}
