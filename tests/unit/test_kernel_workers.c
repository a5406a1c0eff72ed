/* test_kernel_workers.c - the VMs' kernel workers (src/exec/pool_kernel.c, docs/KERNELS.md
 * section 4 "Isolation"): the worker pool with the real vgpu-worker ($VGPU_BUILD), the
 * device's worker on the mock backend and the kernel workers on cuda-kernel over the
 * stand-in driver (tests/unit/fake_libcuda.c, first in LD_LIBRARY_PATH: the program runs
 * itself again with it set). Checked: VM1's kernel that faults (the whole process's
 * contexts, as on the H200) is KERNEL_FAULT while VM2's kernel worker keeps its pid and
 * answers at once, exact, and the device's worker too; the same for a kernel that spins
 * (TIMEOUT by the watchdog); an idle kernel worker retired; the cap with the least
 * recently used evicted; a worker never runs another VM's job. The naive control: two VMs
 * in one process, where VM1's fault breaks VM2's next job. Built without nvcc: one test
 * that says why it skips. */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/testutil.h"
#include "fake_cuda_setup.h"
#include "exec/executor.h"
#include "exec/wire.h"
#include "lib/clock.h"
#include "lib/kernel_args.h"
#include "lib/record.h"
#include "lib/status.h"

#ifndef VGPU_HAVE_CUDA
int main(void)
{
	return tu_run(fake_cuda_skip_suite("test_kernel_workers", "kernel_workers"), CK_ENV);
}
#else
#include "exec/backend_cuda_kernel.h"

static char worker[PATH_MAX];

static const char ptx[] = ".version 7.0\n.visible .entry vadd(\n)\n.visible .entry wild(\n)\n"
			  ".visible .entry spin(\n)\n";

static void setup(void)
{
	const char *b = getenv("VGPU_BUILD");
	char rel[PATH_MAX - 64], *abs;

	snprintf(rel, sizeof(rel), "%s/vgpu-worker", b && b[0] ? b : "build");
	abs = realpath(rel, NULL);
	ck_assert_msg(abs != NULL, "no worker binary at %s (set VGPU_BUILD)", rel);
	snprintf(worker, sizeof(worker), "%s", abs);
	free(abs);
}

static struct vgpu_executor *open_pool(void)
{
	struct vgpu_exec_opts o;
	struct vgpu_executor *ex = NULL;
	char err[256];
	int rc;

	memset(&o, 0, sizeof(o));
	o.worker_path = worker;
	o.kernel_backend = "cuda-kernel";
	rc = vgpu_pool_open("mock", &o, &ex, err, sizeof(err));
	ck_assert_msg(rc == 0, "pool open: %d %s", rc, err);
	return ex;
}

/* The live (not zombie) child of this process whose command line has the words A and B
 * one after the other, or 0. */
static pid_t child_with(const char *a, const char *b)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = 0;

	ck_assert_ptr_nonnull(d);
	while (!found && (e = readdir(d))) {
		char path[300], buf[4096], *p;
		int ppid = 0;
		char state = 0;
		ssize_t n;
		int fd;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		if ((fd = open(path, O_RDONLY)) < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = 0;
		p = strrchr(buf, ')');
		if (!p || sscanf(p + 1, " %c %d", &state, &ppid) != 2 || ppid != getpid() || state == 'Z')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		if ((fd = open(path, O_RDONLY)) < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		for (ssize_t i = 0; n > 0 && i < n; i += (ssize_t)strlen(buf + i) + 1)
			if (strcmp(buf + i, a) == 0 && i + (ssize_t)strlen(a) + 1 < n &&
			    strcmp(buf + i + strlen(a) + 1, b) == 0)
				found = (pid_t)atoi(e->d_name);
	}
	closedir(d);
	return found;
}

static pid_t vm_pid(unsigned vm)
{
	char v[16];

	snprintf(v, sizeof(v), "%u", vm);
	return child_with("--vm", v);
}

static pid_t device_pid(void)
{
	return child_with("--backend", "mock");
}

static int memfd_with(const void *data, size_t bytes)
{
	int fd = memfd_create("t", MFD_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)bytes), 0);
	if (data && bytes)
		ck_assert_int_eq(pwrite(fd, data, bytes, 0), (ssize_t)bytes);
	return fd;
}

