/* x_two_mediators.c - beyond the ten (issue 10, point 7): two mediators started on one
 * root (a second unit, a test left running, a restart that did not wait) would each
 * read every command.txt and run every request twice.
 *
 * Naive control: naive/naive_drain_server.c twice on one root (no lock): 40 requests
 * from 4 VMs are executed about 80 times (symptom: more executions than requests).
 * Ours: vgpu-mediator A serves; a second one on the same --state exits 3 saying the
 * state directory is in use by A's pid; one with another --state on the same --root
 * exits 3 naming A's pid too; 40 requests (4 VMs x 10, through the client library) are
 * each executed once; after A is SIGKILLed a new mediator starts at once (no stale lock)
 * and serves. Injections: second mediators started (naive and ours).
 * Handling proved (src/): src/mediator/lock.c, src/mediator/mediator.c (vgpu_mediator_new). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/record.h"
#include "lib/safeio.h"
#include "lib/status.h"
#include "../e2e/e2e_util.h"
#include "harness.h"
#include "pingtime.h"
#include "naive/naive_drain_server.h"

#define VMS 4
#define ROUNDS 10

static struct e2e_env env;
static struct h_result r;
static uint64_t rng;

static volatile sig_atomic_t naive_stop;
static void on_term(int sig)
{
	(void)sig;
	naive_stop = 1;
}

/* Publish a ping of VM with SEQ; wait up to BOUND_MS for its answer. 1 answered. */
static int raw_ping(uint32_t vm, int64_t seq, int bound_ms)
{
	int st;

	return pt_ping(&env, vm, seq, VGPU_PRIO_LOW, bound_ms, &rng, &st) >= 0;
}

static void naive_control(void)
{
	char journal[400];
	pid_t srv[2];
	int answered = 0, execs;

	snprintf(journal, sizeof(journal), "%s/naive-journal", env.dir);
	for (int i = 0; i < 2; i++) {
		srv[i] = fork();
		if (srv[i] == 0) {
			signal(SIGTERM, on_term);
			_exit(naive_drain_serve(env.root, VMS, journal, &naive_stop) < 0);
		}
	}
	r.injections++;
	e2e_msleep(300);
	for (int round = 1; round <= ROUNDS; round++)
		for (uint32_t vm = 1; vm <= VMS; vm++)
			answered += raw_ping(vm, round, 2000);
	e2e_msleep(200);
	for (int i = 0; i < 2; i++) {
		kill(srv[i], SIGTERM);
		waitpid(srv[i], NULL, 0);
	}
	execs = naive_drain_exec_count(journal, 0, 0);
	h_naive(&r, execs > VMS * ROUNDS, "two lock-free servers on one root: %d requests (%d answered) executed %d times",
		VMS * ROUNDS, answered, execs);
	h_evidence(&r, "naive: two servers without a lock ran %d requests %d times", VMS * ROUNDS, execs);
	pt_forget(&env, VMS);
}

/* Run a second vgpu-mediator on ROOT with STATE; its exit status (-1: still running
 * after 10 s, then killed) and its output into OUT. */
