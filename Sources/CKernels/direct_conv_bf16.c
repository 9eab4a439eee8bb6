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
#include <stdlib.h>

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

// 16 floats to 16 bf16 values.
AVX512BF16 static inline __m256i to_bf16(__m512 v) { return (__m256i)_mm512_cvtneps_pbh(v); }

// The channel pairs one VDPBF16PS lane reduces: 16 bf16 values of the lower channel in the low
// halves of the 32-bit lanes, the upper channel's in the high halves.
AVX512BF16 static inline __m512i bf16_pairs(__m256i lo, __m256i hi) {
    return _mm512_or_si512(_mm512_cvtepu16_epi32(lo), _mm512_slli_epi32(_mm512_cvtepu16_epi32(hi), 16));
}

AVX512BF16 void ddp_bf16_pack_pairs(const float *in, long in_channel_stride, int channels, long begin, long end,
                                    unsigned *out, long out_channel_stride) {
    for (int k = 0; 2 * k < channels; k++) {
        const float *lo = in + 2L * k * in_channel_stride;
        const float *hi = 2 * k + 1 < channels ? lo + in_channel_stride : NULL;
        unsigned *o = out + k * out_channel_stride;
        for (long p = begin; p < end; p += 16) {
            const __mmask16 m = lanes(end - p);
            const __m256i a = to_bf16(_mm512_maskz_loadu_ps(m, lo + p));
            const __m256i b = hi ? to_bf16(_mm512_maskz_loadu_ps(m, hi + p)) : _mm256_setzero_si256();
            _mm512_mask_storeu_epi32(o + p, m, bf16_pairs(a, b));
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
            _mm256_mask_storeu_epi16(o + p, m, to_bf16(_mm512_maskz_loadu_ps(m, x + p)));
        }
    }
}

AVX512BF16 void ddp_bf16_convert_and_pack(const float *in, long in_channel_stride, int channels, long begin, long end,
                                          unsigned short *rows, long rows_channel_stride, unsigned *pairs,
                                          long pairs_channel_stride) {
    for (int k = 0; 2 * k < channels; k++) {
        const float *lo = in + 2L * k * in_channel_stride;
        const float *hi = 2 * k + 1 < channels ? lo + in_channel_stride : NULL;
        unsigned short *row = rows + 2L * k * rows_channel_stride;
        unsigned *o = pairs + k * pairs_channel_stride;
        for (long p = begin; p < end; p += 16) {
            const __mmask16 m = lanes(end - p);
            const __m256i a = to_bf16(_mm512_maskz_loadu_ps(m, lo + p));
            const __m256i b = hi ? to_bf16(_mm512_maskz_loadu_ps(m, hi + p)) : _mm256_setzero_si256();
            _mm256_mask_storeu_epi16(row + p, m, a);
            if (hi) _mm256_mask_storeu_epi16(row + rows_channel_stride + p, m, b);
            _mm512_mask_storeu_epi32(o + p, m, bf16_pairs(a, b));
        }
    }
}

