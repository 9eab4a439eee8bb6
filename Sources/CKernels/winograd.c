// The Winograd convolution's passes between the plain [C][N][H][W] maps and the transform
// domain (see include/ckernels.h for the layouts; the matrices are in winograd_f2x2.c and
// winograd_f4x4.c). Tiles are numbered over the batch, image by image, row by row, and taken
// WINO_LANES at a time; a tile that runs past the image's edge (sizes that are not a multiple
// of the tile, and the padding ring) loads zeros there and stores only its pixels inside.
// Transformed rows are `ld` floats apart, ld a whole number of lane groups: each group's
// transform reads and writes the GEMM operands in place.
#include "ckernels.h"
#include "winograd.h"

static const struct wino_tile *tile_of(int m) { return m == 2 ? &wino_f2x2 : &wino_f4x4; }

static int clamp(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

void wino_locate(struct windows *w, long first, int lanes, int m, int size, int shift, int height, int width) {
    const int tiles_x = (width + m - 1) / m, tiles_y = (height + m - 1) / m;
    const long per_image = (long)tiles_x * tiles_y, plane = (long)height * width;
    for (int l = 0; l < WINO_LANES; l++) {
        const long t = first + l, n = t / per_image, r = t % per_image;
        const int y = (int)(r / tiles_x) * m + shift, x = (int)(r % tiles_x) * m + shift;
        w->origin[l] = n * plane + (long)y * width + x;
        w->row0[l] = clamp(-y, 0, size);
        w->row1[l] = l < lanes ? clamp(height - y, 0, size) : 0;
        w->col0[l] = clamp(-x, 0, size);
        w->col1[l] = clamp(width - x, 0, size);
        w->whole[l] = !w->row0[l] && !w->col0[l] && w->row1[l] == size && w->col1[l] == size;
    }
}

// d[i][j][l] = plane[window l's pixel (i, j)], 0 outside the image and for absent lanes.
// Inlined with a constant size, a whole window's copy is fully unrolled.
__attribute__((always_inline)) static inline void gather_sized(const struct windows *w, const float *plane,
                                                               const int size, int width, float *restrict d) {
    for (int l = 0; l < WINO_LANES; l++) {
        const float *src = plane + w->origin[l];
        if (w->whole[l]) {
            for (int i = 0; i < size; i++)
                for (int j = 0; j < size; j++) d[(i * size + j) * WINO_LANES + l] = src[(long)i * width + j];
            continue;
        }
        // An edge window: zeros, then the rectangle inside the image (no test per pixel).
        for (int k = 0; k < size * size; k++) d[k * WINO_LANES + l] = 0;
        for (int i = w->row0[l]; i < w->row1[l]; i++)
            for (int j = w->col0[l]; j < w->col1[l]; j++) d[(i * size + j) * WINO_LANES + l] = src[(long)i * width + j];
    }
}

static void gather(const struct windows *w, const float *plane, int size, int width, float *restrict d) {
    switch (size) {
    case 2: gather_sized(w, plane, 2, width, d); break;
    case 4: gather_sized(w, plane, 4, width, d); break;
    default: gather_sized(w, plane, 6, width, d); break;
    }
}

// plane[tile l's pixel (i, j)] (+)= y[i][j][l] for the pixels inside the image.
__attribute__((always_inline)) static inline void scatter_sized(const struct windows *w, const float *restrict y,
                                                                const int m, int width, int accumulate,
                                                                float *plane) {
    for (int l = 0; l < WINO_LANES; l++) {
        float *dst = plane + w->origin[l];
        const int rows = w->whole[l] ? m : w->row1[l], cols = w->whole[l] ? m : w->col1[l];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) {
                const float v = y[(i * m + j) * WINO_LANES + l];
                dst[(long)i * width + j] = accumulate ? dst[(long)i * width + j] + v : v;
            }
    }
}

static void scatter(const struct windows *w, const float *restrict y, int m, int width, int accumulate,
                    float *plane) {
    if (m == 2) scatter_sized(w, y, 2, width, accumulate, plane);
    else scatter_sized(w, y, 4, width, accumulate, plane);
}

// The windows of `size` (shift as in `locate`) of every tile of the block, for channels
// c0..<c1, transformed by `transform` straight into out [alpha^2][channels][ld] (ld in whole
// lane groups, so every group writes its 16 lanes: the absent tiles' zeros past `count`).
static void tiles_forward(const struct wino_tile *tile, wino_transform transform, int size, int shift,
                          const float *x, long channel_stride, int channels, int c0, int c1, int height,
                          int width, long first, int count, long ld, float *out) {
    float d[WINO_MAX_ALPHA * WINO_MAX_ALPHA * WINO_LANES];
    struct windows w;
    for (int t = 0; t < count; t += WINO_LANES) {
        wino_locate(&w, first + t, count - t < WINO_LANES ? count - t : WINO_LANES, tile->m, size, shift, height, width);
        for (int c = c0; c < c1; c++) {
            gather(&w, x + c * channel_stride, size, width, d);
            transform(d, WINO_LANES, out + c * ld + t, channels * ld);
        }
    }
}