static int second_mediator(const char *state, char *out, size_t cap)
{
	char bin[400];
	int pfd[2], st = 0;
	size_t len = 0;
	pid_t pid;

	snprintf(bin, sizeof(bin), "%s/vgpu-mediator", env.build);
	if (pipe(pfd) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		close(pfd[0]);
		execl(bin, bin, "--root", env.root, "--state", state, "--journal", env.journal, "--executor", "mock",
		      (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	for (int t = 0; t < 10000; t += 10) {
		if (waitpid(pid, &st, WNOHANG) == pid) {
			ssize_t n;

			while (len + 1 < cap && (n = read(pfd[0], out + len, cap - 1 - len)) > 0)
				len += (size_t)n;
			out[len] = '\0';
			close(pfd[0]);
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		e2e_msleep(10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(pfd[0]);
	snprintf(out, cap, "(still running after 10 s: it served the root too)");
	return -1;
}

/* The line of OUT containing NEEDLE (or all of OUT), for the report. */
static const char *line_with(char *out, const char *needle)
{
	char *p = strstr(out, needle), *b, *e;

	if (!p)
		return out;
	for (b = p; b > out && b[-1] != '\n'; b--)
		;
	if ((e = strchr(p, '\n')))
		*e = '\0';
	return b;
}

static void ours(void)
{
	static const char *const args[] = { "--executor", "mock", NULL };
	char out[2048], pidstr[32], other[400];
	int rc, dup = 0, once = 0;

	if (e2e_start_mediator(&env, args) < 0) {
		h_check(&r, 0, "vgpu-mediator started (see %s)", env.log);
		return;
	}
	snprintf(pidstr, sizeof(pidstr), "pid %ld", (long)env.mediator);
	rc = second_mediator(env.state, out, sizeof(out));
	r.injections++;
	h_check(&r, rc == 3 && strstr(out, "in use by another vgpu-mediator") && strstr(out, pidstr),
		"a second mediator on the same --state exits 3 naming the first's %s: exit %d, \"%.300s\"", pidstr, rc,
		line_with(out, "vgpu-mediator (pid"));
	snprintf(other, sizeof(other), "%s/state-2", env.dir);
	rc = second_mediator(other, out, sizeof(out));
	r.injections++;
	h_check(&r, rc == 3 && strstr(out, "served by another vgpu-mediator") && strstr(out, pidstr),
		"a second mediator with another --state on the same --root exits 3 naming the first's %s: exit %d, "
		"\"%.300s\"", pidstr, rc, line_with(out, "vgpu-mediator (pid"));
	for (int round = 0; round < ROUNDS; round++) {
		struct e2e_call c[VMS];
		struct vgpu_request q;

		memset(&q, 0, sizeof(q));
		q.op = VGPU_OP_PING;
		q.priority = VGPU_PRIO_LOW;
		q.output_file = -1;
		for (uint32_t vm = 1; vm <= VMS; vm++)
			e2e_call_start(&env, &c[vm - 1], vm, &q, 5000);
		for (uint32_t vm = 1; vm <= VMS; vm++) {
			e2e_call_wait(&c[vm - 1]);
			r.req.submitted++;
			if (c[vm - 1].out.rc == VGPU_CLIENT_OK && c[vm - 1].out.vm == vm)
				r.req.answered++;
			else
				r.req.lost++;
		}
	}
	for (uint32_t vm = 1; vm <= VMS; vm++)
		for (int64_t seq = 1; seq <= ROUNDS; seq++) {
			int n = e2e_journal_count(&env, "exec", vm, seq);
			once += n == 1;
			dup += n > 1;
		}
	r.req.duplicated += dup;
	h_check(&r, once == VMS * ROUNDS && dup == 0 && e2e_journal_count(&env, "exec", 0, 0) == VMS * ROUNDS,
		"%d requests from %d VMs: each executed once (%d executions in all)", VMS * ROUNDS, VMS,
		e2e_journal_count(&env, "exec", 0, 0));
	/* a crash leaves no stale lock */
	kill(env.mediator, SIGKILL);
	waitpid(env.mediator, NULL, 0);
	env.mediator = 0;
	rc = e2e_start_mediator(&env, args);
	h_check(&r, rc == 0, "after the first mediator was SIGKILLed, a new one starts on the same --state and --root");
	if (rc == 0) {
		r.req.submitted++;
		if (raw_ping(1, ROUNDS + 1, 5000)) {
			r.req.answered++;
			h_check(&r, 1, "and serves (vm1's next ping answered)");
		} else {
			r.req.lost++;
			h_check(&r, 0, "and serves (vm1's next ping answered)");
		}
		h_check(&r, e2e_stop_mediator(&env, 5000) == 0, "the mediator stops on SIGTERM");
	}
	h_evidence(&r, "ours: second mediators refused (same state; same root, other state), naming the first's pid; "
		   "%d requests executed once each", VMS * ROUNDS);
}

int main(void)
{
	h_begin(&r, "TWOMED", "Two mediators on one root: the second is refused, every request runs once", "local");
	rng = r.seed;
	signal(SIGPIPE, SIG_IGN);
	if (e2e_setup(&env, VMS) < 0) {
		h_check(&r, 0, "private directory: %s", strerror(errno));
		return h_finish(&r);
	}
	naive_control();
	ours();
	e2e_teardown(&env);
	return h_finish(&r);
}
