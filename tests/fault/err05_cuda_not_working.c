/* err05_cuda_not_working.c - ERRORS_LOG ERROR 5, CUDA not working in Dom0, with the real
 * CUDA runtime on a host where it cannot work (toolkit, no driver: cudart answers
 * cudaErrorInsufficientDriver; on a GPU host CUDA_VISIBLE_DEVICES= gives cudaErrorNoDevice,
 * so the scenario sets it empty and accepts either).
 * Naive control (naive/naive_cuda_forced.c, built by nvcc): CUDA forced anyway, nothing
 * checked until the end: it "runs", exits 0 and prints zeros.
 * Without nvcc the runtime is still the real one: libcudart from the distribution's
 * archive (scripts/cudart-fetch.sh, unpacked under $BUILD/cudart by `make check-fault`),
 * loaded by cudart/cudart_probe.c (built by cc). Its naive mode is the naive control; its
 * sanity mode takes cuda-sanity's first steps through that runtime and stands in for
 * cuda-sanity beside copies of vgpu-mediator and vgpu-worker, so that the mediator's gate
 * meets the driver's real message; the build's own cuda-sanity must say it has no CUDA
 * (exit 6).
 * Ours: cuda-sanity exits 2 (3: no device) printing the driver's message; vgpu-mediator
 * --executor auto without a fallback refuses to start (exit 4) and says why and what to
 * configure; with --fallback mock it starts, logs that cuda-sanity failed and that it uses
 * mock as configured, and answers a vadd right; --executor cuda refuses (exit 4) naming
 * the error (without nvcc: that it has no CUDA backend). docs/HARNESS.md, ERR05.
 * Handling proved (src/): src/exec/executor.c (auto, --fallback, refusal),
 * src/cmd/cuda-sanity.c, src/cmd/vgpu-mediator.c (exit 4), src/exec/backend_cuda.c. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/client.h"
#include "lib/opref.h"
#include "lib/status.h"
#include "../e2e/e2e_util.h"
#include "harness.h"
#include "naive/naive_cuda_forced.h"

#define EXIT_NO_EXECUTOR 4          /* vgpu-mediator: no usable executor */
#define SANITY_NO_DRIVER 2          /* cuda-sanity's documented codes (docs/GPU.md) */
#define SANITY_NO_DEVICE 3
#define SANITY_NO_CUDA 6

static struct h_result r;
static struct e2e_env env;
static const char *bindir;  /* where vgpu-mediator and its cuda-sanity are */
#ifndef VGPU_HAVE_CUDA
static char cudart[512];    /* the real libcudart (scripts/cudart-fetch.sh) */
static char probe[400];     /* $BUILD/tests/fault/cudart-probe */
static char privbin[320];   /* env.dir/bin: copies of the mediator and worker, the gate */
#endif

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Run ARGV with stdout+stderr into OUT (CAP bytes), killed after TIMEOUT_MS. Returns
 * its exit status (0..255), 128+sig when killed, -1 when it could not run. */
static int run_capture(char *const argv[], int timeout_ms, char *out, size_t cap)
{
	int p[2], st = 0;
	size_t len = 0;
	uint64_t end = mono_ms() + (uint64_t)timeout_ms;
	pid_t pid;

	out[0] = '\0';
	if (pipe(p) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		close(p[1]);
		setpgid(0, 0);
		execv(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return -1;
	}
	for (;;) {
		struct pollfd pf = { .fd = p[0], .events = POLLIN };
		uint64_t now = mono_ms();
		ssize_t n;
		char sink[512];

		if (now >= end) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&pf, 1, (int)(end - now)) <= 0)
			continue;
		if (len + 1 < cap)
			n = read(p[0], out + len, cap - 1 - len);
		else
			n = read(p[0], sink, sizeof(sink));
		if (n <= 0)
			break;
		if (len + 1 < cap)
			len += (size_t)n;
	}
	out[len] = '\0';
	close(p[0]);
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The driver's words for "CUDA cannot work here", as cudart prints them. */
static int driver_message(const char *s)
{
	return strstr(s, "CUDA driver version is insufficient for CUDA runtime version") ||
	       strstr(s, "no CUDA-capable device is detected");
}