void ddp_winograd_input_tiles(int m, const float *x, long channel_stride, int channels, int c0, int c1,
                              int height, int width, long first, int count, long ld, float *v) {
    const struct wino_tile *tile = tile_of(m);
    tiles_forward(tile, tile->input, tile->alpha, -1, x, channel_stride, channels, c0, c1, height, width, first,
                  count, ld, v);
}

void ddp_winograd_gradient_tiles(int m, const float *dy, long channel_stride, int channels, int c0, int c1,
                                 int height, int width, long first, int count, long ld, float *v) {
    const struct wino_tile *tile = tile_of(m);
    tiles_forward(tile, tile->gradient, m, 0, dy, channel_stride, channels, c0, c1, height, width, first, count,
                  ld, v);
}

void ddp_winograd_output_tiles(int m, const float *products, int channels, int c0, int c1, int height,
                               int width, long first, int count, long ld, float *y, long channel_stride,
                               int accumulate) {
    const struct wino_tile *tile = tile_of(m);
    float out[4 * 4 * WINO_LANES];
    struct windows w;
    for (int t = 0; t < count; t += WINO_LANES) {
        wino_locate(&w, first + t, count - t < WINO_LANES ? count - t : WINO_LANES, m, m, 0, height, width);
        for (int c = c0; c < c1; c++) {
            // The lanes past `count` of a last, short group are transformed but never stored.
            tile->output(products + c * ld + t, channels * ld, out, WINO_LANES);
            scatter(&w, out, m, width, accumulate, y + c * channel_stride);
        }
    }
}

// out[pos * row_stride + l] = transformed[pos][l] for the lanes present.
static void put_lanes(const float *restrict transformed, int positions, int lanes, long row_stride,
                      float *restrict out) {
    for (int pos = 0; pos < positions; pos++)
        for (int l = 0; l < lanes; l++) out[pos * row_stride + l] = transformed[pos * WINO_LANES + l];
}

// For the output channels `outputs` (rows) and input channels `inputs` (columns) of the filter
// bank, WINO_LANES columns at a time: f[k][l] = the 3x3 filter of (o, i + l), tap k.
static void gather_filters(const float *w, int outputs, int inputs, int flipped, int o, int i, int lanes,
                           float *restrict f) {
    for (int l = 0; l < WINO_LANES; l++)
        for (int k = 0; k < 9; k++) {
            if (l >= lanes) { f[k * WINO_LANES + l] = 0; continue; }
            // flipped: the filter of (o, i) is w[i][o] turned by 180 degrees (tap k reads 8 - k).
            f[k * WINO_LANES + l] = flipped ? w[((long)(i + l) * outputs + o) * 9 + 8 - k]
                                            : w[((long)o * inputs + i + l) * 9 + k];
        }
}

void ddp_winograd_filters(int m, const float *w, int outputs, int inputs, int flipped, float *u) {
    const struct wino_tile *tile = tile_of(m);
    const int positions = tile->alpha * tile->alpha;
    float f[9 * WINO_LANES], v[WINO_MAX_ALPHA * WINO_MAX_ALPHA * WINO_LANES];
    for (int o = 0; o < outputs; o++)
        for (int i = 0; i < inputs; i += WINO_LANES) {
            const int lanes = inputs - i < WINO_LANES ? inputs - i : WINO_LANES;
            gather_filters(w, outputs, inputs, flipped, o, i, lanes, f);
            tile->filter(f, WINO_LANES, v, WINO_LANES);
            put_lanes(v, positions, lanes, (long)outputs * inputs, u + (long)o * inputs + i);
        }
}

void ddp_winograd_filter_gradient(int m, const float *sums, int outputs, int inputs, float *dw) {
    const struct wino_tile *tile = tile_of(m);
    const int positions = tile->alpha * tile->alpha;
    float s[WINO_MAX_ALPHA * WINO_MAX_ALPHA * WINO_LANES], g[9 * WINO_LANES];
    for (int o = 0; o < outputs; o++)
        for (int i = 0; i < inputs; i += WINO_LANES) {
            const int lanes = inputs - i < WINO_LANES ? inputs - i : WINO_LANES;
            const float *src = sums + (long)o * inputs + i;
            for (int pos = 0; pos < positions; pos++)
                for (int l = 0; l < WINO_LANES; l++)
                    s[pos * WINO_LANES + l] = l < lanes ? src[(long)pos * outputs * inputs + l] : 0;
            tile->filter_gradient(s, WINO_LANES, g, WINO_LANES);
            for (int l = 0; l < lanes; l++)
                for (int k = 0; k < 9; k++) dw[((long)o * inputs + i + l) * 9 + k] = g[k * WINO_LANES + l];
        }
}
