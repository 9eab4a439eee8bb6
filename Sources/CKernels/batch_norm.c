// See include/ckernels.h.
#include "ckernels.h"
#include "avx512.h"

#if DDP_X86

// Terms summed in Float lanes before they join the Double totals (as Tensor's Elementwise
// does): short enough that the Float partial sums lose nothing that matters.
#define BLOCK 512

// The sum of a vector's lanes, in Double.
AVX512 static double lane_total(__m512 v) { return (double)_mm512_reduce_add_ps(v); }

AVX512 void ddp_bn_normalize(const float *x, const float *residual, float *y, long n, float a, float b, int relu) {
    const __m512 va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b), zero = _mm512_setzero_ps();
    for (long i = 0; i < n; i += 16) {
        const __mmask16 m = lanes(n - i);
        __m512 v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + i), va, vb);
        if (residual) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, residual + i));
        if (relu) v = _mm512_max_ps(v, zero);  // max(v, 0) is 0 for NaN as well as the scalar v > 0 ? v : 0
        _mm512_mask_storeu_ps(y + i, m, v);
    }
}

// dy where mask > 0 (a fused ReLU's output), else 0; dy itself without a mask.
AVX512 static inline __m512 masked_gradient(const float *dy, const float *mask, long i, __mmask16 m) {
    if (!mask) return _mm512_maskz_loadu_ps(m, dy + i);
    const __mmask16 positive = _mm512_mask_cmp_ps_mask(m, _mm512_maskz_loadu_ps(m, mask + i), _mm512_setzero_ps(),
                                                       _CMP_GT_OQ);
    return _mm512_maskz_loadu_ps(positive, dy + i);
}

// sums[0] = sum(g), sums[1] = sum((x - shift) g), with g = x - shift when dy is NULL (the
// statistics), else dy masked as in masked_gradient (backward's sums). Inlined with a constant
// NULL, each caller gets its own loop.
__attribute__((always_inline)) AVX512 static inline void paired_sums(const float *x, const float *dy,
                                                                     const float *mask, long n, float shift,
                                                                     double *sums) {
    const __m512 k = _mm512_set1_ps(shift);
    double s1 = 0, s2 = 0;
    for (long start = 0; start < n; start += BLOCK) {
        const long end = start + BLOCK < n ? start + BLOCK : n;
        __m512 a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps();
        for (long i = start; i < end; i += 16) {
            const __mmask16 m = lanes(end - i);
            const __m512 d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, x + i), k);
            const __m512 g = dy ? masked_gradient(dy, mask, i, m) : d;
            a1 = _mm512_add_ps(a1, g);
            a2 = _mm512_fmadd_ps(d, g, a2);
        }
        s1 += lane_total(a1);
        s2 += lane_total(a2);
    }
    sums[0] = s1;
    sums[1] = s2;
}

AVX512 void ddp_bn_shifted_sums(const float *x, long n, float shift, double *sums) {
    paired_sums(x, 0, 0, n, shift, sums);
}

AVX512 void ddp_bn_gradient_sums(const float *dy, const float *x, const float *mask, long n, float shift,
                                 double *sums) {
    paired_sums(x, dy, mask, n, shift, sums);
}

AVX512 void ddp_bn_input_gradient(const float *dy, const float *x, const float *mask, long n, float a, float k1,
                                  float k0, float *dx) {
    const __m512 va = _mm512_set1_ps(a), vk1 = _mm512_set1_ps(k1), vk0 = _mm512_set1_ps(k0);
    for (long i = 0; i < n; i += 16) {
        const __mmask16 m = lanes(n - i);
        const __m512 g = masked_gradient(dy, mask, i, m);
        const __m512 v = _mm512_fmadd_ps(va, g, _mm512_fmadd_ps(vk1, _mm512_maskz_loadu_ps(m, x + i), vk0));
        _mm512_mask_storeu_ps(dx + i, m, v);
    }
}

#else

void ddp_bn_shifted_sums(const float *x, long n, float shift, double *sums) { __builtin_trap(); }
void ddp_bn_normalize(const float *x, const float *residual, float *y, long n, float a, float b, int relu) {
    __builtin_trap();
}
void ddp_bn_gradient_sums(const float *dy, const float *x, const float *mask, long n, float shift, double *sums) {
    __builtin_trap();
}
void ddp_bn_input_gradient(const float *dy, const float *x, const float *mask, long n, float a, float k1, float k0,
                           float *dx) {
    __builtin_trap();
}

#endif
