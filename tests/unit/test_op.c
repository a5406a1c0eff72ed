/* test_op.c - the op table of src/lib/op.c: every op is fully described, the argument
 * grammar round-trips, sizes catch overflow, the references are the op's, and the
 * result line is the table's. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/testutil.h"
#include "lib/op.h"
#include "lib/opref.h"
#include "lib/record.h"

/* Every op names itself, lists only known argument keys, and a data op has sizes and a
 * reference while an op without data has a fixed result line. */
START_TEST(test_table_complete)
{
	for (int op = VGPU_OP_NONE + 1; op < VGPU_OP_COUNT; op++) {
		const struct vgpu_op_desc *d = vgpu_op_get((enum vgpu_op)op);
		ck_assert_ptr_nonnull(d);
		ck_assert_int_eq(vgpu_op_parse(d->name), op);
		ck_assert_ptr_nonnull(d->help);
		for (const char *p = d->params, *sp; *p; p = *sp ? sp + 1 : sp) {
			sp = strchrnul(p, ' ');
			ck_assert_msg(vgpu_arg_lookup(p, (size_t)(sp - p)) >= 0, "%s: unknown param '%.*s'", d->name,
				      (int)(sp - p), p);
		}
		if (d->flags & VGPU_OPF_NOSEED) {    /* kernel: the VM's own code, no reference, no seed */
			ck_assert((d->flags & VGPU_OPF_DATA) && d->sizes && !d->ref && !d->result && d->check);
			ck_assert(!(vgpu_op_allowed((enum vgpu_op)op) & (1u << VGPU_ARG_SEED)));
		} else if (d->flags & VGPU_OPF_DATA) {
			ck_assert(d->sizes && d->ref && !d->result);
			ck_assert(vgpu_op_allowed((enum vgpu_op)op) & (1u << VGPU_ARG_SEED));
		} else {
			ck_assert(!d->sizes && !d->ref && d->result);
			ck_assert(!(vgpu_op_allowed((enum vgpu_op)op) & (1u << VGPU_ARG_SEED)));
		}
	}
	ck_assert_ptr_null(vgpu_op_get(VGPU_OP_NONE));
	ck_assert_ptr_null(vgpu_op_get(VGPU_OP_COUNT));
	ck_assert_str_eq(vgpu_op_name(VGPU_OP_NONE), "-");
	ck_assert_str_eq(vgpu_op_name(VGPU_OP_COUNT), "?");
	ck_assert_int_eq(vgpu_op_parse("-"), -1);
	ck_assert_int_eq(vgpu_op_parse(NULL), -1);
	ck_assert_int_eq(vgpu_op_required(VGPU_OP_SGEMM),
			 (1u << VGPU_ARG_M) | (1u << VGPU_ARG_N) | (1u << VGPU_ARG_K));
	ck_assert_int_eq(vgpu_op_required(VGPU_OP_SAXPY), (1u << VGPU_ARG_N) | (1u << VGPU_ARG_ALPHA));
	ck_assert_int_eq(vgpu_op_required(VGPU_OP_NONE), 0);
	ck_assert(vgpu_op_is_test(VGPU_OP_SPIN) && !vgpu_op_is_test(VGPU_OP_VADD) && !vgpu_op_is_test(VGPU_OP_NONE));
}
END_TEST

