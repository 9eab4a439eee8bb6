// See include/ckernels.h for the layout and contracts.
//
// The bf16 kernels are the FP32 ones (direct_conv.c) with each multiply-add replaced by
// VDPBF16PS, which multiplies two pairs of bf16 values exactly and adds both products to one
// FP32 lane: twice the multiplies per instruction. Where the FP32 kernels reduce one value at a
// time, these reduce a pair: the forward tile over two input channels (their values interleaved
// per pixel, ddp_bf16_pack_pairs), the weight-gradient tile over two neighbouring pixels
// (plain bf16 rows, ddp_bf16_convert). Sums stay FP32 in the lanes and Double across tiles,
// as in the FP32 kernels.
#include "ckernels.h"
#include "avx512.h"
#include "direct_conv_tiles.h"

unsigned short ddp_bf16_round(float value) {
    union { float f; unsigned u; } bits = {value};
    const unsigned u = bits.u;
    if ((u & 0x7F800000u) == 0x7F800000u && (u & 0x007FFFFFu))  // NaN: a quiet NaN of its sign
        return (unsigned short)((u >> 16) | 0x0040u);
    if ((u & 0x7F800000u) == 0)  // zero or subnormal: the instruction treats them as zero
        return (unsigned short)((u >> 16) & 0x8000u);
    // Round to nearest, ties to even: add just under half a unit of the 16 bits dropped, plus
    // the kept part's lowest bit.
    return (unsigned short)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

#if DDP_X86

#define AVX512BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,fma")))

int ddp_avx512_bf16_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bf16");
}

// The first n lanes of a 32-lane vector of bf16 values.
static inline __mmask32 lanes32(long n) {
    return n >= 32 ? (__mmask32)0xFFFFFFFFu : n <= 0 ? 0 : (__mmask32)((1u << n) - 1);
}

// 16 floats to 16 bf16 values, each in the low half of a 32-bit lane.
AVX512BF16 static inline __m512i widened_bf16(__m512 v) {
    return _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(v));
}

AVX512BF16 void ddp_bf16_pack_pairs(const float *in, long in_channel_stride, int channels, long begin, long end,
                                    unsigned *out, long out_channel_stride) {
    for (int k = 0; 2 * k < channels; k++) {
        const float *lo = in + 2L * k * in_channel_stride;
        const float *hi = 2 * k + 1 < channels ? lo + in_channel_stride : NULL;
        unsigned *o = out + k * out_channel_stride;
        for (long p = begin; p < end; p += 16) {
            const __mmask16 m = lanes(end - p);
            const __m512i a = widened_bf16(_mm512_maskz_loadu_ps(m, lo + p));
            const __m512i b = hi ? widened_bf16(_mm512_maskz_loadu_ps(m, hi + p)) : _mm512_setzero_si512();
            _mm512_mask_storeu_epi32(o + p, m, _mm512_or_si512(a, _mm512_slli_epi32(b, 16)));
        }
    }
}

AVX512BF16 void ddp_bf16_convert(const float *in, long in_channel_stride, int channels, long begin, long end,
                                 unsigned short *out, long out_channel_stride) {
    for (int c = 0; c < channels; c++) {
        const float *x = in + c * in_channel_stride;
        unsigned short *o = out + c * out_channel_stride;
        for (long p = begin; p < end; p += 16) {
            const __mmask16 m = lanes(end - p);
            _mm256_mask_storeu_epi16(o + p, m, (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, x + p)));
        }
    }
}