/* A kernel job of VM: ENTRY of the PTX above with ARGS; for vadd, a = i, b = 2i. */
struct kjob {
	struct vgpu_exec_job x;
	char in[8192];
};

static void kjob_init(struct kjob *k, unsigned vm, const char *entry, const char *args, uint64_t ms)
{
	struct vgpu_kernel_args *ka = &k->x.job.args.kernel;
	uint64_t ib, ob;

	memset(k, 0, sizeof(*k));
	k->x.job.op = VGPU_OP_KERNEL;
	snprintf(ka->entry, sizeof(ka->entry), "%s", entry);
	ka->vm = vm;
	ka->grid[0] = ka->grid[1] = ka->grid[2] = 1;
	ka->block[0] = 256;
	ka->block[1] = ka->block[2] = 1;
	ka->ptx = (sizeof(ptx) + 7) / 8 * 8;
	ck_assert_int_eq(vgpu_kernel_parse_args(args, strlen(args), ka), 0);
	ck_assert_int_eq(vgpu_kernel_layout(ka, NULL, NULL, &ib, &ob), 0);
	ck_assert_uint_le(ib, sizeof(k->in));
	memcpy(k->in, ptx, sizeof(ptx));
	if (strcmp(entry, "vadd") == 0) {
		float *a = (float *)(void *)(k->in + ka->ptx), *b = a + 64;
		for (int i = 0; i < 64; i++) {
			a[i] = (float)i;
			b[i] = 2.0f * (float)i;
		}
	}
	k->x.in_bytes = ib;
	k->x.in_fd = memfd_with(k->in, ib);
	k->x.out_bytes = ob;
	k->x.job.out_count = ob / sizeof(float);
	k->x.out_fd = ob ? memfd_with(NULL, ob) : -1;
	k->x.deadline_ms = vgpu_now_ms() + ms;
}

static void kjob_free(struct kjob *k)
{
	if (k->x.in_fd >= 0)
		close(k->x.in_fd);
	if (k->x.out_fd >= 0)
		close(k->x.out_fd);
}

/* Submit X on slot 0 and drive fd()/reap() until it ends; returns the elapsed ms. */
static uint64_t run_job(struct vgpu_executor *ex, const struct vgpu_exec_job *x, struct vgpu_job_result *res)
{
	uint64_t t0 = vgpu_now_ms();

	memset(res, 0, sizeof(*res));
	ck_assert_int_eq(vgpu_executor_submit(ex, 0, x), 0);
	for (;;) {
		struct pollfd p = { .fd = vgpu_executor_fd(ex, 0), .events = POLLIN };
		uint64_t now;

		poll(&p, 1, 20);
		now = vgpu_now_ms();
		if (vgpu_executor_reap(ex, 0, now, res) == 1)
			return now - t0;
		ck_assert_msg(now - t0 < 30000, "job did not end in 30 s");
	}
}

/* VM's vadd of 64 floats through EX: OK and c = 3i. */
static void vadd_ok(struct vgpu_executor *ex, unsigned vm)
{
	struct kjob *k = calloc(1, sizeof(*k));
	struct vgpu_job_result r;
	float c[64];

	kjob_init(k, vm, "vadd", "in:256 in:256 out:256 u32:64", 20000);
	run_job(ex, &k->x, &r);
	ck_assert_msg(r.status == VGPU_OK, "vm%u vadd: status %d: %s", vm, r.status, r.error);
	ck_assert_int_eq(pread(k->x.out_fd, c, sizeof(c), 0), (ssize_t)sizeof(c));
	for (int i = 0; i < 64; i++)
		ck_assert_float_eq(c[i], 3.0f * (float)i);
	kjob_free(k);
	free(k);
}

static void ping_ok(struct vgpu_executor *ex)
{
	struct vgpu_exec_job x;
	struct vgpu_job_result r;

	memset(&x, 0, sizeof(x));
	x.job.op = VGPU_OP_PING;
	x.in_fd = x.out_fd = -1;
	x.deadline_ms = vgpu_now_ms() + 20000;
	run_job(ex, &x, &r);
	ck_assert_msg(r.status == VGPU_OK, "ping: %d %s", r.status, r.error);
}

