// The Winograd convolution's passes between the plain [C][N][H][W] maps and the transform
// domain (see include/ckernels.h for the layouts; the matrices are in winograd_f2x2.c and
// winograd_f4x4.c). Tiles are numbered over the batch, image by image, row by row, and taken
// WINO_LANES at a time; a tile that runs past the image's edge (sizes that are not a multiple
// of the tile, and the padding ring) loads zeros there and stores only its pixels inside.
#include "ckernels.h"
#include "winograd.h"

static const struct wino_tile *tile_of(int m) { return m == 2 ? &wino_f2x2 : &wino_f4x4; }

// Where the WINO_LANES tiles first.. of a block lie: for a window of `size` x `size` pixels
// whose corner is `shift` pixels before the tile's corner (-1: the input window with its ring of
// padding; 0: the output tile itself). For lane l: the window's first pixel as an offset into a
// channel plane of the batch (negative at the top-left border: only in-range pixels are read),
// and its rows and columns inside the image, [row0, row1) x [col0, col1). `lanes` tiles exist.
struct windows {
    long origin[WINO_LANES];
    int row0[WINO_LANES], row1[WINO_LANES], col0[WINO_LANES], col1[WINO_LANES];
    int lanes, whole;  // whole: every lane's window lies inside its image
};

static int clamp(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

static void locate(struct windows *w, long first, int lanes, int m, int size, int shift, int height,
                   int width) {
    const int tiles_x = (width + m - 1) / m, tiles_y = (height + m - 1) / m;
    const long per_image = (long)tiles_x * tiles_y, plane = (long)height * width;
    w->lanes = lanes;
    w->whole = lanes == WINO_LANES;
    for (int l = 0; l < lanes; l++) {
        const long t = first + l, n = t / per_image, r = t % per_image;
        const int y = (int)(r / tiles_x) * m + shift, x = (int)(r % tiles_x) * m + shift;
        w->origin[l] = n * plane + (long)y * width + x;
        w->row0[l] = clamp(-y, 0, size);
        w->row1[l] = clamp(height - y, 0, size);
        w->col0[l] = clamp(-x, 0, size);
        w->col1[l] = clamp(width - x, 0, size);
        if (w->row0[l] || w->col0[l] || w->row1[l] < size || w->col1[l] < size) w->whole = 0;
    }
}

// d[i][j][l] = plane[window l's pixel (i, j)], 0 outside the image and for absent lanes.
static void gather(const struct windows *w, const float *plane, int size, int width, float *restrict d) {
    if (w->whole) {
        for (int l = 0; l < WINO_LANES; l++) {
            const float *src = plane + w->origin[l];
            for (int i = 0; i < size; i++)
                for (int j = 0; j < size; j++) d[(i * size + j) * WINO_LANES + l] = src[(long)i * width + j];
        }
        return;
    }
    for (int k = 0; k < size * size * WINO_LANES; k++) d[k] = 0;
    for (int l = 0; l < w->lanes; l++) {
        const float *src = plane + w->origin[l];
        for (int i = w->row0[l]; i < w->row1[l]; i++)
            for (int j = w->col0[l]; j < w->col1[l]; j++) d[(i * size + j) * WINO_LANES + l] = src[(long)i * width + j];
    }
}

// plane[tile l's pixel (i, j)] (+)= y[i][j][l] for the pixels inside the image.
static void scatter(const struct windows *w, const float *restrict y, int m, int width, int accumulate,
                    float *plane) {
    for (int l = 0; l < w->lanes; l++) {
        float *dst = plane + w->origin[l];
        for (int i = w->row0[l]; i < w->row1[l]; i++)
            for (int j = w->col0[l]; j < w->col1[l]; j++) {
                const float v = y[(i * m + j) * WINO_LANES + l];
                dst[(long)i * width + j] = accumulate ? dst[(long)i * width + j] + v : v;
            }
    }
}

// out[(pos * channels + c) * count + t] = transformed[pos][lane] for the block's lanes present.
static void put_lanes(const float *restrict transformed, int positions, int lanes, long row_stride,
                      float *restrict out) {
    for (int pos = 0; pos < positions; pos++) {
        float *dst = out + pos * row_stride;
        const float *src = transformed + pos * WINO_LANES;
        if (lanes == WINO_LANES)
            for (int l = 0; l < WINO_LANES; l++) dst[l] = src[l];
        else
            for (int l = 0; l < lanes; l++) dst[l] = src[l];
    }
}

// The windows of `size` (shift as in `locate`) of every tile of the block, for channels
// c0..<c1, transformed by `transform` into out [alpha^2][channels][count].
static void tiles_forward(const struct wino_tile *tile, wino_transform transform, int size, int shift,
                          const float *x, long channel_stride, int channels, int c0, int c1, int height,
                          int width, long first, int count, float *out) {
    float d[WINO_MAX_ALPHA * WINO_MAX_ALPHA * WINO_LANES], v[WINO_MAX_ALPHA * WINO_MAX_ALPHA * WINO_LANES];
    const int positions = tile->alpha * tile->alpha;
    struct windows w;
    for (int t = 0; t < count; t += WINO_LANES) {
        const int lanes = count - t < WINO_LANES ? count - t : WINO_LANES;
        locate(&w, first + t, lanes, tile->m, size, shift, height, width);
        for (int c = c0; c < c1; c++) {
            gather(&w, x + c * channel_stride, size, width, d);
            transform(d, v);
            put_lanes(v, positions, lanes, (long)channels * count, out + (long)c * count + t);
        }
    }
}

void ddp_winograd_input_tiles(int m, const float *x, long channel_stride, int channels, int c0, int c1,
                              int height, int width, long first, int count, float *v) {
    const struct wino_tile *tile = tile_of(m);
    tiles_forward(tile, tile->input, tile->alpha, -1, x, channel_stride, channels, c0, c1, height, width, first,
                  count, v);
}

void ddp_winograd_gradient_tiles(int m, const float *dy, long channel_stride, int channels, int c0, int c1,
                                 int height, int width, long first, int count, float *v) {
    const struct wino_tile *tile = tile_of(m);
    tiles_forward(tile, tile->gradient, m, 0, dy, channel_stride, channels, c0, c1, height, width, first, count,
                  v);
}

void ddp_winograd_output_tiles(int m, const float *products, int channels, int c0, int c1, int height,
                               int width, long first, int count, float *y, long channel_stride, int accumulate) {
    const struct wino_tile *tile = tile_of(m);
    const int positions = tile->alpha * tile->alpha;
    float p[WINO_MAX_ALPHA * WINO_MAX_ALPHA * WINO_LANES], out[4 * 4 * WINO_LANES];
    struct windows w;
    for (int t = 0; t < count; t += WINO_LANES) {
        const int lanes = count - t < WINO_LANES ? count - t : WINO_LANES;
        locate(&w, first + t, lanes, m, m, 0, height, width);
        for (int c = c0; c < c1; c++) {
            const float *src = products + (long)c * count + t;
            // Absent lanes of a last, short group are transformed but never stored.
            for (int pos = 0; pos < positions; pos++)
                for (int l = 0; l < WINO_LANES; l++)
                    p[pos * WINO_LANES + l] = l < lanes ? src[(long)pos * channels * count + l] : 0;
            tile->output(p, out);
            scatter(&w, out, m, width, accumulate, y + c * channel_stride);
        }
    }
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
            tile->filter(f, v);
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
            tile->filter_gradient(s, g);
            for (int l = 0; l < lanes; l++)
                for (int k = 0; k < 9; k++) dw[((long)o * inputs + i + l) * 9 + k] = g[k * WINO_LANES + l];
        }
}
