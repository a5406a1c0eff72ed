/* test_cuda_kernel_fake.c - the kernel op's CUDA side (src/exec/backend_cuda_kernel.c,
 * cuda_module.c) over a stand-in driver (tests/unit/fake_libcuda.c, loaded as
 * libcuda.so.1 through LD_LIBRARY_PATH: the program runs itself again with it set), so
 * that its control flow is tested without a GPU: results copied back, the module cache,
 * the JIT's log in BAD_KERNEL, a missing entry, a parameter list that is not the
 * kernel's, a fault (KERNEL_FAULT, the VM's context destroyed and made again), buffers
 * zeroed though the driver hands out 0xa5 bytes, one context per VM with LRU eviction and
 * idle reaping, and the context stack and allocations balanced after every job. What a
 * real GPU does is tests/gpu/kernel.sh's. Built without nvcc: one test that says why it
 * skips. */
#include <check.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/testutil.h"
#include "fake_cuda_setup.h"
#include "lib/status.h"

#ifndef VGPU_HAVE_CUDA
int main(void)
{
	return tu_run(fake_cuda_skip_suite("test_cuda_kernel_fake", "cuda_kernel_fake"), CK_ENV);
}
#else
#include "exec/arena.h"
#include "exec/backend_cuda_kernel.h"
#include "exec/cuda_int.h"
#include "exec/cuda_module.h"

static int (*depth)(void), (*live_ctxs)(void), (*live_allocs)(void);

static const char vadd_ptx[] = ".version 7.0\n.visible .entry vadd(\n)\n";
static const char bad_ptx[] = ".version 7.0\n.visible .entry broken(\n)\n{ frobnicate.u32 %r1, 42; }\n";
static const char peek_ptx[] = ".visible .entry fill(\n)\n.visible .entry peek(\n)\n.visible .entry oob(\n)\n";

struct kj {
	struct vgpu_job job;
	char in[1 << 16];
	char out[1 << 16];
};

/* A job of PTX with ARGS (the grammar), the PTX region padded to a multiple of 8. */
static void kj_init(struct kj *k, const char *ptx, const char *entry, uint32_t vm, const char *args)
{
	memset(k, 0, sizeof(*k));
	k->job.op = VGPU_OP_KERNEL;
	strcpy(k->job.args.kernel.entry, entry);
	k->job.args.kernel.vm = vm;
	k->job.args.kernel.grid[0] = 4;
	k->job.args.kernel.block[0] = 256;
	k->job.args.kernel.grid[1] = k->job.args.kernel.grid[2] = k->job.args.kernel.block[1] = 1;
	k->job.args.kernel.block[2] = 1;
	k->job.args.kernel.ptx = (strlen(ptx) + 1 + 7) / 8 * 8;
	memcpy(k->in, ptx, strlen(ptx));
	ck_assert_int_eq(vgpu_kernel_parse_args(args, strlen(args), &k->job.args.kernel), 0);
	k->job.in = (const float *)(const void *)k->in;
	k->job.in_count = sizeof(k->in) / sizeof(float);
	k->job.out = (float *)(void *)k->out;
	k->job.out_count = sizeof(k->out) / sizeof(float);
}

static int run(struct cuda_ctx *cx, struct kj *k, struct vgpu_job_result *r)
{
	/* the driver's live buffers less those the VMs' contexts keep for their next job */
	int d0 = depth ? depth() : 0, a0 = live_allocs ? live_allocs() - (int)vgpu_cu_bufs_kept(cx->kernels) : 0, rc;

	memset(r, 0, sizeof(*r));
	r->status = VGPU_OK;
	rc = vgpu_cuda_kernel_run(cx, &k->job, r);
	if (!depth) {     /* the first job loaded the library: the stand-in's counters now */
		void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
		ck_assert_ptr_nonnull(h);
		*(void **)&depth = dlsym(h, "fake_cuda_depth");
		*(void **)&live_ctxs = dlsym(h, "fake_cuda_live_ctxs");
		*(void **)&live_allocs = dlsym(h, "fake_cuda_live_allocs");
		ck_assert_msg(depth && live_ctxs && live_allocs, "libcuda.so.1 is not the stand-in");
	}
	ck_assert_int_eq(depth(), d0);                      /* every push popped */
	if (r->status != VGPU_KERNEL_FAULT)
		ck_assert_int_eq(live_allocs() - (int)vgpu_cu_bufs_kept(cx->kernels), a0);  /* none leaked */
	ck_assert_uint_le(vgpu_cu_bufs_kept(cx->kernels), VGPU_KERNEL_CTXS_MAX * 16u);
	return rc;
}