/* VM1's fault or hang (ENTRY) leaves VM2's kernel worker and the device's worker as they
 * were: same pids, VM2's next job answered at once and exact. */
static void check_isolated(const char *entry, int want_status, uint64_t ms)
{
	struct vgpu_executor *ex = open_pool();
	struct kjob *k = calloc(1, sizeof(*k));
	struct vgpu_job_result r;
	pid_t dev0, vm2, vm1, vm1b;
	uint64_t t;

	vadd_ok(ex, 2);
	vadd_ok(ex, 1);
	dev0 = device_pid();
	vm2 = vm_pid(2);
	vm1 = vm_pid(1);
	ck_assert_msg(dev0 > 0 && vm2 > 0 && vm1 > 0 && vm1 != vm2 && vm1 != dev0,
		      "processes: device %d, vm1 %d, vm2 %d: each VM's kernels in a process of its own", (int)dev0,
		      (int)vm1, (int)vm2);
	kjob_init(k, 1, entry, "out:4", ms);
	run_job(ex, &k->x, &r);
	ck_assert_msg(r.status == want_status, "vm1's %s: status %d: %s", entry, r.status, r.error);
	ck_assert_int_eq(vm_pid(1), 0);                   /* vm1's process is gone, nothing else */
	ck_assert_msg(vm_pid(2) == vm2, "vm2's kernel worker pid %d, was %d: vm1's %s reached it",
		      (int)vm_pid(2), (int)vm2, entry);
	ck_assert_int_eq(device_pid(), dev0);
	t = vgpu_now_ms();
	vadd_ok(ex, 2);                                   /* no restart to wait for */
	ck_assert_msg(vm_pid(2) == vm2, "vm2's kernel worker pid changed by its job after vm1's %s", entry);
	ck_assert_msg(vgpu_now_ms() - t < 10000, "vm2's job took %llu ms", (unsigned long long)(vgpu_now_ms() - t));
	ping_ok(ex);
	ck_assert_int_eq(device_pid(), dev0);
	vadd_ok(ex, 1);                                   /* vm1's next kernel: a new process */
	vm1b = vm_pid(1);
	ck_assert(vm1b > 0 && vm1b != vm1);
	kjob_free(k);
	free(k);
	vgpu_executor_close(ex);
}

START_TEST(test_fault_only_its_vm)
{
	check_isolated("wild", VGPU_KERNEL_FAULT, 20000);
}
END_TEST

START_TEST(test_timeout_only_its_vm)
{
	check_isolated("spin", VGPU_TIMEOUT, 300);
}
END_TEST

/* VM1's kernel worker dies mid-job (SIGKILL from outside): EXEC_FAILED saying so; VM2's
 * and the device's workers as they were. */
START_TEST(test_crash_only_its_vm)
{
	struct vgpu_executor *ex = open_pool();
	struct kjob *k = calloc(1, sizeof(*k));
	struct vgpu_job_result r;
	pid_t dev0, vm2, vm1;
	uint64_t t0;

	vadd_ok(ex, 2);
	vadd_ok(ex, 1);
	dev0 = device_pid();
	vm2 = vm_pid(2);
	vm1 = vm_pid(1);
	kjob_init(k, 1, "spin", "out:4", 20000);
	ck_assert_int_eq(vgpu_executor_submit(ex, 0, &k->x), 0);
	ck_assert_int_eq(kill(vm1, SIGKILL), 0);
	for (t0 = vgpu_now_ms();;) {
		struct pollfd p = { .fd = vgpu_executor_fd(ex, 0), .events = POLLIN };

		poll(&p, 1, 20);
		if (vgpu_executor_reap(ex, 0, vgpu_now_ms(), &r) == 1)
			break;
		ck_assert_msg(vgpu_now_ms() - t0 < 10000, "the dead worker's job was not reaped");
	}
	ck_assert_int_eq(r.status, VGPU_EXEC_FAILED);
	ck_assert_msg(strstr(r.error, "kernel worker mock/vm1 died (signal 9 SIGKILL); the VM's next kernel job starts"),
		      "%s", r.error);
	ck_assert_int_eq(vm_pid(2), vm2);
	ck_assert_int_eq(device_pid(), dev0);
	vadd_ok(ex, 2);
	vadd_ok(ex, 1);
	ck_assert_int_ne(vm_pid(1), vm1);
	kjob_free(k);
	free(k);
	vgpu_executor_close(ex);
}
END_TEST

