// Winograd F(2x2, 3x3): a 2x2 output tile from a 4x4 input tile, 16 multiplies instead of 36
// (2.25x fewer). Interpolation points 0, 1, -1 and infinity.
//
// In 1-D, F(2, 3) computes y_i = sum_j g_j d_{i+j} (i < 2, j < 3) from 4 inputs as
// y = A^T [(G g) . (B^T d)] with
//
//         | 1  0 -1  0 |         |  1    0    0  |
//   B^T = | 0  1  1  0 |     G = | 1/2  1/2  1/2 |     A^T = | 1  1  1  0 |
//         | 0 -1  1  0 |         | 1/2 -1/2  1/2 |           | 0  1 -1 -1 |
//         | 0  1  0 -1 |         |  0    0    1  |
//
// Where they come from: it is Toom-Cook polynomial multiplication, transposed. Row k of G
// evaluates the filter polynomial g0 + g1 x + g2 x^2 at point p_k, divided by the Lagrange
// denominator prod_{q != p_k} (p_k - q) over the finite points (the point infinity takes the
// leading coefficient g2); column k of A^T holds the powers 1, p_k of the point (infinity: the
// leading power alone); B^T holds the Lagrange numerators' coefficients (signs moved between B
// and G to keep B^T integral). The 2-D tile is the 1-D algorithm along both axes:
//   Y = A^T [(G g G^T) . (B^T d B)] A.
// The weight gradient of the same tiles is F(3x3, 2x2), the transpose of the forward one
// (dW_j = sum_i dy_i d_{i+j}): dW = G^T [(A dY A^T) . (B^T d B)] G, the same three matrices.
#include "winograd.h"

// B^T on lanes: 4 -> 4.
static void bt(const float *restrict d, long s, float *restrict o, long t) {
    for (int l = 0; l < WINO_LANES; l++) {
        const float d0 = d[l], d1 = d[s + l], d2 = d[2 * s + l], d3 = d[3 * s + l];
        o[l] = d0 - d2;
        o[t + l] = d1 + d2;
        o[2 * t + l] = d2 - d1;
        o[3 * t + l] = d1 - d3;
    }
}

// A^T on lanes: 4 -> 2.
static void at(const float *restrict m, long s, float *restrict o, long t) {
    for (int l = 0; l < WINO_LANES; l++) {
        const float m0 = m[l], m1 = m[s + l], m2 = m[2 * s + l], m3 = m[3 * s + l];
        o[l] = m0 + m1 + m2;
        o[t + l] = m1 - m2 - m3;
    }
}

// A on lanes: 2 -> 4 (an output-gradient tile into the transform domain).
static void a(const float *restrict g, long s, float *restrict o, long t) {
    for (int l = 0; l < WINO_LANES; l++) {
        const float g0 = g[l], g1 = g[s + l];
        o[l] = g0;
        o[t + l] = g0 + g1;
        o[2 * t + l] = g0 - g1;
        o[3 * t + l] = -g1;
    }
}

// G on lanes: 3 -> 4.
static void g(const float *restrict f, long s, float *restrict o, long t) {
    for (int l = 0; l < WINO_LANES; l++) {
        const float f0 = f[l], f1 = f[s + l], f2 = f[2 * s + l];
        o[l] = f0;
        o[t + l] = 0.5f * (f0 + f1 + f2);
        o[2 * t + l] = 0.5f * (f0 - f1 + f2);
        o[3 * t + l] = f2;
    }
}

// G^T on lanes: 4 -> 3.
static void gt(const float *restrict m, long s, float *restrict o, long t) {
    for (int l = 0; l < WINO_LANES; l++) {
        const float m0 = m[l], m1 = m[s + l], m2 = m[2 * s + l], m3 = m[3 * s + l];
        o[l] = m0 + 0.5f * (m1 + m2);
        o[t + l] = 0.5f * (m1 - m2);
        o[2 * t + l] = 0.5f * (m1 + m2) + m3;
    }
}

static void input(const float *restrict d, long is, float *restrict v, long os) {
    wino_2d(bt, bt, 4, 4, 4, 4, d, is, v, os);
}
static void output(const float *restrict m, long is, float *restrict y, long os) {
    wino_2d(at, at, 4, 4, 2, 2, m, is, y, os);
}
static void gradient(const float *restrict dy, long is, float *restrict v, long os) {
    wino_2d(a, a, 2, 2, 4, 4, dy, is, v, os);
}
static void filter(const float *restrict f, long is, float *restrict u, long os) {
    wino_2d(g, g, 3, 3, 4, 4, f, is, u, os);
}
static void filter_gradient(const float *restrict m, long is, float *restrict dw, long os) {
    wino_2d(gt, gt, 4, 4, 3, 3, m, is, dw, os);
}

const struct wino_tile wino_f2x2 = {2, 4, input, output, gradient, filter, filter_gradient};