static struct cu_kernels *kern(struct cuda_ctx *cx)
{
	return cx->kernels;
}

START_TEST(test_vadd_and_cache)
{
	struct cuda_ctx cx;
	struct vgpu_job_result r;
	struct kj *k = calloc(1, sizeof(*k));
	float *a, *b, *c;

	memset(&cx, 0, sizeof(cx));
	kj_init(k, vadd_ptx, "vadd", 3, "in:4000 in:4000 out:4000 u32:1000");
	a = (float *)(void *)(k->in + k->job.args.kernel.ptx);
	b = a + 1000;
	for (int i = 0; i < 1000; i++) {
		a[i] = (float)i * 0.5f;
		b[i] = 1000.0f - (float)i;
	}
	ck_assert_int_eq(run(&cx, k, &r), 0);
	ck_assert_msg(r.status == VGPU_OK, "%d %s", r.status, r.error);
	c = (float *)(void *)k->out;
	for (int i = 0; i < 1000; i++)
		ck_assert_float_eq(c[i], a[i] + b[i]);
	ck_assert(r.has_summary);
	ck_assert_uint_eq(r.summary.count, 1000);
	ck_assert_float_eq(r.summary.first, 1000.0f);
	memset(k->out, 0, sizeof(k->out));
	ck_assert_int_eq(run(&cx, k, &r), 0);
	ck_assert_int_eq(r.status, VGPU_OK);
	ck_assert_float_eq(c[999], a[999] + b[999]);
	ck_assert_uint_eq(kern(&cx)->mod_loads, 1);
	ck_assert_uint_eq(kern(&cx)->mod_hits, 1);
	ck_assert_uint_eq(kern(&cx)->ctx_created, 1);
	/* the buffers: the first job's three kept in vm3's context, the second's reused */
	ck_assert_uint_eq(kern(&cx)->buf_allocs, 3);
	ck_assert_uint_eq(kern(&cx)->buf_reuses, 3);
	ck_assert_uint_eq(vgpu_cu_bufs_kept(kern(&cx)), 3);
	/* other sizes: the kept ones freed, new ones made; no more than one job's kept */
	kj_init(k, vadd_ptx, "vadd", 3, "in:400 in:400 out:400 u32:100");
	ck_assert_int_eq(run(&cx, k, &r), 0);
	ck_assert_int_eq(r.status, VGPU_OK);
	ck_assert_uint_eq(kern(&cx)->buf_allocs, 6);
	kj_init(k, peek_ptx, "fill", 3, "out:400 u32:100 u32:1");
	ck_assert_int_eq(run(&cx, k, &r), 0);       /* one buffer, of the size arg 0 had: reused */
	ck_assert_int_eq(r.status, VGPU_OK);
	ck_assert_uint_eq(vgpu_cu_bufs_kept(kern(&cx)), 1);
	ck_assert_int_eq(live_allocs(), 1);
	kj_init(k, vadd_ptx, "vadd", 3, "in:400 in:400 out:400 u32:100");
	ck_assert_int_eq(run(&cx, k, &r), 0);
	ck_assert_int_eq(live_allocs(), 3);
	setenv("VGPU_KERNEL_KEEP_BYTES", "1199", 1);      /* under the job's 1200 bytes: none kept */
	ck_assert_int_eq(run(&cx, k, &r), 0);
	ck_assert_int_eq(r.status, VGPU_OK);
	ck_assert_int_eq(live_allocs(), 0);
	setenv("VGPU_KERNEL_KEEP_BYTES", "1200", 1);
	ck_assert_int_eq(run(&cx, k, &r), 0);
	unsetenv("VGPU_KERNEL_KEEP_BYTES");
	ck_assert_int_eq(live_allocs(), 3);
	vgpu_cuda_kernel_fini(&cx);
	ck_assert_int_eq(live_ctxs(), 0);
	ck_assert_int_eq(live_allocs(), 0);             /* the kept ones went with the context */
	free(k);
}
END_TEST

