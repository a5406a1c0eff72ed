/* kernel_args.c - the `kernel` op's argument grammar, caps and layout (kernel_args.h,
 * docs/KERNELS.md). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "kernel_args.h"
#include "record.h"

static const char *const kind_names[VGPU_KARG_KIND_COUNT] = {
	[VGPU_KARG_IN] = "in", [VGPU_KARG_OUT] = "out", [VGPU_KARG_INOUT] = "inout",
	[VGPU_KARG_I32] = "i32", [VGPU_KARG_U32] = "u32", [VGPU_KARG_I64] = "i64",
	[VGPU_KARG_F32] = "f32", [VGPU_KARG_F64] = "f64",
};

const char *vgpu_karg_kind_name(enum vgpu_karg_kind kind)
{
	return kind > VGPU_KARG_NONE && kind < VGPU_KARG_KIND_COUNT ? kind_names[kind] : "?";
}

static int follow_sym(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$';
}

static int entry_ok(const char *v, size_t vlen)
{
	if (vlen == 0 || vlen > VGPU_KERNEL_ENTRY_MAX)
		return 0;
	if ((v[0] >= 'a' && v[0] <= 'z') || (v[0] >= 'A' && v[0] <= 'Z')) {
		/* letter, then followsyms */
	} else if (v[0] == '_' || v[0] == '$' || v[0] == '%') {
		if (vlen < 2)
			return 0;
	} else {
		return 0;
	}
	for (size_t i = 1; i < vlen; i++)
		if (!follow_sym(v[i]))
			return 0;
	return 1;
}

int vgpu_kernel_parse_entry(const char *v, size_t vlen, char entry[VGPU_KERNEL_ENTRY_MAX + 1])
{
	if (!entry_ok(v, vlen))
		return -1;
	memcpy(entry, v, vlen);
	memset(entry + vlen, 0, VGPU_KERNEL_ENTRY_MAX + 1 - vlen);
	return 0;
}

static uint32_t dim_max(int block, int i)
{
	if (block)
		return i < 2 ? VGPU_KERNEL_BLOCK_XY_MAX : VGPU_KERNEL_BLOCK_Z_MAX;
	return i == 0 ? VGPU_KERNEL_GRID_X_MAX : VGPU_KERNEL_GRID_YZ_MAX;
}

int vgpu_kernel_parse_dim3(const char *v, size_t vlen, int block, uint32_t dim[3])
{
	uint32_t d[3];
	const char *p = v, *end = v + vlen;

	for (int i = 0; i < 3; i++) {
		const char *c = i < 2 ? memchr(p, ',', (size_t)(end - p)) : end;
		uint64_t u;

		if (!c || vgpu_value_u64(p, (size_t)(c - p), &u) < 0 || u == 0 || u > dim_max(block, i))
			return -1;
		d[i] = (uint32_t)u;
		p = c + 1;
	}
	memcpy(dim, d, sizeof(d));
	return 0;
}

/* A signed decimal: [-]DIGITS, no leading zeros, no "-0", within [LO, HI]. */
static int parse_i64(const char *s, size_t len, int64_t lo, int64_t hi, int64_t *out)
{
	uint64_t u;
	int neg = len > 0 && s[0] == '-';

	if (vgpu_value_u64(s + neg, len - (size_t)neg, &u) < 0 || (neg && u == 0))
		return -1;
	if (neg) {
		if (u > (uint64_t)INT64_MAX + 1 || -(int64_t)(u - 1) - 1 < lo)
			return -1;
		*out = -(int64_t)(u - 1) - 1;
	} else {
		if (u > (uint64_t)hi)
			return -1;
		*out = (int64_t)u;
	}
	return 0;
}

/* strtod() syntax without leading blanks, finite (as a float for F32). */
static int parse_double(const char *s, size_t len, int f32, double *out)
{
	char tmp[64];
	char *end;
	double d;

	if (f32) {
		float f;
		if (vgpu_value_float(s, len, &f) < 0)
			return -1;
		*out = (double)f;
		return 0;
	}
	if (len == 0 || len >= sizeof(tmp) || s[0] == ' ')
		return -1;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	errno = 0;
	d = strtod(tmp, &end);
	if (end != tmp + len || errno == ERANGE || !isfinite(d))
		return -1;
	*out = d;
	return 0;
}

