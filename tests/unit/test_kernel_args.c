/* test_kernel_args.c - the `kernel` op's grammar (src/lib/kernel_args.c): each value's
 * good and bad spellings, every cap at its limit and one past it, the layout of the
 * payloads, the PTX region's check, and whole kernel records through the record
 * parser (decode -> encode -> decode, and the errors a VM gets). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/testutil.h"
#include "lib/kernel_args.h"
#include "lib/op.h"
#include "lib/record.h"
#include "mediator/job.h"
#include "exec/executor.h"

static int parse_arg(const char *s, struct vgpu_karg *a)
{
	return vgpu_kernel_parse_arg(s, strlen(s), a);
}

START_TEST(test_entry)
{
	char e[VGPU_KERNEL_ENTRY_MAX + 1], big[VGPU_KERNEL_ENTRY_MAX + 2], buf[256];
	const char *good[] = { "vadd", "_Z4vaddPKfS0_Pfj", "$x", "%r1", "a$b_9", "A" };
	const char *bad[] = { "", "9a", "_", "$", "%", "va dd", "vadd\n", "v-add", "v.add", "é" };

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ck_assert_msg(vgpu_kernel_parse_entry(good[i], strlen(good[i]), e) == 0, "%s", good[i]);
		ck_assert_str_eq(e, good[i]);
		ck_assert_int_eq(vgpu_kernel_format_entry(e, buf, sizeof(buf)), (int)strlen(good[i]));
		ck_assert_str_eq(buf, good[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(vgpu_kernel_parse_entry(bad[i], strlen(bad[i]), e) == -1, "%s", bad[i]);
	/* the cap: 127 bytes fit, 128 do not */
	memset(big, 'k', sizeof(big));
	ck_assert_int_eq(vgpu_kernel_parse_entry(big, VGPU_KERNEL_ENTRY_MAX, e), 0);
	ck_assert_uint_eq(strlen(e), VGPU_KERNEL_ENTRY_MAX);
	ck_assert_int_eq(vgpu_kernel_parse_entry(big, VGPU_KERNEL_ENTRY_MAX + 1, e), -1);
	ck_assert_int_eq(vgpu_kernel_format_entry("9x", buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(vgpu_kernel_format_entry("vadd", buf, 4), -ENOSPC);
}
END_TEST

START_TEST(test_dim3)
{
	uint32_t d[3];
	char buf[64];
	struct { const char *s; int block, ok; } cases[] = {
		{ "1,1,1", 0, 1 }, { "2147483647,65535,65535", 0, 1 }, { "2147483648,1,1", 0, 0 },
		{ "1,65536,1", 0, 0 }, { "1,1,65536", 0, 0 }, { "1024,1024,64", 1, 1 },
		{ "1025,1,1", 1, 0 }, { "1,1025,1", 1, 0 }, { "1,1,65", 1, 0 }, { "0,1,1", 0, 0 },
		{ "1,1", 0, 0 }, { "1,1,1,1", 0, 0 }, { "1, 1,1", 0, 0 }, { "01,1,1", 0, 0 },
		{ "1,,1", 0, 0 }, { "", 0, 0 }, { "-1,1,1", 0, 0 }, { "1,1,1 ", 0, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = vgpu_kernel_parse_dim3(cases[i].s, strlen(cases[i].s), cases[i].block, d);
		ck_assert_msg(rc == (cases[i].ok ? 0 : -1), "'%s' block=%d: %d", cases[i].s, cases[i].block, rc);
		if (cases[i].ok) {
			ck_assert_int_gt(vgpu_kernel_format_dim3(d, cases[i].block, buf, sizeof(buf)), 0);
			ck_assert_str_eq(buf, cases[i].s);
		}
	}
	d[0] = 2048; d[1] = 1; d[2] = 1;
	ck_assert_int_eq(vgpu_kernel_format_dim3(d, 1, buf, sizeof(buf)), -EINVAL);
	d[0] = 0;
	ck_assert_int_eq(vgpu_kernel_format_dim3(d, 0, buf, sizeof(buf)), -EINVAL);
}
END_TEST

START_TEST(test_arg_tokens)
{
	struct vgpu_karg a;
	const char *good[] = {
		"in:4", "out:1073741824", "inout:4096", "i32:0", "i32:-2147483648", "i32:2147483647",
		"u32:4294967295", "u32:0", "i64:-9223372036854775808", "i64:9223372036854775807",
		"f32:2.5", "f32:-0", "f32:3.40282347e+38", "f32:0x1p-149", "f64:1e308", "f64:-2.2250738585072014e-308",
	};
	const char *bad[] = {
		"in:0", "in:3", "in:6", "out:1073741828", "inout:", "in", "in:-4", "in:04", "IN:4", "in:4 ",
		"i32:2147483648", "i32:-2147483649", "i32:-0", "i32:+1", "i32:01", "i32:", "i32:1.0",
		"u32:4294967296", "u32:-1", "i64:9223372036854775808", "i64:-9223372036854775809",
		"f32:inf", "f32:nan", "f32:1e39", "f32: 1", "f32:", "f64:1e309", "f64:nan", "f64:-inf",
		"x32:1", ":1", "", "in:4:5", "f16:1",
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ck_assert_msg(parse_arg(good[i], &a) == 0, "good '%s' rejected", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(parse_arg(bad[i], &a) == -1, "bad '%s' accepted", bad[i]);
	ck_assert_int_eq(parse_arg("i32:-7", &a), 0);
	ck_assert_int_eq(a.kind, VGPU_KARG_I32);
	ck_assert_int_eq(a.v.i, -7);
	ck_assert_int_eq(parse_arg("inout:8", &a), 0);
	ck_assert_int_eq(a.kind, VGPU_KARG_INOUT);
	ck_assert_uint_eq(a.v.bytes, 8);
	ck_assert_str_eq(vgpu_karg_kind_name(VGPU_KARG_F64), "f64");
	ck_assert_str_eq(vgpu_karg_kind_name(VGPU_KARG_NONE), "?");
	ck_assert_str_eq(vgpu_karg_kind_name(VGPU_KARG_KIND_COUNT), "?");
}
END_TEST

/* A list parses, formats canonically, and parses again to the same struct. */
static void roundtrip(const char *text, const char *canon)
{
	struct vgpu_kernel_args k, k2;
	char buf[VGPU_VALUE_MAX + 1];
	int n;

	memset(&k, 0, sizeof(k));
	memset(&k2, 0, sizeof(k2));
	ck_assert_msg(vgpu_kernel_parse_args(text, strlen(text), &k) == 0, "'%s' rejected", text);
	n = vgpu_kernel_format_args(&k, buf, sizeof(buf));
	ck_assert_int_gt(n, 0);
	ck_assert_str_eq(buf, canon);
	ck_assert_int_eq(vgpu_kernel_parse_args(buf, (size_t)n, &k2), 0);
	ck_assert(memcmp(&k, &k2, sizeof(k)) == 0);
}

START_TEST(test_arg_list)
{
	struct vgpu_kernel_args k;
	char list[2048], buf[64];
	size_t len = 0;

	roundtrip("-", "-");
	roundtrip("in:4096 in:4096 out:4096 u32:1024", "in:4096 in:4096 out:4096 u32:1024");
	roundtrip("f32:.5 f64:0.1 i64:-3", "f32:0.5 f64:0.10000000000000001 i64:-3");
	roundtrip("f32:0x1.8p1", "f32:3");
	memset(&k, 0, sizeof(k));
	const char *bad[] = { "", " in:4", "in:4 ", "in:4  in:4", "in:4,in:4", "-- ", "- in:4", "in:4 -" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(vgpu_kernel_parse_args(bad[i], strlen(bad[i]), &k) == -1, "'%s' accepted", bad[i]);

	/* 32 arguments fit, 33 do not */
	for (int i = 0; i < VGPU_KERNEL_ARGS_MAX; i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%si32:%d", i ? " " : "", i);
	ck_assert_int_eq(vgpu_kernel_parse_args(list, len, &k), 0);
	ck_assert_uint_eq(k.nargs, VGPU_KERNEL_ARGS_MAX);
	len += (size_t)snprintf(list + len, sizeof(list) - len, " i32:99");
	ck_assert_int_eq(vgpu_kernel_parse_args(list, len, &k), -1);
	/* 16 buffers fit, 17 do not */
	len = 0;
	for (int i = 0; i < VGPU_KERNEL_BUFS_MAX; i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%sout:4", i ? " " : "");
	ck_assert_int_eq(vgpu_kernel_parse_args(list, len, &k), 0);
	len += (size_t)snprintf(list + len, sizeof(list) - len, " in:4");
	ck_assert_int_eq(vgpu_kernel_parse_args(list, len, &k), -1);
	/* the longest list (32 of the longest tokens) still fits a record value */
	len = 0;
	for (int i = 0; i < VGPU_KERNEL_ARGS_MAX; i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%sf64:-2.2250738585072014e-308", i ? " " : "");
	ck_assert_uint_le(len, VGPU_VALUE_MAX);
	ck_assert_int_eq(vgpu_kernel_parse_args(list, len, &k), 0);
	/* the formatter refuses what the parser would */
	memset(&k, 0, sizeof(k));
	k.nargs = 1;
	k.args[0].kind = VGPU_KARG_IN;
	k.args[0].v.bytes = 6;
	ck_assert_int_eq(vgpu_kernel_format_args(&k, buf, sizeof(buf)), -EINVAL);
	k.args[0].kind = VGPU_KARG_F32;
	k.args[0].v.d = 0.1;      /* not a float's value */
	ck_assert_int_eq(vgpu_kernel_format_args(&k, buf, sizeof(buf)), -EINVAL);
	k.args[0].kind = VGPU_KARG_I32;
	k.args[0].v.i = INT64_C(1) << 40;
	ck_assert_int_eq(vgpu_kernel_format_args(&k, buf, sizeof(buf)), -EINVAL);
	k.args[0].kind = 99;
	ck_assert_int_eq(vgpu_kernel_format_args(&k, buf, sizeof(buf)), -EINVAL);
	k.nargs = VGPU_KERNEL_ARGS_MAX + 1;
	ck_assert_int_eq(vgpu_kernel_format_args(&k, buf, sizeof(buf)), -EINVAL);
	k.nargs = 1;
	k.args[0].kind = VGPU_KARG_U32;
	k.args[0].v.u = 123456;
	ck_assert_int_eq(vgpu_kernel_format_args(&k, buf, 8), -ENOSPC);
}
END_TEST

static void kernel_base(struct vgpu_kernel_args *k)
{
	memset(k, 0, sizeof(*k));
	strcpy(k->entry, "vadd");
	k->grid[0] = k->grid[1] = k->grid[2] = 1;
	k->block[0] = k->block[1] = k->block[2] = 1;
	k->ptx = 64;
}

START_TEST(test_check_and_layout)
{
	struct vgpu_kernel_args k;
	uint64_t in_off[VGPU_KERNEL_ARGS_MAX], out_off[VGPU_KERNEL_ARGS_MAX], ib, ob;
	char err[160];

	kernel_base(&k);
	ck_assert_int_eq(vgpu_kernel_check(&k, err, sizeof(err)), 0);
	k.block[0] = 1024;
	ck_assert_int_eq(vgpu_kernel_check(&k, err, sizeof(err)), 0);
	k.block[1] = 2;
	ck_assert_int_eq(vgpu_kernel_check(&k, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "2048 threads"));
	kernel_base(&k);
	k.shared = VGPU_KERNEL_SHARED_MAX;
	ck_assert_int_eq(vgpu_kernel_check(&k, err, sizeof(err)), 0);
	k.shared++;
	ck_assert_int_eq(vgpu_kernel_check(&k, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "shared"));
	kernel_base(&k);
	k.ptx = VGPU_KERNEL_PTX_MAX;
	ck_assert_int_eq(vgpu_kernel_check(&k, err, sizeof(err)), 0);
	k.ptx += 8;
	ck_assert_int_eq(vgpu_kernel_check(&k, err, sizeof(err)), -1);
	k.ptx = 12;
	ck_assert_int_eq(vgpu_kernel_check(&k, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "multiple of 8"));

	kernel_base(&k);
	ck_assert_int_eq(vgpu_kernel_parse_args("in:8 f32:1 out:16 inout:4 in:12", 31, &k), 0);
	ck_assert_int_eq(vgpu_kernel_layout(&k, in_off, out_off, &ib, &ob), 0);
	ck_assert_uint_eq(ib, 64 + 8 + 4 + 12);
	ck_assert_uint_eq(ob, 16 + 4);
	ck_assert_uint_eq(in_off[0], 64);
	ck_assert_uint_eq(in_off[1], UINT64_MAX);
	ck_assert_uint_eq(in_off[2], UINT64_MAX);
	ck_assert_uint_eq(in_off[3], 72);
	ck_assert_uint_eq(in_off[4], 76);
	ck_assert_uint_eq(out_off[0], UINT64_MAX);
	ck_assert_uint_eq(out_off[2], 0);
	ck_assert_uint_eq(out_off[3], 16);
	ck_assert_uint_eq(out_off[4], UINT64_MAX);
	ck_assert_uint_eq(out_off[5], UINT64_MAX);
	k.nargs = VGPU_KERNEL_ARGS_MAX + 1;
	ck_assert_int_eq(vgpu_kernel_layout(&k, NULL, NULL, NULL, NULL), -1);
	/* overflow of the totals (not reachable from the parser: caught anyway) */
	kernel_base(&k);
	k.nargs = 2;
	k.args[0].kind = k.args[1].kind = VGPU_KARG_IN;
	k.args[0].v.bytes = k.args[1].v.bytes = UINT64_MAX / 2 + 4;
	ck_assert_int_eq(vgpu_kernel_layout(&k, NULL, NULL, &ib, &ob), -1);
	ck_assert_int_eq(vgpu_kernel_check(&k, err, sizeof(err)), -1);
}
END_TEST

START_TEST(test_ptx_check)
{
	char err[128];
	char ok[16] = ".version 8.0\n";
	char tab[8] = "a\tb\r\n";

	ck_assert_int_eq(vgpu_kernel_ptx_check(ok, sizeof(ok), err, sizeof(err)), 0);
	ck_assert_int_eq(vgpu_kernel_ptx_check(tab, sizeof(tab), err, sizeof(err)), 0);
	ck_assert_int_eq(vgpu_kernel_ptx_check("\0\0\0\0", 4, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "empty"));
	ck_assert_int_eq(vgpu_kernel_ptx_check("abcdefgh", 8, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "no NUL"));
	ck_assert_int_eq(vgpu_kernel_ptx_check("abc\0\0x\0\0", 8, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "byte 5"));
	ck_assert_int_eq(vgpu_kernel_ptx_check("ab\x01" "c\0\0\0\0", 8, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "0x01"));
	ck_assert_int_eq(vgpu_kernel_ptx_check("ab\xff" "c\0\0\0\0", 8, err, sizeof(err)), -1);
}
END_TEST

/* ---- through the record parser ----------------------------------------------------- */

static int decode(const char *fields, struct vgpu_request *r, char *err, size_t errlen)
{
	char body[4096], rec[4200];

	snprintf(body, sizeof(body), "VGPU1 REQUEST\nvm 1\nseq 17\nnonce 0123456789abcdef\npriority low\nop kernel\n%s",
		 fields);
	snprintf(rec, sizeof(rec), "%send %zu %08x\n", body, strlen(body), vgpu_crc32(body, strlen(body)));
	return vgpu_request_decode(rec, strlen(rec), r, err, errlen);
}

#define KFIELDS(args, input) "ptx 64\nentry vadd\ngrid 4,1,1\nblock 256,1,1\nshared 0\nargs " args "\n" input

START_TEST(test_record)
{
	struct vgpu_request r, r2;
	char err[256], enc[8192];
	int len;

	ck_assert_int_eq(decode(KFIELDS("in:16 in:16 out:16 u32:4", "input in-17.bin 96 0a0b0c0d\noutput file\n"), &r,
				err, sizeof(err)), VGPU_REC_OK);
	ck_assert_int_eq(r.op, VGPU_OP_KERNEL);
	ck_assert_str_eq(r.args.kernel.entry, "vadd");
	ck_assert_uint_eq(r.args.kernel.grid[0], 4);
	ck_assert_uint_eq(r.args.kernel.block[0], 256);
	ck_assert_uint_eq(r.args.kernel.nargs, 4);
	ck_assert_int_eq(vgpu_request_input_bytes(&r), 96);
	ck_assert_int_eq(vgpu_request_output_bytes(&r), 16);
	len = vgpu_request_encode(&r, enc, sizeof(enc));
	ck_assert_int_gt(len, 0);
	ck_assert_ptr_nonnull(strstr(enc, "op kernel\nptx 64\nentry vadd\ngrid 4,1,1\nblock 256,1,1\nshared 0\n"
				    "args in:16 in:16 out:16 u32:4\ninput in-17.bin 96 0a0b0c0d\noutput file\n"));
	ck_assert_int_eq(vgpu_request_decode(enc, (size_t)len, &r2, err, sizeof(err)), VGPU_REC_OK);
	ck_assert(memcmp(&r, &r2, sizeof(r)) == 0);

	/* no arguments at all */
	ck_assert_int_eq(decode(KFIELDS("-", "input in-17.bin 64 00000000\n"), &r, err, sizeof(err)), VGPU_REC_OK);
	ck_assert_int_eq(vgpu_request_output_bytes(&r), 0);

	/* what a VM gets wrong */
	struct { const char *f, *why; } bad[] = {
		{ KFIELDS("in:16", "seed 1\n"), "field 'seed' does not belong" },
		{ KFIELDS("in:16", ""), "exactly one of 'seed' and 'input'" },
		{ KFIELDS("in:16", "input in-17.bin 64 00000000\n"), "needs 80" },
		{ KFIELDS("in:15", "input in-17.bin 79 00000000\n"), "line 12: args" },
		{ "ptx 64\nentry vadd\ngrid 4,1,1\nblock 256,5,1\nshared 0\nargs -\ninput in-17.bin 64 00000000\n",
		  "1280 threads; at most 1024" },
		{ "ptx 60\nentry vadd\ngrid 4,1,1\nblock 256,1,1\nshared 0\nargs -\ninput in-17.bin 60 00000000\n",
		  "multiple of 8" },
		{ "ptx 64\nentry vadd\ngrid 4,1,1\nblock 256,1,1\nshared 49153\nargs -\ninput in-17.bin 64 00000000\n",
		  "shared: 49153" },
		{ "ptx 64\nentry vadd\ngrid 4,1,1\nblock 256,1,1\nargs -\ninput in-17.bin 64 00000000\n",
		  "missing field 'shared'" },
		{ "ptx 64\ngrid 4,1,1\nblock 256,1,1\nshared 0\nargs -\ninput in-17.bin 64 00000000\n",
		  "missing field 'entry'" },
		{ "ptx 64\nentry 1vadd\ngrid 4,1,1\nblock 256,1,1\nshared 0\nargs -\ninput in-17.bin 64 00000000\n",
		  "line 8: entry" },
		{ "ptx 64\nentry vadd\ngrid 4,1\nblock 256,1,1\nshared 0\nargs -\ninput in-17.bin 64 00000000\n",
		  "line 9: grid" },
		{ KFIELDS("-", "input in-17.bin 64 00000000\nn 4\n"), "field 'n' does not belong" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(decode(bad[i].f, &r, err, sizeof(err)) == VGPU_REC_MALFORMED, "case %zu accepted", i);
		ck_assert_msg(strstr(err, bad[i].why), "case %zu: '%s' lacks '%s'", i, err, bad[i].why);
	}
	/* a kernel field on another op */
	{
		const char *body = "VGPU1 REQUEST\nvm 1\nseq 1\nnonce 0123456789abcdef\npriority low\nop ping\nentry vadd\n";
		char rec[512];
		snprintf(rec, sizeof(rec), "%send %zu %08x\n", body, strlen(body), vgpu_crc32(body, strlen(body)));
		ck_assert_int_eq(vgpu_request_decode(rec, strlen(rec), &r, err, sizeof(err)), VGPU_REC_MALFORMED);
		ck_assert_str_eq(err, "op ping: field 'entry' does not belong to it");
	}
}
END_TEST

/* The mediator hands a kernel job to the executor with its VM (the GPU worker keys the
 * VM's own context by it, docs/KERNELS.md section 4); the record never carries it. */
START_TEST(test_exec_job_carries_vm)
{
	struct job j;
	struct vgpu_exec_job xj;
	char err[256];

	memset(&j, 0, sizeof(j));
	ck_assert_int_eq(decode(KFIELDS("in:16 in:16 out:16 u32:4", "input in-17.bin 96 0a0b0c0d\n"), &j.req, err,
				sizeof(err)), VGPU_REC_OK);
	ck_assert_uint_eq(j.req.args.kernel.vm, 0);
	j.req.vm = 7;
	vgpu_job_to_exec(&j, 0, &xj);
	ck_assert_int_eq(xj.job.op, VGPU_OP_KERNEL);
	ck_assert_uint_eq(xj.job.args.kernel.vm, 7);
	j.req.op = VGPU_OP_PING;
	vgpu_job_to_exec(&j, 0, &xj);
	ck_assert_uint_eq(xj.job.args.kernel.vm, 0);
}
END_TEST

static Suite *kernel_suite(void)
{
	Suite *s = suite_create("kernel_args");
	TCase *tc = tcase_create("grammar");

	tcase_add_test(tc, test_entry);
	tcase_add_test(tc, test_dim3);
	tcase_add_test(tc, test_arg_tokens);
	tcase_add_test(tc, test_arg_list);
	tcase_add_test(tc, test_check_and_layout);
	tcase_add_test(tc, test_ptx_check);
	tcase_add_test(tc, test_record);
	tcase_add_test(tc, test_exec_job_carries_vm);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(kernel_suite(), CK_ENV);
}
