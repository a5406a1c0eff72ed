/* opref.c - what each operation computes: input generator, CPU references, summaries.
 *
 * The mock backend is these functions and the CUDA backend is checked against them,
 * so they favour being obviously right (double accumulation) over speed. */
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opref.h"

void vgpu_gen_fill(float *out, size_t count, uint64_t seed, unsigned j)
{
	for (size_t i = 0; i < count; i++)
		out[i] = vgpu_gen(seed, j, i);
}

void vgpu_ref_vadd(const float *a, const float *b, float *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		c[i] = (float)((double)a[i] + (double)b[i]);
}

void vgpu_ref_saxpy(float alpha, const float *x, const float *y, float *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (float)((double)alpha * (double)x[i] + (double)y[i]);
}

void vgpu_ref_sgemm(const float *A, const float *B, float *C, size_t m, size_t n, size_t k)
{
	/* Each C[i][j] is the double sum over p in increasing order, as in the textbook
	 * triple loop; the loops run i, column block, p, j so that B is read by rows
	 * (about 50 times faster at 1024^3 than striding down B's columns). */
	enum { JB = 256 };
	double acc[JB];

	for (size_t i = 0; i < m; i++) {
		for (size_t j0 = 0; j0 < n; j0 += JB) {
			size_t jn = n - j0 < JB ? n - j0 : JB;

			for (size_t j = 0; j < jn; j++)
				acc[j] = 0.0;
			for (size_t p = 0; p < k; p++) {
				double a = (double)A[i * k + p];
				const float *row = B + p * n + j0;

				for (size_t j = 0; j < jn; j++)
					acc[j] += a * (double)row[j];
			}
			for (size_t j = 0; j < jn; j++)
				C[i * n + j0 + j] = (float)acc[j];
		}
	}
}

/* Eight partial sums (element i goes to lane i % 8), folded pairwise at the end: a fixed
 * order, so the same output always gives the same summary whichever clone runs (AVX2
 * does not bring FMA: no contraction). The lanes are independent, so the compiler
 * vectorises them, four at a time with AVX2 (a clone chosen at load time where the CPU
 * has it). The single chain of double adds this replaced took 735-890 us for 2^20 floats
 * on the H200 host (the kernel op's host-side summary, docs/KERNELS.md section 5). */
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target_clones("avx2", "default")))
#endif
void vgpu_summarize(const float *v, size_t count, struct vgpu_summary *s)
{
	double sum[8] = { 0 }, sq[8] = { 0 };
	size_t i = 0;

	for (; i + 8 <= count; i += 8)
		for (int l = 0; l < 8; l++) {
			double x = (double)v[i + (size_t)l];

			sum[l] += x;
			sq[l] += x * x;
		}
	for (int l = 0; i < count; i++, l++) {
		double x = (double)v[i];

		sum[l] += x;
		sq[l] += x * x;
	}
	s->count = count;
	s->sum = ((sum[0] + sum[1]) + (sum[2] + sum[3])) + ((sum[4] + sum[5]) + (sum[6] + sum[7]));
	s->l2 = sqrt(((sq[0] + sq[1]) + (sq[2] + sq[3])) + ((sq[4] + sq[5]) + (sq[6] + sq[7])));
	s->first = count ? v[0] : 0.0f;
}

int vgpu_summary_format(const struct vgpu_summary *s, char *buf, size_t cap)
{
	int len = snprintf(buf, cap, "count=%" PRIu64 " sum=%.9g l2=%.9g first=%.9g",
			   s->count, s->sum, s->l2, (double)s->first);

	if (len < 0)
		return -EINVAL;
	if ((size_t)len >= cap)
		return -ENOSPC;
	return len;
}

/* Parse "KEY=" then a number up to the next space (or the end when LAST). */
static int parse_field(const char **pp, const char *key, int last, char *num, size_t numcap)
{
	const char *p = *pp;
	size_t klen = strlen(key), n = 0;

	if (strncmp(p, key, klen) != 0 || p[klen] != '=')
		return -EINVAL;
	p += klen + 1;
	while (p[n] && p[n] != ' ')
		n++;
	if (n == 0 || n >= numcap)
		return -EINVAL;
	memcpy(num, p, n);
	num[n] = 0;
	p += n;
	if (last ? *p != 0 : *p != ' ')
		return -EINVAL;
	*pp = last ? p : p + 1;
	return 0;
}

static int parse_double(const char *num, double *out)
{
	char *end;

	errno = 0;
	/* strtod would skip leading blanks; the grammar has none. */
	if (num[0] == ' ' || num[0] == '\t')
		return -EINVAL;
	*out = strtod(num, &end);
	if (*end != 0 || errno == ERANGE || isnan(*out) || isinf(*out))
		return -EINVAL;
	return 0;
}

int vgpu_summary_parse(const char *text, struct vgpu_summary *s)
{
	char num[64];
	const char *p = text;
	double sum, l2, first;
	uint64_t count = 0;

	if (parse_field(&p, "count", 0, num, sizeof(num)) != 0)
		return -EINVAL;
	for (const char *q = num; *q; q++) {
		if (*q < '0' || *q > '9')
			return -EINVAL;
		if (count > (UINT64_MAX - (uint64_t)(*q - '0')) / 10)
			return -EINVAL;
		count = count * 10 + (uint64_t)(*q - '0');
	}
	if (num[0] == '0' && num[1] != 0)
		return -EINVAL;
	if (parse_field(&p, "sum", 0, num, sizeof(num)) != 0 || parse_double(num, &sum) != 0)
		return -EINVAL;
	if (parse_field(&p, "l2", 0, num, sizeof(num)) != 0 || parse_double(num, &l2) != 0 || l2 < 0)
		return -EINVAL;
	if (parse_field(&p, "first", 1, num, sizeof(num)) != 0 || parse_double(num, &first) != 0)
		return -EINVAL;
	if (fabs(first) > FLT_MAX)
		return -EINVAL;
	s->count = count;
	s->sum = sum;
	s->l2 = l2;
	s->first = (float)first;
	return 0;
}

double vgpu_rel_error(const float *got, const float *ref, size_t count)
{
	double maxdiff = 0.0, maxref = 0.0;

	for (size_t i = 0; i < count; i++) {
		double g = got[i], r = ref[i];

		if (isnan(g) || isnan(r) || isinf(g) != isinf(r))
			return INFINITY;
		double d = fabs(g - r);
		if (isnan(d))   /* inf - inf of the same sign */
			d = 0.0;
		if (d > maxdiff)
			maxdiff = d;
		if (fabs(r) > maxref)
			maxref = fabs(r);
	}
	if (maxref < FLT_MIN)
		maxref = FLT_MIN;
	return maxdiff / maxref;
}
