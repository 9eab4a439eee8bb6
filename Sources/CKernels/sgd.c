// See include/ckernels.h.
#include "ckernels.h"
#include "avx512.h"

#if DDP_X86

AVX512 void ddp_sgd_step(float *p, const float *g, float *buffer, long n, float neg_lr, float decay, int has_decay,
                  float mu, int has_momentum, float keep, int first_step, int nesterov) {
    const __m512 vlr = _mm512_set1_ps(neg_lr), vdecay = _mm512_set1_ps(decay), vmu = _mm512_set1_ps(mu),
                 vkeep = _mm512_set1_ps(keep);
    for (long i = 0; i < n; i += 16) {
        const __mmask16 m = lanes(n - i);
        const __m512 pv = _mm512_maskz_loadu_ps(m, p + i);
        __m512 d = _mm512_maskz_loadu_ps(m, g + i);
        if (has_decay) d = _mm512_fmadd_ps(pv, vdecay, d);
        if (has_momentum) {
            __m512 fresh = d;
            if (!first_step) {
                const __m512 old = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, buffer + i), vmu);
                fresh = keep == 1.0f ? _mm512_add_ps(old, d) : _mm512_fmadd_ps(d, vkeep, old);
            }
            _mm512_mask_storeu_ps(buffer + i, m, fresh);
            d = nesterov ? _mm512_fmadd_ps(fresh, vmu, d) : fresh;
        }
        _mm512_mask_storeu_ps(p + i, m, _mm512_fmadd_ps(d, vlr, pv));
    }
}

#else

void ddp_sgd_step(float *p, const float *g, float *buffer, long n, float neg_lr, float decay, int has_decay,
                  float mu, int has_momentum, float keep, int first_step, int nesterov) { __builtin_trap(); }

#endif
