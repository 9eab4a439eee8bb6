// Shared by the Winograd files (not part of the module's interface): the per-tile-size
// transforms and the one helper that builds a 2-D transform out of two 1-D ones.
//
// Every transform works on WINO_LANES tiles at once, the tile index innermost ("lanes"): a
// matrix of r x c values is stored [r][c][WINO_LANES], so each line of a transform is a loop
// over the lanes with contiguous loads and stores, which the compiler vectorizes for whatever
// instruction set it targets (plain C: no intrinsics, the same code on every CPU).
#ifndef DDP_WINOGRAD_H
#define DDP_WINOGRAD_H

#define WINO_LANES 16
// The largest tile, alpha = 6 (F(4x4, 3x3)).
#define WINO_MAX_ALPHA 6

// One line of a transform on lanes: the `n_in` values in[k * in_step + lane] become the `n_out`
// values out[k * out_step + lane], for every lane (the sizes are the function's own).
typedef void (*wino_line)(const float *restrict in, long in_step, float *restrict out, long out_step);

// A 2-D transform on lanes: element (i, j) of the matrix `in` is the WINO_LANES floats at
// in + (i * cols + j) * in_stride, and likewise for `out` (so a transform can read and write the
// GEMM operands in place: stride one row of the operand per position).
typedef void (*wino_transform)(const float *restrict in, long in_stride, float *restrict out, long out_stride);

// The five transforms of F(m x m, 3 x 3) with alpha = m + 2 (the matrices are in the size's file).
struct wino_tile {
    int m, alpha;
    wino_transform input;            // d [alpha][alpha] -> B^T d B   [alpha][alpha]
    wino_transform output;           // M [alpha][alpha] -> A^T M A   [m][m]
    wino_transform gradient;         // g [m][m]         -> A g A^T   [alpha][alpha]
    wino_transform filter;           // f [3][3]         -> G f G^T   [alpha][alpha]
    wino_transform filter_gradient;  // M [alpha][alpha] -> G^T M G   [3][3]
};

extern const struct wino_tile wino_f2x2, wino_f4x4;

// Where the WINO_LANES tiles first.. of a block lie: for a window of `size` x `size` pixels
// whose corner is `shift` pixels before the tile's corner (-1: the input window with its ring of
// padding; 0: the output tile itself). For lane l: the window's first pixel as an offset into a
// channel plane of the batch (negative at the top-left border: only in-range pixels are read),
// and its rows and columns inside the image, [row0, row1) x [col0, col1), all of it when
// `whole`. Only `lanes` tiles exist; the others are empty windows (they load zeros).
struct windows {
    long origin[WINO_LANES];
    int row0[WINO_LANES], row1[WINO_LANES], col0[WINO_LANES], col1[WINO_LANES];
    unsigned char whole[WINO_LANES];
};

// The windows of the lane group that starts at tile `first` (winograd.c).
void wino_locate(struct windows *w, long first, int lanes, int m, int size, int shift, int height, int width);

// out = P X Q^T for X [rows_in][cols_in] on lanes (strides as for wino_transform): `column`
// applies P (rows_in -> rows_out) down every column, then `row` applies Q (cols_in -> cols_out)
// along every row of P X. Inlined with constant arguments the two calls become direct and are
// inlined in turn. (rows_in is the column function's own size, named here for the reader.)
__attribute__((always_inline)) static inline void wino_2d(wino_line column, wino_line row, int rows_in,
                                                          int cols_in, int rows_out, int cols_out,
                                                          const float *restrict in, long in_stride,
                                                          float *restrict out, long out_stride) {
    float half[WINO_MAX_ALPHA * WINO_MAX_ALPHA * WINO_LANES];  // P X: [rows_out][cols_in]
    const long step = (long)cols_in * WINO_LANES;
    (void)rows_in;
    for (int j = 0; j < cols_in; j++) column(in + j * in_stride, cols_in * in_stride, half + j * WINO_LANES, step);
    for (int i = 0; i < rows_out; i++) row(half + i * step, WINO_LANES, out + i * cols_out * out_stride, out_stride);
}

#endif