/* The naive control: VM1 and VM2 in one process (one struct cu_kernels, as the device's
 * worker had them): VM1's "wild" fault breaks VM2's next job there. */
START_TEST(test_control_one_process)
{
	struct kjob *k = calloc(1, sizeof(*k));
	struct vgpu_job_result r;
	void *kernels = NULL;
	char *in = malloc(1 << 16), *out = malloc(1 << 16);
	struct vgpu_job j;
	int fault;

	for (int step = 0; step < 3; step++) {
		const unsigned vm = step == 1 ? 1 : 2;
		kjob_init(k, vm, step == 1 ? "wild" : "vadd", step == 1 ? "out:4" : "in:256 in:256 out:256 u32:64", 1000);
		memset(&j, 0, sizeof(j));
		j = k->x.job;
		memcpy(in, k->in, k->x.in_bytes);
		j.in = (const float *)(const void *)in;
		j.in_count = k->x.in_bytes / sizeof(float);
		j.out = (float *)(void *)out;
		j.out_count = k->x.out_bytes / sizeof(float);
		memset(&r, 0, sizeof(r));
		fault = vgpu_cu_kernel_job(&kernels, 0, &j, &r);
		if (step == 0)
			ck_assert_msg(r.status == VGPU_OK && !fault, "%d %s", r.status, r.error);
		if (step == 1)
			ck_assert_int_eq(r.status, VGPU_KERNEL_FAULT);
		if (step == 2) {
			printf("control (two VMs in one process): vm2's vadd after vm1's fault: status %s: %s\n",
			       vgpu_status_name(r.status), r.error);
			ck_assert_msg(r.status != VGPU_OK, "the control did not show the symptom");
		}
		kjob_free(k);
	}
	vgpu_cu_kernel_close(&kernels);
	free(in);
	free(out);
	free(k);
}
END_TEST

START_TEST(test_idle_reaped)
{
	struct vgpu_executor *ex;
	pid_t vm1, vm1b;
	uint64_t t, next;

	setenv("VGPU_KERNEL_WORKER_IDLE_MS", "300", 1);
	ex = open_pool();
	unsetenv("VGPU_KERNEL_WORKER_IDLE_MS");
	vadd_ok(ex, 1);
	vm1 = vm_pid(1);
	ck_assert_int_gt(vm1, 0);
	ping_ok(ex);                                      /* not idle long enough yet */
	ck_assert_int_eq(vm_pid(1), vm1);
	next = vgpu_executor_tick(ex, vgpu_now_ms());     /* the mediator's loop, between jobs */
	ck_assert_int_eq(vm_pid(1), vm1);
	ck_assert_msg(next != UINT64_MAX && next <= vgpu_now_ms() + 300, "tick wants no call before %llu",
		      (unsigned long long)next);
	while (vgpu_now_ms() < next)                      /* the time it asked for: vm1 is idle 300 ms */
		msleep(20);
	ck_assert_uint_eq(vgpu_executor_tick(ex, vgpu_now_ms()), UINT64_MAX);   /* retired, none left */
	for (t = vgpu_now_ms(); vm_pid(1) != 0 && vgpu_now_ms() - t < 10000;)
		msleep(10);
	ck_assert_msg(vm_pid(1) == 0, "vm1's idle kernel worker %d still runs after the tick", (int)vm1);
	vadd_ok(ex, 1);                                   /* and comes back on demand */
	vm1b = vm_pid(1);
	ck_assert_int_gt(vm1b, 0);
	ck_assert_int_ne(vm1b, vm1);
	t = vgpu_now_ms();
	while (vgpu_now_ms() - t < 400)                   /* past the idle time, no tick: */
		msleep(20);
	ping_ok(ex);                                      /* any job submitted looks too */
	for (t = vgpu_now_ms(); vm_pid(1) != 0 && vgpu_now_ms() - t < 10000;)
		msleep(10);
	ck_assert_msg(vm_pid(1) == 0, "vm1's idle kernel worker %d still runs after a submit", (int)vm1b);
	vgpu_executor_close(ex);
}
END_TEST