// The forward tile of direct_conv.c (8 output channels x 48 positions, 24 accumulators), one
// input-channel pair per step: per pair and tap, 3 loads of 16 pairs and 8 broadcast weight
// pairs feed 24 VDPBF16PS.
AVX512BF16 static void tile_8x48_bf16(const unsigned *in, long in_stride, int pairs, const unsigned *weights,
                                      int taps, const long *shifts, const __mmask16 (*masks)[3], float *out,
                                      long out_stride, const __mmask16 *stored, int accumulate) {
    __m512 acc[8][3];
    for (int i = 0; i < 8; i++) acc[i][0] = acc[i][1] = acc[i][2] = _mm512_setzero_ps();
    for (int k = 0; k < pairs; k++) {
        const unsigned *xk = in + k * in_stride;
        for (int s = 0; s < taps; s++) {
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

// The forward tile over positions first * hw ..< last * hw of `in` (channel pairs `pair_stride`
// apart): `taps` taps, tap s reading `in` at shifts[s] from each position with the mask of tap
// mask_taps[s] in the table (a 3x3 stride-1 tap: which neighbour must exist), weight blocks
// [O/8][9 taps][pairs][8] from `weights` on.
AVX512BF16 static void direct_bf16(const unsigned *in, long pair_stride, int pairs, const unsigned *weights, int taps,
                                   const long *shifts, const int *mask_taps, int out_channels, float *out,
                                   long out_channel_stride, int accumulate, long hw, const unsigned short *tap_masks,
                                   int first, int last) {
    const long end = last * hw;
    for (long p = first * hw; p < end; p += 48) {
        __mmask16 stored[3], masks[9][3];
        for (int v = 0; v < 3; v++) {
            stored[v] = lanes(end - p - 16 * v);
            const unsigned short *row = tap_masks + ((p + 16 * v) % hw) * 9;
            for (int s = 0; s < taps; s++) masks[s][v] = row[mask_taps[s]] & stored[v];
        }
        for (int o = 0; o < out_channels; o += 8)
            tile_8x48_bf16(in + p, pair_stride, pairs, weights + (long)o * 9 * pairs, taps, shifts,
                           (const __mmask16 (*)[3])masks, out + o * out_channel_stride + p, out_channel_stride,
                           stored, accumulate);
    }
}

AVX512BF16 void ddp_conv3x3_direct_bf16(const unsigned *in, long in_channel_stride, int in_channels,
                                        const unsigned *weights, int out_channels, float *out,
                                        long out_channel_stride, int accumulate, int height, int width,
                                        const unsigned short *tap_masks, int first, int last) {
    if (first >= last) return;
    long shifts[9];
    int mask_taps[9];
    stride1_taps(width, shifts, mask_taps);
    direct_bf16(in, in_channel_stride, (in_channels + 1) / 2, weights, 9, shifts, mask_taps, out_channels, out,
                out_channel_stride, accumulate, (long)height * width, tap_masks, first, last);
}

// The masks a weight-gradient tile of kernel row i needs, for a run of `count` positions from an
// image's first pixel, 32 positions per entry: the three taps' (two 16-position entries of the
// table each, cut to the run) and the run's own as the fourth. Every tile of the row shares
// them, so the tiles' loop only loads masks.
static void wtile_masks(const int *mask_taps, long count, const unsigned short *tap_masks, long hw,
                        unsigned (*masks)[4]) {
    const long step = 32 % hw, half = 16 % hw;
    long r = 0;  // the pixel of its image position p is
    for (long p = 0, q = 0; p < count; p += 32, q++) {
        long r16 = r + half;
        if (r16 >= hw) r16 -= hw;
        const unsigned run = count - p >= 32 ? 0xFFFFFFFFu : (1u << (count - p)) - 1;
        for (int j = 0; j < 3; j++)
            masks[q][j] = ((unsigned)tap_masks[r * 9 + mask_taps[j]] | (unsigned)tap_masks[r16 * 9 + mask_taps[j]] << 16) & run;
        masks[q][3] = run;
        r += step;
        if (r >= hw) r -= hw;
    }
}

// The weight-gradient tile's loads and VDPBF16PS, written as assembly that keeps its order: one x
// vector is loaded, its OT products taken, then the next, so 24 accumulators, OT vectors of dy
// and one of x are live (29 of the 32 registers). As intrinsics, the compiler loaded all six x
// vectors first and spilled accumulators to the stack in the loop.
AVX512BF16 static inline __m512i load_bf16(__mmask32 mask, const unsigned short *from) {
    __m512i v;
    __asm__ volatile("vmovdqu16 %1, %0 %{%2%}%{z%}" : "=v"(v) : "m"(*(const unsigned short(*)[32])from), "Yk"(mask));
    return v;
}
AVX512BF16 static inline void dot_bf16(__m512 *acc, __m512i a, __m512i b) {
    __asm__ volatile("vdpbf16ps %2, %1, %0" : "+v"(*acc) : "v"(a), "v"(b));
}

// The weight-gradient tile of direct_conv.c (OT outputs x CT inputs x the 3 taps of kernel row
// i), 32 positions per step: each VDPBF16PS lane adds the products of two neighbouring
// positions. `masks` from wtile_masks.
__attribute__((always_inline)) AVX512BF16 static inline void wtile_bf16(
    const int ot, const int ct, const unsigned short *dy, long dy_stride, const unsigned short *x, long x_stride,
    const long *offsets, long count, const unsigned (*masks)[4], double *partial) {
    __m512 acc[8][2][3];
    for (int o = 0; o < ot; o++)
        for (int c = 0; c < ct; c++)
            for (int j = 0; j < 3; j++) acc[o][c][j] = _mm512_setzero_ps();
    for (long p = 0, q = 0; p < count; p += 32, q++) {
        __m512i d[8];
#pragma GCC unroll 8
        for (int o = 0; o < ot; o++) d[o] = load_bf16(masks[q][3], dy + o * dy_stride + p);
#pragma GCC unroll 3
        for (int j = 0; j < 3; j++)
#pragma GCC unroll 2
            for (int c = 0; c < ct; c++) {
                const __m512i v = load_bf16(masks[q][j], x + c * x_stride + p + offsets[j]);
#pragma GCC unroll 8
                for (int o = 0; o < ot; o++) dot_bf16(&acc[o][c][j], d[o], v);
            }
    }
    float vectors[TILE_VECTORS * 16];
    for (int o = 0; o < ot; o++)
        for (int c = 0; c < ct; c++)
            for (int j = 0; j < 3; j++) _mm512_storeu_ps(vectors + ((o * ct + c) * 3 + j) * 16, acc[o][c][j]);
    add_lane_sums(vectors, partial);
}

// The weight-gradient tiles over images first..<last: tap s (kernel row s / 3) of each position
// reads x at offsets[s] from it, with the mask of tap mask_taps[s] in the table.
AVX512BF16 static void weight_partials_bf16(const unsigned short *dy, long dy_channel_stride, int out_channels,
                                            const unsigned short *x, long x_channel_stride, int in_channels,
                                            const long *offsets, const int *mask_taps, long hw,
                                            const unsigned short *tap_masks, int first, int last, double *partial) {
    if (first >= last) return;
    const int ct = tile_inputs(in_channels), ot = TILE_VECTORS / 3 / ct;
    // Blocks of images as in the FP32 kernel, by the same byte budget (bf16 rows are half as long).
    const long per_image = (long)(out_channels + in_channels) * hw * 2;
    int block = (int)((512L << 10) / (per_image > 0 ? per_image : 1));
    if (block < 1) block = 1;
    if (block > last - first) block = last - first;
    unsigned (*masks)[4] = malloc(sizeof *masks * (size_t)((block * hw + 31) / 32));
    if (masks == NULL) abort();  // tens of KiB: without them there is nothing sensible to do
    for (int n0 = first; n0 < last; n0 += block) {
        const int n1 = n0 + block < last ? n0 + block : last;
        const long begin = n0 * hw, count = (n1 - n0) * hw;
        for (int i = 0; i < 3; i++) {
            wtile_masks(mask_taps + 3 * i, count, tap_masks, hw, masks);
            for (int o = 0; o < out_channels; o += ot)
                for (int c = 0; c < in_channels; c += ct) {
                    const unsigned short *d = dy + o * dy_channel_stride + begin;
                    const unsigned short *xs = x + c * x_channel_stride + begin;
                    const long pair = c + 1 < in_channels ? x_channel_stride : 0;
                    double *ps = wtile_partial(partial, out_channels, in_channels, i, o, c);
                    const long *off = offsets + 3 * i;
                    if (ct == 1) wtile_bf16(8, 1, d, dy_channel_stride, xs, pair, off, count, masks, ps);
                    else wtile_bf16(4, 2, d, dy_channel_stride, xs, pair, off, count, masks, ps);
                }
        }
    }
    free(masks);
}

AVX512BF16 void ddp_conv3x3_weight_partials_bf16(const unsigned short *dy, long dy_channel_stride,
                                                 int out_channels, const unsigned short *x,
                                                 long x_channel_stride, int in_channels, int height, int width,
                                                 const unsigned short *tap_masks, int first, int last,
                                                 double *partial) {
    long offsets[9];
    int mask_taps[9];
    stride1_taps(width, offsets, mask_taps);
    weight_partials_bf16(dy, dy_channel_stride, out_channels, x, x_channel_stride, in_channels, offsets, mask_taps,
                         (long)height * width, tap_masks, first, last, partial);
}

AVX512BF16 void ddp_bf16_phases(const float *in, long in_channel_stride, int channels, int height, int width,
                                int first, int last, int paired, void *out, long out_channel_stride,
                                long phase_stride) {
    const int ho = height / 2, wo = width / 2;
    const int groups = paired ? (channels + 1) / 2 : channels;
    for (int g = 0; g < groups; g++)
        for (int n = first; n < last; n++)
            for (int i = 0; i < ho; i++)
                for (int a = 0; a < 2; a++) {
                    const long row = ((long)n * height + 2 * i + a) * width, to = ((long)n * ho + i) * wo;
                    const float *lo = in + (long)(paired ? 2 * g : g) * in_channel_stride + row;
                    const float *hi = paired && 2 * g + 1 < channels ? lo + in_channel_stride : NULL;
                    for (int j = 0; j < wo; j += 16) {
                        const __mmask16 m = lanes(wo - j);
                        __m512 x[2], y[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
                        split_even_odd(lo + 2 * j, width - 2 * j, &x[0], &x[1]);
                        if (hi) split_even_odd(hi + 2 * j, width - 2 * j, &y[0], &y[1]);
                        for (int b = 0; b < 2; b++) {
                            const long at = g * out_channel_stride + (2 * a + b) * phase_stride + to + j;
                            if (paired) {
                                const __m512i v = bf16_pairs(to_bf16(x[b]), to_bf16(y[b]));
                                _mm512_mask_storeu_epi32((unsigned *)out + at, m, v);
                            } else {
                                _mm256_mask_storeu_epi16((unsigned short *)out + at, m, to_bf16(x[b]));
                            }
                        }
                    }
                }
}

AVX512BF16 void ddp_conv3x3s2_direct_bf16(const unsigned *phases, long pair_stride, long phase_stride,
                                          int in_channels, const unsigned *weights, int out_channels, float *out,
                                          long out_channel_stride, int out_height, int out_width,
                                          const unsigned short *tap_masks, int first, int last) {
    if (first >= last) return;
    long shifts[9];
    int mask_taps[9];
    stride2_taps(phase_stride, out_width, shifts, mask_taps);
    direct_bf16(phases, pair_stride, (in_channels + 1) / 2, weights, 9, shifts, mask_taps, out_channels, out,
                out_channel_stride, 0, (long)out_height * out_width, tap_masks, first, last);
}

void ddp_bf16_arrange_s2_input_gradient(const float *weights, int out_channels, int in_channels, unsigned *blocks) {
    const int pairs = (out_channels + 1) / 2;
    for (long i = 0; i < (long)in_channels * 9 * pairs; i++) blocks[i] = 0;
    int order[9], start = 0, mask_taps[4];
    long shifts[4];
    for (int q = 0; q < 4; q++) start += stride2_backward_taps(q, 1, order + start, shifts, mask_taps);
    for (int o = 0; o < out_channels; o++)
        for (int c = 0; c < in_channels; c++)
            for (int t = 0; t < 9; t++) {
                const unsigned short w = ddp_bf16_round(weights[((long)o * in_channels + c) * 9 + order[t]]);
                blocks[(((long)(c / 8) * 9 + t) * pairs + o / 2) * 8 + c % 8] |= (unsigned)w << (16 * (o % 2));
            }
}

AVX512BF16 void ddp_conv3x3s2_input_gradient_bf16(const unsigned *dy, long pair_stride, int out_channels,
                                                  const unsigned *blocks, int in_channels, float *phases,
                                                  long channel_stride, long phase_stride, int out_height,
                                                  int out_width, const unsigned short *tap_masks, int first,
                                                  int last) {
    if (first >= last) return;
    const int pairs = (out_channels + 1) / 2;
    int start = 0;
    for (int q = 0; q < 4; q++) {
        int taps[4], mask_taps[4];
        long shifts[4];
        const int count = stride2_backward_taps(q, out_width, taps, shifts, mask_taps);
        direct_bf16(dy, pair_stride, pairs, blocks + (long)start * pairs * 8, count, shifts, mask_taps, in_channels,
                    phases + q * phase_stride, channel_stride, 0, (long)out_height * out_width, tap_masks, first, last);
        start += count;
    }
}

AVX512BF16 void ddp_conv3x3s2_weight_partials_bf16(const unsigned short *dy, long dy_channel_stride,
                                                   int out_channels, const unsigned short *phases,
                                                   long channel_stride, long phase_stride, int in_channels,
                                                   int out_height, int out_width, const unsigned short *tap_masks,
                                                   int first, int last, double *partial) {
    long offsets[9];
    int mask_taps[9];
    stride2_taps(phase_stride, out_width, offsets, mask_taps);
    weight_partials_bf16(dy, dy_channel_stride, out_channels, phases, channel_stride, in_channels, offsets, mask_taps,
                         (long)out_height * out_width, tap_masks, first, last, partial);
}

#else

int ddp_avx512_bf16_available(void) { return 0; }
void ddp_bf16_pack_pairs(const float *in, long in_channel_stride, int channels, long begin, long end,
                         unsigned *out, long out_channel_stride) { __builtin_trap(); }
void ddp_bf16_convert(const float *in, long in_channel_stride, int channels, long begin, long end,
                      unsigned short *out, long out_channel_stride) { __builtin_trap(); }
void ddp_bf16_convert_and_pack(const float *in, long in_channel_stride, int channels, long begin, long end,
                               unsigned short *rows, long rows_channel_stride, unsigned *pairs,
                               long pairs_channel_stride) {
    __builtin_trap();
}
void ddp_conv3x3_direct_bf16(const unsigned *in, long in_channel_stride, int in_channels, const unsigned *weights,
                             int out_channels, float *out, long out_channel_stride, int accumulate, int height,
                             int width, const unsigned short *tap_masks, int first, int last) { __builtin_trap(); }
void ddp_conv3x3_weight_partials_bf16(const unsigned short *dy, long dy_channel_stride, int out_channels,
                                      const unsigned short *x, long x_channel_stride, int in_channels, int height,
                                      int width, const unsigned short *tap_masks, int first, int last,
                                      double *partial) { __builtin_trap(); }

void ddp_bf16_phases(const float *in, long in_channel_stride, int channels, int height, int width, int first,
                     int last, int paired, void *out, long out_channel_stride, long phase_stride) { __builtin_trap(); }
void ddp_conv3x3s2_direct_bf16(const unsigned *phases, long pair_stride, long phase_stride, int in_channels,
                               const unsigned *weights, int out_channels, float *out, long out_channel_stride,
                               int out_height, int out_width, const unsigned short *tap_masks, int first,
                               int last) { __builtin_trap(); }
void ddp_bf16_arrange_s2_input_gradient(const float *weights, int out_channels, int in_channels, unsigned *blocks) {
    __builtin_trap();
}
void ddp_conv3x3s2_input_gradient_bf16(const unsigned *dy, long pair_stride, int out_channels, const unsigned *blocks,
                                       int in_channels, float *phases, long channel_stride, long phase_stride,
                                       int out_height, int out_width, const unsigned short *tap_masks, int first,
                                       int last) { __builtin_trap(); }
void ddp_conv3x3s2_weight_partials_bf16(const unsigned short *dy, long dy_channel_stride, int out_channels,
                                        const unsigned short *phases, long channel_stride, long phase_stride,
                                        int in_channels, int out_height, int out_width,
                                        const unsigned short *tap_masks, int first, int last, double *partial) {
    __builtin_trap();
}

#endif