// The forward tile of direct_conv.c (8 output channels x 48 positions, 24 accumulators), one
// input-channel pair per step: per pair and tap, 3 loads of 16 pairs and 8 broadcast weight
// pairs feed 24 VDPBF16PS.
AVX512BF16 static void tile_8x48_bf16(const unsigned *in, long in_stride, int pairs, const unsigned *weights,
                                      const long *shifts, const __mmask16 (*masks)[3], float *out,
                                      long out_stride, const __mmask16 *stored, int accumulate) {
    __m512 acc[8][3];
    for (int i = 0; i < 8; i++) acc[i][0] = acc[i][1] = acc[i][2] = _mm512_setzero_ps();
    for (int k = 0; k < pairs; k++) {
        const unsigned *xk = in + k * in_stride;
        for (int s = 0; s < 9; s++) {
            const unsigned *x = xk + shifts[s];
            const unsigned *w = weights + ((long)s * pairs + k) * 8;
            const __m512bh b0 = (__m512bh)_mm512_maskz_loadu_epi32(masks[s][0], x),
                           b1 = (__m512bh)_mm512_maskz_loadu_epi32(masks[s][1], x + 16),
                           b2 = (__m512bh)_mm512_maskz_loadu_epi32(masks[s][2], x + 32);
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) {
                const __m512bh v = (__m512bh)_mm512_set1_epi32((int)w[i]);
                acc[i][0] = _mm512_dpbf16_ps(acc[i][0], v, b0);
                acc[i][1] = _mm512_dpbf16_ps(acc[i][1], v, b1);
                acc[i][2] = _mm512_dpbf16_ps(acc[i][2], v, b2);
            }
        }
    }
    for (int i = 0; i < 8; i++, out += out_stride)
        for (int v = 0; v < 3; v++) {
            __m512 r = acc[i][v];
            if (accumulate) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(stored[v], out + 16 * v));
            _mm512_mask_storeu_ps(out + 16 * v, stored[v], r);
        }
}

AVX512BF16 void ddp_conv3x3_direct_bf16(const unsigned *in, long in_channel_stride, int in_channels,
                                        const unsigned *weights, int out_channels, float *out,
                                        long out_channel_stride, int accumulate, int height, int width,
                                        const unsigned short *tap_masks, int first, int last) {
    if (first >= last) return;
    const long hw = (long)height * width;
    const int pairs = (in_channels + 1) / 2;
    long shifts[9];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) shifts[i * 3 + j] = (i - 1) * width + (j - 1);
    const long end = last * hw;
    for (long p = first * hw; p < end; p += 48) {
        __mmask16 stored[3], masks[9][3];
        for (int v = 0; v < 3; v++) {
            stored[v] = lanes(end - p - 16 * v);
            const unsigned short *row = tap_masks + ((p + 16 * v) % hw) * 9;
            for (int s = 0; s < 9; s++) masks[s][v] = row[s] & stored[v];
        }
        for (int o = 0; o < out_channels; o += 8)
            tile_8x48_bf16(in + p, in_channel_stride, pairs, weights + (long)o * 9 * pairs, shifts,
                           (const __mmask16 (*)[3])masks, out + o * out_channel_stride + p, out_channel_stride,
                           stored, accumulate);
    }
}

