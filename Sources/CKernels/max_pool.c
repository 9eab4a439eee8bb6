// See include/ckernels.h.
#include "ckernels.h"
#include "avx512.h"

#if DDP_X86

// Up to 8 windows of one row pair at a time: the 16 inputs of each row are split into even and
// odd columns, and the four candidates compared in window order (row-major) with the same rule
// as the scalar loop: a later candidate wins when it is greater or NaN.
AVX512 void ddp_max_pool_2x2(const float *x, float *y, int *argmax, long planes, int height, int width) {
    const int oh = height / 2, ow = width / 2;
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i lane2 = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i one = _mm512_set1_epi32(1), below = _mm512_set1_epi32(width);
    for (long p = 0; p < planes; p++) {
        for (int oy = 0; oy < oh; oy++) {
            const long top_index = (long)2 * oy * width;
            const float *top = x + p * height * width + top_index, *bottom = top + width;
            float *out = y + (p * oh + oy) * ow;
            int *arg = argmax + (p * oh + oy) * ow;
            for (int ox = 0; ox < ow; ox += 8) {
                const int n = ow - ox < 8 ? ow - ox : 8;
                const __mmask16 in = lanes(2 * n), keep = lanes(n);
                const __m512 a = _mm512_maskz_loadu_ps(in, top + 2 * ox), b = _mm512_maskz_loadu_ps(in, bottom + 2 * ox);
                const __m512 v1 = _mm512_permutexvar_ps(odd, a), v2 = _mm512_permutexvar_ps(even, b),
                             v3 = _mm512_permutexvar_ps(odd, b);
                __m512 best = _mm512_permutexvar_ps(even, a);
                // index of the window's first element, then + 1, + width, + width + 1 as it moves
                const __m512i first = _mm512_add_epi32(_mm512_set1_epi32((int)top_index + 2 * ox), lane2);
                __m512i index = first;
                __mmask16 t = _mm512_cmp_ps_mask(v1, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v1, v1, _CMP_UNORD_Q);
                best = _mm512_mask_mov_ps(best, t, v1);
                index = _mm512_mask_add_epi32(index, t, first, one);
                t = _mm512_cmp_ps_mask(v2, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v2, v2, _CMP_UNORD_Q);
                best = _mm512_mask_mov_ps(best, t, v2);
                index = _mm512_mask_add_epi32(index, t, first, below);
                t = _mm512_cmp_ps_mask(v3, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v3, v3, _CMP_UNORD_Q);
                best = _mm512_mask_mov_ps(best, t, v3);
                index = _mm512_mask_add_epi32(index, t, first, _mm512_add_epi32(below, one));
                _mm512_mask_storeu_ps(out + ox, keep, best);
                _mm512_mask_storeu_epi32(arg + ox, keep, index);
            }
        }
    }
}

// Windows do not overlap, so every input element is written once: the output gradient where
// the window chose it, zero elsewhere (no separate clearing pass).
AVX512 void ddp_max_pool_2x2_backward(const float *dy, const int *argmax, float *dx, long planes, int height,
                                      int width) {
    const int oh = height / 2, ow = width / 2;
    const __m512i lane2 = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 0, 0, 0, 0, 0, 0, 0, 0);
    // Interleaves two 8-lane halves (lanes 0..7 of lo and hi) into 16 lanes lo0 hi0 lo1 hi1 ...
    const __m512i zip = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512 zero = _mm512_setzero_ps();
    for (long p = 0; p < planes; p++) {
        for (int oy = 0; oy < oh; oy++) {
            const long top_index = (long)2 * oy * width;
            float *top = dx + p * height * width + top_index, *bottom = top + width;
            const float *g = dy + (p * oh + oy) * ow;
            const int *arg = argmax + (p * oh + oy) * ow;
            for (int ox = 0; ox < ow; ox += 8) {
                const int n = ow - ox < 8 ? ow - ox : 8;
                const __mmask16 in = lanes(n), out = lanes(2 * n);
                const __m512 gv = _mm512_maskz_loadu_ps(in, g + ox);
                const __m512i offset = _mm512_sub_epi32(_mm512_maskz_loadu_epi32(in, arg + ox),
                    _mm512_add_epi32(_mm512_set1_epi32((int)top_index + 2 * ox), lane2));
                const __mmask16 c0 = _mm512_cmpeq_epi32_mask(offset, _mm512_setzero_si512());
                const __mmask16 c1 = _mm512_cmpeq_epi32_mask(offset, _mm512_set1_epi32(1));
                const __mmask16 c2 = _mm512_cmpeq_epi32_mask(offset, _mm512_set1_epi32(width));
                const __mmask16 c3 = _mm512_cmpeq_epi32_mask(offset, _mm512_set1_epi32(width + 1));
                const __m512 g0 = _mm512_mask_mov_ps(zero, c0, gv), g1 = _mm512_mask_mov_ps(zero, c1, gv);
                const __m512 g2 = _mm512_mask_mov_ps(zero, c2, gv), g3 = _mm512_mask_mov_ps(zero, c3, gv);
                _mm512_mask_storeu_ps(top + 2 * ox, out, _mm512_permutex2var_ps(g0, zip, g1));
                _mm512_mask_storeu_ps(bottom + 2 * ox, out, _mm512_permutex2var_ps(g2, zip, g3));
            }
        }
    }
}

#else

void ddp_max_pool_2x2(const float *x, float *y, int *argmax, long planes, int height, int width) { __builtin_trap(); }
void ddp_max_pool_2x2_backward(const float *dy, const int *argmax, float *dx, long planes, int height, int width) {
    __builtin_trap();
}

#endif
