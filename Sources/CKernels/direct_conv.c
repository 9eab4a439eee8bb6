// See include/ckernels.h for the layout and contracts.
#include "ckernels.h"
#include "avx512.h"
#include "direct_conv_tiles.h"

#if DDP_X86

int ddp_avx512_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") ? 1 : 0;
}

// Tile of the forward kernel: 8 output channels x 48 positions (3 vectors) = 24 accumulators;
// per input channel and tap, 3 vector loads and 8 broadcasts feed 24 FMAs. masks[s][v] has the
// lanes of vector v whose tap-s neighbour is inside the image (and inside the run): the others
// load zero, which is the zero padding. `stored` masks the positions past the run's end.
AVX512 static void tile_8x48(const float *in, long in_stride, int in_channels, const float *weights, int taps,
                             const long *shifts, const __mmask16 (*masks)[3], float *out, long out_stride,
                             const __mmask16 *stored, int accumulate) {
    __m512 acc[8][3];
    for (int i = 0; i < 8; i++) acc[i][0] = acc[i][1] = acc[i][2] = _mm512_setzero_ps();
    // Channel outer, tap inner: the nine taps of a channel read the same few cache lines one
    // after the other, while they are in L1.
    for (int c = 0; c < in_channels; c++) {
        const float *xc = in + c * in_stride;
        for (int s = 0; s < taps; s++) {
            const float *x = xc + shifts[s];
            const float *w = weights + ((long)s * in_channels + c) * 8;
            // Masked-out lanes read nothing (AVX-512 suppresses their faults): neither another
            // image's pixels nor memory before or after the buffer.
            __m512 b0 = _mm512_maskz_loadu_ps(masks[s][0], x), b1 = _mm512_maskz_loadu_ps(masks[s][1], x + 16),
                   b2 = _mm512_maskz_loadu_ps(masks[s][2], x + 32);
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) {
                __m512 v = _mm512_set1_ps(w[i]);
                acc[i][0] = _mm512_fmadd_ps(v, b0, acc[i][0]);
                acc[i][1] = _mm512_fmadd_ps(v, b1, acc[i][1]);
                acc[i][2] = _mm512_fmadd_ps(v, b2, acc[i][2]);
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

// Whether the tap (i, j) neighbour of pixel (y, x) lies inside a height x width image.
static int tap_inside(int y, int x, int i, int j, int height, int width) {
    return y + i - 1 >= 0 && y + i - 1 < height && x + j - 1 >= 0 && x + j - 1 < width;
}

void ddp_conv3x3_tap_masks(int height, int width, unsigned short *table) {
    const long hw = (long)height * width;
    for (int s = 0; s < 9; s++) {
        // Backwards over r, 16 pixels wide: entry r is entry r + 1 shifted up one lane, with
        // pixel r's own bit in lane 0 (the pixels past the image's end wrap into the next image).
        unsigned bits = 0;
        for (long q = hw + 15; q >= 0; q--) {
            const long r = q % hw;
            bits = ((bits << 1) | (unsigned)tap_inside((int)(r / width), (int)(r % width), s / 3, s % 3, height, width))
                   & 0xFFFF;
            if (q < hw) table[q * 9 + s] = (unsigned short)bits;
        }
    }
}

// The forward tile over positions first * hw ..< last * hw of `in`: `taps` taps, tap s reading
// `in` at shifts[s] from each position with the mask of tap mask_taps[s] in the table (a 3x3
// stride-1 tap: which neighbour must exist), weight blocks [O/8][9 taps][C][8] from `weights`
// on. One run over all the images' pixels: the taps that would cross an image's border (or the
// run's end) are masked instead of padded.
AVX512 static void direct_fp32(const float *in, long in_channel_stride, int in_channels, const float *weights, int taps,
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
            tile_8x48(in + p, in_channel_stride, in_channels, weights + (long)o * 9 * in_channels, taps, shifts,
                      (const __mmask16 (*)[3])masks, out + o * out_channel_stride + p, out_channel_stride, stored,
                      accumulate);
    }
}

AVX512 void ddp_conv3x3_direct(const float *in, long in_channel_stride, int in_channels,
                               const float *weights, int out_channels,
                               float *out, long out_channel_stride, int accumulate,
                               int height, int width, const unsigned short *tap_masks, int first, int last) {
    if (first >= last) return;
    long shifts[9];
    int mask_taps[9];
    stride1_taps(width, shifts, mask_taps);
    direct_fp32(in, in_channel_stride, in_channels, weights, 9, shifts, mask_taps, out_channels, out,
                out_channel_stride, accumulate, (long)height * width, tap_masks, first, last);
}

// Weight-gradient tile: OT output channels x CT input channels x the 3 taps of kernel row i,
// OT * CT * 3 = 24 accumulators (4 x 2, or 8 x 1 for a single input channel), summed over a run
// of `count` positions 16 at a time, from the first pixel of an image of hw pixels. x is read
// where tap (i, j) of each position lands, masked by the tap's entry in `tap_masks` (outside
// the image reads zero: the padding). The three taps read the same cache lines of x, so per
// vector of positions OT + CT lines feed 24 FMAs. At the end each accumulator's lanes are
// summed into its Double in `partial`: 24 Doubles per tile rather than 24 vectors keep all
// tiles' sums small (64 -> 64 channels: 290 KiB rather than 2.3 MiB per thread, to clear and
// add up), and the long sum over the batch runs in Double. Inlined with constant OT and CT, the
// loops unroll and the accumulators stay in registers.
__attribute__((always_inline)) AVX512 static inline void wtile(const int ot, const int ct, const float *dy,
                                                               long dy_stride, const float *x, long x_stride,
                                                               const long *offsets, const int *mask_taps,
                                                               long count, const unsigned short *tap_masks,
                                                               long hw, double *partial) {
    __m512 acc[8][2][3];
    for (int o = 0; o < ot; o++)
        for (int c = 0; c < ct; c++)
            for (int j = 0; j < 3; j++) acc[o][c][j] = _mm512_setzero_ps();
    const long step = 16 % hw;
    long r = 0, p = 0;  // r: the pixel of its image position p is
    for (; p + 16 <= count; p += 16) {
        __m512 d[8];
        for (int o = 0; o < ot; o++) d[o] = _mm512_loadu_ps(dy + o * dy_stride + p);
        for (int j = 0; j < 3; j++)
            for (int c = 0; c < ct; c++) {
                const __m512 v = _mm512_maskz_loadu_ps(tap_masks[r * 9 + mask_taps[j]], x + c * x_stride + p + offsets[j]);
                for (int o = 0; o < ot; o++) acc[o][c][j] = _mm512_fmadd_ps(d[o], v, acc[o][c][j]);
            }
        r += step;
        if (r >= hw) r -= hw;
    }
    if (p < count) {  // the tail, masked: nothing past the run is read
        const __mmask16 m = lanes(count - p);
        __m512 d[8];
        for (int o = 0; o < ot; o++) d[o] = _mm512_maskz_loadu_ps(m, dy + o * dy_stride + p);
        for (int j = 0; j < 3; j++)
            for (int c = 0; c < ct; c++) {
                const __m512 v =
                    _mm512_maskz_loadu_ps(tap_masks[r * 9 + mask_taps[j]] & m, x + c * x_stride + p + offsets[j]);
                for (int o = 0; o < ot; o++) acc[o][c][j] = _mm512_fmadd_ps(d[o], v, acc[o][c][j]);
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
AVX512 static void weight_partials(const float *dy, long dy_channel_stride, int out_channels, const float *x,
                                   long x_channel_stride, int in_channels, const long *offsets, const int *mask_taps,
                                   long hw, const unsigned short *tap_masks, int first, int last, double *partial) {
    const int ct = tile_inputs(in_channels), ot = TILE_VECTORS / 3 / ct;
    // Images in blocks of about 512 KiB of dy and x: measured fastest (the tiles reread each
    // block's rows 3 * (C/2) and 3 * (O/4) times, from L2).
    const long per_image = (long)(out_channels + in_channels) * hw * 4;
    int block = (int)((512L << 10) / (per_image > 0 ? per_image : 1));
    if (block < 1) block = 1;
    for (int n0 = first; n0 < last; n0 += block) {
        const int n1 = n0 + block < last ? n0 + block : last;
        const long begin = n0 * hw, count = (n1 - n0) * hw;
        for (int i = 0; i < 3; i++)
            for (int o = 0; o < out_channels; o += ot)
                for (int c = 0; c < in_channels; c += ct) {
                    const float *d = dy + o * dy_channel_stride + begin;
                    const float *xs = x + c * x_channel_stride + begin;
                    // An odd count's last pair reads its one channel twice; reduce_partials
                    // drops the copy.
                    const long pair = c + 1 < in_channels ? x_channel_stride : 0;
                    double *ps = wtile_partial(partial, out_channels, in_channels, i, o, c);
                    const long *off = offsets + 3 * i;
                    const int *mt = mask_taps + 3 * i;
                    if (ct == 1) wtile(8, 1, d, dy_channel_stride, xs, pair, off, mt, count, tap_masks, hw, ps);
                    else wtile(4, 2, d, dy_channel_stride, xs, pair, off, mt, count, tap_masks, hw, ps);
                }
    }
}

AVX512 void ddp_conv3x3_weight_partials(const float *dy, long dy_channel_stride, int out_channels,
                                        const float *x, long x_channel_stride, int in_channels,
                                        int height, int width, const unsigned short *tap_masks, int first, int last,
                                        double *partial) {
    long offsets[9];
    int mask_taps[9];
    stride1_taps(width, offsets, mask_taps);
    weight_partials(dy, dy_channel_stride, out_channels, x, x_channel_stride, in_channels, offsets, mask_taps,
                    (long)height * width, tap_masks, first, last, partial);
}

AVX512 void ddp_phases(const float *in, long in_channel_stride, int channels, int height, int width, int first,
                       int last, float *out, long out_channel_stride, long phase_stride) {
    const int ho = height / 2, wo = width / 2;
    for (int c = 0; c < channels; c++)
        for (int n = first; n < last; n++)
            for (int i = 0; i < ho; i++)
                for (int a = 0; a < 2; a++) {
                    const float *row = in + c * in_channel_stride + ((long)n * height + 2 * i + a) * width;
                    float *to = out + c * out_channel_stride + 2 * a * phase_stride + ((long)n * ho + i) * wo;
                    for (int j = 0; j < wo; j += 16) {
                        __m512 even, odd;
                        split_even_odd(row + 2 * j, width - 2 * j, &even, &odd);
                        _mm512_mask_storeu_ps(to + j, lanes(wo - j), even);
                        _mm512_mask_storeu_ps(to + phase_stride + j, lanes(wo - j), odd);
                    }
                }
}

AVX512 void ddp_unphase(const float *phases, long channel_stride, long phase_stride, int channels, int height,
                            int width, int first, int last, float *out, long out_channel_stride, int accumulate) {
    const __m512i lo_index = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi_index = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    const int ho = height / 2, wo = width / 2;
    for (int c = 0; c < channels; c++)
        for (int n = first; n < last; n++)
            for (int i = 0; i < ho; i++)
                for (int a = 0; a < 2; a++) {
                    const long from = c * channel_stride + 2 * a * phase_stride + ((long)n * ho + i) * wo;
                    float *row = out + c * out_channel_stride + ((long)n * height + 2 * i + a) * width;
                    for (int j = 0; j < wo; j += 16) {
                        const __mmask16 m = lanes(wo - j);
                        const __m512 even = _mm512_maskz_loadu_ps(m, phases + from + j);
                        const __m512 odd = _mm512_maskz_loadu_ps(m, phases + from + phase_stride + j);
                        const long n_out = width - 2 * j;  // pixels 2j .. of the row, 32 at most
                        __m512 lo = _mm512_permutex2var_ps(even, lo_index, odd);
                        __m512 hi = _mm512_permutex2var_ps(even, hi_index, odd);
                        if (accumulate) {
                            lo = _mm512_add_ps(lo, _mm512_maskz_loadu_ps(lanes(n_out), row + 2 * j));
                            hi = _mm512_add_ps(hi, _mm512_maskz_loadu_ps(lanes(n_out - 16), row + 2 * j + 16));
                        }
                        _mm512_mask_storeu_ps(row + 2 * j, lanes(n_out), lo);
                        _mm512_mask_storeu_ps(row + 2 * j + 16, lanes(n_out - 16), hi);
                    }
                }
}

AVX512 void ddp_conv3x3s2_direct(const float *phases, long channel_stride, long phase_stride, int in_channels,
                                 const float *weights, int out_channels, float *out, long out_channel_stride,
                                 int out_height, int out_width, const unsigned short *tap_masks, int first, int last) {
    if (first >= last) return;
    long shifts[9];
    int mask_taps[9];
    stride2_taps(phase_stride, out_width, shifts, mask_taps);
    direct_fp32(phases, channel_stride, in_channels, weights, 9, shifts, mask_taps, out_channels, out,
                out_channel_stride, 0, (long)out_height * out_width, tap_masks, first, last);
}

void ddp_arrange_s2_input_gradient(const float *weights, int out_channels, int in_channels, float *blocks) {
    int order[9], start = 0, mask_taps[4];
    long shifts[4];
    for (int q = 0; q < 4; q++) start += stride2_backward_taps(q, 1, order + start, shifts, mask_taps);
    for (int o = 0; o < out_channels; o++)
        for (int c = 0; c < in_channels; c++)
            for (int t = 0; t < 9; t++)
                blocks[(((long)(c / 8) * 9 + t) * out_channels + o) * 8 + c % 8] =
                    weights[((long)o * in_channels + c) * 9 + order[t]];
}

AVX512 void ddp_conv3x3s2_input_gradient(const float *dy, long dy_channel_stride, int out_channels, const float *blocks,
                                         int in_channels, float *phases, long channel_stride, long phase_stride,
                                         int out_height, int out_width, const unsigned short *tap_masks, int first,
                                         int last) {
    if (first >= last) return;
    int start = 0;
    for (int q = 0; q < 4; q++) {
        int taps[4], mask_taps[4];
        long shifts[4];
        const int count = stride2_backward_taps(q, out_width, taps, shifts, mask_taps);
        direct_fp32(dy, dy_channel_stride, out_channels, blocks + (long)start * out_channels * 8, count, shifts, mask_taps,
                    in_channels, phases + q * phase_stride, channel_stride, 0, (long)out_height * out_width, tap_masks,
                    first, last);
        start += count;
    }
}

AVX512 void ddp_conv3x3s2_weight_partials(const float *dy, long dy_channel_stride, int out_channels,
                                          const float *phases, long channel_stride, long phase_stride, int in_channels,
                                          int out_height, int out_width, const unsigned short *tap_masks, int first,
                                          int last, double *partial) {
    long offsets[9];
    int mask_taps[9];
    stride2_taps(phase_stride, out_width, offsets, mask_taps);
    weight_partials(dy, dy_channel_stride, out_channels, phases, channel_stride, in_channels, offsets, mask_taps,
                    (long)out_height * out_width, tap_masks, first, last, partial);
}

void ddp_conv3x3_reduce_partials(const double *partial, int out_channels, int in_channels, float *dw) {
    const int ct = tile_inputs(in_channels), ot = TILE_VECTORS / 3 / ct;
    for (int i = 0; i < 3; i++)
        for (int o = 0; o < out_channels; o += ot)
            for (int c = 0; c < in_channels; c += ct) {
                const double *tile = wtile_partial((double *)partial, out_channels, in_channels, i, o, c);
                for (int t = 0; t < TILE_VECTORS; t++) {
                    const int oo = o + t / (3 * ct), cc = c + (t / 3) % ct, j = t % 3;
                    if (cc == in_channels) continue;  // the copy after an odd count
                    dw[((long)oo * in_channels + cc) * 9 + i * 3 + j] = (float)tile[t];
                }
            }
}

#else

int ddp_avx512_available(void) { return 0; }
void ddp_conv3x3_direct(const float *in, long in_channel_stride, int in_channels, const float *weights,
                        int out_channels, float *out, long out_channel_stride, int accumulate, int height,
                        int width, const unsigned short *tap_masks, int first, int last) { __builtin_trap(); }
void ddp_conv3x3_weight_partials(const float *dy, long dy_channel_stride, int out_channels, const float *x,
                                 long x_channel_stride, int in_channels, int height, int width,
                                 const unsigned short *tap_masks, int first, int last, double *partial) {
    __builtin_trap();
}
void ddp_conv3x3_reduce_partials(const double *partial, int out_channels, int in_channels, float *dw) {
    __builtin_trap();
}
void ddp_conv3x3_tap_masks(int height, int width, unsigned short *table) { __builtin_trap(); }

void ddp_phases(const float *in, long in_channel_stride, int channels, int height, int width, int first, int last,
                float *out, long out_channel_stride, long phase_stride) { __builtin_trap(); }
void ddp_unphase(const float *phases, long channel_stride, long phase_stride, int channels, int height, int width,
                 int first, int last, float *out, long out_channel_stride, int accumulate) { __builtin_trap(); }
void ddp_conv3x3s2_direct(const float *phases, long channel_stride, long phase_stride, int in_channels,
                          const float *weights, int out_channels, float *out, long out_channel_stride, int out_height,
                          int out_width, const unsigned short *tap_masks, int first, int last) { __builtin_trap(); }
void ddp_arrange_s2_input_gradient(const float *weights, int out_channels, int in_channels, float *blocks) {
    __builtin_trap();
}
void ddp_conv3x3s2_input_gradient(const float *dy, long dy_channel_stride, int out_channels, const float *blocks,
                                  int in_channels, float *phases, long channel_stride, long phase_stride,
                                  int out_height, int out_width, const unsigned short *tap_masks, int first, int last) {
    __builtin_trap();
}
void ddp_conv3x3s2_weight_partials(const float *dy, long dy_channel_stride, int out_channels, const float *phases,
                                   long channel_stride, long phase_stride, int in_channels, int out_height,
                                   int out_width, const unsigned short *tap_masks, int first, int last,
                                   double *partial) { __builtin_trap(); }

#endif
