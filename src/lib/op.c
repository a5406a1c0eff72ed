/* op.c - the op table (op.h): each op's arguments, sizes, reference and result line.
 *
 * The only place that knows what an op takes. The grammar of each argument's value is
 * the record's (record.c's value parsers); the arithmetic is opref.c's. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "op.h"
#include "strcopy.h"
#include "opref.h"
#include "record.h"

#define ARG(key, type, field) { key, type, offsetof(struct vgpu_op_args, field) }
const struct vgpu_arg_desc vgpu_arg_table[VGPU_ARG_COUNT] = {
	[VGPU_ARG_N] = ARG("n", VGPU_ARGT_SIZE, n),
	[VGPU_ARG_M] = ARG("m", VGPU_ARGT_SIZE, m),
	[VGPU_ARG_K] = ARG("k", VGPU_ARGT_SIZE, k),
	[VGPU_ARG_ALPHA] = ARG("alpha", VGPU_ARGT_FLOAT, alpha),
	[VGPU_ARG_SEED] = ARG("seed", VGPU_ARGT_U64, seed),
	[VGPU_ARG_MS] = ARG("ms", VGPU_ARGT_U64, ms),
	[VGPU_ARG_BYTES] = ARG("bytes", VGPU_ARGT_U64, bytes),
	[VGPU_ARG_PTX] = ARG("ptx", VGPU_ARGT_SIZE, kernel.ptx),
	[VGPU_ARG_ENTRY] = ARG("entry", VGPU_ARGT_ENTRY, kernel.entry),
	[VGPU_ARG_GRID] = ARG("grid", VGPU_ARGT_GRID, kernel.grid),
	[VGPU_ARG_BLOCK] = ARG("block", VGPU_ARGT_BLOCK, kernel.block),
	[VGPU_ARG_SHARED] = ARG("shared", VGPU_ARGT_U64, kernel.shared),
	[VGPU_ARG_ARGS] = ARG("args", VGPU_ARGT_KARGS, kernel),
};

/* A*B floats into *OUT, or -1 when A*B*sizeof(float) does not fit int64_t. */
static int floats(uint64_t a, uint64_t b, uint64_t *out)
{
	uint64_t x, bytes;

	if (__builtin_mul_overflow(a, b, &x) || __builtin_mul_overflow(x, (uint64_t)sizeof(float), &bytes) ||
	    bytes > (uint64_t)INT64_MAX)
		return -1;
	*out = x;
	return 0;
}

static int sizes_vec(const struct vgpu_op_args *a, uint64_t in[VGPU_OP_OPERANDS], uint64_t *out)
{
	return floats(a->n, 1, &in[0]) < 0 || floats(a->n, 1, &in[1]) < 0 || floats(a->n, 1, out) < 0 ? -1 : 0;
}

static int sizes_sgemm(const struct vgpu_op_args *a, uint64_t in[VGPU_OP_OPERANDS], uint64_t *out)
{
	return floats(a->m, a->k, &in[0]) < 0 || floats(a->k, a->n, &in[1]) < 0 || floats(a->m, a->n, out) < 0 ? -1 : 0;
}

static void ref_vadd(const struct vgpu_op_args *a, const float *const in[VGPU_OP_OPERANDS], float *out)
{
	vgpu_ref_vadd(in[0], in[1], out, a->n);
}

static void ref_saxpy(const struct vgpu_op_args *a, const float *const in[VGPU_OP_OPERANDS], float *out)
{
	vgpu_ref_saxpy(a->alpha, in[0], in[1], out, a->n);
}

static void ref_sgemm(const struct vgpu_op_args *a, const float *const in[VGPU_OP_OPERANDS], float *out)
{
	vgpu_ref_sgemm(in[0], in[1], out, a->m, a->n, a->k);
}

/* kernel: the PTX region and the in/inout buffers are the input, the out/inout buffers
 * the output, all multiples of 4 bytes (kernel_args.h), counted here as floats. */
static int sizes_kernel(const struct vgpu_op_args *a, uint64_t in[VGPU_OP_OPERANDS], uint64_t *out)
{
	uint64_t ib, ob;

	if (vgpu_kernel_layout(&a->kernel, NULL, NULL, &ib, &ob) < 0 || ib % sizeof(float) || ob % sizeof(float))
		return -1;
	in[0] = ib / sizeof(float);
	in[1] = 0;
	*out = ob / sizeof(float);
	return 0;
}

static int check_kernel(const struct vgpu_op_args *a, char *err, size_t errlen)
{
	return vgpu_kernel_check(&a->kernel, err, errlen);
}

