// Winograd F(4x4, 3x3)'s three passes over the tiles (input, output gradient, output; the
// layouts of include/ckernels.h) for CPUs with AVX-512. The portable passes (winograd.c) copy
// each window into a lane-major scratch one pixel at a time and transform it 4 floats at a
// time. Here a window's rows are masked vector loads (the mask: its pixels inside the image),
// the transform down the columns runs on those rows, a transpose in registers turns tiles into
// lanes, and the transform along the rows runs on 16 tiles at once; the output pass runs the
// same steps backwards and stores rows. (Gathers and scatters, tried first, were no faster
// than the portable copies on Zen 4.)
//
// The arithmetic is winograd_f4x4.c's, operation for operation in the same order (columns
// first, then rows; no fused multiply-adds), so every result is bit for bit the portable one
// (WinogradConvolutionTests checks it), and ranks on either path round alike.
//
// Lanes in registers: a 6-wide window row takes half a register (8 floats), a 4-wide tile row a
// quarter (4 floats). The transposes below work within 128-bit quarters, so the tiles are
// placed where the quarters' shuffles bring them back to the order 0..15.
#include "ckernels.h"
#include "winograd.h"
#include "avx512.h"

#if DDP_X86

#pragma clang fp contract(off)

// Row i of lane l's window: where it starts in a channel plane, and its pixels inside the
// image as bits of its columns (0 for a row outside the image and for an absent lane). Worked
// out once per lane group, for all the channels.
struct window_rows {
    long start[6][WINO_LANES];
    unsigned mask[6][WINO_LANES];
};

static void window_rows(const struct windows *w, int size, int width, struct window_rows *r) {
    for (int l = 0; l < WINO_LANES; l++) {
        const unsigned cols = ((1u << w->col1[l]) - 1) & ~((1u << w->col0[l]) - 1);
        for (int i = 0; i < size; i++) {
            r->start[i][l] = w->origin[l] + (long)i * width;
            r->mask[i][l] = w->row0[l] <= i && i < w->row1[l] ? cols : 0;
        }
    }
}

#define ADD _mm512_add_ps
#define SUB _mm512_sub_ps
#define MUL(c, x) _mm512_mul_ps(_mm512_set1_ps(c), x)

// B^T: 6 -> 6 (winograd_f4x4.c's bt).
AVX512 static inline void bt(const __m512 *d, __m512 *o) {
    o[0] = ADD(SUB(MUL(4, d[0]), MUL(5, d[2])), d[4]);
    o[1] = SUB(ADD(d[3], d[4]), MUL(4, ADD(d[1], d[2])));
    o[2] = ADD(SUB(d[4], d[3]), MUL(4, SUB(d[1], d[2])));
    o[3] = ADD(SUB(d[4], d[2]), MUL(2, SUB(d[3], d[1])));
    o[4] = ADD(SUB(d[4], d[2]), MUL(2, SUB(d[1], d[3])));
    o[5] = ADD(SUB(MUL(4, d[1]), MUL(5, d[3])), d[5]);
}

// A^T: 6 -> 4 (at).
AVX512 static inline void at(const __m512 *m, __m512 *o) {
    const __m512 sum12 = ADD(m[1], m[2]), diff12 = SUB(m[1], m[2]), sum34 = ADD(m[3], m[4]),
                 diff34 = SUB(m[3], m[4]);
    o[0] = ADD(ADD(m[0], sum12), sum34);
    o[1] = ADD(diff12, MUL(2, diff34));
    o[2] = ADD(sum12, MUL(4, sum34));
    o[3] = ADD(ADD(diff12, MUL(8, diff34)), m[5]);
}

// A: 4 -> 6 (a).
AVX512 static inline void a(const __m512 *g, __m512 *o) {
    const __m512 even1 = ADD(g[0], g[2]), odd1 = ADD(g[1], g[3]), even2 = ADD(g[0], MUL(4, g[2])),
                 odd2 = ADD(MUL(2, g[1]), MUL(8, g[3]));
    o[0] = g[0];
    o[1] = ADD(even1, odd1);
    o[2] = SUB(even1, odd1);
    o[3] = ADD(even2, odd2);
    o[4] = SUB(even2, odd2);
    o[5] = g[3];
}

// The lanes of the group of a block that starts at tile t.
static int group_lanes(int count, int t) { return count - t < WINO_LANES ? count - t : WINO_LANES; }

