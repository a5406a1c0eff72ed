/* x_vm_flood.c - beyond the ten (issue 10, point 2): one VM floods the mediator with
 * complete but invalid records (renamed over its command.txt in a tight loop); another
 * VM's pings must still be answered quickly.
 *
 * Naive control: naive/naive_drain_server.c, the loop as the issue found it: inotify
 * drained to its end before anything else, every event answered at once (an fsync'd
 * reject per invalid record): under the flood the other VM's pings wait behind it
 * (symptom: p99 over 50 ms, or unanswered).
 * Ours: vgpu-mediator (mock): the other VM's ping latency is measured without and with
 * the flood (printed: p50, p99, max); with the flood its p99 must stay under 50 ms (or
 * 3 times the same run's p99 without the flood, on a machine so loaded that this is near
 * 50 ms already), every ping answered; the flooding VM gets at most its reject budget of answers and log lines
 * (burst 8, then 4 a second), and is served again once it stops.
 * Injections: flood records published (renames over command.txt).
 * Handling proved (src/): src/mediator/mediator.c (handle_inotify: bounded reads per
 * turn, each VM looked at once per turn), src/mediator/intake.c (budget()),
 * src/mediator/ratelimit.c. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/record.h"
#include "lib/safeio.h"
#include "lib/status.h"
#include "../e2e/e2e_util.h"
#include "harness.h"
#include "pingtime.h"
#include "naive/naive_drain_server.h"

#define P99_BOUND_MS 50
#define VALID_P99_BOUND_MS 150

/* The bound for the flooded VM's neighbour: FIXED ms, or three times the same run's p99
 * without the flood (the worse of just before and just after it) when the machine is so
 * loaded that even that is near FIXED: the flood must not stall the loop, and the
 * machine's load is not the mediator's. A stall is seconds, or pings unanswered. */
static double p99_bound(double fixed, double base_p99)
{
	return 3 * base_p99 > fixed ? 3 * base_p99 : fixed;
}
#define FLOOD_PINGS 200

static struct e2e_env env;
static struct h_result r;
static uint64_t rng;

/* ---- the flooding VM: rename invalid records over vm1/command.txt until killed ---- */

static pid_t start_flooder(uint32_t vm, volatile uint64_t *count, int valid)
{
	pid_t pid = fork();

	if (pid == 0) {
		char dir[400], tmp[500], path[500], rec[600];
		uint64_t i = 0;
		struct vgpu_request q;

		e2e_server_vmdir(&env, vm, dir, sizeof(dir));
		snprintf(tmp, sizeof(tmp), "%s/.tmp-flood", dir);
		snprintf(path, sizeof(path), "%s/command.txt", dir);
		for (;;) {
			/* complete (an end line) but its CRC is wrong: CORRUPT, every one new; or
			 * (VALID) well-formed pings with ever higher seqs: nothing to refuse */
			int n = snprintf(rec, sizeof(rec), "VGPU1 REQUEST\nvm %u\nseq %" PRIu64 "\nend 18 00000000\n",
					 vm, ++i), fd;

			if (valid) {
				memset(&q, 0, sizeof(q));
				q.vm = vm;
				q.seq = (int64_t)i;
				snprintf(q.nonce, sizeof(q.nonce), "%016" PRIx64, i);
				q.op = VGPU_OP_PING;
				q.priority = VGPU_PRIO_MEDIUM;
				q.output_file = -1;
				n = vgpu_request_encode(&q, rec, sizeof(rec));
			}
			fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);

			if (fd < 0 || write(fd, rec, (size_t)n) != n || close(fd) < 0 || rename(tmp, path) < 0)
				_exit(1);
			(*count)++;
		}
	}
	return pid;
}