START_TEST(test_bad_kernels)
{
	struct cuda_ctx cx;
	struct vgpu_job_result r;
	struct kj *k = calloc(1, sizeof(*k));

	memset(&cx, 0, sizeof(cx));
	kj_init(k, bad_ptx, "broken", 1, "out:4");
	ck_assert_int_eq(run(&cx, k, &r), 0);
	ck_assert_int_eq(r.status, VGPU_BAD_KERNEL);
	ck_assert_str_eq(r.error, "JIT: ptxas application ptx input, line 10; error   : Not a name of any known "
				  "instruction: 'frobnicate' | ptxas fatal   : Ptx assembly aborted due to errors");
	kj_init(k, vadd_ptx, "nosuch", 1, "out:4");
	ck_assert_int_eq(run(&cx, k, &r), 0);
	ck_assert_int_eq(r.status, VGPU_BAD_KERNEL);
	ck_assert_str_eq(r.error, "entry nosuch is not in the module");
	kj_init(k, vadd_ptx, "vadd", 1, "out:4");
	ck_assert_int_eq(run(&cx, k, &r), 0);
	ck_assert_int_eq(r.status, VGPU_BAD_KERNEL);
	ck_assert_str_eq(r.error, "entry vadd takes 4 parameters; args gives 1");
	kj_init(k, vadd_ptx, "vadd", 1, "in:4 in:4 out:4 u32:1 i32:5");
	ck_assert_int_eq(run(&cx, k, &r), 0);
	ck_assert_str_eq(r.error, "entry vadd takes 4 parameters; args gives 5");
	kj_init(k, vadd_ptx, "vadd", 1, "in:4 in:4 out:4 f64:1");
	ck_assert_int_eq(run(&cx, k, &r), 0);
	ck_assert_str_eq(r.error, "entry vadd: parameter 3 is 4 bytes; args gives f64 (8 bytes)");
	kj_init(k, vadd_ptx, "vadd", 1, "in:4 in:4 out:4 u32:1");
	k->job.args.kernel.block[0] = 2048;   /* past the parser, as a launch the driver refuses */
	ck_assert_int_eq(run(&cx, k, &r), 0);
	ck_assert_int_eq(r.status, VGPU_EXEC_FAILED);   /* caught before the device: a bad job */
	vgpu_cuda_kernel_fini(&cx);
	free(k);
}
END_TEST

/* The stand-in's log for N "frobnicate" (fake_libcuda.c) into BUF; returns its length. */
static size_t fake_log(int n, char *buf, size_t cap)
{
	size_t o = 0;

	for (int i = 0; i < n; i++)
		o += (size_t)snprintf(buf + o, cap - o, "ptxas application ptx input, line %d; error   : Not a name of any "
				      "known instruction: 'frobnicate'\n", 10 + i);
	o += (size_t)snprintf(buf + o, cap - o, "ptxas fatal   : Ptx assembly aborted due to errors\n");
	return o;
}

/* The JIT's whole log (PROTOCOL.md section 5.1): longer than the 256 bytes of the
 * answer's error, it comes whole in job.log; over VGPU_KERNEL_LOG_MAX it is cut and says
 * so in its last line. */
