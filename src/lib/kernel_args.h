/* kernel_args.h - the arguments of the `kernel` op (docs/KERNELS.md, docs/PROTOCOL.md
 * section 5.1): entry point, grid and block dimensions, dynamic shared memory, the PTX's
 * size and the ordered argument list, with their grammar and caps.
 *
 * Strict and bounded like the rest of the record parser (record.c calls these through
 * the op table, op.c): every value has one spelling, every count and size a cap, and
 * decode -> encode -> decode gives the same struct and the same bytes. No allocation. */
#ifndef VGPU_KERNEL_ARGS_H
#define VGPU_KERNEL_ARGS_H

#include <stddef.h>
#include <stdint.h>

#define VGPU_KERNEL_ARGS_MAX    32                /* entries of "args" */
#define VGPU_KERNEL_BUFS_MAX    16                /* of them buffers (in, out, inout) */
#define VGPU_KERNEL_ENTRY_MAX   127               /* bytes of the entry point's name */
#define VGPU_KERNEL_PTX_MAX     (1024u * 1024u)   /* bytes of the PTX region */
#define VGPU_KERNEL_SHARED_MAX  (48u * 1024u)     /* dynamic shared memory, bytes */
#define VGPU_KERNEL_BUF_MAX     (UINT64_C(1) << 30) /* one buffer, bytes (also --max-payload) */
#define VGPU_KERNEL_GRID_X_MAX  2147483647u       /* CUDA's limits for compute capability >= 3 */
#define VGPU_KERNEL_GRID_YZ_MAX 65535u
#define VGPU_KERNEL_BLOCK_XY_MAX 1024u
#define VGPU_KERNEL_BLOCK_Z_MAX 64u
#define VGPU_KERNEL_THREADS_MAX 1024u             /* x*y*z of a block */
#define VGPU_KERNEL_ALIGN       4u                /* buffer sizes are multiples of this */
#define VGPU_KERNEL_PTX_ALIGN   8u                /* the PTX region's size: a multiple */
#define VGPU_KERNEL_LOG_MAX     65536u            /* bytes of the JIT's log a BAD_KERNEL answer
                                                   * carries as its out-SEQ.bin (PROTOCOL 5.1) */

enum vgpu_karg_kind {
	VGPU_KARG_NONE = 0,
	VGPU_KARG_IN,            /* a buffer filled from the input payload */
	VGPU_KARG_OUT,           /* a buffer zeroed on the device, returned in the output */
	VGPU_KARG_INOUT,         /* from the input payload, and returned in the output */
	VGPU_KARG_I32, VGPU_KARG_U32, VGPU_KARG_I64, VGPU_KARG_F32, VGPU_KARG_F64,
	VGPU_KARG_KIND_COUNT
};

struct vgpu_karg {
	uint32_t kind;           /* enum vgpu_karg_kind */
	uint32_t zero;           /* 0: no padding, so that the struct compares by bytes */
	union {
		uint64_t bytes;  /* IN, OUT, INOUT: > 0, a multiple of VGPU_KERNEL_ALIGN */
		int64_t i;       /* I32 (in int32_t's range), I64 */
		uint64_t u;      /* U32 (in uint32_t's range) */
		double d;        /* F32 (a float's value), F64; finite */
	} v;
};

/* Part of struct vgpu_op_args (op.h): copied whole with it. Zero when the op is not
 * `kernel`. */
struct vgpu_kernel_args {
	char entry[VGPU_KERNEL_ENTRY_MAX + 1];
	uint32_t grid[3], block[3];
	uint64_t shared;         /* dynamic shared memory bytes */
	uint64_t ptx;            /* bytes of the PTX region at the start of the input payload */
	uint32_t nargs;
	uint32_t vm;             /* not a record field: the mediator sets it to the VM the job
	                          * is for (src/mediator/job.c), so that the GPU worker runs it
	                          * in that VM's own context (docs/KERNELS.md, section 4); 0 in a
	                          * decoded record */
	struct vgpu_karg args[VGPU_KERNEL_ARGS_MAX];
};

/* Values of the record's keys (V, VLEN bytes, not NUL-terminated). 0, or -1 when V is
 * not in the grammar or over a cap.
 *   entry  a PTX identifier: [A-Za-z][A-Za-z0-9_$]* or [_$%][A-Za-z0-9_$]+, 1..127 bytes
 *   grid   X,Y,Z  (X 1..2^31-1; Y, Z 1..65535), decimal, no spaces
 *   block  X,Y,Z  (X, Y 1..1024; Z 1..64)
 *   args   "-" (none) or 1..32 tokens separated by one space: in:BYTES out:BYTES
 *          inout:BYTES (BYTES 4..2^30, a multiple of 4), i32:V i64:V (decimal, '-' allowed,
 *          no leading zeros, no "-0"), u32:V, f32:V f64:V (strtod syntax, finite); at most
 *          16 buffers. */
int vgpu_kernel_parse_entry(const char *v, size_t vlen, char entry[VGPU_KERNEL_ENTRY_MAX + 1]);
int vgpu_kernel_parse_dim3(const char *v, size_t vlen, int block, uint32_t dim[3]);
int vgpu_kernel_parse_args(const char *v, size_t vlen, struct vgpu_kernel_args *k);

/* The canonical text of each into BUF (CAP bytes): length, -EINVAL for a value outside
 * the grammar, -ENOSPC. */
int vgpu_kernel_format_entry(const char *entry, char *buf, size_t cap);
int vgpu_kernel_format_dim3(const uint32_t dim[3], int block, char *buf, size_t cap);
int vgpu_kernel_format_args(const struct vgpu_kernel_args *k, char *buf, size_t cap);

/* One token of "args" (as the CLI's --arg takes it without file names): 0 and *ARG, or -1. */
int vgpu_kernel_parse_arg(const char *tok, size_t len, struct vgpu_karg *arg);

/* The rules between fields: threads per block, shared memory, the PTX region's size.
 * 0, or -1 with ERR filled. */
int vgpu_kernel_check(const struct vgpu_kernel_args *k, char *err, size_t errlen);

/* Where each buffer lies: IN_OFF[i] its offset in the input payload (IN, INOUT; after
 * the PTX region, in argument order), OUT_OFF[i] in the output (OUT, INOUT, in argument
 * order); UINT64_MAX where it has none. *IN_BYTES / *OUT_BYTES the totals. 0, or -1 on
 * overflow. Any pointer but K may be NULL. */
int vgpu_kernel_layout(const struct vgpu_kernel_args *k, uint64_t in_off[VGPU_KERNEL_ARGS_MAX],
		       uint64_t out_off[VGPU_KERNEL_ARGS_MAX], uint64_t *in_bytes, uint64_t *out_bytes);

/* The PTX region (LEN bytes): text of printable ASCII, tab, CR and LF, at least one
 * byte, then NUL bytes to its end (at least one). 0, or -1 with ERR filled. */
int vgpu_kernel_ptx_check(const char *ptx, size_t len, char *err, size_t errlen);

/* "in", "out", "i32", ...; "?" outside the enum. */
const char *vgpu_karg_kind_name(enum vgpu_karg_kind kind);
static inline int vgpu_karg_is_buffer(uint32_t kind)
{
	return kind == VGPU_KARG_IN || kind == VGPU_KARG_OUT || kind == VGPU_KARG_INOUT;
}

#endif