static void stop_child(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

/* N pings of VM from seq FIRST, each waited for up to BOUND_MS; gives up after GIVEUP
 * unanswered in a row. */
static struct pt_lat pings(uint32_t vm, int64_t first, int n, int bound_ms, int giveup)
{
	return pt_pings(&env, vm, &first, n, bound_ms, giveup, &rng, NULL, NULL);
}

/* ---- naive control ---- */

static volatile sig_atomic_t naive_stop;
static void on_term(int sig)
{
	(void)sig;
	naive_stop = 1;
}

static void naive_control(volatile uint64_t *count)
{
	char journal[400];
	pid_t server, flooder;
	struct pt_lat base, fl;
	uint64_t before;

	snprintf(journal, sizeof(journal), "%s/naive-journal", env.dir);
	server = fork();
	if (server == 0) {
		signal(SIGTERM, on_term);
		_exit(naive_drain_serve(env.root, 2, journal, &naive_stop) < 0);
	}
	e2e_msleep(200);
	base = pings(2, 1, 20, 2000, 3);
	pt_print("naive, no flood", &base);
	before = *count;
	flooder = start_flooder(1, count, 0);
	e2e_msleep(300);
	fl = pings(2, 100, 10, 2000, 3);
	stop_child(flooder);
	kill(server, SIGTERM);
	waitpid(server, NULL, 0);
	pt_print("naive, vm1 flooding", &fl);
	r.injections += (long)(*count - before);
	h_naive(&r, fl.p99 > P99_BOUND_MS,
		"the drain-everything loop under vm1's flood (%" PRIu64 " invalid records): vm2's pings %d of %d "
		"answered, p99 %s (bound %d ms; %.1f ms without the flood)", *count - before, fl.answered, fl.n,
		fl.p99 >= 1e9 ? "unanswered" : "over the bound", P99_BOUND_MS, base.p99);
	h_evidence(&r, "naive: drain-all loop, vm2 %d/%d pings answered under the flood (p99 %s)", fl.answered, fl.n,
		   fl.p99 >= 1e9 ? "unanswered" : "high");
	/* a clean slate for ours */
	pt_forget(&env, 2);
}

/* ---- ours ---- */

static void ours(volatile uint64_t *count)
{
	static const char *const args[] = { "--executor", "mock", NULL };
	struct pt_lat base, after, fl, fl2;
	pid_t flooder;
	uint64_t before, t0, t1;
	int answers, lines, st = -1;
	double ms;

	if (e2e_start_mediator(&env, args) < 0) {
		h_check(&r, 0, "vgpu-mediator started (see %s)", env.log);
		return;
	}
	base = pings(2, 1, 50, 5000, 3);
	pt_print("ours, no flood", &base);
	before = *count;
	flooder = start_flooder(1, count, 0);
	e2e_msleep(300);
	t0 = e2e_mono_ms();
	fl = pings(2, 1000, FLOOD_PINGS, 5000, 3);
	t1 = e2e_mono_ms();
	stop_child(flooder);
	pt_print("ours, vm1 flooding", &fl);
	after = pings(2, 2000, 50, 5000, 3);
	pt_print("ours, no flood again", &after);
	r.injections += (long)(*count - before);
	r.req.submitted += base.n + fl.n + after.n;
	r.req.answered += base.answered + fl.answered + after.answered;
	r.req.lost += (base.n - base.answered) + (fl.n - fl.answered) + (after.n - after.answered);
	if (after.p99 > base.p99)
		base.p99 = after.p99;
	h_check(&r, fl.answered == fl.n && fl.p99 < p99_bound(P99_BOUND_MS, base.p99),
		"vm1 flooding (%" PRIu64 " invalid records in %.1f s): vm2's %d pings all answered, p99 %.1f ms < %.0f ms "
		"(p50 %.1f, max %.1f; without the flood p99 %.1f ms; bound %d ms, or 3 times that when the machine "
		"is loaded)", *count - before, (double)(t1 - t0 + 300) / 1000, fl.n, fl.p99,
		p99_bound(P99_BOUND_MS, base.p99), fl.p50, fl.max, base.p99, P99_BOUND_MS);
	/* the flooding VM's answers and log lines stay within its budget */
	answers = e2e_journal_wait(&env, "answer", 1, 0, 1, E2E_WAIT_MS);
	answers = e2e_journal_count(&env, "answer", 1, 0);
	lines = e2e_log_count(&env, "vm1: ");
	{
		double secs = (double)(t1 - t0 + 300) / 1000.0 + 1.0;
		int max_answers = 8 + (int)(4 * secs) + 2, max_lines = 5 + (int)secs + 2;

		h_check(&r, answers > 0 && answers <= max_answers && lines <= max_lines + answers,
			"vm1 got %d answers (budget: at most %d in %.1f s) and caused %d log lines (%d answer lines + "
			"at most %d warnings)", answers, max_answers, secs, lines, answers, max_lines);
	}
	/* once it stops, vm1 is served again (after its budget refills) */
	ms = pt_ping(&env, 1, 1, VGPU_PRIO_MEDIUM, 5000, &rng, &st);
	r.req.submitted++;
	if (ms >= 0 && st == VGPU_OK)
		r.req.answered++;
	else
		r.req.lost++;
	h_check(&r, ms >= 0 && st == VGPU_OK, "vm1's own ping after the flood: %s in %.0f ms",
		ms >= 0 ? vgpu_status_name(st) : "no answer", ms);
	h_check(&r, e2e_journal_count(&env, "exec", 1, 0) == 1, "none of vm1's invalid records was executed");
	/* a flood of valid requests (no budget applies: each is a request) costs one look
	 * per turn, and the other VM still gets its turn */
	before = *count;
	flooder = start_flooder(1, count, 1);
	e2e_msleep(300);
	fl2 = pings(2, 5000, FLOOD_PINGS, 5000, 3);
	stop_child(flooder);
	pt_print("ours, vm1 flooding valid pings", &fl2);
	r.injections += (long)(*count - before);
	r.req.submitted += fl2.n;
	r.req.answered += fl2.answered;
	r.req.lost += fl2.n - fl2.answered;
	/* each of vm1's jobs is a fair turn (intent, answer: fsyncs): vm2 waits for at most
	 * one of them; the bound is looser than for the invalid flood */
	h_check(&r, fl2.answered == fl2.n && fl2.p99 < p99_bound(VALID_P99_BOUND_MS, 3 * base.p99),
		"vm1 renaming valid pings (%" PRIu64 " records, %d executed): vm2's %d pings all answered, p99 %.1f ms "
		"< %.0f ms (p50 %.1f, max %.1f)", *count - before, e2e_journal_count(&env, "exec", 1, 0) - 1, fl2.n,
		fl2.p99, p99_bound(VALID_P99_BOUND_MS, 3 * base.p99), fl2.p50, fl2.max);
	h_evidence(&r, "ours: vm2 p99 %.1f ms (p50 %.1f, max %.1f) under a %" PRIu64 "-record flood, %d/%d answered; "
		   "vm1 got %d answers", fl.p99, fl.p50, fl.max, *count - before, fl.answered, fl.n, answers);
	h_check(&r, e2e_stop_mediator(&env, 5000) == 0, "the mediator stops on SIGTERM");
}

int main(void)
{
	volatile uint64_t *count;

	h_begin(&r, "FLOOD", "One VM floods invalid records: the others are still served fast", "local");
	rng = r.seed;
	signal(SIGPIPE, SIG_IGN);
	count = mmap(NULL, sizeof(*count), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (count == MAP_FAILED || e2e_setup(&env, 2) < 0) {
		h_check(&r, 0, "private directory: %s", strerror(errno));
		return h_finish(&r);
	}
	*count = 0;
	naive_control(count);
	ours(count);
	e2e_teardown(&env);
	return h_finish(&r);
}