START_TEST(test_jit_log_whole_and_cut)
{
	struct cuda_ctx cx;
	struct vgpu_job_result r;
	struct kj *k = calloc(1, sizeof(*k));
	char *ptx = malloc(32768), *want = malloc(200000), *log = malloc(VGPU_KERNEL_LOG_MAX);
	const size_t cut = strlen(VGPU_KERNEL_LOG_CUT);
	size_t o, n;

	memset(&cx, 0, sizeof(cx));
	for (int round = 0; round < 2; round++) {
		int frobs = round == 0 ? 12 : 1000;
		o = (size_t)sprintf(ptx, ".version 7.0\n.visible .entry broken(\n)\n{\n");
		for (int i = 0; i < frobs; i++)
			o += (size_t)sprintf(ptx + o, "frobnicate;\n");
		sprintf(ptx + o, "}\n");
		kj_init(k, ptx, "broken", 1, "out:4");
		k->job.log = log;
		k->job.log_cap = VGPU_KERNEL_LOG_MAX;
		ck_assert_int_eq(run(&cx, k, &r), 0);
		ck_assert_int_eq(r.status, VGPU_BAD_KERNEL);
		ck_assert_msg(strncmp(r.error, "JIT: ptxas application ptx input, line 10;", 42) == 0, "%s", r.error);
		n = fake_log(frobs, want, 200000);
		if (round == 0) {
			ck_assert_uint_gt(n, 256);          /* more than the answer's error holds */
			ck_assert_uint_eq(r.log_bytes, n);
			ck_assert(memcmp(log, want, n) == 0);
		} else {
			ck_assert_uint_gt(n, VGPU_KERNEL_LOG_MAX);
			ck_assert_uint_eq(r.log_bytes, VGPU_KERNEL_LOG_MAX);
			ck_assert(memcmp(log, want, VGPU_KERNEL_LOG_MAX - cut) == 0);
			ck_assert(memcmp(log + VGPU_KERNEL_LOG_MAX - cut, VGPU_KERNEL_LOG_CUT, cut) == 0);
		}
	}
	/* no buffer given (the in-process path of a pool without kernel workers): none */
	kj_init(k, ptx, "broken", 1, "out:4");
	ck_assert_int_eq(run(&cx, k, &r), 0);
	ck_assert_int_eq(r.status, VGPU_BAD_KERNEL);
	ck_assert_uint_eq(r.log_bytes, 0);
	vgpu_cuda_kernel_fini(&cx);
	free(ptx);
	free(want);
	free(log);
	free(k);
}
END_TEST

START_TEST(test_fault_rebuilds_the_vms_context)
{
	struct cuda_ctx cx;
	struct vgpu_job_result r;
	struct kj *k = calloc(1, sizeof(*k));
	int rc;

	memset(&cx, 0, sizeof(cx));
	kj_init(k, vadd_ptx, "vadd", 2, "in:4 in:4 out:4 u32:1");
	ck_assert_int_eq(run(&cx, k, &r), 0);           /* vm2 has a context */
	kj_init(k, peek_ptx, "oob", 1, "out:4");
	rc = run(&cx, k, &r);
	ck_assert_int_eq(r.status, VGPU_KERNEL_FAULT);
	ck_assert_msg(strncmp(r.error, "kernel: CUDA_ERROR_ILLEGAL_ADDRESS (700): an illegal memory access", 66) == 0,
		      "%s", r.error);
	/* here cudart finds no usable driver: the worker's own context counts as broken and
	 * the worker is told to restart; on a GPU it is checked for real */
	ck_assert_int_eq(rc, -1);
	ck_assert_ptr_nonnull(strstr(r.error, "; worker context unusable, worker restarts"));
	ck_assert(!r.has_summary);
	ck_assert_uint_eq(kern(&cx)->ctx_dropped, 1);
	ck_assert_int_eq(live_ctxs(), 1);               /* vm2's is still there */
	kj_init(k, vadd_ptx, "vadd", 1, "in:4 in:4 out:4 u32:1");
	ck_assert_int_eq(run(&cx, k, &r), 0);
	ck_assert_msg(r.status == VGPU_OK, "%s", r.error);
	ck_assert_uint_eq(kern(&cx)->ctx_created, 3);   /* vm2, vm1, vm1 again */
	vgpu_cuda_kernel_fini(&cx);
	ck_assert_int_eq(live_ctxs(), 0);
	free(k);
}
END_TEST