static int count_lines(const char *s, const char *needle)
{
	int n = 0;

	for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void first_line_with(const char *s, const char *needle, char *buf, size_t cap)
{
	const char *p = strstr(s, needle), *b, *e;

	buf[0] = '\0';
	if (!p)
		return;
	for (b = p; b > s && b[-1] != '\n'; b--)
		;
	e = strchr(p, '\n');
	snprintf(buf, cap, "%.*s", (int)((e ? e : p + strlen(p)) - b), b);
}

static void naive_control(void)
{
	struct naive_cuda_report rep;
	char bin[400], out[8192];
	int st;

#ifdef VGPU_HAVE_CUDA
	snprintf(bin, sizeof(bin), "%s/tests/fault/naive_cuda_forced", env.build);
	char *argv[] = { bin, NULL };
#else
	snprintf(bin, sizeof(bin), "%s", probe);
	char *argv[] = { bin, "naive", cudart, NULL };
#endif
	if (access(bin, X_OK) != 0) {
		h_naive(&r, 0, "%s was not built (tests/fault/cuda_naive.mk, included from fault.mk, builds it)", bin);
		return;
	}
	st = run_capture(argv, 60000, out, sizeof(out));
	if (naive_cuda_parse(out, &rep) < 0) {
		h_naive(&r, 0, "naive_cuda_forced printed nothing we know (exit %d): %.200s", st, out);
		return;
	}
	r.injections += rep.failed_calls;
	h_naive(&r, st == 0 && rep.done && rep.failed_calls > 0 && rep.wrong > 0,
		"CUDA forced without checks: exit %d, \"done\", %d of %d CUDA calls failed unnoticed (%s), devices %d, "
		"%d of %d results wrong (c[1] = %g, expected %g), error seen only at the end (rc %d)", st,
		rep.failed_calls, rep.calls, rep.first_msg, rep.devices, rep.wrong, rep.n, rep.first, rep.expected,
		rep.late_rc);
	h_evidence(&r, "naive: forced CUDA%s exited 0 with %d/%d wrong results (zeros), %d failed calls unnoticed",
#ifdef VGPU_HAVE_CUDA
		   "",
#else
		   " (cc + dlopen of the real libcudart)",
#endif
		   rep.wrong, rep.n, rep.failed_calls);
}

static void sanity(void)
{
	char bin[400], out[8192], line[300];
	int st;

	snprintf(bin, sizeof(bin), "%s/cuda-sanity", bindir);
	char *argv[] = { bin, NULL };
	st = run_capture(argv, 60000, out, sizeof(out));
	r.injections += count_lines(out, ": cudaError");
	first_line_with(out, ": cudaError", line, sizeof(line));
	h_check(&r, (st == SANITY_NO_DRIVER || st == SANITY_NO_DEVICE) && driver_message(out),
		"cuda-sanity exits %d (documented: 2 no/old driver, 3 no device) and prints: %s", st, line);
	h_evidence(&r, "ours: cuda-sanity exit %d: %s", st, line);
}

static void mediator_refuses(const char *spec)
{
	char bin[400], out[8192], line[400];
	int st;

	snprintf(bin, sizeof(bin), "%s/vgpu-mediator", bindir);
	char *argv[] = { bin, "--root", env.root, "--state", env.state, "--executor", (char *)spec, NULL };
	st = run_capture(argv, 90000, out, sizeof(out));
	first_line_with(out, " err: ", line, sizeof(line));
	if (strcmp(spec, "auto") == 0)
		h_check(&r, st == EXIT_NO_EXECUTOR && driver_message(out) && strstr(out, "refusing to start") &&
			strstr(out, "--fallback"),
			"--executor auto, no fallback: exit %d (4 expected), does not half-start: %s", st, line);
	else
#ifdef VGPU_HAVE_CUDA
		h_check(&r, st == EXIT_NO_EXECUTOR && driver_message(out) && !strstr(out, "serving "),
			"--executor %s: exit %d (4 expected), refuses clearly: %s", spec, st, line);
#else
		h_check(&r, st == EXIT_NO_EXECUTOR && strstr(out, "without CUDA") && !strstr(out, "serving "),
			"--executor %s in a build without CUDA: exit %d (4 expected), refuses saying so: %s", spec, st,
			line);
#endif
}

static void mediator_fallback(uint64_t seed)
{
	static const char *const args[] = { "--executor", "auto", "--fallback", "mock", NULL };
	struct vgpu_client_opts o = { .timeout_ms = 10000, .lock_dir = NULL };
	struct vgpu_client *c = NULL;
	struct vgpu_request q;
	struct vgpu_response resp;
	struct vgpu_summary s;
	char dir[400], err[512], want[200], log[8192];
	const size_t n = 5000;
	float *a = malloc(3 * n * sizeof(float));
	int rc, fd;
	ssize_t len;

	const char *build = env.build;

	env.build = bindir;     /* the mediator with the cuda-sanity of this run */
	rc = a ? e2e_start_mediator(&env, args) : -1;
	env.build = build;
	if (rc < 0) {
		h_check(&r, 0, "--executor auto --fallback mock started (see %s)", env.log);
		free(a);
		return;
	}
	log[0] = '\0';
	if ((fd = open(env.log, O_RDONLY)) >= 0) {
		len = read(fd, log, sizeof(log) - 1);
		log[len > 0 ? len : 0] = '\0';
		close(fd);
	}
	h_check(&r, strstr(log, "cuda-sanity failed") && driver_message(log) &&
		strstr(log, "using mock as configured (--fallback mock)"),
		"--executor auto --fallback mock starts and its log says it uses mock because cuda-sanity failed");
	o.lock_dir = env.dir;
	e2e_vmdir(&env, 1, dir, sizeof(dir));
	memset(&q, 0, sizeof(q));
	q.op = VGPU_OP_VADD;
	q.priority = VGPU_PRIO_MEDIUM;
	q.args.n = n;
	q.args.has_seed = 1;
	q.args.seed = seed;
	q.output_file = 0;
	memset(&resp, 0, sizeof(resp));
	rc = vgpu_client_open(&c, dir, &o, err, sizeof(err));
	if (rc == VGPU_CLIENT_OK)
		rc = vgpu_client_call(c, &q, NULL, 0, &resp, NULL, NULL, err, sizeof(err));
	vgpu_gen_fill(a, n, seed, 0);
	vgpu_gen_fill(a + n, n, seed, 1);
	vgpu_ref_vadd(a, a + n, a + 2 * n, n);
	vgpu_summarize(a + 2 * n, n, &s);
	vgpu_summary_format(&s, want, sizeof(want));
	r.req.submitted++;
	if (rc == VGPU_CLIENT_OK || rc == VGPU_CLIENT_ESTATUS) {
		r.req.answered++;
		if (resp.vm != 1 || resp.seq != vgpu_client_last_seq(c))
			r.req.misrouted++;
	} else {
		r.req.lost++;
	}
	h_check(&r, rc == VGPU_CLIENT_OK && strcmp(resp.result, want) == 0 && strcmp(resp.executor, "mock") == 0,
		"a vadd of %zu on the fallback: %s by %s, result %s", n, rc == VGPU_CLIENT_OK ? "OK" : err,
		resp.executor, resp.result);
	h_check(&r, e2e_stop_mediator(&env, 5000) == 0, "the fallback mediator stops cleanly on SIGTERM");
	if (c && (e2e_journal_count(&env, "exec", 1, vgpu_client_last_seq(c)) > 1 ||
		  e2e_journal_count(&env, "answer", 1, vgpu_client_last_seq(c)) != 1))
		r.req.duplicated++;
	vgpu_client_close(c);
	free(a);
	h_evidence(&r, "ours: auto without fallback exit 4 naming the fix; with --fallback mock it said so and "
		   "answered vadd right; --executor cuda refused");
}

#ifndef VGPU_HAVE_CUDA
/* Copy FROM to TO (mode 0755). 0 or -1. */
static int copy_exe(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, rc = -1;
	ssize_t n;

	if (in < 0)
		return -1;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	while (out >= 0 && (n = read(in, buf, sizeof(buf))) >= 0) {
		if (n == 0) {
			rc = 0;
			break;
		}
		if (write(out, buf, (size_t)n) != n)
			break;
	}
	close(in);
	if (out >= 0 && close(out) != 0)
		rc = -1;
	return rc;
}

/* The real runtime, the build's own cuda-sanity (no CUDA: exit 6), and env.dir/bin with
 * copies of vgpu-mediator and vgpu-worker (the mediator runs the cuda-sanity beside its
 * own executable) and a cuda-sanity that is cudart-probe's sanity mode. 0 or -1. */
static int cudart_setup(void)
{
	const char *lib = getenv("VGPU_CUDART");
	char path[512], out[4096], line[300];
	FILE *f;
	int st;

	snprintf(path, sizeof(path), "%s/cudart/libcudart.so", env.build);
	if (!lib || !lib[0])
		lib = path;
	if (!realpath(lib, cudart)) {
		h_check(&r, 0, "the real CUDA runtime %s is here (built without nvcc: `make check-fault` fetches it with "
			"scripts/cudart-fetch.sh from the distribution's archive; VGPU_CUDART names another): %s", lib,
			strerror(errno));
		return -1;
	}
	snprintf(probe, sizeof(probe), "%s/tests/fault/cudart-probe", env.build);
	snprintf(path, sizeof(path), "%s/cuda-sanity", env.build);
	char *argv[] = { path, NULL };
	st = run_capture(argv, 60000, out, sizeof(out));
	first_line_with(out, "without CUDA", line, sizeof(line));
	h_check(&r, st == SANITY_NO_CUDA && line[0],
		"this build's cuda-sanity exits %d (6: built without CUDA) and says so: %s", st, line);
	snprintf(privbin, sizeof(privbin), "%s/bin", env.dir);
	if (mkdir(privbin, 0755) < 0) {
		h_check(&r, 0, "mkdir %s: %s", privbin, strerror(errno));
		return -1;
	}
	static const char *const copies[] = { "vgpu-mediator", "vgpu-worker" };
	for (size_t i = 0; i < sizeof(copies) / sizeof(copies[0]); i++) {
		char from[400], to[400];

		snprintf(from, sizeof(from), "%s/%s", env.build, copies[i]);
		snprintf(to, sizeof(to), "%s/%s", privbin, copies[i]);
		if (copy_exe(from, to) < 0) {
			h_check(&r, 0, "copy %s to %s: %s", from, to, strerror(errno));
			return -1;
		}
	}
	snprintf(path, sizeof(path), "%s/cuda-sanity", privbin);
	f = fopen(path, "w");
	if (!f || fprintf(f, "#!/bin/sh\nexec '%s' sanity '%s'\n", probe, cudart) < 0 || fclose(f) != 0 ||
	    chmod(path, 0755) < 0) {
		h_check(&r, 0, "write %s: %s", path, strerror(errno));
		return -1;
	}
	bindir = privbin;
	/* the file's name only: evidence is folded into ERRORS_LOG.txt */
	h_evidence(&r, "runtime: %s (the distribution's libcudart, no toolkit)",
		   strrchr(cudart, '/') ? strrchr(cudart, '/') + 1 : cudart);
	return 0;
}
#endif

int main(void)
{
	h_begin(&r, "ERR05", "CUDA not working: cuda-sanity fails with the driver message, auto does not half-start",
		"cudart");
	/* On a GPU host this is what makes CUDA fail (cudaErrorNoDevice); without a driver
	 * it changes nothing. */
	setenv("CUDA_VISIBLE_DEVICES", "", 1);
	if (e2e_setup(&env, 1) < 0) {
		h_check(&r, 0, "private directory: %s", strerror(errno));
		return h_finish(&r);
	}
	bindir = env.build;
#ifndef VGPU_HAVE_CUDA
	if (cudart_setup() < 0) {
		e2e_teardown(&env);
		return h_finish(&r);
	}
#endif
	naive_control();
	sanity();
	mediator_refuses("auto");
	mediator_refuses("cuda");
	mediator_fallback(r.seed);
	e2e_teardown(&env);
	return h_finish(&r);
}
