/* op.h - one description of each operation: its name, its arguments and their grammar,
 * the sizes of its data, its CPU reference and the shape of its result line.
 *
 * The record parser and encoder, the mediator, the worker, both backends and the client
 * read this table; none of them lists an op's arguments again. Adding an argument to an
 * op is: a field in struct vgpu_op_args, a row in vgpu_arg_table (op.c), the op's
 * .params, and the backends that use it. docs/PROTOCOL.md section 4 is the grammar. */
#ifndef VGPU_OP_H
#define VGPU_OP_H

#include <stddef.h>
#include <stdint.h>
#include "kernel_args.h"

enum vgpu_op {
	VGPU_OP_NONE = 0,
	VGPU_OP_PING, VGPU_OP_VADD, VGPU_OP_SAXPY, VGPU_OP_SGEMM,
	VGPU_OP_SPIN, VGPU_OP_LEAK, VGPU_OP_CRASH,   /* test ops: --test-ops only */
	VGPU_OP_KERNEL,          /* the VM's own PTX (kernel_args.h, docs/KERNELS.md) */
	VGPU_OP_COUNT
};

/* An op's arguments: the same struct in the request, the job and the worker's wire
 * message, copied whole. Fields an op does not take are 0. */
struct vgpu_op_args {
	uint64_t n, m, k;        /* sizes, > 0 where an op takes them */
	float alpha;             /* saxpy */
	uint32_t has_seed;       /* 1: operands generated from SEED (PROTOCOL section 6) */
	uint64_t seed;
	uint64_t ms;             /* spin */
	uint64_t bytes;          /* leak */
	struct vgpu_kernel_args kernel;  /* kernel */
};

/* The argument keys of the request grammar. */
enum vgpu_arg { VGPU_ARG_N, VGPU_ARG_M, VGPU_ARG_K, VGPU_ARG_ALPHA, VGPU_ARG_SEED, VGPU_ARG_MS,
		VGPU_ARG_BYTES, VGPU_ARG_PTX, VGPU_ARG_ENTRY, VGPU_ARG_GRID, VGPU_ARG_BLOCK, VGPU_ARG_SHARED,
		VGPU_ARG_ARGS, VGPU_ARG_COUNT };

enum vgpu_arg_type {
	VGPU_ARGT_SIZE,          /* decimal u64 > 0 */
	VGPU_ARGT_U64,           /* decimal u64 */
	VGPU_ARGT_FLOAT,         /* finite float32, strtod syntax */
	VGPU_ARGT_ENTRY,         /* kernel_args.h: a PTX identifier */
	VGPU_ARGT_GRID,          /* kernel_args.h: X,Y,Z */
	VGPU_ARGT_BLOCK,
	VGPU_ARGT_KARGS,         /* kernel_args.h: the argument list */
};

struct vgpu_arg_desc {
	const char *key;         /* the record's key, also the CLI's name for it */
	enum vgpu_arg_type type;
	size_t offset;           /* of the value in struct vgpu_op_args */
};

#define VGPU_OP_OPERANDS 2       /* most input operands of any op */

#define VGPU_OPF_TEST 1u         /* only when the mediator runs with --test-ops */
#define VGPU_OPF_DATA 2u         /* operands from "seed" or "input", an output of floats */
#define VGPU_OPF_NOSEED 4u       /* a data op whose input is always a payload (kernel) */

struct vgpu_op_desc {
	const char *name;
	unsigned flags;
	/* The op's required arguments, in the order the CLI takes them, as keys of
	 * vgpu_arg_table separated by spaces; "" for none. Data ops also take "seed". */
	const char *params;
	const char *help;        /* one line for usage texts */
	const char *result;      /* result line of an OK answer without data: "pong", "done";
	                          * NULL for data ops, whose result is the output's summary */
	/* Data ops: floats of each input operand (unused ones 0; the input payload holds
	 * them one after another, operand J generated from the seed as PROTOCOL section 6
	 * says) and of the output, for ARGS; 0, or -1 when a size in bytes would not fit
	 * int64_t. NULL for ops without data. */
	int (*sizes)(const struct vgpu_op_args *a, uint64_t operands[VGPU_OP_OPERANDS], uint64_t *out);
	/* Data ops: the CPU reference, OUT from the operands IN[]. */
	void (*ref)(const struct vgpu_op_args *a, const float *const in[VGPU_OP_OPERANDS], float *out);
	/* May be NULL: the rules between the op's arguments. 0, or -1 with ERR filled. */
	int (*check)(const struct vgpu_op_args *a, char *err, size_t errlen);
};

extern const struct vgpu_arg_desc vgpu_arg_table[VGPU_ARG_COUNT];

/* The description of OP, or NULL for VGPU_OP_NONE and values outside the enum. */
const struct vgpu_op_desc *vgpu_op_get(enum vgpu_op op);

/* Names <-> enums. vgpu_op_name() can't fail ("-" for NONE, "?" outside the range);
 * vgpu_op_parse() knows real ops only and returns -1 for anything else. */
const char *vgpu_op_name(enum vgpu_op op);
int vgpu_op_parse(const char *s);
int vgpu_op_is_test(enum vgpu_op op);
int vgpu_op_has_data(enum vgpu_op op);
/* 0, or -1 with ERR filled when ARGS break OP's rules between arguments (op's check). */
int vgpu_op_check(enum vgpu_op op, const struct vgpu_op_args *args, char *err, size_t errlen);

/* Bits (1 << enum vgpu_arg) of the arguments OP requires / may have. 0 for unknown ops. */
unsigned vgpu_op_required(enum vgpu_op op);
unsigned vgpu_op_allowed(enum vgpu_op op);

/* Look up an argument key of KLEN bytes; its enum vgpu_arg or -1. */
int vgpu_arg_lookup(const char *key, size_t klen);
/* Parse the text V (VLEN bytes) as argument A into ARGS (seed also sets has_seed).
 * 0, or -1 when V is not a valid value for it. */
int vgpu_arg_parse(enum vgpu_arg a, const char *v, size_t vlen, struct vgpu_op_args *args);
/* Format argument A of ARGS as its record value into BUF. Length, or -EINVAL for a
 * value out of its type's range (a size of 0, a non-finite float), -ENOSPC. */
int vgpu_arg_format(enum vgpu_arg a, const struct vgpu_op_args *args, char *buf, size_t cap);

/* Bytes of input payload and of output that OP needs with ARGS; -1 on overflow or an
 * unknown op. 0 for ops without data. */
int64_t vgpu_op_input_bytes(enum vgpu_op op, const struct vgpu_op_args *args);
int64_t vgpu_op_output_bytes(enum vgpu_op op, const struct vgpu_op_args *args);

struct vgpu_summary;
/* The result line of an OK answer to OP into BUF: the op's fixed text, or for data ops
 * SUMMARY formatted ("count=N sum=S l2=L first=F"; "-" when SUMMARY is NULL).
 * Returns the length, or -ENOSPC. */
int vgpu_op_format_result(enum vgpu_op op, const struct vgpu_summary *summary, char *buf, size_t cap);

#endif