START_TEST(test_buffers_start_zeroed)
{
	struct cuda_ctx cx;
	struct vgpu_job_result r;
	struct kj *k = calloc(1, sizeof(*k));
	uint32_t *w = (uint32_t *)(void *)k->out;

	memset(&cx, 0, sizeof(cx));
	kj_init(k, peek_ptx, "fill", 1, "out:4096 u32:1024 u32:3735928559");
	ck_assert_int_eq(run(&cx, k, &r), 0);
	ck_assert_uint_eq(w[0], 0xdeadbeefu);
	ck_assert_uint_eq(w[1023], 0xdeadbeefu);
	/* vm1's next job reuses the buffer fill left 0xdeadbeef in (kept in its context):
	 * zeroed again; vm2's are new ones, the driver's bytes zeroed */
	for (uint32_t vm = 1; vm <= 2; vm++) {
		uint64_t reuses = kern(&cx)->buf_reuses;
		kj_init(k, peek_ptx, "peek", vm, "out:4096 out:4096 u32:1024");
		memset(k->out, 0x5a, sizeof(k->out));
		ck_assert_int_eq(run(&cx, k, &r), 0);
		ck_assert_int_eq(r.status, VGPU_OK);
		for (int i = 0; i < 2048; i++)              /* a (copied back) and b = a: all zeros */
			ck_assert_msg(w[i] == 0, "vm%u: word %d is %#x: old bytes reached the kernel", vm, i, w[i]);
		ck_assert_uint_eq(kern(&cx)->buf_reuses, reuses + (vm == 1));
	}
	/* the naive controls: without the zeroing, a new buffer shows the driver's bytes
	 * (vm3), a kept one the VM's last job's (vm1 after fill) */
	setenv("VGPU_KERNEL_TEST_NO_ZERO", "1", 1);
	kj_init(k, peek_ptx, "peek", 3, "out:4096 out:4096 u32:1024");
	ck_assert_int_eq(run(&cx, k, &r), 0);
	ck_assert_uint_eq(w[1024], 0xa5a5a5a5u);
	kj_init(k, peek_ptx, "fill", 1, "out:4096 u32:1024 u32:3735928559");
	ck_assert_int_eq(run(&cx, k, &r), 0);
	kj_init(k, peek_ptx, "peek", 1, "out:4096 out:4096 u32:1024");
	ck_assert_int_eq(run(&cx, k, &r), 0);
	unsetenv("VGPU_KERNEL_TEST_NO_ZERO");
	ck_assert_uint_eq(w[0], 0xdeadbeefu);
	vgpu_cuda_kernel_fini(&cx);
	free(k);
}
END_TEST

START_TEST(test_contexts_per_vm)
{
	struct cuda_ctx cx;
	struct vgpu_job_result r;
	struct kj *k = calloc(1, sizeof(*k));

	setenv("VGPU_KERNEL_CTXS", "2", 1);
	memset(&cx, 0, sizeof(cx));
	for (uint32_t vm = 1; vm <= 3; vm++) {
		kj_init(k, vadd_ptx, "vadd", vm, "in:4 in:4 out:4 u32:1");
		ck_assert_int_eq(run(&cx, k, &r), 0);
		ck_assert_int_eq(r.status, VGPU_OK);
	}
	ck_assert_uint_eq(kern(&cx)->ctx_created, 3);
	ck_assert_uint_eq(kern(&cx)->ctx_evicted, 1);   /* vm1's, the least recently used */
	ck_assert_int_eq(live_ctxs(), 2);
	kj_init(k, vadd_ptx, "vadd", 3, "in:4 in:4 out:4 u32:1");
	ck_assert_int_eq(run(&cx, k, &r), 0);
	ck_assert_uint_eq(kern(&cx)->ctx_created, 3);   /* vm3 kept its own */
	ck_assert_uint_eq(kern(&cx)->mod_hits, 1);
	kj_init(k, vadd_ptx, "vadd", 0, "in:4 in:4 out:4 u32:1");
	ck_assert_int_eq(run(&cx, k, &r), 0);           /* no VM: a context of its own */
	ck_assert_uint_eq(kern(&cx)->ctx_created, 4);
	vgpu_cuda_kernel_fini(&cx);
	unsetenv("VGPU_KERNEL_CTXS");

	setenv("VGPU_KERNEL_CTX_IDLE_MS", "0", 1);
	memset(&cx, 0, sizeof(cx));
	kj_init(k, vadd_ptx, "vadd", 1, "in:4 in:4 out:4 u32:1");
	ck_assert_int_eq(run(&cx, k, &r), 0);
	msleep(3);
	kj_init(k, vadd_ptx, "vadd", 2, "in:4 in:4 out:4 u32:1");
	ck_assert_int_eq(run(&cx, k, &r), 0);
	ck_assert_uint_eq(kern(&cx)->ctx_reaped, 1);    /* vm1's, idle */
	ck_assert_int_eq(live_ctxs(), 1);
	vgpu_cuda_kernel_fini(&cx);
	unsetenv("VGPU_KERNEL_CTX_IDLE_MS");
	free(k);
}
END_TEST

