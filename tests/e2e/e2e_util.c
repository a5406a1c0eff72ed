/* e2e_util.c - see e2e_util.h. */
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

#include "e2e_util.h"

static void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

void e2e_vmdir(const struct e2e_env *e, uint32_t vm, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/vm%" PRIu32, e->root, vm);
}

int e2e_setup(struct e2e_env *e, int vms)
{
	const char *tmp = getenv("TMPDIR");

	memset(e, 0, sizeof(*e));
	e->build = getenv("VGPU_BUILD") ? getenv("VGPU_BUILD") : "build";
	snprintf(e->dir, sizeof(e->dir), "%s/vgpu-e2e-XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(e->dir))
		return -errno;
	snprintf(e->root, sizeof(e->root), "%s/export", e->dir);
	snprintf(e->state, sizeof(e->state), "%s/state", e->dir);
	snprintf(e->journal, sizeof(e->journal), "%s/journal", e->dir);
	snprintf(e->log, sizeof(e->log), "%s/mediator.log", e->dir);
	if (mkdir(e->root, 0755) < 0)
		return -errno;
	for (int i = 1; i <= vms; i++) {
		char d[400];
		e2e_vmdir(e, (uint32_t)i, d, sizeof(d));
		if (mkdir(d, 0777) < 0 || chmod(d, 0777) < 0)
			return -errno;
	}
	return 0;
}

static int log_says_serving(const struct e2e_env *e)
{
	char buf[8192];
	int fd = open(e->log, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strstr(buf, "serving ") && strstr(buf, "with executor") ? 1 : 0;
}

int e2e_start_mediator(struct e2e_env *e, const char *const *args)
{
	const char *argv[64];
	char bin[512];
	int n = 0;
	pid_t pid;

	snprintf(bin, sizeof(bin), "%s/vgpu-mediator", e->build);
	argv[n++] = bin;
	argv[n++] = "--root";
	argv[n++] = e->root;
	argv[n++] = "--state";
	argv[n++] = e->state;
	argv[n++] = "--journal";
	argv[n++] = e->journal;
	for (int i = 0; args && args[i] && n < 62; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(e->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		setpgid(0, 0);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	e->mediator = pid;
	for (int waited = 0; waited < 20000; waited += 10) {
		int st;
		if (log_says_serving(e))
			return 0;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			e->mediator = 0;
			return -1;
		}
		msleep(10);
	}
	return -1;
}

int e2e_stop_mediator(struct e2e_env *e, int timeout_ms)
{
	int st;

	if (e->mediator <= 0)
		return -1;
	kill(e->mediator, SIGTERM);
	for (int waited = 0; waited < timeout_ms; waited += 10) {
		if (waitpid(e->mediator, &st, WNOHANG) == e->mediator) {
			e->mediator = 0;
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		msleep(10);
	}
	kill(-e->mediator, SIGKILL);
	kill(e->mediator, SIGKILL);
	waitpid(e->mediator, &st, 0);
	e->mediator = 0;
	return -1;
}

void e2e_teardown(struct e2e_env *e)
{
	char cmd[600];

	if (e->mediator > 0) {
		kill(-e->mediator, SIGKILL);
		kill(e->mediator, SIGKILL);
		waitpid(e->mediator, NULL, 0);
		e->mediator = 0;
	}
	if (e->dir[0] && !(getenv("VGPU_KEEP") && strcmp(getenv("VGPU_KEEP"), "1") == 0)) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "e2e: could not remove %s\n", e->dir);
	}
}

static int journal_scan(const struct e2e_env *e, const char *event, uint32_t vm, int64_t seq,
			uint32_t *order, int max)
{
	FILE *f = fopen(e->journal, "r");
	char line[512];
	int count = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char ev[32];
		unsigned lvm;
		long long lseq;

		if (sscanf(line, "%31s vm=%u seq=%lld", ev, &lvm, &lseq) != 3 || strcmp(ev, event) != 0)
			continue;
		if ((vm && lvm != vm) || (seq && lseq != seq))
			continue;
		if (order && count < max)
			order[count] = lvm;
		count++;
	}
	fclose(f);
	return count;
}

int e2e_journal_count(const struct e2e_env *e, const char *event, uint32_t vm, int64_t seq)
{
	return journal_scan(e, event, vm, seq, NULL, 0);
}

int e2e_journal_exec_order(const struct e2e_env *e, uint32_t *out, int max)
{
	int n = journal_scan(e, "exec", 0, 0, out, max);
	return n < max ? n : max;
}
