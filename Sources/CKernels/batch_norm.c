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

// dy where a fused ReLU let the value through, else 0: where its output `mask` is positive,
// or, with `relu` set, where a x + b is (the forward's own fused multiply-add on the same x, a
// and b, so exactly the same lanes); dy itself with neither.
AVX512 static inline __m512 gated_gradient(const float *dy, const float *mask, int relu, __m512 x, __m512 a, __m512 b,
                                           long i, __mmask16 m) {
    __mmask16 through = m;
    if (relu)
        through = _mm512_mask_cmp_ps_mask(m, _mm512_fmadd_ps(x, a, b), _mm512_setzero_ps(), _CMP_GT_OQ);
    else if (mask)
        through = _mm512_mask_cmp_ps_mask(m, _mm512_maskz_loadu_ps(m, mask + i), _mm512_setzero_ps(), _CMP_GT_OQ);
    return _mm512_maskz_loadu_ps(through, dy + i);
}

// sums[0] = sum(g), sums[1] = sum((x - shift) g), with g = x - shift when dy is NULL (the
// statistics), else dy gated as in gated_gradient (backward's sums). Inlined with constant
// arguments, each caller gets its own loop.
__attribute__((always_inline)) AVX512 static inline void paired_sums(const float *x, const float *dy,
                                                                     const float *mask, int relu, float a, float b,
                                                                     long n, float shift, double *sums) {
    const __m512 k = _mm512_set1_ps(shift), va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b);
    double s1 = 0, s2 = 0;
    for (long start = 0; start < n; start += BLOCK) {
        const long end = start + BLOCK < n ? start + BLOCK : n;
        __m512 a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps();
        for (long i = start; i < end; i += 16) {
            const __mmask16 m = lanes(end - i);
            const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
            const __m512 d = _mm512_maskz_sub_ps(m, v, k);
            const __m512 g = dy ? gated_gradient(dy, mask, relu, v, va, vb, i, m) : d;
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
    paired_sums(x, 0, 0, 0, 0, 0, n, shift, sums);
}

AVX512 void ddp_bn_gradient_sums(const float *dy, const float *x, const float *mask, long n, float shift,
                                 double *sums) {
    paired_sums(x, dy, mask, 0, 0, 0, n, shift, sums);
}

AVX512 void ddp_bn_relu_gradient_sums(const float *dy, const float *x, long n, float a, float b, float shift,
                                      double *sums) {
    paired_sums(x, dy, 0, 1, a, b, n, shift, sums);
}

// dx = a g + k1 x + k0, g gated as in gated_gradient (the ReLU's a x + b with the same a).
__attribute__((always_inline)) AVX512 static inline void input_gradient(const float *dy, const float *x,
                                                                        const float *mask, int relu, float b, long n,
                                                                        float a, float k1, float k0, float *dx) {
    const __m512 va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b), vk1 = _mm512_set1_ps(k1),
                 vk0 = _mm512_set1_ps(k0);
    for (long i = 0; i < n; i += 16) {
        const __mmask16 m = lanes(n - i);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        const __m512 g = gated_gradient(dy, mask, relu, v, va, vb, i, m);
        _mm512_mask_storeu_ps(dx + i, m, _mm512_fmadd_ps(va, g, _mm512_fmadd_ps(vk1, v, vk0)));
    }
}

AVX512 void ddp_bn_input_gradient(const float *dy, const float *x, const float *mask, long n, float a, float k1,
                                  float k0, float *dx) {
    input_gradient(dy, x, mask, 0, 0, n, a, k1, k0, dx);
}

AVX512 void ddp_bn_relu_input_gradient(const float *dy, const float *x, long n, float b, float a, float k1, float k0,
                                       float *dx) {
    input_gradient(dy, x, 0, 1, b, n, a, k1, k0, dx);
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
void ddp_bn_relu_gradient_sums(const float *dy, const float *x, long n, float a, float b, float shift, double *sums) {
    __builtin_trap();
}
void ddp_bn_relu_input_gradient(const float *dy, const float *x, long n, float b, float a, float k1, float k0,
                                float *dx) {
    __builtin_trap();
}

#endif
