// See include/ckernels.h for the layout and contracts.
#include "ckernels.h"
#include "avx512.h"

#if DDP_X86

int ddp_avx512_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") ? 1 : 0;
}

// Writes the interior lanes (mask `interior`) of v to out, packed (the interior pixels of a run
// of positions are consecutive in [N][H][W]); adds to what is there when accumulating. Returns
// how many were written.
AVX512 static int store_interior(float *out, __m512 v, __mmask16 interior, int accumulate) {
    const int n = __builtin_popcount(interior);
    const __mmask16 first_n = lanes(n);
    __m512 packed = _mm512_maskz_compress_ps(interior, v);
    if (accumulate) packed = _mm512_add_ps(packed, _mm512_maskz_loadu_ps(first_n, out));
    _mm512_mask_storeu_ps(out, first_n, packed);
    return n;
}

// Tile of the forward kernel: 8 output channels x 48 positions (3 vectors) = 24 accumulators;
// per input channel and shift, 3 vector loads and 8 broadcasts feed 24 FMAs. m0..m2 mask the
// positions past the run's end, k0..k2 the interior ones among them, whose results go to `out`.
AVX512 static void tile_8x48(const float *in, long in_stride, int in_channels, const float *weights,
                             const long *shifts, float *out, long out_stride, __mmask16 m0, __mmask16 m1,
                             __mmask16 m2, __mmask16 k0, __mmask16 k1, __mmask16 k2, int accumulate) {
    __m512 acc[8][3];
    for (int i = 0; i < 8; i++) acc[i][0] = acc[i][1] = acc[i][2] = _mm512_setzero_ps();
    // Channel outer, tap inner: the nine taps of a channel read the same few cache lines one
    // after the other, while they are in L1.
    for (int c = 0; c < in_channels; c++) {
        const float *xc = in + c * in_stride;
        for (int s = 0; s < 9; s++) {
            const float *x = xc + shifts[s];
            const float *w = weights + ((long)s * in_channels + c) * 8;
            // Lanes past the run's end read nothing: that is another thread's images.
            __m512 b0 = _mm512_maskz_loadu_ps(m0, x), b1 = _mm512_maskz_loadu_ps(m1, x + 16),
                   b2 = _mm512_maskz_loadu_ps(m2, x + 32);
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) {
                __m512 v = _mm512_set1_ps(w[i]);
                acc[i][0] = _mm512_fmadd_ps(v, b0, acc[i][0]);
                acc[i][1] = _mm512_fmadd_ps(v, b1, acc[i][1]);
                acc[i][2] = _mm512_fmadd_ps(v, b2, acc[i][2]);
            }
        }
    }
    for (int i = 0; i < 8; i++, out += out_stride) {
        float *o = out;
        o += store_interior(o, acc[i][0], k0, accumulate);
        o += store_interior(o, acc[i][1], k1, accumulate);
        store_interior(o, acc[i][2], k2, accumulate);
    }
}

// The padded planes' geometry (see ckernels.h): rows `width + 1` apart, images `height + 1` rows
// apart, interior pixel (y, x) of image n at n * image + (y + 1) * pitch + 1 + x.
struct planes {
    long pitch, image;
};

static struct planes planes_of(int height, int width) {
    const struct planes g = {width + 1, (long)(height + 1) * (width + 1)};
    return g;
}

// The first interior position of image `first` and one past the last of image `last - 1`:
// the run a range of images is computed over (shared border positions included).
static long run_begin(struct planes g, int first) { return first * g.image + g.pitch + 1; }
static long run_end(struct planes g, int height, int width, int last) {
    return (last - 1) * g.image + height * g.pitch + width + 1;
}

// Bit l set when position p + l is an interior pixel (not in a shared zero column or row).
static __mmask16 interior_lanes(struct planes g, int height, long p) {
    const long within = p % g.image;
    long row = within / g.pitch, column = within % g.pitch;
    unsigned bits = 0;
    for (int l = 0; l < 16; l++) {
        if (row >= 1 && row <= height && column >= 1) bits |= 1u << l;
        if (++column == g.pitch) {
            column = 0;
            if (++row == height + 1) row = 0;
        }
    }
    return (__mmask16)bits;
}

