/* test_client_kernel.c - the kernel op's input payload as libvgpu-client builds it
 * (vgpu_kernel_payload(), src/client/client_kernel.c): the PTX region NUL-padded to a
 * multiple of 8, then each in and inout buffer in argument order; and what it refuses
 * before anything is sent. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "../common/testutil.h"
#include "client/client_kernel.h"

static void arg(struct vgpu_kernel_call *k, const char *tok)
{
	ck_assert_int_eq(vgpu_kernel_parse_arg(tok, strlen(tok), &k->spec.args[k->spec.nargs]), 0);
	k->spec.nargs++;
}

static void base(struct vgpu_kernel_call *k)
{
	memset(k, 0, sizeof(*k));
	strcpy(k->spec.entry, "k");
	for (int i = 0; i < 3; i++)
		k->spec.grid[i] = k->spec.block[i] = 1;
}

START_TEST(test_layout)
{
	struct vgpu_kernel_call k;
	uint8_t a[8], b[4], c[12];
	char err[256];
	void *p;
	size_t n;

	memset(a, 0xaa, sizeof(a));
	memset(b, 0xbb, sizeof(b));
	memset(c, 0xcc, sizeof(c));
	base(&k);
	k.ptx = "0123456789";                  /* 10 bytes + NUL -> a region of 16 */
	arg(&k, "in:8");
	arg(&k, "out:16");
	arg(&k, "f32:1.5");
	arg(&k, "inout:4");
	arg(&k, "in:12");
	k.in[0] = a;
	k.in[3] = b;
	k.in[4] = c;
	ck_assert_int_eq(vgpu_kernel_payload(&k, &p, &n, err, sizeof(err)), VGPU_CLIENT_OK);
	ck_assert_uint_eq(k.spec.ptx, 16);
	ck_assert_uint_eq(n, 16 + 8 + 4 + 12);
	ck_assert(memcmp(p, "0123456789\0\0\0\0\0\0", 16) == 0);
	ck_assert(memcmp((char *)p + 16, a, 8) == 0);
	ck_assert(memcmp((char *)p + 24, b, 4) == 0);
	ck_assert(memcmp((char *)p + 28, c, 12) == 0);
	free(p);

	/* a PTX of 7 bytes: region 8; of 8 bytes: region 16 (the NUL must fit) */
	base(&k);
	k.ptx = "1234567";
	ck_assert_int_eq(vgpu_kernel_payload(&k, &p, &n, err, sizeof(err)), VGPU_CLIENT_OK);
	ck_assert_uint_eq(n, 8);
	free(p);
	k.ptx = "12345678";
	ck_assert_int_eq(vgpu_kernel_payload(&k, &p, &n, err, sizeof(err)), VGPU_CLIENT_OK);
	ck_assert_uint_eq(n, 16);
	free(p);
}
END_TEST

START_TEST(test_refused)
{
	struct vgpu_kernel_call k;
	char err[256];
	void *p = (void *)1;
	size_t n = 1;

	base(&k);
	ck_assert_int_eq(vgpu_kernel_payload(&k, &p, &n, err, sizeof(err)), VGPU_CLIENT_EUSAGE);
	ck_assert_str_eq(err, "kernel: no PTX given");
	ck_assert_ptr_null(p);
	ck_assert_uint_eq(n, 0);
	k.ptx = "";
	ck_assert_int_eq(vgpu_kernel_payload(&k, &p, &n, err, sizeof(err)), VGPU_CLIENT_EUSAGE);
	ck_assert_str_eq(err, "kernel: ptx: empty");
	k.ptx = "ab\x01";
	ck_assert_int_eq(vgpu_kernel_payload(&k, &p, &n, err, sizeof(err)), VGPU_CLIENT_EUSAGE);
	ck_assert_str_eq(err, "kernel: ptx: byte 2 is 0x01, not text");
	k.ptx = "ok";
	arg(&k, "in:4");
	ck_assert_int_eq(vgpu_kernel_payload(&k, &p, &n, err, sizeof(err)), VGPU_CLIENT_EUSAGE);
	ck_assert_str_eq(err, "kernel: argument 0 (in) has no input data");
	base(&k);
	k.ptx = "ok";
	k.spec.block[0] = 1024;
	k.spec.block[1] = 2;
	ck_assert_int_eq(vgpu_kernel_payload(&k, &p, &n, err, sizeof(err)), VGPU_CLIENT_EUSAGE);
	ck_assert_str_eq(err, "kernel: block 1024x2x1 has 2048 threads; at most 1024");
	/* a PTX of 1 MiB: its NUL would not fit the region's cap */
	char *big = malloc(VGPU_KERNEL_PTX_MAX + 1);
	memset(big, 'x', VGPU_KERNEL_PTX_MAX);
	big[VGPU_KERNEL_PTX_MAX] = '\0';
	base(&k);
	k.ptx = big;
	ck_assert_int_eq(vgpu_kernel_payload(&k, &p, &n, err, sizeof(err)), VGPU_CLIENT_EUSAGE);
	ck_assert_ptr_nonnull(strstr(err, "over 1048575 bytes"));
	big[VGPU_KERNEL_PTX_MAX - 1] = '\0';     /* 1 MiB - 1 bytes: fits exactly */
	ck_assert_int_eq(vgpu_kernel_payload(&k, &p, &n, err, sizeof(err)), VGPU_CLIENT_OK);
	ck_assert_uint_eq(n, VGPU_KERNEL_PTX_MAX);
	free(p);
	free(big);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("client_kernel");
	TCase *tc = tcase_create("payload");

	tcase_add_test(tc, test_layout);
	tcase_add_test(tc, test_refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite(), CK_ENV);
}