// The weight-gradient tile of direct_conv.c (OT outputs x CT inputs x the 3 taps of kernel row
// i), 32 positions per step: each VDPBF16PS lane adds the products of two neighbouring
// positions. The tap masks of 32 positions are two 16-position entries of the table.
__attribute__((always_inline)) AVX512BF16 static inline void wtile_bf16(
    const int ot, const int ct, const unsigned short *dy, long dy_stride, const unsigned short *x, long x_stride,
    long count, const unsigned short *tap_masks, long hw, double *partial) {
    __m512 acc[8][2][3];
    for (int o = 0; o < ot; o++)
        for (int c = 0; c < ct; c++)
            for (int j = 0; j < 3; j++) acc[o][c][j] = _mm512_setzero_ps();
    const long step = 32 % hw, half = 16 % hw;
    long r = 0;  // the pixel of its image position p is
    for (long p = 0; p < count; p += 32) {
        const __mmask32 m = lanes32(count - p);
        long r16 = r + half;
        if (r16 >= hw) r16 -= hw;
        __m512bh d[8];
        for (int o = 0; o < ot; o++) d[o] = (__m512bh)_mm512_maskz_loadu_epi16(m, dy + o * dy_stride + p);
        for (int j = 0; j < 3; j++) {
            const __mmask32 tap = ((__mmask32)tap_masks[r * 9 + j] | (__mmask32)tap_masks[r16 * 9 + j] << 16) & m;
            for (int c = 0; c < ct; c++) {
                const __m512bh v = (__m512bh)_mm512_maskz_loadu_epi16(tap, x + c * x_stride + p + j - 1);
                for (int o = 0; o < ot; o++) acc[o][c][j] = _mm512_dpbf16_ps(acc[o][c][j], d[o], v);
            }
        }
        r += step;
        if (r >= hw) r -= hw;
    }
    float vectors[TILE_VECTORS * 16];
    for (int o = 0; o < ot; o++)
        for (int c = 0; c < ct; c++)
            for (int j = 0; j < 3; j++) _mm512_storeu_ps(vectors + ((o * ct + c) * 3 + j) * 16, acc[o][c][j]);
    add_lane_sums(vectors, partial);
}

AVX512BF16 void ddp_conv3x3_weight_partials_bf16(const unsigned short *dy, long dy_channel_stride,
                                                 int out_channels, const unsigned short *x,
                                                 long x_channel_stride, int in_channels, int height, int width,
                                                 const unsigned short *tap_masks, int first, int last,
                                                 double *partial) {
    const long hw = (long)height * width;
    const int ct = tile_inputs(in_channels), ot = TILE_VECTORS / 3 / ct;
    // Blocks of images as in the FP32 kernel, by the same byte budget (bf16 rows are half as long).
    const long per_image = (long)(out_channels + in_channels) * hw * 2;
    int block = (int)((512L << 10) / (per_image > 0 ? per_image : 1));
    if (block < 1) block = 1;
    for (int n0 = first; n0 < last; n0 += block) {
        const int n1 = n0 + block < last ? n0 + block : last;
        const long begin = n0 * hw, count = (n1 - n0) * hw;
        for (int i = 0; i < 3; i++)
            for (int o = 0; o < out_channels; o += ot)
                for (int c = 0; c < in_channels; c += ct) {
                    const unsigned short *d = dy + o * dy_channel_stride + begin;
                    const unsigned short *xs = x + c * x_channel_stride + begin + (i - 1) * width;
                    const long pair = c + 1 < in_channels ? x_channel_stride : 0;
                    double *ps = wtile_partial(partial, out_channels, in_channels, i, o, c);
                    if (ct == 1) wtile_bf16(8, 1, d, dy_channel_stride, xs, pair, count, tap_masks + i * 3, hw, ps);
                    else wtile_bf16(4, 2, d, dy_channel_stride, xs, pair, count, tap_masks + i * 3, hw, ps);
                }
    }
}

#else

int ddp_avx512_bf16_available(void) { return 0; }
void ddp_bf16_pack_pairs(const float *in, long in_channel_stride, int channels, long begin, long end,
                         unsigned *out, long out_channel_stride) { __builtin_trap(); }
void ddp_bf16_convert(const float *in, long in_channel_stride, int channels, long begin, long end,
                      unsigned short *out, long out_channel_stride) { __builtin_trap(); }
void ddp_conv3x3_direct_bf16(const unsigned *in, long in_channel_stride, int in_channels, const unsigned *weights,
                             int out_channels, float *out, long out_channel_stride, int accumulate, int height,
                             int width, const unsigned short *tap_masks, int first, int last) { __builtin_trap(); }
void ddp_conv3x3_weight_partials_bf16(const unsigned short *dy, long dy_channel_stride, int out_channels,
                                      const unsigned short *x, long x_channel_stride, int in_channels, int height,
                                      int width, const unsigned short *tap_masks, int first, int last,
                                      double *partial) { __builtin_trap(); }

#endif
