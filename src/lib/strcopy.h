/* strcopy.h - snprintf(dst, cap, "%s", src), "%" PRIu64 and "%016" PRIx64 without a
 * format string to interpret: an answer's fixed fields, its journal slot's header and its
 * temp name are written on every request. */
#ifndef VGPU_STRCOPY_H
#define VGPU_STRCOPY_H

#include <stdint.h>
#include <string.h>

/* Copy SRC into DST (CAP > 0 bytes), truncated and NUL-terminated; strlen(SRC), as
 * snprintf would return. */
static inline size_t vgpu_strcopy(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src), m = n < cap ? n : cap - 1;

	memcpy(dst, src, m);
	dst[m] = '\0';
	return n;
}

/* V in decimal into OUT (at least 21 bytes), NUL-terminated; its length. */
static inline size_t vgpu_fmt_u64(char *out, uint64_t v)
{
	char d[20], *p = d + sizeof(d);
	size_t n;

	do
		*--p = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	n = (size_t)(d + sizeof(d) - p);
	memcpy(out, p, n);
	out[n] = '\0';
	return n;
}

/* V as DIGITS lowercase hex digits, zero-padded, into OUT (DIGITS + 1 bytes). */
static inline void vgpu_fmt_hex(char *out, uint64_t v, int digits)
{
	for (int i = digits - 1; i >= 0; i--, v >>= 4)
		out[i] = "0123456789abcdef"[v & 15];
	out[digits] = '\0';
}

#endif
