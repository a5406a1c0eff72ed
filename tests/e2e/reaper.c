/* reaper - run a test command as a child subreaper (prctl PR_SET_CHILD_SUBREAPER).
 *
 * Daemons that a test's scripts start and leave running (nfs-ganesha, rpcbind, nfssim)
 * are reparented here rather than to PID 1 when their starter exits, so they are reaped
 * (no zombies, even where PID 1 does not reap), and whatever is still alive when the
 * command ends is named on stderr and killed: no daemon outlives a test run.
 *   reaper COMMAND [ARG...]      exit status: COMMAND's (127: could not run it) */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Our children as /proc sees them; returns how many were signalled with SIG. */
static int signal_children(int sig, int say)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char path[300], buf[512], *rp;
		FILE *f;
		int ppid;
		char state;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		if (!fgets(buf, sizeof(buf), f) || !(rp = strrchr(buf, ')')) ||
		    sscanf(rp + 2, "%c %d", &state, &ppid) != 2 || ppid != getpid() || state == 'Z') {
			fclose(f);
			continue;
		}
		fclose(f);
		if (say) {
			*rp = '\0';
			fprintf(stderr, "reaper: %s (pid %s) outlived the test; stopping it\n",
				strchr(buf, '(') ? strchr(buf, '(') + 1 : "?", e->d_name);
		}
		kill(atoi(e->d_name), sig);
		n++;
	}
	closedir(d);
	return n;
}

static void reap_all(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

int main(int argc, char **argv)
{
	pid_t pid, r;
	int st, rc = 127;

	if (argc < 2) {
		fprintf(stderr, "usage: reaper COMMAND [ARG...]\n");
		return 2;
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		perror("reaper: prctl(PR_SET_CHILD_SUBREAPER)");
	pid = fork();
	if (pid < 0) {
		perror("reaper: fork");
		return 127;
	}
	if (pid == 0) {
		execvp(argv[1], argv + 1);
		fprintf(stderr, "reaper: %s: %s\n", argv[1], strerror(errno));
		_exit(127);
	}
	signal(SIGINT, SIG_IGN);    /* the command gets it from the terminal; we clean up */
	for (;;) {
		r = waitpid(-1, &st, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		if (r == pid) {
			rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			break;
		}
	}
	if (signal_children(SIGTERM, 1)) {
		for (int i = 0; i < 50 && signal_children(0, 0); i++) {
			struct timespec ts = { 0, 100 * 1000 * 1000 };
			reap_all();
			nanosleep(&ts, NULL);
		}
		signal_children(SIGKILL, 0);
	}
	for (int i = 0; i < 20; i++) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		reap_all();
		if (!signal_children(0, 0))
			break;
		nanosleep(&ts, NULL);
	}
	reap_all();
	return rc;
}
