// Winograd F(4x4, 3x3): a 4x4 output tile from a 6x6 input tile, 36 multiplies instead of 144
// (4x fewer). Interpolation points 0, 1, -1, 2, -2 and infinity.
//
// In 1-D, F(4, 3) computes y_i = sum_j g_j d_{i+j} (i < 4, j < 3) from 6 inputs as
// y = A^T [(G g) . (B^T d)] with
//
//         | 4  0 -5  0  1  0 |         |  1/4     0     0   |
//         | 0 -4 -4  1  1  0 |         | -1/6  -1/6  -1/6  |         | 1  1  1  1  1  0 |
//   B^T = | 0  4 -4 -1  1  0 |     G = | -1/6   1/6  -1/6  |   A^T = | 0  1 -1  2 -2  0 |
//         | 0 -2 -1  2  1  0 |         |  1/24  1/12  1/6  |         | 0  1  1  4  4  0 |
//         | 0  2 -1 -2  1  0 |         |  1/24 -1/12  1/6  |         | 0  1 -1  8 -8  1 |
//         | 0  4  0 -5  0  1 |         |   0     0     1   |
//
// Where they come from (as for F(2x2, 3x3), winograd_f2x2.c): transposed Toom-Cook. Row k of G
// is [1, p_k, p_k^2] / prod_{q != p_k} (p_k - q) over the finite points, so 1/4 for 0, -1/6 for
// +-1, 1/24 for +-2 (infinity: the leading coefficient alone); column k of A^T is the powers
// 1, p_k, p_k^2, p_k^3 of the point; B^T holds the Lagrange numerators' coefficients, integral
// because the denominators went into G. The 2-D tile: Y = A^T [(G g G^T) . (B^T d B)] A, and
// the weight gradient of the same tiles, F(3x3, 4x4): dW = G^T [(A dY A^T) . (B^T d B)] G.
// The points +-2 make the entries grow (8 in A^T, 1/24 in G): the rounding error is larger than
// F(2x2, 3x3)'s (measured in WinogradConvolutionTests).
#include "winograd.h"

// B^T on lanes: 6 -> 6.
static void bt(const float *restrict d, long s, float *restrict o, long t) {
    for (int l = 0; l < WINO_LANES; l++) {
        const float d0 = d[l], d1 = d[s + l], d2 = d[2 * s + l], d3 = d[3 * s + l], d4 = d[4 * s + l],
                    d5 = d[5 * s + l];
        o[l] = 4 * d0 - 5 * d2 + d4;
        o[t + l] = d3 + d4 - 4 * (d1 + d2);
        o[2 * t + l] = d4 - d3 + 4 * (d1 - d2);
        o[3 * t + l] = d4 - d2 + 2 * (d3 - d1);
        o[4 * t + l] = d4 - d2 + 2 * (d1 - d3);
        o[5 * t + l] = 4 * d1 - 5 * d3 + d5;
    }
}

// A^T on lanes: 6 -> 4.
static void at(const float *restrict m, long s, float *restrict o, long t) {
    for (int l = 0; l < WINO_LANES; l++) {
        const float m0 = m[l], m1 = m[s + l], m2 = m[2 * s + l], m3 = m[3 * s + l], m4 = m[4 * s + l],
                    m5 = m[5 * s + l];
        const float sum12 = m1 + m2, diff12 = m1 - m2, sum34 = m3 + m4, diff34 = m3 - m4;
        o[l] = m0 + sum12 + sum34;
        o[t + l] = diff12 + 2 * diff34;
        o[2 * t + l] = sum12 + 4 * sum34;
        o[3 * t + l] = diff12 + 8 * diff34 + m5;
    }
}

// A on lanes: 4 -> 6 (an output-gradient tile into the transform domain).
static void a(const float *restrict g, long s, float *restrict o, long t) {
    for (int l = 0; l < WINO_LANES; l++) {
        const float g0 = g[l], g1 = g[s + l], g2 = g[2 * s + l], g3 = g[3 * s + l];
        const float even1 = g0 + g2, odd1 = g1 + g3, even2 = g0 + 4 * g2, odd2 = 2 * g1 + 8 * g3;
        o[l] = g0;
        o[t + l] = even1 + odd1;
        o[2 * t + l] = even1 - odd1;
        o[3 * t + l] = even2 + odd2;
        o[4 * t + l] = even2 - odd2;
        o[5 * t + l] = g3;
    }
}

// G on lanes: 3 -> 6.
static void g(const float *restrict f, long s, float *restrict o, long t) {
    for (int l = 0; l < WINO_LANES; l++) {
        const float f0 = f[l], f1 = f[s + l], f2 = f[2 * s + l];
        const float even1 = f0 + f2, even2 = f0 / 24 + f2 / 6;
        o[l] = f0 / 4;
        o[t + l] = -(even1 + f1) / 6;
        o[2 * t + l] = -(even1 - f1) / 6;
        o[3 * t + l] = even2 + f1 / 12;
        o[4 * t + l] = even2 - f1 / 12;
        o[5 * t + l] = f2;
    }
}

// G^T on lanes: 6 -> 3.
static void gt(const float *restrict m, long s, float *restrict o, long t) {
    for (int l = 0; l < WINO_LANES; l++) {
        const float m0 = m[l], m1 = m[s + l], m2 = m[2 * s + l], m3 = m[3 * s + l], m4 = m[4 * s + l],
                    m5 = m[5 * s + l];
        o[l] = m0 / 4 - (m1 + m2) / 6 + (m3 + m4) / 24;
        o[t + l] = (m2 - m1) / 6 + (m3 - m4) / 12;
        o[2 * t + l] = (m3 + m4 - m1 - m2) / 6 + m5;
    }
}

static void input(const float *restrict d, long is, float *restrict v, long os) {
    wino_2d(bt, bt, 6, 6, 6, 6, d, is, v, os);
}
static void output(const float *restrict m, long is, float *restrict y, long os) {
    wino_2d(at, at, 6, 6, 4, 4, m, is, y, os);
}
static void gradient(const float *restrict dy, long is, float *restrict v, long os) {
    wino_2d(a, a, 4, 4, 6, 6, dy, is, v, os);
}
static void filter(const float *restrict f, long is, float *restrict u, long os) {
    wino_2d(g, g, 3, 3, 6, 6, f, is, u, os);
}
static void filter_gradient(const float *restrict m, long is, float *restrict dw, long os) {
    wino_2d(gt, gt, 6, 6, 3, 3, m, is, dw, os);
}

const struct wino_tile wino_f4x4 = {4, 6, input, output, gradient, filter, filter_gradient};
