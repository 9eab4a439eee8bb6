// The weight-gradient tiles' bookkeeping, shared by the FP32 kernels (direct_conv.c) and the
// bf16 ones (direct_conv_bf16.c): both leave the same partial sums, which
// ddp_conv3x3_reduce_partials turns into the gradient.
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

#endif

#endif