/* A kernel worker's payload buffers (cuda_kernel_hostmem.c), driven as vgpu-worker
 * drives them (its do_job: both buffers reserved through the backend's host_alloc, the
 * input read into one, run(), then at the end released before fini): registered once
 * with the driver, in the VM's context, by the first job; every copy of every later job
 * from registered memory and no registration more; a larger job's buffer replaces the
 * old one (unregistered, the new one registered once); all unregistered when the worker
 * retires, before its context goes. VGPU_KERNEL_PIN_BYTES bounds them; a refused
 * registration leaves the jobs right, on pageable copies, tried once, logged once. */
static int (*hostreg)(int);
enum { HR_LIVE, HR_CALLS, HR_OK, HR_UNREG, HR_DROPPED, HR_CP_PINNED, HR_CP_PAGEABLE };

/* One vadd of N floats through BE as vgpu-worker runs it, its result checked. */
static void worker_vadd(void *ctx, struct vgpu_hostbuf *inb, struct vgpu_hostbuf *outb, uint32_t n, uint32_t vm)
{
	const struct vgpu_backend_ops *be = &vgpu_backend_cuda_kernel;
	struct kj *k = calloc(1, sizeof(*k));
	struct vgpu_job_result r;
	char args[128];
	size_t ptx, in_bytes, out_bytes = (size_t)n * 4;
	float *a, *b, *c;

	snprintf(args, sizeof(args), "in:%u in:%u out:%u u32:%u", n * 4, n * 4, n * 4, n);
	kj_init(k, vadd_ptx, "vadd", vm, args);
	k->job.args.kernel.grid[0] = (n + 255) / 256;
	ptx = (size_t)k->job.args.kernel.ptx;
	in_bytes = ptx + 2 * out_bytes;
	ck_assert_int_eq(vgpu_hostbuf_reserve(inb, in_bytes, be, ctx), 0);
	ck_assert_int_eq(vgpu_hostbuf_reserve(outb, out_bytes, be, ctx), 0);
	memcpy(inb->p, k->in, ptx);
	a = (float *)(void *)((char *)inb->p + ptx);
	b = a + n;
	for (uint32_t i = 0; i < n; i++) {
		a[i] = (float)i;
		b[i] = 2.0f * (float)(i + vm);
	}
	k->job.in = inb->p;
	k->job.in_count = in_bytes / 4;
	k->job.out = outb->p;
	k->job.out_count = n;
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(be->run(ctx, &k->job, &r), 0);
	ck_assert_msg(r.status == VGPU_OK, "%d %s", r.status, r.error);
	c = outb->p;
	for (uint32_t i = 0; i < n; i++)
		ck_assert_float_eq(c[i], a[i] + b[i]);
	free(k);
}

