/* test_proc.c - child processes (src/exec/proc.c): wait statuses as text; run-and-
 * capture's first line (trimmed, blank lines skipped, control bytes shown as '?', cut to
 * the buffer), exit codes and signals, a program that cannot be run, the timeout both
 * while the child writes and after it closed its output, a grandchild holding the output
 * open (the whole group is killed), and what a child gets: stdin /dev/null, no
 * descriptors but 0-2, no blocked or ignored signals. Nothing is left unreaped. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec/proc.h"
#include "../common/testutil.h"

static int run_sh(const char *code, uint64_t timeout_ms, char *out, size_t outlen, int *status)
{
	char *argv[] = { "/bin/sh", "-c", (char *)code, NULL };

	return vgpu_run_capture(argv, timeout_ms, out, outlen, status);
}

static void assert_no_children(void)
{
	errno = 0;
	ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
	ck_assert_int_eq(errno, ECHILD);
}

START_TEST(test_describe_status)
{
	char buf[64];

	vgpu_describe_status(0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "exit 0");
	vgpu_describe_status(3 << 8, buf, sizeof(buf));
	ck_assert_str_eq(buf, "exit 3");
	vgpu_describe_status(SIGKILL, buf, sizeof(buf));
	ck_assert_str_eq(buf, "signal 9 SIGKILL");
	vgpu_describe_status(SIGSEGV | 0x80, buf, sizeof(buf));   /* core dumped */
	ck_assert_str_eq(buf, "signal 11 SIGSEGV");
	vgpu_describe_status(0x137f, buf, sizeof(buf));           /* stopped by SIGSTOP */
	ck_assert_str_eq(buf, "status 0x137f");
	vgpu_describe_status(SIGKILL, buf, 7);
	ck_assert_str_eq(buf, "signal");
}
END_TEST

START_TEST(test_first_line)
{
	char out[64];
	int st = -1;

	ck_assert_int_eq(run_sh("printf '\\n \\t\\n  \\t hello world \\t\\r\\nsecond\\n'", 5000, out, sizeof(out), &st), 0);
	ck_assert_str_eq(out, "hello world");
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ck_assert_int_eq(run_sh("printf 'a\\001b\\377c'", 5000, out, sizeof(out), &st), 0);
	ck_assert_str_eq(out, "a?b?c");   /* no newline at the end: still a line */
	ck_assert_int_eq(run_sh("echo 0123456789abcdef", 5000, out, 8, &st), 0);
	ck_assert_str_eq(out, "0123456");
	ck_assert_int_eq(run_sh("echo to stderr >&2; exit 4", 5000, out, sizeof(out), &st), 0);
	ck_assert_str_eq(out, "to stderr");
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 4);
	ck_assert_int_eq(run_sh("exit 0", 5000, out, sizeof(out), &st), 0);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(run_sh("echo x", 5000, NULL, 0, &st), 0);   /* no buffer at all */
	assert_no_children();
}
END_TEST

START_TEST(test_large_output_keeps_the_start)
{
	char out[32];
	int st;

	/* 100 KiB: more than the 4 KiB kept; the child is never blocked on a full pipe */
	ck_assert_int_eq(run_sh("echo first; head -c 102400 /dev/zero | tr '\\0' x", 10000, out, sizeof(out), &st), 0);
	ck_assert_str_eq(out, "first");
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}
END_TEST

START_TEST(test_signal_and_exec_failure)
{
	char out[256], how[64];
	int st;
	char *argv[] = { "/nonexistent/program", "--count", NULL };

	ck_assert_int_eq(run_sh("echo dying; kill -TERM $$", 5000, out, sizeof(out), &st), 0);
	ck_assert_str_eq(out, "dying");
	vgpu_describe_status(st, how, sizeof(how));
	ck_assert_str_eq(how, "signal 15 SIGTERM");

	ck_assert_int_eq(vgpu_run_capture(argv, 5000, out, sizeof(out), &st), 0);
	ck_assert_str_eq(out, "cannot run /nonexistent/program: No such file or directory");
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 127);
	assert_no_children();
}
END_TEST

START_TEST(test_timeout_while_writing)
{
	char out[64];
	int st = 12345;
	uint64_t t0 = tu_now_ms();

	ck_assert_int_eq(run_sh("echo started; exec sleep 30", 300, out, sizeof(out), &st), -ETIMEDOUT);
	ck_assert_uint_lt(tu_now_ms() - t0, 10000);
	ck_assert_str_eq(out, "started");
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	assert_no_children();
}
END_TEST

START_TEST(test_timeout_after_output_closed)
{
	char out[64];
	int st;

	/* the output is closed at once; the child then does not exit: the wait times out */
	ck_assert_int_eq(run_sh("echo bye; exec >&- 2>&-; exec sleep 30", 300, out, sizeof(out), &st), -ETIMEDOUT);
	ck_assert_str_eq(out, "bye");
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	assert_no_children();
}
END_TEST

START_TEST(test_grandchild_holding_output_is_killed)
{
	char out[64];
	int st;
	uint64_t t0 = tu_now_ms();

	/* the child exits at once; its background child keeps the pipe open */
	ck_assert_int_eq(run_sh("sleep 30 & echo parent gone", 300, out, sizeof(out), &st), -ETIMEDOUT);
	ck_assert_uint_lt(tu_now_ms() - t0, 10000);
	ck_assert_str_eq(out, "parent gone");
	assert_no_children();
}
END_TEST

/* The signals of the hex mask HEX (/proc's SigBlk/SigIgn) a program can set: 1..31 and
 * SIGRTMIN..SIGRTMAX. */