START_TEST(test_cap_evicts_lru)
{
	struct vgpu_executor *ex;
	pid_t vm2, vm3;
	uint64_t t;

	setenv("VGPU_KERNEL_WORKERS", "2", 1);
	ex = open_pool();
	unsetenv("VGPU_KERNEL_WORKERS");
	vadd_ok(ex, 1);
	vadd_ok(ex, 2);
	vadd_ok(ex, 1);                                   /* vm2 is now the least recently used */
	vadd_ok(ex, 3);
	for (t = vgpu_now_ms(); vm_pid(2) != 0 && vgpu_now_ms() - t < 10000;)
		msleep(10);
	ck_assert_msg(vm_pid(2) == 0, "vm2's kernel worker was not evicted for vm3 (cap 2)");
	ck_assert_int_gt(vm_pid(1), 0);
	vm3 = vm_pid(3);
	ck_assert_int_gt(vm3, 0);
	vadd_ok(ex, 2);                                   /* evicts vm1 now */
	vm2 = vm_pid(2);
	ck_assert_int_gt(vm2, 0);
	ck_assert_int_eq(vm_pid(3), vm3);
	vgpu_executor_close(ex);
}
END_TEST

/* A BAD_KERNEL's JIT log through the kernel worker: the job's output file holds it whole
 * (longer than the 256 bytes of the answer's error), with its CRC in the result. */
START_TEST(test_jit_log_in_the_output_file)
{
	struct vgpu_executor *ex = open_pool();
	struct kjob *k = calloc(1, sizeof(*k));
	struct vgpu_job_result r;
	char text[2048], got[4096];
	size_t o;
	ssize_t n;

	kjob_init(k, 1, "broken", "out:4", 20000);
	o = (size_t)snprintf(text, sizeof(text), ".version 7.0\n.visible .entry broken(\n)\n{\n");
	for (int i = 0; i < 12; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "frobnicate;\n");
	memset(k->in, 0, sizeof(k->in));
	memcpy(k->in, text, o);
	k->x.job.args.kernel.ptx = (o + 1 + 7) / 8 * 8;
	k->x.in_bytes = k->x.job.args.kernel.ptx;
	ck_assert_int_eq(ftruncate(k->x.in_fd, 0), 0);
	ck_assert_int_eq(pwrite(k->x.in_fd, k->in, k->x.in_bytes, 0), (ssize_t)k->x.in_bytes);
	run_job(ex, &k->x, &r);
	ck_assert_msg(r.status == VGPU_BAD_KERNEL, "%d %s", r.status, r.error);
	ck_assert_uint_gt(r.log_bytes, 256);
	ck_assert(r.has_out_crc);
	n = pread(k->x.out_fd, got, sizeof(got), 0);
	ck_assert_int_eq(n, (ssize_t)r.log_bytes);
	ck_assert_uint_eq(vgpu_crc32(got, (size_t)n), r.out_crc);
	ck_assert(strncmp(got, "ptxas application ptx input, line 10;", 37) == 0);
	ck_assert_ptr_nonnull(strstr(got, "line 21; error"));
	ck_assert(memcmp(got + n - 51, "ptxas fatal   : Ptx assembly aborted due to errors\n", 51) == 0);
	kjob_free(k);
	free(k);
	vgpu_executor_close(ex);
}
END_TEST

/* A kernel worker that cannot start (no libcuda.so.1 to load): its job EXEC_FAILED in the
 * worker's own words, the next start backed off; the device's worker untouched. */