AVX512 void ddp_conv3x3_direct(const float *in, long in_channel_stride, int in_channels,
                               const float *weights, int out_channels,
                               float *out, long out_channel_stride, int accumulate,
                               int height, int width, int first, int last) {
    if (first >= last) return;
    const struct planes g = planes_of(height, width);
    long shifts[9];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) shifts[i * 3 + j] = (i - 1) * g.pitch + (j - 1);
    // One run over all the images: the border positions between rows and images cost little
    // (one column and one row are shared) and are left out when storing; the last tile loads
    // only up to the last pixel.
    const long end = run_end(g, height, width, last);
    float *at = out + (long)first * height * width;
    for (long p = run_begin(g, first); p < end; p += 48) {
        const long left = end - p;
        const __mmask16 m0 = lanes(left), m1 = lanes(left - 16), m2 = lanes(left - 32);
        const __mmask16 k0 = m0 & interior_lanes(g, height, p), k1 = m1 & interior_lanes(g, height, p + 16),
                        k2 = m2 & interior_lanes(g, height, p + 32);
        for (int o = 0; o < out_channels; o += 8)
            tile_8x48(in + p, in_channel_stride, in_channels, weights + (long)o * 9 * in_channels, shifts,
                      at + o * out_channel_stride, out_channel_stride, m0, m1, m2, k0, k1, k2, accumulate);
        at += __builtin_popcount(k0) + __builtin_popcount(k1) + __builtin_popcount(k2);
    }
}

// Weight-gradient tile: OT output channels x CT input channels x the 3 taps of one kernel row,
// OT * CT * 3 = 24 accumulators (4 x 2, or 8 x 1 for a single input channel), summed over a run
// of positions 16 at a time (dy's zero borders make the border positions add nothing). The
// three taps read the same cache lines of x, so per vector of positions OT + CT lines feed 24
// FMAs. `partial` holds the 24 lane vectors. Inlined with constant OT and CT, the loops unroll
// and the accumulators stay in registers.
#define TILE_VECTORS 24

__attribute__((always_inline)) AVX512 static inline void wtile(const int ot, const int ct, const float *dy,
                                                               long dy_stride, const float *x, long x_stride,
                                                               long count, float *partial) {
    __m512 acc[8][2][3];
    for (int o = 0; o < ot; o++)
        for (int c = 0; c < ct; c++)
            for (int j = 0; j < 3; j++) acc[o][c][j] = _mm512_loadu_ps(partial + ((o * ct + c) * 3 + j) * 16);
    long p = 0;
    for (; p + 16 <= count; p += 16) {
        __m512 d[8];
        for (int o = 0; o < ot; o++) d[o] = _mm512_loadu_ps(dy + o * dy_stride + p);
        for (int c = 0; c < ct; c++)
            for (int j = 0; j < 3; j++) {
                const __m512 v = _mm512_loadu_ps(x + c * x_stride + p + j - 1);
                for (int o = 0; o < ot; o++) acc[o][c][j] = _mm512_fmadd_ps(d[o], v, acc[o][c][j]);
            }
    }
    if (p < count) {  // the tail, masked: nothing past the run is read
        const __mmask16 m = lanes(count - p);
        __m512 d[8];
        for (int o = 0; o < ot; o++) d[o] = _mm512_maskz_loadu_ps(m, dy + o * dy_stride + p);
        for (int c = 0; c < ct; c++)
            for (int j = 0; j < 3; j++) {
                const __m512 v = _mm512_maskz_loadu_ps(m, x + c * x_stride + p + j - 1);
                for (int o = 0; o < ot; o++) acc[o][c][j] = _mm512_fmadd_ps(d[o], v, acc[o][c][j]);
            }
    }
    for (int o = 0; o < ot; o++)
        for (int c = 0; c < ct; c++)
            for (int j = 0; j < 3; j++) _mm512_storeu_ps(partial + ((o * ct + c) * 3 + j) * 16, acc[o][c][j]);
}

// Input channels per weight-gradient tile: pairs, or one when there is only one.
static int tile_inputs(int in_channels) { return in_channels == 1 ? 1 : 2; }

// The partial sums of tile (kernel row i, outputs o.., inputs c..): TILE_VECTORS vectors.
static float *wtile_partial(float *partial, int out_channels, int in_channels, int i, int o, int c) {
    const int ct = tile_inputs(in_channels), ot = TILE_VECTORS / 3 / ct;
    const long tiles_per_row = (long)(out_channels / ot) * ((in_channels + ct - 1) / ct);
    return partial + ((long)i * tiles_per_row + (long)(o / ot) * ((in_channels + ct - 1) / ct) + c / ct) * TILE_VECTORS * 16;
}