// out[j] (j < 6) = element j of the 16 lanes, from r[p] = [lane a(p): 8 values | lane b(p): 8
// values], (a, b) = (p, p + 4) for p < 4 and (p + 4, p + 8) after.
AVX512 static void transpose_halves(const __m512 *r, __m512 *out) {
    __m512 s[8];
    for (int h = 0; h < 2; h++) {
        const __m512 *q = r + 4 * h;
        const __m512 t0 = _mm512_unpacklo_ps(q[0], q[1]), t1 = _mm512_unpackhi_ps(q[0], q[1]);
        const __m512 t2 = _mm512_unpacklo_ps(q[2], q[3]), t3 = _mm512_unpackhi_ps(q[2], q[3]);
        // s[4h + e], quarter c: element e + 4 (c & 1) of the lanes a (c < 2) or b (c >= 2) of
        // r[4h .. 4h + 3], so quarters 0 and 2 of s[e] and s[4 + e] hold element e of lanes
        // 0-3, 4-7, 8-11 and 12-15, and quarters 1 and 3 element e + 4.
        s[4 * h + 0] = _mm512_shuffle_ps(t0, t2, 0x44);
        s[4 * h + 1] = _mm512_shuffle_ps(t0, t2, 0xEE);
        s[4 * h + 2] = _mm512_shuffle_ps(t1, t3, 0x44);
        s[4 * h + 3] = _mm512_shuffle_ps(t1, t3, 0xEE);
    }
    for (int e = 0; e < 4; e++) out[e] = _mm512_shuffle_f32x4(s[e], s[4 + e], 0x88);
    for (int e = 0; e < 2; e++) out[4 + e] = _mm512_shuffle_f32x4(s[e], s[4 + e], 0xDD);
}

// The 4 x 4 transpose inside every quarter: out[e] quarter c = element e of in[0..3] quarter c.
AVX512 static void transpose_quarters(const __m512 *in, __m512 *out) {
    const __m512 t0 = _mm512_unpacklo_ps(in[0], in[1]), t1 = _mm512_unpackhi_ps(in[0], in[1]);
    const __m512 t2 = _mm512_unpacklo_ps(in[2], in[3]), t3 = _mm512_unpackhi_ps(in[2], in[3]);
    out[0] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t2)));
    out[1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t2)));
    out[2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t1), _mm512_castps_pd(t3)));
    out[3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t1), _mm512_castps_pd(t3)));
}

// The input pass's columns of one channel: columns[k][p] = B^T d of the windows of lane pair p
// (8 columns each, as transpose_halves takes them).
AVX512 static inline void input_columns(const float *plane, const struct window_rows *r, __m512 (*columns)[8]) {
    for (int p = 0; p < 8; p++) {
        const int la = p < 4 ? p : p + 4, lb = la + 4;
        __m512 d[6], o[6];
        for (int i = 0; i < 6; i++) {
            // Lane lb's row goes to elements 8..15: its load starts 8 floats early, masked.
            d[i] = _mm512_maskz_loadu_ps((__mmask16)r->mask[i][la], plane + r->start[i][la]);
            d[i] = _mm512_mask_loadu_ps(d[i], (__mmask16)(r->mask[i][lb] << 8), plane + r->start[i][lb] - 8);
        }
        bt(d, o);
        for (int k = 0; k < 6; k++) columns[k][p] = o[k];
    }
}

// Row k of the input pass: B^T d B over the 16 lanes.
AVX512 static inline void input_row(const __m512 *columns, __m512 *o) {
    __m512 row[6];
    transpose_halves(columns, row);
    bt(row, o);
}

// The output-gradient pass's columns of one channel: columns[k][e] = A g of lanes e, e + 4,
// e + 8 and e + 12, a quarter each (as transpose_quarters takes them).
AVX512 static inline void gradient_columns(const float *plane, const struct window_rows *r, __m512 (*columns)[8]) {
    for (int e = 0; e < 4; e++) {
        __m512 g[4], o[6];
        for (int i = 0; i < 4; i++) {
            g[i] = _mm512_setzero_ps();
            for (int q = 0; q < 4; q++) {
                const int l = 4 * q + e;
                g[i] = _mm512_mask_loadu_ps(g[i], (__mmask16)(r->mask[i][l] << (4 * q)), plane + r->start[i][l] - 4 * q);
            }
        }
        a(g, o);
        for (int k = 0; k < 6; k++) columns[k][e] = o[k];
    }
}

// Row k of the output-gradient pass: A g A^T over the 16 lanes.
AVX512 static inline void gradient_row(const __m512 *columns, __m512 *o) {
    __m512 row[4];
    transpose_quarters(columns, row);
    a(row, o);
}