START_TEST(test_start_fails_backs_off)
{
	struct vgpu_executor *ex = open_pool();
	struct kjob *k = calloc(1, sizeof(*k));
	struct vgpu_job_result r;
	const char *old = getenv("LD_LIBRARY_PATH");
	char *keep = old ? strdup(old) : NULL;
	pid_t dev0 = device_pid();

	unsetenv("LD_LIBRARY_PATH");          /* the kernel workers started now find no driver */
	kjob_init(k, 1, "vadd", "in:256 in:256 out:256 u32:64", 20000);
	run_job(ex, &k->x, &r);
	kjob_free(k);
	if (r.status != VGPU_EXEC_FAILED) {
		/* a GPU host: the installed driver was found, the worker started */
		printf("test_start_fails_backs_off: SKIP: a libcuda.so.1 is installed here (the job: %s: %s)\n",
		       vgpu_status_name(r.status), r.error);
	} else {
		ck_assert_msg(strstr(r.error, "kernel worker mock/vm1 could not start: dlopen(libcuda.so.1)"), "%s", r.error);
		kjob_init(k, 2, "vadd", "in:256 in:256 out:256 u32:64", 20000);
		run_job(ex, &k->x, &r);           /* at once: backed off, not started again */
		ck_assert_int_eq(r.status, VGPU_EXEC_FAILED);
		ck_assert_msg(strstr(r.error, "the kernel workers of mock did not start (see the log); next attempt in"),
			      "%s", r.error);
		ck_assert_int_eq(vm_pid(2), 0);
		ck_assert_int_eq(device_pid(), dev0);
		ping_ok(ex);
		kjob_free(k);
	}
	if (keep)
		setenv("LD_LIBRARY_PATH", keep, 1);
	free(keep);
	free(k);
	vgpu_executor_close(ex);
}
END_TEST