START_TEST(test_arg_parse_format)
{
	struct vgpu_op_args a;
	char buf[64];

	memset(&a, 0, sizeof(a));
	ck_assert_int_eq(vgpu_arg_parse(VGPU_ARG_N, "4096", 4, &a), 0);
	ck_assert_uint_eq(a.n, 4096);
	ck_assert_int_eq(vgpu_arg_parse(VGPU_ARG_N, "0", 1, &a), -1);          /* a size is > 0 */
	ck_assert_int_eq(vgpu_arg_parse(VGPU_ARG_MS, "0", 1, &a), 0);          /* a plain u64 may be 0 */
	ck_assert_int_eq(vgpu_arg_parse(VGPU_ARG_N, "012", 3, &a), -1);
	ck_assert_int_eq(vgpu_arg_parse(VGPU_ARG_N, "18446744073709551616", 20, &a), -1);
	ck_assert_int_eq(vgpu_arg_parse(VGPU_ARG_ALPHA, "-2.5", 4, &a), 0);
	ck_assert(a.alpha == -2.5f);
	ck_assert_int_eq(vgpu_arg_parse(VGPU_ARG_ALPHA, "1e39", 4, &a), -1);    /* not finite as float */
	ck_assert_int_eq(vgpu_arg_parse(VGPU_ARG_ALPHA, "nan", 3, &a), -1);
	ck_assert_int_eq(a.has_seed, 0);
	ck_assert_int_eq(vgpu_arg_parse(VGPU_ARG_SEED, "7", 1, &a), 0);
	ck_assert_int_eq(a.has_seed, 1);
	ck_assert_uint_eq(a.seed, 7);
	ck_assert_int_eq(vgpu_arg_parse(VGPU_ARG_COUNT, "7", 1, &a), -1);

	ck_assert_int_eq(vgpu_arg_format(VGPU_ARG_N, &a, buf, sizeof(buf)), 4);
	ck_assert_str_eq(buf, "4096");
	ck_assert_int_gt(vgpu_arg_format(VGPU_ARG_ALPHA, &a, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "-2.5");
	ck_assert_int_eq(vgpu_arg_format(VGPU_ARG_N, &a, buf, 3), -ENOSPC);
	a.n = 0;
	ck_assert_int_eq(vgpu_arg_format(VGPU_ARG_N, &a, buf, sizeof(buf)), -EINVAL);
	a.alpha = INFINITY;
	ck_assert_int_eq(vgpu_arg_format(VGPU_ARG_ALPHA, &a, buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(vgpu_arg_format(VGPU_ARG_COUNT, &a, buf, sizeof(buf)), -EINVAL);

	/* Every key formats back to what it parsed from. */
	for (int k = 0; k < VGPU_ARG_COUNT; k++) {
		static const char *const by_type[] = {
			[VGPU_ARGT_SIZE] = "123456789", [VGPU_ARGT_U64] = "123456789", [VGPU_ARGT_FLOAT] = "0.375",
			[VGPU_ARGT_ENTRY] = "_Z4vaddPfS_S_", [VGPU_ARGT_GRID] = "4,2,1", [VGPU_ARGT_BLOCK] = "256,1,1",
			[VGPU_ARGT_KARGS] = "in:16 out:8 inout:4 i32:-1 u32:7 i64:-9 f32:2.5 f64:0.125",
		};
		const char *v = by_type[vgpu_arg_table[k].type];
		memset(&a, 0, sizeof(a));
		ck_assert_int_eq(vgpu_arg_parse((enum vgpu_arg)k, v, strlen(v), &a), 0);
		ck_assert_int_gt(vgpu_arg_format((enum vgpu_arg)k, &a, buf, sizeof(buf)), 0);
		ck_assert_str_eq(buf, v);
	}
}
END_TEST

START_TEST(test_sizes)
{
	struct vgpu_op_args a = { .n = 1024 };

	ck_assert_int_eq(vgpu_op_input_bytes(VGPU_OP_VADD, &a), 8192);
	ck_assert_int_eq(vgpu_op_output_bytes(VGPU_OP_SAXPY, &a), 4096);
	a = (struct vgpu_op_args){ .m = 2, .n = 3, .k = 4 };
	ck_assert_int_eq(vgpu_op_input_bytes(VGPU_OP_SGEMM, &a), (2 * 4 + 4 * 3) * 4);
	ck_assert_int_eq(vgpu_op_output_bytes(VGPU_OP_SGEMM, &a), 2 * 3 * 4);
	a = (struct vgpu_op_args){ .m = UINT64_C(1) << 31, .n = 1, .k = UINT64_C(1) << 31 };
	ck_assert_int_eq(vgpu_op_input_bytes(VGPU_OP_SGEMM, &a), -1);            /* m*k*4 = 2^64 */
	a = (struct vgpu_op_args){ .n = (UINT64_C(1) << 60) - 1 };
	ck_assert_int_eq(vgpu_op_input_bytes(VGPU_OP_VADD, &a), INT64_MAX - 7);  /* the largest that fits */
	a.n++;
	ck_assert_int_eq(vgpu_op_input_bytes(VGPU_OP_VADD, &a), -1);
	ck_assert_int_eq(vgpu_op_input_bytes(VGPU_OP_PING, &a), 0);
	ck_assert_int_eq(vgpu_op_output_bytes(VGPU_OP_LEAK, &a), 0);
	ck_assert_int_eq(vgpu_op_input_bytes(VGPU_OP_NONE, &a), -1);
	ck_assert_int_eq(vgpu_op_output_bytes(VGPU_OP_COUNT, &a), -1);
}
END_TEST

/* The table's references are the op's: checked against opref.c called directly. */
START_TEST(test_refs_are_the_ops)
{
	enum { M = 3, N = 5, K = 4 };
	float in[M * K + K * N], out[M * N], want[M * N];
	const float *ops[VGPU_OP_OPERANDS];
	uint64_t cnt[VGPU_OP_OPERANDS], outc;
	struct vgpu_op_args a = { .n = N, .alpha = 1.5f };

	vgpu_gen_fill(in, M * K + K * N, 11, 0);
	ops[0] = in;
	ops[1] = in + N;
	vgpu_op_get(VGPU_OP_VADD)->ref(&a, ops, out);
	vgpu_ref_vadd(in, in + N, want, N);
	ck_assert_mem_eq(out, want, N * sizeof(float));
	vgpu_op_get(VGPU_OP_SAXPY)->ref(&a, ops, out);
	vgpu_ref_saxpy(1.5f, in, in + N, want, N);
	ck_assert_mem_eq(out, want, N * sizeof(float));

	a = (struct vgpu_op_args){ .m = M, .n = N, .k = K };
	ck_assert_int_eq(vgpu_op_get(VGPU_OP_SGEMM)->sizes(&a, cnt, &outc), 0);
	ck_assert_uint_eq(cnt[0], M * K);
	ck_assert_uint_eq(cnt[1], K * N);
	ck_assert_uint_eq(outc, M * N);
	ops[1] = in + M * K;
	vgpu_op_get(VGPU_OP_SGEMM)->ref(&a, ops, out);
	vgpu_ref_sgemm(in, in + M * K, want, M, N, K);
	ck_assert_mem_eq(out, want, sizeof(want));
}
END_TEST

START_TEST(test_result_line)
{
	struct vgpu_summary s = { .count = 2, .sum = 1.5, .l2 = 1.25, .first = 0.5f };
	char buf[128];

	ck_assert_int_eq(vgpu_op_format_result(VGPU_OP_PING, NULL, buf, sizeof(buf)), 4);
	ck_assert_str_eq(buf, "pong");
	ck_assert_int_gt(vgpu_op_format_result(VGPU_OP_SPIN, &s, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "done");
	ck_assert_int_gt(vgpu_op_format_result(VGPU_OP_VADD, &s, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "count=2 sum=1.5 l2=1.25 first=0.5");
	ck_assert_int_eq(vgpu_op_format_result(VGPU_OP_VADD, NULL, buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, "-");
	ck_assert_int_eq(vgpu_op_format_result(VGPU_OP_PING, NULL, buf, 4), -ENOSPC);
}
END_TEST

/* The record grammar follows the table: a request encodes the op's params in order,
 * and a key the op does not take is refused. */
START_TEST(test_record_follows_table)
{
	struct vgpu_request r, back;
	char buf[1024], err[256];
	int len;

	memset(&r, 0, sizeof(r));
	r.vm = 1;
	r.seq = 1;
	memcpy(r.nonce, "0123456789abcdef", 17);
	r.op = VGPU_OP_SGEMM;
	r.args = (struct vgpu_op_args){ .m = 2, .n = 3, .k = 4, .has_seed = 1, .seed = 9 };
	r.output_file = -1;
	len = vgpu_request_encode(&r, buf, sizeof(buf));
	ck_assert_int_gt(len, 0);
	ck_assert_ptr_nonnull(strstr(buf, "op sgemm\nm 2\nn 3\nk 4\nseed 9\n"));
	ck_assert_int_eq(vgpu_request_decode(buf, (size_t)len, &back, err, sizeof(err)), VGPU_REC_OK);
	ck_assert_mem_eq(&back.args, &r.args, sizeof(r.args));

	r.op = VGPU_OP_SPIN;
	r.args = (struct vgpu_op_args){ .ms = 5 };
	len = vgpu_request_encode(&r, buf, sizeof(buf));
	ck_assert_int_gt(len, 0);
	ck_assert_ptr_nonnull(strstr(buf, "op spin\nms 5\n"));
	const char *bad = "VGPU1 REQUEST\nvm 1\nseq 1\nnonce 0123456789abcdef\npriority low\nop ping\nms 5\n";
	char rec[512];
	snprintf(rec, sizeof(rec), "%send %zu %08x\n", bad, strlen(bad), vgpu_crc32(bad, strlen(bad)));
	ck_assert_int_eq(vgpu_request_decode(rec, strlen(rec), &back, err, sizeof(err)), VGPU_REC_MALFORMED);
	ck_assert_str_eq(err, "op ping: field 'ms' does not belong to it");
}
END_TEST

static Suite *op_suite(void)
{
	Suite *s = suite_create("op");
	TCase *tc = tcase_create("table");

	tcase_add_test(tc, test_table_complete);
	tcase_add_test(tc, test_arg_parse_format);
	tcase_add_test(tc, test_sizes);
	tcase_add_test(tc, test_refs_are_the_ops);
	tcase_add_test(tc, test_result_line);
	tcase_add_test(tc, test_record_follows_table);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(op_suite(), CK_ENV);
}