// A pass into the transform domain: the `size` x `size` windows (corner `shift` pixels before
// the tile's) of the block's tiles, channels c0..<c1, into v [36][channels][ld]. Inlined with
// constant arguments, each pass is its own specialized loop.
__attribute__((always_inline)) AVX512 static inline void
into_lanes(void (*columns_of)(const float *, const struct window_rows *, __m512 (*)[8]),
           void (*row_of)(const __m512 *, __m512 *), int size, int shift, const float *x, long channel_stride,
           int channels, int c0, int c1, int height, int width, long first, int count, long ld, float *v) {
    const long os = (long)channels * ld;
    struct windows w;
    struct window_rows r;
    for (int t = 0; t < count; t += WINO_LANES) {
        wino_locate(&w, first + t, group_lanes(count, t), 4, size, shift, height, width);
        window_rows(&w, size, width, &r);
        for (int c = c0; c < c1; c++) {
            float *out = v + c * ld + t;
            __m512 columns[6][8];
            columns_of(x + c * channel_stride, &r, columns);
            for (int k = 0; k < 6; k++) {
                __m512 o[6];
                row_of(columns[k], o);
                for (int j = 0; j < 6; j++) _mm512_storeu_ps(out + (k * 6 + j) * os, o[j]);
            }
        }
    }
}

AVX512 void ddp_winograd4_input_tiles_avx512(const float *x, long channel_stride, int channels, int c0, int c1,
                                             int height, int width, long first, int count, long ld, float *v) {
    into_lanes(input_columns, input_row, 6, -1, x, channel_stride, channels, c0, c1, height, width, first, count, ld, v);
}

AVX512 void ddp_winograd4_gradient_tiles_avx512(const float *dy, long channel_stride, int channels, int c0, int c1,
                                                int height, int width, long first, int count, long ld, float *v) {
    into_lanes(gradient_columns, gradient_row, 4, 0, dy, channel_stride, channels, c0, c1, height, width, first, count,
               ld, v);
}

// Quarter q of v (the extract instruction takes q as a constant).
AVX512 static inline __m128 quarter(__m512 v, int q) {
    switch (q) {
    case 0: return _mm512_castps512_ps128(v);
    case 1: return _mm512_extractf32x4_ps(v, 1);
    case 2: return _mm512_extractf32x4_ps(v, 2);
    default: return _mm512_extractf32x4_ps(v, 3);
    }
}

AVX512 void ddp_winograd4_output_tiles_avx512(const float *products, int channels, int c0, int c1, int height,
                                              int width, long first, int count, long ld, float *y,
                                              long channel_stride, int accumulate) {
    const long is = (long)channels * ld;
    struct windows w;
    struct window_rows r;
    for (int t = 0; t < count; t += WINO_LANES) {
        wino_locate(&w, first + t, group_lanes(count, t), 4, 4, 0, height, width);
        window_rows(&w, 4, width, &r);
        for (int c = c0; c < c1; c++) {
            const float *in = products + c * ld + t;
            float *plane = y + c * channel_stride;
            __m512 half[4][6], m[6], o[4];  // A^T M: [4][6]
            for (int j = 0; j < 6; j++) {
                for (int i = 0; i < 6; i++) m[i] = _mm512_loadu_ps(in + (i * 6 + j) * is);
                at(m, o);
                for (int k = 0; k < 4; k++) half[k][j] = o[k];
            }
            for (int i = 0; i < 4; i++) {
                __m512 rows[4];  // rows[e] quarter q: output row i of lane 4q + e
                at(half[i], o);
                transpose_quarters(o, rows);
                for (int q = 0; q < 4; q++)
                    for (int e = 0; e < 4; e++) {
                        const int l = 4 * q + e;
                        const unsigned inside = r.mask[i][l];
                        float *to = plane + r.start[i][l];
                        if (inside == 0xF) {  // a whole row: plain 4-float stores (masked ones are slow on Zen 4)
                            __m128 value = quarter(rows[e], q);
                            if (accumulate) value = _mm_add_ps(_mm_loadu_ps(to), value);
                            _mm_storeu_ps(to, value);
                        } else if (inside) {
                            const __mmask16 k = (__mmask16)(inside << (4 * q));
                            __m512 value = rows[e];
                            if (accumulate) value = ADD(_mm512_maskz_loadu_ps(k, to - 4 * q), value);
                            _mm512_mask_storeu_ps(to - 4 * q, k, value);
                        }
                    }
            }
        }
    }
}

#else

void ddp_winograd4_input_tiles_avx512(const float *x, long channel_stride, int channels, int c0, int c1,
                                      int height, int width, long first, int count, long ld, float *v) {
    __builtin_trap();
}
void ddp_winograd4_gradient_tiles_avx512(const float *dy, long channel_stride, int channels, int c0, int c1,
                                         int height, int width, long first, int count, long ld, float *v) {
    __builtin_trap();
}
void ddp_winograd4_output_tiles_avx512(const float *products, int channels, int c0, int c1, int height,
                                       int width, long first, int count, long ld, float *y, long channel_stride,
                                       int accumulate) {
    __builtin_trap();
}

#endif
