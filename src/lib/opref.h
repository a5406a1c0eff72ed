/* ops.h - what each operation computes: the CPU reference and the input generator.
 *
 * The mock backend is these functions; the CUDA backend is checked against them.
 * vgpu_gen() is defined inline so that CUDA code can include the same formula
 * (docs/PROTOCOL.md section 6). */
#ifndef VGPU_OPS_H
#define VGPU_OPS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __CUDACC__
#define VGPU_HD __host__ __device__
#else
#define VGPU_HD
#endif

static inline VGPU_HD uint64_t vgpu_splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Element I of generated operand J for SEED: a float in [-1, 1), exact in float32.
 * The seed is hashed first, so that nearby seeds do not give permutations of one
 * another's inputs (seed ^ i alone would, for power-of-two sizes). */
static inline VGPU_HD float vgpu_gen(uint64_t seed, unsigned j, uint64_t i)
{
	uint64_t x = vgpu_splitmix64(vgpu_splitmix64(seed) ^ ((uint64_t)j << 56) ^ i);
	return (float)(x >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f;
}

/* Fill OUT[0..count) with operand J of SEED. */
void vgpu_gen_fill(float *out, size_t count, uint64_t seed, unsigned j);

/* CPU references. Row-major; sgemm accumulates in double for a stable reference. */
void vgpu_ref_vadd(const float *a, const float *b, float *c, size_t n);
void vgpu_ref_saxpy(float alpha, const float *x, const float *y, float *out, size_t n);
void vgpu_ref_sgemm(const float *A, const float *B, float *C, size_t m, size_t n, size_t k);

/* The "result" summary of docs/PROTOCOL.md section 5 into BUF: "count=N sum=S l2=L first=F". */
struct vgpu_summary { uint64_t count; double sum, l2; float first; };
void vgpu_summarize(const float *v, size_t count, struct vgpu_summary *s);
int vgpu_summary_format(const struct vgpu_summary *s, char *buf, size_t cap);
/* Parse it back (client side); 0 or -EINVAL. */
int vgpu_summary_parse(const char *text, struct vgpu_summary *s);

/* max_i |got_i - ref_i| / max(max_i |ref_i|, tiny): the relative error used by the
 * GPU checks (elementwise < 1e-5, sgemm < 1e-4). NaN anywhere gives +inf. */
double vgpu_rel_error(const float *got, const float *ref, size_t count);

#endif
