/* proc.c - child processes for the executors: a child prepared between fork and exec
 * (signals reset, stdin /dev/null, descriptors close-on-exec, killed with its parent),
 * a wait status as text, and run-and-capture with a timeout (the pool's device probe,
 * the cuda-sanity check of "auto"). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "wire.h"
#include "../lib/clock.h"

void vgpu_describe_status(int status, char *buf, size_t len)
{
	if (WIFEXITED(status)) {
		snprintf(buf, len, "exit %d", WEXITSTATUS(status));
	} else if (WIFSIGNALED(status)) {
		const char *abbr = sigabbrev_np(WTERMSIG(status));

		snprintf(buf, len, "signal %d SIG%s", WTERMSIG(status), abbr ? abbr : "?");
	} else {
		snprintf(buf, len, "status 0x%x", (unsigned)status);
	}
}

void vgpu_child_prepare(int devnull, int keep)
{
	/* Not inherited from the mediator: a blocked or ignored signal would outlive exec. */
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			signal(s, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (devnull >= 0 && devnull != STDIN_FILENO)
		dup2(devnull, STDIN_FILENO);
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
		long max = sysconf(_SC_OPEN_MAX);

		if (max < 0 || max > 65536)
			max = 65536;
		for (int fd = 3; fd < max; fd++)
			if (fd != keep)
				fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	if (keep >= 0)
		fcntl(keep, F_SETFD, 0);
}

static void write_str(int fd, const char *s)
{
	ssize_t r = write(fd, s, strlen(s));

	(void)r;
}

/* Copy the first non-empty line of BUF (LEN bytes) into OUT, trimmed. */
static void first_line(const char *buf, size_t len, char *out, size_t outlen)
{
	size_t i = 0;

	if (!outlen)
		return;
	out[0] = 0;
	while (i < len) {
		size_t s = i, e;

		while (i < len && buf[i] != '\n')
			i++;
		e = i++;
		while (s < e && (buf[s] == ' ' || buf[s] == '\t' || buf[s] == '\r'))
			s++;
		while (e > s && (buf[e - 1] == ' ' || buf[e - 1] == '\t' || buf[e - 1] == '\r'))
			e--;
		if (e > s) {
			size_t n = e - s < outlen - 1 ? e - s : outlen - 1;

			for (size_t j = 0; j < n; j++) {
				unsigned char ch = (unsigned char)buf[s + j];
				out[j] = (ch < 0x20 || ch > 0x7e) ? '?' : (char)ch;
			}
			out[n] = 0;
			return;
		}
	}
}

int vgpu_run_capture(char *const argv[], uint64_t timeout_ms, char *out, size_t outlen, int *statusp)
{
	char buf[4096];
	size_t len = 0;
	int pfd[2], devnull, status = 0, rc = 0;
	uint64_t deadline = vgpu_now_ms() + timeout_ms;
	pid_t pid;

	if (outlen)
		out[0] = 0;
	*statusp = 0;
	if (pipe2(pfd, O_CLOEXEC) != 0)
		return -errno;
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0) {
		rc = -errno;
		goto fail_devnull;
	}
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		goto fail_fork;
	}
	if (pid == 0) {
		setpgid(0, 0);
		vgpu_child_prepare(devnull, -1);
		dup2(pfd[1], STDOUT_FILENO);
		dup2(pfd[1], STDERR_FILENO);
		execv(argv[0], argv);
		write_str(STDOUT_FILENO, "cannot run ");
		write_str(STDOUT_FILENO, argv[0]);
		write_str(STDOUT_FILENO, ": ");
		write_str(STDOUT_FILENO, strerror(errno));
		write_str(STDOUT_FILENO, "\n");
		_exit(127);
	}
	setpgid(pid, pid);   /* both sides, so that the kill below never misses */
	close(pfd[1]);
	pfd[1] = -1;
	for (;;) {
		uint64_t now = vgpu_now_ms();
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		char tmp[1024];
		ssize_t n;

		if (now >= deadline) {
			rc = -ETIMEDOUT;
			break;
		}
		n = poll(&p, 1, (int)(deadline - now));
		if (n < 0 && errno != EINTR) {
			rc = -errno;
			break;
		}
		if (n <= 0)
			continue;
		n = read(pfd[0], tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;   /* EOF (or an error: treat as EOF, the status says the rest) */
		if (len < sizeof(buf)) {
			size_t k = (size_t)n < sizeof(buf) - len ? (size_t)n : sizeof(buf) - len;
			memcpy(buf + len, tmp, k);
			len += k;
		}
	}
	/* The output is closed; the child may still be exiting: wait, within the deadline. */
	while (rc == 0) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			rc = -errno;
			break;
		}
		if (vgpu_now_ms() >= deadline) {
			rc = -ETIMEDOUT;
			break;
		}
		struct timespec ts = { 0, 5 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	if (rc != 0) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	*statusp = status;
	first_line(buf, len, out, outlen);
fail_fork:
	close(devnull);
fail_devnull:
	close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	return rc;
}