static unsigned long long user_signals(const char *hex)
{
	unsigned long long m = strtoull(hex, NULL, 16), keep = (1ULL << 31) - 1;

	for (int s = SIGRTMIN; s <= SIGRTMAX && s <= 64; s++)
		keep |= 1ULL << (s - 1);
	return m & keep;
}

START_TEST(test_what_the_child_gets)
{
	char out[256];
	int st, fd = open("/dev/null", O_RDONLY);   /* not close-on-exec */
	sigset_t block, old;

	ck_assert_int_ge(fd, 3);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, &old);
	signal(SIGUSR2, SIG_IGN);

	/* stdin is /dev/null: cat ends at once */
	ck_assert_int_eq(run_sh("cat; echo stdin-eof", 5000, out, sizeof(out), &st), 0);
	ck_assert_str_eq(out, "stdin-eof");
	/* only 0, 1, 2 (and the listing's own) are open */
	snprintf(out, sizeof(out), "[ -e /proc/self/fd/%d ] && echo leaked || echo closed", fd);
	{
		char code[256];

		snprintf(code, sizeof(code), "%s", out);
		ck_assert_int_eq(run_sh(code, 5000, out, sizeof(out), &st), 0);
	}
	ck_assert_str_eq(out, "closed");
	/* no signal blocked or ignored (but glibc's own two, 32 and 33, which no program
	 * can change and a parent may pass on ignored) */
	{
		char *argv[] = { "/bin/grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status", NULL };

		ck_assert_int_eq(vgpu_run_capture(argv, 5000, out, sizeof(out), &st), 0);
		ck_assert_msg(strncmp(out, "SigBlk:?", 8) == 0, "%s", out);
		ck_assert_msg(user_signals(out + 8) == 0, "%s", out);
	}
	{
		char *argv[] = { "/bin/grep", "^SigIgn:", "/proc/self/status", NULL };

		ck_assert_int_eq(vgpu_run_capture(argv, 5000, out, sizeof(out), &st), 0);
		ck_assert_msg(strncmp(out, "SigIgn:?", 8) == 0, "%s", out);
		ck_assert_msg(user_signals(out + 8) == 0, "%s", out);
	}
	/* its own process group */
	{
		char code[128];

		snprintf(code, sizeof(code), "read _ _ _ _ pg _ < /proc/$$/stat; [ \"$pg\" = $$ ] && echo leader || echo member");
		ck_assert_int_eq(run_sh(code, 5000, out, sizeof(out), &st), 0);
		ck_assert_str_eq(out, "leader");
	}
	signal(SIGUSR2, SIG_DFL);
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(fd);
	assert_no_children();
}
END_TEST

/* vgpu_child_prepare() itself, in a forked child that reports by its exit code (exit(),
 * not _exit(): the child's own run is a test too): each property is one bit. */
START_TEST(test_child_prepare_directly)
{
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC), keep, other, st;
	pid_t pid;

	ck_assert_int_ge(devnull, 0);
	keep = open("/dev/null", O_RDONLY | O_CLOEXEC);     /* close-on-exec: prepare clears it */
	other = open("/dev/null", O_RDONLY);                /* inheritable: prepare sets it */
	ck_assert_int_gt(keep, 2);
	ck_assert_int_gt(other, 2);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct stat a, b;
		sigset_t blocked;
		struct sigaction sa;
		int bad = 0, sig = 0;

		sigemptyset(&blocked);
		sigaddset(&blocked, SIGUSR1);
		sigprocmask(SIG_BLOCK, &blocked, NULL);
		signal(SIGTERM, SIG_IGN);
		vgpu_child_prepare(devnull, keep);
		sigprocmask(SIG_SETMASK, NULL, &blocked);
		bad |= sigismember(&blocked, SIGUSR1) ? 1 : 0;
		sigaction(SIGTERM, NULL, &sa);
		bad |= sa.sa_handler != SIG_DFL ? 2 : 0;
		bad |= fstat(0, &a) != 0 || fstat(devnull, &b) != 0 || a.st_rdev != b.st_rdev ? 4 : 0;
		bad |= fcntl(keep, F_GETFD) != 0 ? 8 : 0;
		bad |= !(fcntl(other, F_GETFD) & FD_CLOEXEC) ? 16 : 0;
		bad |= prctl(PR_GET_PDEATHSIG, &sig) != 0 || sig != SIGKILL ? 32 : 0;
		exit(bad);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st));
	ck_assert_msg(WEXITSTATUS(st) == 0, "child_prepare left properties %#x wrong", WEXITSTATUS(st));
	/* the parent's descriptors are untouched */
	ck_assert_int_eq(fcntl(keep, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	ck_assert_int_eq(fcntl(other, F_GETFD) & FD_CLOEXEC, 0);
	close(devnull);
	close(keep);
	close(other);

	/* no devnull, no keep: stdin stays, everything above 2 close-on-exec */
	other = open("/dev/null", O_RDONLY);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		vgpu_child_prepare(-1, -1);
		exit(fcntl(other, F_GETFD) & FD_CLOEXEC ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(other);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("proc");
	TCase *tc = tcase_create("proc");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_describe_status);
	tcase_add_test(tc, test_first_line);
	tcase_add_test(tc, test_large_output_keeps_the_start);
	tcase_add_test(tc, test_signal_and_exec_failure);
	tcase_add_test(tc, test_timeout_while_writing);
	tcase_add_test(tc, test_timeout_after_output_closed);
	tcase_add_test(tc, test_grandchild_holding_output_is_killed);
	tcase_add_test(tc, test_what_the_child_gets);
	tcase_add_test(tc, test_child_prepare_directly);
	suite_add_tcase(s, tc);
	return s;
}

TU_CHECK_MAIN(suite)