AVX512 void ddp_conv3x3_weight_partials(const float *dy, long dy_channel_stride, int out_channels,
                                        const float *x, long x_channel_stride, int in_channels,
                                        int height, int width, int first, int last, float *partial) {
    const struct planes g = planes_of(height, width);
    const int ct = tile_inputs(in_channels), ot = TILE_VECTORS / 3 / ct;
    // Images in blocks of about 512 KiB of dy and x: measured fastest (the tiles reread each
    // block's rows 3 * (C/2) and 3 * (O/4) times, from L2).
    const long per_image = (long)(out_channels + in_channels) * g.image * 4;
    int block = (int)((512L << 10) / (per_image > 0 ? per_image : 1));
    if (block < 1) block = 1;
    for (int n0 = first; n0 < last; n0 += block) {
        const int n1 = n0 + block < last ? n0 + block : last;
        const long begin = run_begin(g, n0), count = run_end(g, height, width, n1) - begin;
        for (int i = 0; i < 3; i++)
            for (int o = 0; o < out_channels; o += ot)
                for (int c = 0; c < in_channels; c += ct) {  // an odd count's last pair reads the zero run
                    const float *d = dy + o * dy_channel_stride + begin;
                    const float *xs = x + c * x_channel_stride + begin + (i - 1) * g.pitch;
                    float *ps = wtile_partial(partial, out_channels, in_channels, i, o, c);
                    if (ct == 1) wtile(8, 1, d, dy_channel_stride, xs, x_channel_stride, count, ps);
                    else wtile(4, 2, d, dy_channel_stride, xs, x_channel_stride, count, ps);
                }
    }
}

void ddp_conv3x3_reduce_partials(const float *partial, int out_channels, int in_channels, float *dw) {
    const int ct = tile_inputs(in_channels), ot = TILE_VECTORS / 3 / ct;
    for (int i = 0; i < 3; i++)
        for (int o = 0; o < out_channels; o += ot)
            for (int c = 0; c < in_channels; c += ct) {
                const float *tile = wtile_partial((float *)partial, out_channels, in_channels, i, o, c);
                for (int t = 0; t < TILE_VECTORS; t++) {
                    const float *l = tile + t * 16;
                    // Pairwise, in a fixed order: deterministic and a little more accurate.
                    float a[8];
                    for (int k = 0; k < 8; k++) a[k] = l[k] + l[k + 8];
                    for (int k = 0; k < 4; k++) a[k] += a[k + 4];
                    const float sum = (a[0] + a[2]) + (a[1] + a[3]);
                    const int oo = o + t / (3 * ct), cc = c + (t / 3) % ct, j = t % 3;
                    if (cc == in_channels) continue;  // the zero run after an odd count
                    dw[((long)oo * in_channels + cc) * 9 + i * 3 + j] = sum;
                }
            }
}

AVX512 void ddp_conv3x3_load_planes(const float *src, int channels, int batch, int height, int width,
                                    int first, int last, float *planes, long channel_stride) {
    const struct planes g = planes_of(height, width);
    const long hw = (long)height * width;
    for (int c = 0; c < channels; c++)
        for (int n = first; n < last; n++) {
            const float *from = src + ((long)c * batch + n) * hw;
            float *to = planes + c * channel_stride + n * g.image + g.pitch + 1;
            for (int y = 0; y < height; y++, from += width, to += g.pitch)
                for (int x = 0; x < width; x += 16) {
                    const __mmask16 m = lanes(width - x);
                    _mm512_mask_storeu_ps(to + x, m, _mm512_maskz_loadu_ps(m, from + x));
                }
        }
}

#else

int ddp_avx512_available(void) { return 0; }
void ddp_conv3x3_direct(const float *in, long in_channel_stride, int in_channels, const float *weights,
                        int out_channels, float *out, long out_channel_stride, int accumulate, int height,
                        int width, int first, int last) { __builtin_trap(); }
void ddp_conv3x3_weight_partials(const float *dy, long dy_channel_stride, int out_channels, const float *x,
                                 long x_channel_stride, int in_channels, int height, int width, int first,
                                 int last, float *partial) { __builtin_trap(); }
void ddp_conv3x3_reduce_partials(const float *partial, int out_channels, int in_channels, float *dw) {
    __builtin_trap();
}
void ddp_conv3x3_load_planes(const float *src, int channels, int batch, int height, int width, int first, int last,
                             float *planes, long channel_stride) {
    __builtin_trap();
}

#endif