static const struct vgpu_op_desc op_table[VGPU_OP_COUNT] = {
	[VGPU_OP_PING] = { .name = "ping", .params = "", .help = "round trip only; result=pong",
			   .result = "pong" },
	[VGPU_OP_VADD] = { .name = "vadd", .flags = VGPU_OPF_DATA, .params = "n",
			   .help = "c = a + b, N elements", .sizes = sizes_vec, .ref = ref_vadd },
	[VGPU_OP_SAXPY] = { .name = "saxpy", .flags = VGPU_OPF_DATA, .params = "n alpha",
			    .help = "y = ALPHA*x + y, N elements", .sizes = sizes_vec, .ref = ref_saxpy },
	[VGPU_OP_SGEMM] = { .name = "sgemm", .flags = VGPU_OPF_DATA, .params = "m n k",
			    .help = "C[MxN] = A[MxK] * B[KxN], row-major", .sizes = sizes_sgemm,
			    .ref = ref_sgemm },
	[VGPU_OP_SPIN] = { .name = "spin", .flags = VGPU_OPF_TEST, .params = "ms",
			   .help = "test op: busy-run MS ms (mediator --test-ops)", .result = "done" },
	[VGPU_OP_LEAK] = { .name = "leak", .flags = VGPU_OPF_TEST, .params = "bytes",
			   .help = "test op: leak BYTES of device memory (mediator --test-ops)", .result = "done" },
	[VGPU_OP_CRASH] = { .name = "crash", .flags = VGPU_OPF_TEST, .params = "",
			    .help = "test op: the executor's worker crashes (mediator --test-ops)", .result = "done" },
	[VGPU_OP_KERNEL] = { .name = "kernel", .flags = VGPU_OPF_DATA | VGPU_OPF_NOSEED,
			     .params = "ptx entry grid block shared args",
			     .help = "the VM's own PTX kernel (docs/KERNELS.md)", .sizes = sizes_kernel,
			     .check = check_kernel },
};

const struct vgpu_op_desc *vgpu_op_get(enum vgpu_op op)
{
	return op > VGPU_OP_NONE && op < VGPU_OP_COUNT ? &op_table[op] : NULL;
}

const char *vgpu_op_name(enum vgpu_op op)
{
	if (op == VGPU_OP_NONE)
		return "-";
	return vgpu_op_get(op) ? op_table[op].name : "?";
}

int vgpu_op_parse(const char *s)
{
	for (int i = VGPU_OP_NONE + 1; s && i < VGPU_OP_COUNT; i++)
		if (strcmp(s, op_table[i].name) == 0)
			return i;
	return -1;
}

int vgpu_op_is_test(enum vgpu_op op)
{
	const struct vgpu_op_desc *d = vgpu_op_get(op);

	return d && (d->flags & VGPU_OPF_TEST);
}

int vgpu_op_has_data(enum vgpu_op op)
{
	const struct vgpu_op_desc *d = vgpu_op_get(op);

	return d && (d->flags & VGPU_OPF_DATA);
}

int vgpu_arg_lookup(const char *key, size_t klen)
{
	for (int i = 0; i < VGPU_ARG_COUNT; i++)
		if (strlen(vgpu_arg_table[i].key) == klen && memcmp(vgpu_arg_table[i].key, key, klen) == 0)
			return i;
	return -1;
}

unsigned vgpu_op_required(enum vgpu_op op)
{
	const struct vgpu_op_desc *d = vgpu_op_get(op);
	const char *p, *sp;
	unsigned bits = 0;
	int a;

	if (!d)
		return 0;
	for (p = d->params; *p; p = *sp ? sp + 1 : sp) {
		sp = strchrnul(p, ' ');
		if ((a = vgpu_arg_lookup(p, (size_t)(sp - p))) >= 0)
			bits |= 1u << a;
	}
	return bits;
}

unsigned vgpu_op_allowed(enum vgpu_op op)
{
	const struct vgpu_op_desc *d = vgpu_op_get(op);
	int seed = d && (d->flags & VGPU_OPF_DATA) && !(d->flags & VGPU_OPF_NOSEED);

	return vgpu_op_required(op) | (seed ? 1u << VGPU_ARG_SEED : 0);
}

int vgpu_op_check(enum vgpu_op op, const struct vgpu_op_args *args, char *err, size_t errlen)
{
	const struct vgpu_op_desc *d = vgpu_op_get(op);

	return d && d->check ? d->check(args, err, errlen) : 0;
}