/* A job of another VM sent to a VM's kernel worker is refused by the worker itself. */
START_TEST(test_worker_refuses_other_vm)
{
	struct vgpu_executor *ex = open_pool();

	vadd_ok(ex, 4);
	vgpu_executor_close(ex);
	/* by hand: vgpu-worker --vm 4 given vm5's job */
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	pid_t pid = fork();
	if (pid == 0) {
		char fd[16];
		snprintf(fd, sizeof(fd), "%d", sv[1]);
		fcntl(sv[1], F_SETFD, 0);
		execl(worker, worker, "--backend", "cuda-kernel", "--device", "0", "--fd", fd, "--vm", "4", (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	{
		struct vgpu_wire_msg m;
		struct kjob *k = calloc(1, sizeof(*k));
		int fds[2], got;

		ck_assert_int_eq(vgpu_wire_recv(sv[0], &m, fds, 0), VGPU_WIRE_HELLO);
		ck_assert_msg(m.u.hello.ok, "%s", m.u.hello.error);
		kjob_init(k, 5, "vadd", "in:256 in:256 out:256 u32:64", 1000);
		memset(&m, 0, sizeof(m));
		m.type = VGPU_WIRE_JOB;
		m.u.job.id = 1;
		m.u.job.op = VGPU_OP_KERNEL;
		m.u.job.args = k->x.job.args;
		m.u.job.in_bytes = k->x.in_bytes;
		m.u.job.out_bytes = k->x.out_bytes;
		m.u.job.out_count = k->x.job.out_count;
		m.u.job.fds = VGPU_WIRE_IN_FD | VGPU_WIRE_OUT_FD;
		fds[0] = k->x.in_fd;
		fds[1] = k->x.out_fd;
		ck_assert_int_eq(vgpu_wire_send(sv[0], &m, fds, 2), 0);
		got = vgpu_wire_recv(sv[0], &m, fds, 0);
		ck_assert_int_eq(got, VGPU_WIRE_RESULT);
		ck_assert_int_eq(m.u.result.res.status, VGPU_EXEC_FAILED);
		ck_assert_msg(strstr(m.u.result.res.error, "sent to vm4's kernel worker"), "%s", m.u.result.res.error);
		kjob_free(k);
		free(k);
	}
	close(sv[0]);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
}
END_TEST

/* A VM's kernel worker (the real vgpu-worker) registers its payload buffers with the
 * driver once, by its first job, copies every job's input and output from them, and
 * unregisters them itself when it retires (idle), before its context goes: its phases
 * lines say host_pinned=2 for each job, the stand-in's counts (FAKE_CUDA_REPORT) 2
 * registrations for 5 jobs, 2 unregistrations, none left to the context's destruction.
 * The control, VGPU_KERNEL_PIN_BYTES=0: no registration, every copy pageable. */
START_TEST(test_payload_buffers_registered_once)
{
	static const char *const want[2] = {
		"calls=2 registered=2 unregistered=2 dropped=0 live=0 copies_pinned=15 copies_pageable=0",
		"calls=0 registered=0 unregistered=0 dropped=0 live=0 copies_pinned=0 copies_pageable=15",
	};

	for (int control = 0; control < 2; control++) {
		char path[] = "/tmp/vgpu-kpin-XXXXXX", line[1024], report[256] = "";
		int fd = mkstemp(path), err2 = dup(2), phases = 0, pinned = 0, reports = 0;
		struct vgpu_executor *ex;
		uint64_t t;
		FILE *f;

		ck_assert_int_ge(fd, 0);
		ck_assert_int_ge(err2, 0);
		setenv("VGPU_CUDA_PHASES", "1", 1);
		setenv("FAKE_CUDA_REPORT", "1", 1);
		setenv("VGPU_KERNEL_WORKER_IDLE_MS", "300", 1);
		if (control)
			setenv("VGPU_KERNEL_PIN_BYTES", "0", 1);
		fflush(stderr);
		dup2(fd, 2);
		ex = open_pool();
		for (int i = 0; i < 5; i++)
			vadd_ok(ex, 1);
		ck_assert_int_gt(vm_pid(1), 0);
		for (t = vgpu_now_ms(); vgpu_now_ms() - t < 400;)     /* idle past its 300 ms: retired */
			msleep(20);
		vgpu_executor_tick(ex, vgpu_now_ms());
		for (t = vgpu_now_ms(); vm_pid(1) != 0 && vgpu_now_ms() - t < 10000;)
			msleep(10);
		ck_assert_int_eq(vm_pid(1), 0);
		vgpu_executor_close(ex);
		fflush(stderr);
		dup2(err2, 2);
		close(err2);
		unsetenv("VGPU_CUDA_PHASES");
		unsetenv("FAKE_CUDA_REPORT");
		unsetenv("VGPU_KERNEL_WORKER_IDLE_MS");
		unsetenv("VGPU_KERNEL_PIN_BYTES");
		f = fdopen(fd, "r");
		ck_assert_ptr_nonnull(f);
		rewind(f);
		while (fgets(line, sizeof(line), f)) {
			char *r = strstr(line, "fake-cuda: hostreg ");
			if (strstr(line, "vgpu-kernel-phases: vm=1 ")) {
				phases++;
				pinned += strstr(line, " host_pinned=2 ") != NULL;
			}
			if (r) {
				reports++;
				snprintf(report, sizeof(report), "%s", r + strlen("fake-cuda: hostreg "));
				report[strcspn(report, "\n")] = '\0';
			}
		}
		fclose(f);
		unlink(path);
		ck_assert_int_eq(phases, 5);
		ck_assert_int_eq(pinned, control ? 0 : 5);
		ck_assert_int_eq(reports, 1);                 /* vm1's kernel worker only */
		ck_assert_str_eq(report, want[control]);
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("kernel_workers");
	TCase *tc = tcase_create("pool");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_fault_only_its_vm);
	tcase_add_test(tc, test_timeout_only_its_vm);
	tcase_add_test(tc, test_crash_only_its_vm);
	tcase_add_test(tc, test_control_one_process);
	tcase_add_test(tc, test_idle_reaped);
	tcase_add_test(tc, test_cap_evicts_lru);
	tcase_add_test(tc, test_worker_refuses_other_vm);
	tcase_add_test(tc, test_jit_log_in_the_output_file);
	tcase_add_test(tc, test_start_fails_backs_off);
	tcase_add_test(tc, test_payload_buffers_registered_once);
	suite_add_tcase(s, tc);
	return s;
}

/* Under the stand-in (fake_cuda_setup.h), for this program and what it starts. */
int main(int argc, char **argv)
{
	(void)argc;
	if (fake_cuda_reexec(argv) < 0)
		return 1;
	return tu_run(suite(), CK_ENV);
}
#endif