int vgpu_kernel_parse_arg(const char *tok, size_t len, struct vgpu_karg *arg)
{
	const char *colon = memchr(tok, ':', len);
	const char *val;
	size_t klen, vlen;
	struct vgpu_karg a;
	int kind = -1;

	if (!colon)
		return -1;
	klen = (size_t)(colon - tok);
	val = colon + 1;
	vlen = len - klen - 1;
	for (int i = VGPU_KARG_NONE + 1; i < VGPU_KARG_KIND_COUNT; i++)
		if (strlen(kind_names[i]) == klen && memcmp(kind_names[i], tok, klen) == 0)
			kind = i;
	memset(&a, 0, sizeof(a));
	a.kind = (uint32_t)kind;
	switch (kind) {
	case VGPU_KARG_IN: case VGPU_KARG_OUT: case VGPU_KARG_INOUT:
		if (vgpu_value_u64(val, vlen, &a.v.bytes) < 0 || a.v.bytes == 0 || a.v.bytes > VGPU_KERNEL_BUF_MAX ||
		    a.v.bytes % VGPU_KERNEL_ALIGN)
			return -1;
		break;
	case VGPU_KARG_I32:
		if (parse_i64(val, vlen, INT32_MIN, INT32_MAX, &a.v.i) < 0)
			return -1;
		break;
	case VGPU_KARG_I64:
		if (parse_i64(val, vlen, INT64_MIN, INT64_MAX, &a.v.i) < 0)
			return -1;
		break;
	case VGPU_KARG_U32:
		if (vgpu_value_u64(val, vlen, &a.v.u) < 0 || a.v.u > UINT32_MAX)
			return -1;
		break;
	case VGPU_KARG_F32: case VGPU_KARG_F64:
		if (parse_double(val, vlen, kind == VGPU_KARG_F32, &a.v.d) < 0)
			return -1;
		break;
	default:
		return -1;
	}
	*arg = a;
	return 0;
}

int vgpu_kernel_parse_args(const char *v, size_t vlen, struct vgpu_kernel_args *k)
{
	struct vgpu_karg args[VGPU_KERNEL_ARGS_MAX];
	const char *p = v, *end = v + vlen;
	uint32_t n = 0, bufs = 0;

	if (vlen == 1 && v[0] == '-') {
		k->nargs = 0;
		memset(k->args, 0, sizeof(k->args));
		return 0;
	}
	if (vlen == 0)
		return -1;
	memset(args, 0, sizeof(args));
	for (;;) {
		const char *sp = memchr(p, ' ', (size_t)(end - p));
		const char *tend = sp ? sp : end;

		if (n == VGPU_KERNEL_ARGS_MAX || vgpu_kernel_parse_arg(p, (size_t)(tend - p), &args[n]) < 0)
			return -1;
		if (vgpu_karg_is_buffer(args[n].kind) && ++bufs > VGPU_KERNEL_BUFS_MAX)
			return -1;
		n++;
		if (!sp)
			break;
		p = sp + 1;   /* "a  b" and "a " give an empty token: rejected above */
	}
	k->nargs = n;
	memcpy(k->args, args, sizeof(args));
	return 0;
}