int vgpu_arg_parse(enum vgpu_arg a, const char *v, size_t vlen, struct vgpu_op_args *args)
{
	const struct vgpu_arg_desc *d;
	char *field;
	uint64_t u;

	if ((unsigned)a >= VGPU_ARG_COUNT)
		return -1;
	d = &vgpu_arg_table[a];
	field = (char *)args + d->offset;
	switch (d->type) {
	case VGPU_ARGT_ENTRY: return vgpu_kernel_parse_entry(v, vlen, field);
	case VGPU_ARGT_GRID: case VGPU_ARGT_BLOCK:
		return vgpu_kernel_parse_dim3(v, vlen, d->type == VGPU_ARGT_BLOCK, (uint32_t *)(void *)field);
	case VGPU_ARGT_KARGS: return vgpu_kernel_parse_args(v, vlen, (struct vgpu_kernel_args *)(void *)field);
	default: break;
	}
	if (d->type == VGPU_ARGT_FLOAT)
		return vgpu_value_float(v, vlen, (float *)(void *)field);
	if (vgpu_value_u64(v, vlen, &u) < 0 || (d->type == VGPU_ARGT_SIZE && u == 0))
		return -1;
	memcpy(field, &u, sizeof(u));
	if (a == VGPU_ARG_SEED)
		args->has_seed = 1;
	return 0;
}

int vgpu_arg_format(enum vgpu_arg a, const struct vgpu_op_args *args, char *buf, size_t cap)
{
	const struct vgpu_arg_desc *d;
	const char *field;
	uint64_t u;
	float f;
	int len;

	if ((unsigned)a >= VGPU_ARG_COUNT)
		return -EINVAL;
	d = &vgpu_arg_table[a];
	field = (const char *)args + d->offset;
	switch (d->type) {
	case VGPU_ARGT_ENTRY: return vgpu_kernel_format_entry(field, buf, cap);
	case VGPU_ARGT_GRID: case VGPU_ARGT_BLOCK:
		return vgpu_kernel_format_dim3((const uint32_t *)(const void *)field, d->type == VGPU_ARGT_BLOCK, buf, cap);
	case VGPU_ARGT_KARGS:
		return vgpu_kernel_format_args((const struct vgpu_kernel_args *)(const void *)field, buf, cap);
	default: break;
	}
	if (d->type == VGPU_ARGT_FLOAT) {
		memcpy(&f, field, sizeof(f));
		if (!isfinite(f))
			return -EINVAL;
		len = snprintf(buf, cap, "%.9g", (double)f);
	} else {
		memcpy(&u, field, sizeof(u));
		if (d->type == VGPU_ARGT_SIZE && u == 0)
			return -EINVAL;
		len = snprintf(buf, cap, "%" PRIu64, u);
	}
	return len < 0 || (size_t)len >= cap ? -ENOSPC : len;
}

static int64_t op_bytes(enum vgpu_op op, const struct vgpu_op_args *args, int output)
{
	const struct vgpu_op_desc *d = vgpu_op_get(op);
	uint64_t in[VGPU_OP_OPERANDS] = { 0 }, out, total = 0;

	if (!d)
		return -1;
	if (!d->sizes)
		return 0;
	if (d->sizes(args, in, &out) < 0)
		return -1;
	if (output)
		return (int64_t)(out * sizeof(float));
	for (int j = 0; j < VGPU_OP_OPERANDS; j++)
		if (__builtin_add_overflow(total, in[j], &total))
			return -1;
	if (total > (uint64_t)INT64_MAX / sizeof(float))
		return -1;
	return (int64_t)(total * sizeof(float));
}

int64_t vgpu_op_input_bytes(enum vgpu_op op, const struct vgpu_op_args *args)
{
	return op_bytes(op, args, 0);
}

int64_t vgpu_op_output_bytes(enum vgpu_op op, const struct vgpu_op_args *args)
{
	return op_bytes(op, args, 1);
}

int vgpu_op_format_result(enum vgpu_op op, const struct vgpu_summary *summary, char *buf, size_t cap)
{
	const struct vgpu_op_desc *d = vgpu_op_get(op);
	int len;

	if (cap == 0)
		return -ENOSPC;
	if (d && d->result)
		len = (int)vgpu_strcopy(buf, cap, d->result);
	else if (d && summary)
		return vgpu_summary_format(summary, buf, cap);
	else
		len = (int)vgpu_strcopy(buf, cap, "-");
	return (size_t)len >= cap ? -ENOSPC : len;
}