/* The worker's start (init) and end (buffers released, then fini: end_backend). */
static void *worker_start(void)
{
	char err[256] = "";
	void *ctx = NULL;

	ck_assert_msg(vgpu_backend_cuda_kernel.init(&ctx, 0, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_ge(vgpu_backend_cuda_kernel.iversion, 2);
	if (!hostreg) {     /* init loaded the library: the stand-in's counters now */
		void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
		ck_assert_ptr_nonnull(h);
		*(void **)&hostreg = dlsym(h, "fake_cuda_hostreg");
		*(void **)&live_ctxs = dlsym(h, "fake_cuda_live_ctxs");
		ck_assert_msg(hostreg && live_ctxs, "libcuda.so.1 is not the stand-in");
		/* H kept open: the stand-in stays loaded, its counters with it, past fini */
	}
	return ctx;
}

static void worker_end(void *ctx, struct vgpu_hostbuf *inb, struct vgpu_hostbuf *outb)
{
	vgpu_hostbuf_release(inb, &vgpu_backend_cuda_kernel, ctx);
	vgpu_hostbuf_release(outb, &vgpu_backend_cuda_kernel, ctx);
	vgpu_backend_cuda_kernel.fini(ctx);
}

START_TEST(test_worker_buffers_registered_once)
{
	struct vgpu_hostbuf inb = { 0 }, outb = { 0 };
	int calls0, ok0, un0, pin0, page0, drop0;
	void *ctx = worker_start();

	unsetenv("VGPU_KERNEL_PIN_BYTES");
	calls0 = hostreg(HR_CALLS);
	ok0 = hostreg(HR_OK);
	un0 = hostreg(HR_UNREG);
	drop0 = hostreg(HR_DROPPED);
	worker_vadd(ctx, &inb, &outb, 1000, 4);
	ck_assert(inb.from_backend && outb.from_backend);
	ck_assert_int_eq(hostreg(HR_CALLS) - calls0, 2);      /* input and output, by the first job */
	pin0 = hostreg(HR_CP_PINNED);
	page0 = hostreg(HR_CP_PAGEABLE);
	for (int i = 0; i < 20; i++)
		worker_vadd(ctx, &inb, &outb, 1000, 4);
	ck_assert_msg(hostreg(HR_CALLS) - calls0 == 2, "%d registrations for 21 jobs: registered per job",
		      hostreg(HR_CALLS) - calls0);
	ck_assert_int_eq(hostreg(HR_LIVE), 2);                 /* kept between jobs */
	ck_assert_int_eq(hostreg(HR_UNREG), un0);
	ck_assert_int_eq(hostreg(HR_CP_PINNED) - pin0, 20 * 3);  /* two inputs in, one output back, each job */
	ck_assert_int_eq(hostreg(HR_CP_PAGEABLE), page0);
	/* a larger job: the input buffer grows, the old one unregistered, the new one once */
	worker_vadd(ctx, &inb, &outb, 262144, 4);
	worker_vadd(ctx, &inb, &outb, 262144, 4);
	ck_assert_int_eq(hostreg(HR_CALLS) - calls0, 3);
	ck_assert_int_eq(hostreg(HR_UNREG) - un0, 1);
	ck_assert_int_eq(hostreg(HR_LIVE), 2);
	ck_assert_int_eq(hostreg(HR_CP_PAGEABLE), page0);
	/* the worker retires: both unregistered by it while its context still lives */
	vgpu_hostbuf_release(&inb, &vgpu_backend_cuda_kernel, ctx);
	vgpu_hostbuf_release(&outb, &vgpu_backend_cuda_kernel, ctx);
	ck_assert_int_eq(hostreg(HR_LIVE), 0);
	ck_assert_int_eq(hostreg(HR_UNREG) - un0, 3);
	ck_assert_int_eq(hostreg(HR_OK) - ok0, 3);
	ck_assert_int_eq(live_ctxs(), 1);
	worker_end(ctx, &inb, &outb);
	ck_assert_int_eq(live_ctxs(), 0);
	ck_assert_int_eq(hostreg(HR_DROPPED), drop0);       /* none left for the destruction */

	/* the bound: 1 MiB holds the input buffer only; 0 none */
	for (int bound = 0; bound < 2; bound++) {
		setenv("VGPU_KERNEL_PIN_BYTES", bound ? "1048576" : "0", 1);
		ctx = worker_start();
		calls0 = hostreg(HR_CALLS);
		pin0 = hostreg(HR_CP_PINNED);
		page0 = hostreg(HR_CP_PAGEABLE);
		for (int i = 0; i < 3; i++)
			worker_vadd(ctx, &inb, &outb, 1000, 5);
		ck_assert_int_eq(hostreg(HR_CALLS) - calls0, bound);
		ck_assert_int_eq(hostreg(HR_LIVE), bound);
		ck_assert_int_eq(hostreg(HR_CP_PINNED) - pin0, bound ? 3 * 2 : 0);
		ck_assert_int_eq(hostreg(HR_CP_PAGEABLE) - page0, bound ? 3 : 3 * 3);
		worker_end(ctx, &inb, &outb);
		ck_assert_int_eq(hostreg(HR_LIVE), 0);
	}
	unsetenv("VGPU_KERNEL_PIN_BYTES");

	/* a fault: the context goes with its registrations; the worker's end after it
	 * unmaps the buffers without touching the driver's state again */
	ctx = worker_start();
	worker_vadd(ctx, &inb, &outb, 1000, 7);
	ck_assert_int_eq(hostreg(HR_LIVE), 2);
	{
		struct kj *k = calloc(1, sizeof(*k));
		struct vgpu_job_result r;

		kj_init(k, peek_ptx, "oob", 7, "out:4");
		memcpy(inb.p, k->in, (size_t)k->job.args.kernel.ptx);
		k->job.in = inb.p;
		k->job.in_count = (size_t)k->job.args.kernel.ptx / 4;
		k->job.out = outb.p;
		k->job.out_count = 1;
		ck_assert_int_eq(vgpu_backend_cuda_kernel.run(ctx, &k->job, &r), -1);
		ck_assert_int_eq(r.status, VGPU_KERNEL_FAULT);
		free(k);
	}
	ck_assert_int_eq(hostreg(HR_LIVE), 0);
	ck_assert_int_eq(live_ctxs(), 0);
	worker_end(ctx, &inb, &outb);
	ck_assert_int_eq(hostreg(HR_LIVE), 0);
}
END_TEST

START_TEST(test_worker_register_refused)
{
	struct vgpu_hostbuf inb = { 0 }, outb = { 0 };
	char path[] = "/tmp/vgpu-kpin-XXXXXX", line[512];
	int fd = mkstemp(path), err2 = dup(2), calls0 = -1, page0 = 0, warned = 0;
	void *ctx;
	FILE *f;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_ge(err2, 0);
	setenv("FAKE_CUDA_HOSTREG_FAIL", "1", 1);
	fflush(stderr);
	dup2(fd, 2);
	ctx = worker_start();
	for (int i = 0; i < 5; i++) {
		worker_vadd(ctx, &inb, &outb, 1000, 6);     /* right, on pageable copies */
		if (i == 0) {
			calls0 = hostreg(HR_CALLS);
			page0 = hostreg(HR_CP_PAGEABLE);
		}
	}
	fflush(stderr);
	dup2(err2, 2);
	close(err2);
	unsetenv("FAKE_CUDA_HOSTREG_FAIL");
	ck_assert_msg(hostreg(HR_CALLS) == calls0, "%d more registration attempts after the first job: a refused "
		      "registration is tried again every job", hostreg(HR_CALLS) - calls0);
	ck_assert_int_eq(hostreg(HR_LIVE), 0);
	ck_assert_int_eq(hostreg(HR_CP_PAGEABLE) - page0, 4 * 3);
	worker_end(ctx, &inb, &outb);
	f = fdopen(fd, "r");
	ck_assert_ptr_nonnull(f);
	rewind(f);
	while (fgets(line, sizeof(line), f))
		warned += strstr(line, "cuMemHostRegister(payload buffer") != NULL;
	fclose(f);
	unlink(path);
	ck_assert_int_eq(warned, 1);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("cuda_kernel_fake");
	TCase *tc = tcase_create("fake driver");

	tcase_add_test(tc, test_vadd_and_cache);
	tcase_add_test(tc, test_bad_kernels);
	tcase_add_test(tc, test_jit_log_whole_and_cut);
	tcase_add_test(tc, test_fault_rebuilds_the_vms_context);
	tcase_add_test(tc, test_buffers_start_zeroed);
	tcase_add_test(tc, test_contexts_per_vm);
	tcase_add_test(tc, test_worker_buffers_registered_once);
	tcase_add_test(tc, test_worker_register_refused);
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