int vgpu_kernel_format_entry(const char *entry, char *buf, size_t cap)
{
	size_t len = strnlen(entry, VGPU_KERNEL_ENTRY_MAX + 1);
	int n;

	if (!entry_ok(entry, len))
		return -EINVAL;
	n = snprintf(buf, cap, "%s", entry);
	return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

int vgpu_kernel_format_dim3(const uint32_t dim[3], int block, char *buf, size_t cap)
{
	int n;

	for (int i = 0; i < 3; i++)
		if (dim[i] == 0 || dim[i] > dim_max(block, i))
			return -EINVAL;
	n = snprintf(buf, cap, "%" PRIu32 ",%" PRIu32 ",%" PRIu32, dim[0], dim[1], dim[2]);
	return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

static int format_arg(const struct vgpu_karg *a, char *buf, size_t cap)
{
	const char *name = vgpu_karg_kind_name((enum vgpu_karg_kind)a->kind);

	switch (a->kind) {
	case VGPU_KARG_IN: case VGPU_KARG_OUT: case VGPU_KARG_INOUT:
		if (a->v.bytes == 0 || a->v.bytes > VGPU_KERNEL_BUF_MAX || a->v.bytes % VGPU_KERNEL_ALIGN)
			return -EINVAL;
		return snprintf(buf, cap, "%s:%" PRIu64, name, a->v.bytes);
	case VGPU_KARG_I32:
		if (a->v.i < INT32_MIN || a->v.i > INT32_MAX)
			return -EINVAL;
		/* fall through */
	case VGPU_KARG_I64:
		return snprintf(buf, cap, "%s:%" PRId64, name, a->v.i);
	case VGPU_KARG_U32:
		if (a->v.u > UINT32_MAX)
			return -EINVAL;
		return snprintf(buf, cap, "%s:%" PRIu64, name, a->v.u);
	case VGPU_KARG_F32:
		if (!isfinite(a->v.d) || (double)(float)a->v.d != a->v.d)
			return -EINVAL;
		return snprintf(buf, cap, "%s:%.9g", name, a->v.d);
	case VGPU_KARG_F64:
		if (!isfinite(a->v.d))
			return -EINVAL;
		return snprintf(buf, cap, "%s:%.17g", name, a->v.d);
	}
	return -EINVAL;
}

int vgpu_kernel_format_args(const struct vgpu_kernel_args *k, char *buf, size_t cap)
{
	size_t len = 0;
	uint32_t bufs = 0;
	int n;

	if (k->nargs > VGPU_KERNEL_ARGS_MAX)
		return -EINVAL;
	if (k->nargs == 0) {
		n = snprintf(buf, cap, "-");
		return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
	}
	for (uint32_t i = 0; i < k->nargs; i++) {
		char one[64];
		if (vgpu_karg_is_buffer(k->args[i].kind) && ++bufs > VGPU_KERNEL_BUFS_MAX)
			return -EINVAL;
		n = format_arg(&k->args[i], one, sizeof(one));
		if (n < 0)
			return n;
		if ((size_t)n >= sizeof(one))
			return -ENOSPC;
		if (len + (i ? 1 : 0) + (size_t)n + 1 > cap)
			return -ENOSPC;
		if (i)
			buf[len++] = ' ';
		memcpy(buf + len, one, (size_t)n + 1);
		len += (size_t)n;
	}
	return (int)len;
}

int vgpu_kernel_check(const struct vgpu_kernel_args *k, char *err, size_t errlen)
{
	uint64_t threads = (uint64_t)k->block[0] * k->block[1] * k->block[2];

	if (threads > VGPU_KERNEL_THREADS_MAX)
		return vgpu_errbuf(err, errlen, -1, "block %" PRIu32 "x%" PRIu32 "x%" PRIu32 " has %" PRIu64
				   " threads; at most %u", k->block[0], k->block[1], k->block[2], threads,
				   VGPU_KERNEL_THREADS_MAX);
	if (k->shared > VGPU_KERNEL_SHARED_MAX)
		return vgpu_errbuf(err, errlen, -1, "shared: %" PRIu64 " bytes; at most %u", k->shared,
				   VGPU_KERNEL_SHARED_MAX);
	if (k->ptx == 0 || k->ptx > VGPU_KERNEL_PTX_MAX || k->ptx % VGPU_KERNEL_PTX_ALIGN)
		return vgpu_errbuf(err, errlen, -1, "ptx: %" PRIu64 " bytes; a multiple of %u up to %u", k->ptx,
				   VGPU_KERNEL_PTX_ALIGN, VGPU_KERNEL_PTX_MAX);
	if (vgpu_kernel_layout(k, NULL, NULL, NULL, NULL) < 0)
		return vgpu_errbuf(err, errlen, -1, "args: buffer sizes overflow");
	return 0;
}

int vgpu_kernel_layout(const struct vgpu_kernel_args *k, uint64_t in_off[VGPU_KERNEL_ARGS_MAX],
		       uint64_t out_off[VGPU_KERNEL_ARGS_MAX], uint64_t *in_bytes, uint64_t *out_bytes)
{
	uint64_t in = k->ptx, out = 0;

	if (k->nargs > VGPU_KERNEL_ARGS_MAX)
		return -1;
	for (uint32_t i = 0; i < VGPU_KERNEL_ARGS_MAX; i++) {
		const struct vgpu_karg *a = &k->args[i];
		int reads = i < k->nargs && (a->kind == VGPU_KARG_IN || a->kind == VGPU_KARG_INOUT);
		int writes = i < k->nargs && (a->kind == VGPU_KARG_OUT || a->kind == VGPU_KARG_INOUT);

		if (in_off)
			in_off[i] = reads ? in : UINT64_MAX;
		if (out_off)
			out_off[i] = writes ? out : UINT64_MAX;
		if ((reads && __builtin_add_overflow(in, a->v.bytes, &in)) ||
		    (writes && __builtin_add_overflow(out, a->v.bytes, &out)))
			return -1;
	}
	if (in > (uint64_t)INT64_MAX || out > (uint64_t)INT64_MAX)
		return -1;
	if (in_bytes)
		*in_bytes = in;
	if (out_bytes)
		*out_bytes = out;
	return 0;
}

int vgpu_kernel_ptx_check(const char *ptx, size_t len, char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < len && ptx[i]; i++) {
		unsigned char c = (unsigned char)ptx[i];
		if (!((c >= 0x20 && c <= 0x7e) || c == '\t' || c == '\n' || c == '\r'))
			return vgpu_errbuf(err, errlen, -1, "ptx: byte %zu is 0x%02x, not text", i, c);
	}
	if (i == 0)
		return vgpu_errbuf(err, errlen, -1, "ptx: empty");
	if (i == len)
		return vgpu_errbuf(err, errlen, -1, "ptx: no NUL byte after the text (pad the region with NULs)");
	for (; i < len; i++)
		if (ptx[i])
			return vgpu_errbuf(err, errlen, -1, "ptx: byte %zu after the text's NUL is not NUL", i);
	return 0;
}
