/* test_cuda_kernel_cpu.c - the kernel op's CUDA-side checks that run before the device
 * (src/exec/backend_cuda_kernel.c, cuda_module.c), here without a driver: the PTX region
 * that is not text then NULs (BAD_KERNEL), a job whose memory is smaller than its
 * buffers, the per-VM device budget (TOO_LARGE), and with a valid job the driver that
 * cannot be loaded (EXEC_FAILED naming libcuda.so.1). The device side is tests/gpu/kernel.sh.
 * Built without nvcc: one test that prints why it skips. */
#include <check.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/testutil.h"
#include "lib/status.h"

#ifndef VGPU_HAVE_CUDA
START_TEST(test_skip_without_cuda)
{
	printf("test_cuda_kernel_cpu: SKIP: built without CUDA (nvcc was not found at build time)\n");
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("cuda_kernel_cpu");
	TCase *tc = tcase_create("skip");
	tcase_add_test(tc, test_skip_without_cuda);
	suite_add_tcase(s, tc);
	return s;
}
#else
#include "exec/backend_cuda_kernel.h"
#include "exec/cuda_int.h"
#include "exec/cuda_module.h"

static float in[64];        /* a PTX region of 64 bytes, then 16 bytes of buffer... */
static float outbuf[8];

static struct vgpu_job job_of(const char *args)
{
	struct vgpu_job j;

	memset(&j, 0, sizeof(j));
	j.op = VGPU_OP_KERNEL;
	strcpy(j.args.kernel.entry, "k");
	for (int i = 0; i < 3; i++)
		j.args.kernel.grid[i] = j.args.kernel.block[i] = 1;
	j.args.kernel.ptx = 64;
	ck_assert_int_eq(vgpu_kernel_parse_args(args, strlen(args), &j.args.kernel), 0);
	memset(in, 0, sizeof(in));
	memcpy(in, ".version 8.0\n", 13);
	j.in = in;
	j.in_count = sizeof(in) / sizeof(float);
	j.out = outbuf;
	j.out_count = sizeof(outbuf) / sizeof(float);
	return j;
}

static int run(const struct vgpu_job *j, struct vgpu_job_result *r)
{
	struct cuda_ctx cx;
	int rc;

	memset(&cx, 0, sizeof(cx));
	memset(r, 0, sizeof(*r));
	r->status = VGPU_OK;
	rc = vgpu_cuda_kernel_run(&cx, j, r);
	vgpu_cuda_kernel_fini(&cx);
	return rc;
}

START_TEST(test_ptx_region)
{
	struct vgpu_job j = job_of("in:16 out:16");
	struct vgpu_job_result r;

	char *region = (char *)in;
	memset(region, 'x', 64);   /* no NUL: not a PTX region */
	ck_assert_int_eq(run(&j, &r), 0);
	ck_assert_int_eq(r.status, VGPU_BAD_KERNEL);
	ck_assert_str_eq(r.error, "ptx: no NUL byte after the text (pad the region with NULs)");
	j = job_of("-");
	((char *)in)[20] = 1;
	ck_assert_int_eq(run(&j, &r), 0);
	ck_assert_int_eq(r.status, VGPU_BAD_KERNEL);
	ck_assert_str_eq(r.error, "ptx: byte 20 after the text's NUL is not NUL");
}
END_TEST

START_TEST(test_bad_job)
{
	struct vgpu_job j = job_of("in:1024 out:16");
	struct vgpu_job_result r;

	ck_assert_int_eq(run(&j, &r), 0);     /* the input holds 256 bytes, not 64 + 1024 */
	ck_assert_int_eq(r.status, VGPU_EXEC_FAILED);
	ck_assert_str_eq(r.error, "bad job: input or output smaller than the kernel's buffers");
	j = job_of("out:64");
	ck_assert_int_eq(run(&j, &r), 0);     /* the output holds 32 bytes */
	ck_assert_int_eq(r.status, VGPU_EXEC_FAILED);
	j = job_of("-");
	j.args.kernel.block[0] = 1024;
	j.args.kernel.block[1] = 2;
	ck_assert_int_eq(run(&j, &r), 0);
	ck_assert_int_eq(r.status, VGPU_EXEC_FAILED);
	ck_assert_str_eq(r.error, "bad job: block 1024x2x1 has 2048 threads; at most 1024");
}
END_TEST

START_TEST(test_budget)
{
	struct vgpu_job j = job_of("in:16 out:16 f32:1");
	struct vgpu_job_result r;

	setenv("VGPU_KERNEL_VM_BUDGET", "31", 1);
	ck_assert_int_eq(run(&j, &r), 0);
	unsetenv("VGPU_KERNEL_VM_BUDGET");
	ck_assert_int_eq(r.status, VGPU_TOO_LARGE);
	ck_assert_str_eq(r.error, "kernel buffers of 32 bytes are over the per-VM device budget of 31 "
				  "(VGPU_KERNEL_VM_BUDGET)");
}
END_TEST

START_TEST(test_no_driver)
{
	struct vgpu_job j = job_of("in:16 out:16");
	struct vgpu_job_result r;
	void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);

	if (h) {
		dlclose(h);
		printf("test_no_driver: SKIP: libcuda.so.1 is here (a GPU host: tests/gpu/kernel.sh runs the device side)\n");
		return;
	}
	ck_assert_int_eq(run(&j, &r), 0);
	ck_assert_int_eq(r.status, VGPU_EXEC_FAILED);
	ck_assert_msg(strncmp(r.error, "kernel op: dlopen(libcuda.so.1): ", 33) == 0, "%s", r.error);
	ck_assert(!r.has_summary);
}
END_TEST

START_TEST(test_helpers)
{
	char buf[64];

	ck_assert_uint_eq(vgpu_cu_hash("", 0), 0xcbf29ce484222325ull);     /* FNV-1a 64 test vectors */
	ck_assert_uint_eq(vgpu_cu_hash("a", 1), 0xaf63dc4c8601ec8cull);
	ck_assert_uint_eq(vgpu_cu_hash("foobar", 6), 0x85944171f73967e8ull);
	ck_assert_str_eq(vgpu_cu_strerror(NULL, CUDA_ERROR_ILLEGAL_ADDRESS, buf, sizeof(buf)), "CUDA_ERROR_? (700): ?");
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("cuda_kernel_cpu");
	TCase *tc = tcase_create("checks");

	tcase_add_test(tc, test_ptx_region);
	tcase_add_test(tc, test_bad_job);
	tcase_add_test(tc, test_budget);
	tcase_add_test(tc, test_no_driver);
	tcase_add_test(tc, test_helpers);
	suite_add_tcase(s, tc);
	return s;
}
#endif

int main(void)
{
	return tu_run(suite(), CK_ENV);
}
