// The weight-gradient tiles' bookkeeping, shared by the FP32 kernels (direct_conv.c) and the
// bf16 ones (direct_conv_bf16.c): both leave the same partial sums, which
// ddp_conv3x3_reduce_partials turns into the gradient. And the taps of stride-2 layers, which
// both run on phases.
#ifndef DDP_DIRECT_CONV_TILES_H
#define DDP_DIRECT_CONV_TILES_H
#include "avx512.h"

#if DDP_X86

// The lane sums of 16 vectors in one vector, by a fixed tree of shuffles and adds (the same
// order every time: deterministic): lane 4j + m holds the sum of v[j + 4m]'s lanes.
AVX512 static inline __m512 lane_sums(const __m512 v[16]) {
    __m512 s1[8], s2[4], s3[2];
    for (int k = 0; k < 8; k++)  // 256-bit halves: v[2k]'s 8 partial lanes, then v[2k+1]'s
        s1[k] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * k], v[2 * k + 1], 0x44),
                              _mm512_shuffle_f32x4(v[2 * k], v[2 * k + 1], 0xEE));
    for (int k = 0; k < 4; k++)  // 128-bit quarters: vectors 4k .. 4k+3, 4 lanes each
        s2[k] = _mm512_add_ps(_mm512_shuffle_f32x4(s1[2 * k], s1[2 * k + 1], 0x88),
                              _mm512_shuffle_f32x4(s1[2 * k], s1[2 * k + 1], 0xDD));
    for (int k = 0; k < 2; k++)  // per quarter j: 2 lanes of vector 8k+j, 2 of 8k+4+j
        s3[k] = _mm512_add_ps(_mm512_shuffle_ps(s2[2 * k], s2[2 * k + 1], 0x44),
                              _mm512_shuffle_ps(s2[2 * k], s2[2 * k + 1], 0xEE));
    return _mm512_add_ps(_mm512_shuffle_ps(s3[0], s3[1], 0x88), _mm512_shuffle_ps(s3[0], s3[1], 0xDD));
}

#define TILE_VECTORS 24

// partial[t] += the sum of the 16 lanes at vectors + 16 t, for a tile's TILE_VECTORS vectors.
// Out of line: inlined into the tile, it made the compiler spill accumulators.
__attribute__((noinline)) AVX512 static void add_lane_sums(const float *vectors, double *partial) {
    __m512 v[32];
    for (int t = 0; t < 32; t++) v[t] = t < TILE_VECTORS ? _mm512_loadu_ps(vectors + t * 16) : _mm512_setzero_ps();
    float sums[32];
    _mm512_storeu_ps(sums, lane_sums(v));
    _mm512_storeu_ps(sums + 16, lane_sums(v + 16));
    for (int t = 0; t < TILE_VECTORS; t++) {
        const int k = t & 15;
        partial[t] += sums[(t & 16) + 4 * (k & 3) + (k >> 2)];
    }
}

// Input channels per weight-gradient tile: pairs, or one when there is only one.
static inline int tile_inputs(int in_channels) { return in_channels == 1 ? 1 : 2; }

// The partial sums of tile (kernel row i, outputs o.., inputs c..): TILE_VECTORS Doubles.
static inline double *wtile_partial(double *partial, int out_channels, int in_channels, int i, int o, int c) {
    const int ct = tile_inputs(in_channels), ot = TILE_VECTORS / 3 / ct;
    const long tiles_per_row = (long)(out_channels / ot) * ((in_channels + ct - 1) / ct);
    return partial + ((long)i * tiles_per_row + (long)(o / ot) * ((in_channels + ct - 1) / ct) + c / ct) * TILE_VECTORS;
}

// Tap s = 3 i + j of a stride-1 layer in an image `width` pixels wide: its offset from a pixel
// and its own mask in the table.
static inline void stride1_taps(int width, long *offsets, int *mask_taps) {
    for (int s = 0; s < 9; s++) {
        offsets[s] = (s / 3 - 1) * width + (s % 3 - 1);
        mask_taps[s] = s;
    }
}

// Stride 2 (3x3, padding 1, even height and width): the four phases of an image, its pixels
// (2i + a, 2j + b) for a, b in {0, 1}, are (H/2) x (W/2) planes of the output's size, and tap
// (dy, dx) reads phase (A[dy], A[dx]) at (i + R[dy], j + R[dx]) for output pixel (i, j):
//
//     dy or dx     0    1    2
//     A (phase)    1    0    1        input row 2i + dy - 1 = 2 (i + R) + A
//     R (offset)  -1    0    0
//
// So each tap is a fixed offset in a phase plane, as each tap of a stride-1 layer is in its
// image, and the stride-1 tiles run unchanged on phase planes; an offset of -1 needs the
// neighbour above or left, the mask of the stride-1 tap (R[dy] + 1, R[dx] + 1).
static const int phase_of[3] = {1, 0, 1}, offset_of[3] = {-1, 0, 0};

// 16 even-indexed and 16 odd-indexed floats of src[0 ..< n] (n <= 32).
AVX512 static inline void split_even_odd(const float *src, long n, __m512 *even, __m512 *odd) {
    const __m512i e = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i o = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    const __m512 lo = _mm512_maskz_loadu_ps(lanes(n), src), hi = _mm512_maskz_loadu_ps(lanes(n - 16), src + 16);
    *even = _mm512_permutex2var_ps(lo, e, hi);
    *odd = _mm512_permutex2var_ps(lo, o, hi);
}

// Tap s = 3 dy + dx of a stride-2 layer in phase planes `phase_stride` apart: its offset from
// an output pixel and the stride-1 tap whose mask it takes.
static inline void stride2_taps(long phase_stride, int out_width, long *offsets, int *mask_taps) {
    for (int s = 0; s < 9; s++) {
        const int dy = s / 3, dx = s % 3;
        offsets[s] = (2 * phase_of[dy] + phase_of[dx]) * phase_stride + offset_of[dy] * out_width + offset_of[dx];
        mask_taps[s] = (offset_of[dy] + 1) * 3 + offset_of[dx] + 1;
    }
}

// The input gradient's taps, phase by phase: phase q = 2a + b of dx gathers the taps (dy, dx)
// with A[dy] = a and A[dx] = b (their numbers in `taps`), each reading dy at the opposite
// offset (-R: `shifts`), which needs the neighbour below or right (`mask_taps`): 1, 2, 2 and 4
// taps, 9 in all, in this order in the weight blocks. Returns the count.
static inline int stride2_backward_taps(int q, int out_width, int *taps, long *shifts, int *mask_taps) {
    int count = 0;
    for (int s = 0; s < 9; s++) {
        const int dy = s / 3, dx = s % 3;
        if (2 * phase_of[dy] + phase_of[dx] != q) continue;
        taps[count] = s;
        shifts[count] = -offset_of[dy] * out_width - offset_of[dx];
        mask_taps[count] = (1 - offset_of[dy]) * 3 + 1 - offset_of[dx];
        count++;
    }
    return count;
}

#endif

#endif
