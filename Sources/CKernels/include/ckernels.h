// Hand-vectorized kernels, compiled for AVX-512 through per-function target attributes and
// called only when the CPU has it (ddp_avx512_available); Tensor wraps them
// (DirectConvolution, MaxPoolKernel, SGDKernel, BatchNormKernel, WinogradConvolution), nothing
// else calls them. The Winograd transforms are the exception to "AVX-512": plain C for any CPU,
// with an AVX-512 form of F(4x4, 3x3)'s passes over the tiles beside them.
//
// - The 3x3, stride-1, "same" convolution of thin layers (32 to 64 channels), which OpenBLAS
//   does poorly through an im2col matrix nine times the input: computed directly, forward, input
//   gradient (the forward convolution of the output gradient with the flipped kernel) and
//   weight gradient.
// - 2x2 max pooling (forward and backward) with vector compares instead of per-window selects.
// - Batch normalization's passes over a channel, 16 lanes at a time.
// - The SGD update with fused multiply-adds, which the Swift build (baseline x86-64) can only
//   reach through a libm call per operation.
//
// Convolution layout: feature maps stay plain [C][N][H][W] (channel runs `channel_stride`
// floats apart). The kernels run over the pixels of a range of images as one run; the 3x3
// window of pixel p is the nine positions p + (i-1)W + (j-1), and a tap that would leave the
// image (the zero padding) is a masked-out lane, from a table of masks per pixel and tap
// (ddp_conv3x3_tap_masks). Masked lanes read nothing, so threads can work on different
// images of the same buffers and no read strays past a buffer.

#ifndef DDP_CKERNELS_H
#define DDP_CKERNELS_H

/// 1 when this CPU runs the kernels below (AVX-512 F, which implies FMA), else 0.
int ddp_avx512_available(void);

/// table[r * 9 + s], for each pixel r < height * width of an image and tap s = 3i + j: bit l
/// set when pixel r + l (continuing into the next image past the last) has its tap-s
/// neighbour, (y + i - 1, x + j - 1), inside the image. height * width * 9 entries.
void ddp_conv3x3_tap_masks(int height, int width, unsigned short *table);

/// out[o][n][y][x] (+)= sum_{c, i, j} weights[o/8][3i+j][c][o%8] * in[c][n][y+i-1][x+j-1] (zero
/// outside the image) for the images first..<last; `in` and `out` plain [C][N][H][W] and
/// [O][N][H][W] (channel runs `in_channel_stride` / `out_channel_stride` apart), added to when
/// `accumulate`. out_channels % 8 == 0. `weights` is the kernel [O][C][3][3] rearranged by the
/// caller into blocks of 8 outputs; `tap_masks` from ddp_conv3x3_tap_masks.
void ddp_conv3x3_direct(const float *in, long in_channel_stride, int in_channels,
                        const float *weights, int out_channels,
                        float *out, long out_channel_stride, int accumulate,
                        int height, int width, const unsigned short *tap_masks, int first, int last);

/// Doubles of `partial` the weight gradient needs: 9 * out_channels * (in_channels rounded up to
/// even). Adds to `partial` the sums over the images first..<last of
/// dy[o][n][y][x] * x[c][n][y+i-1][x+j-1] (zero outside the image) for every (o, c, i, j).
/// out_channels % 8 == 0; input channels are read in pairs (unless there is one).
void ddp_conv3x3_weight_partials(const float *dy, long dy_channel_stride, int out_channels,
                                 const float *x, long x_channel_stride, int in_channels,
                                 int height, int width, const unsigned short *tap_masks, int first, int last,
                                 double *partial);

/// dw[o][c][3][3] = `partial` rounded to Float.
void ddp_conv3x3_reduce_partials(const double *partial, int out_channels, int in_channels, float *dw);

/// Stride 2 (3x3, padding 1, even height and width; direct_conv_tiles.h says how): the four
/// phases of images first..<last, pixels (2i + a, 2j + b), as (H/2) x (W/2) planes, phase 2a + b
/// at `phase_stride` from its channel's start (positions n * (H/2) * (W/2) + i * (W/2) + j).
void ddp_phases(const float *in, long in_channel_stride, int channels, int height, int width, int first, int last,
                float *out, long out_channel_stride, long phase_stride);

/// The forward of a stride-2 layer from the input's phases (ddp_phases): `weights` as
/// ddp_conv3x3_direct's, `tap_masks` those of the output plane (out_height x out_width).
void ddp_conv3x3s2_direct(const float *phases, long channel_stride, long phase_stride, int in_channels,
                          const float *weights, int out_channels, float *out, long out_channel_stride, int out_height,
                          int out_width, const unsigned short *tap_masks, int first, int last);

/// `weights` [out][in][3][3] into the blocks [in/8][9][out][8] of the stride-2 input gradient
/// (the taps grouped by the phase of dx they reach).
void ddp_arrange_s2_input_gradient(const float *weights, int out_channels, int in_channels, float *blocks);

/// The input gradient of a stride-2 layer, as the phases of dx (ddp_unphase makes the image);
/// input channels in 8s.
void ddp_conv3x3s2_input_gradient(const float *dy, long dy_channel_stride, int out_channels, const float *blocks,
                                  int in_channels, float *phases, long channel_stride, long phase_stride,
                                  int out_height, int out_width, const unsigned short *tap_masks, int first, int last);

/// ddp_conv3x3_weight_partials of a stride-2 layer, x as its phases.
void ddp_conv3x3s2_weight_partials(const float *dy, long dy_channel_stride, int out_channels, const float *phases,
                                   long channel_stride, long phase_stride, int in_channels, int out_height,
                                   int out_width, const unsigned short *tap_masks, int first, int last,
                                   double *partial);

/// 1 when this CPU runs the bf16 kernels below (AVX-512 F, BW and VL, and AVX512_BF16: Zen 4, Cooper
/// Lake, Sapphire Rapids and later), else 0.
int ddp_avx512_bf16_available(void);

/// `value` rounded to bf16 (its top 16 bits) as VCVTNEPS2BF16 does: to nearest, ties to even;
/// subnormals to a zero of their sign; NaN stays a (quiet) NaN. Portable C: the weights are
/// rounded with it, and tests hold the vector conversions to it.
unsigned short ddp_bf16_round(float value);

/// out[k][p] = bf16(in[2k][p]) | bf16(in[2k + 1][p]) << 16 for the positions begin..<end of each
/// channel pair, a last odd channel paired with zero: the forward bf16 kernel's input.
void ddp_bf16_pack_pairs(const float *in, long in_channel_stride, int channels, long begin, long end,
                         unsigned *out, long out_channel_stride);

/// out[c][p] = bf16(in[c][p]) for the positions begin..<end: the weight-gradient kernel's rows.
void ddp_bf16_convert(const float *in, long in_channel_stride, int channels, long begin, long end,
                      unsigned short *out, long out_channel_stride);

/// Both of the above from one read of `in`: its rows (ddp_bf16_convert) and its channel pairs
/// (ddp_bf16_pack_pairs). The backward pass needs both forms of the output gradient.
void ddp_bf16_convert_and_pack(const float *in, long in_channel_stride, int channels, long begin, long end,
                               unsigned short *rows, long rows_channel_stride, unsigned *pairs,
                               long pairs_channel_stride);

/// ddp_conv3x3_direct with bf16 operands and FP32 sums: `in` from ddp_bf16_pack_pairs (channel
/// pairs, `in_channels` the channels before pairing), `weights` [O/8][tap][pairs][8] bf16 pairs
/// (the odd channel's partner zero).
void ddp_conv3x3_direct_bf16(const unsigned *in, long in_channel_stride, int in_channels,
                             const unsigned *weights, int out_channels, float *out, long out_channel_stride,
                             int accumulate, int height, int width, const unsigned short *tap_masks, int first,
                             int last);

/// ddp_conv3x3_weight_partials with bf16 rows (ddp_bf16_convert) of dy and x: the same partial
/// sums, for ddp_conv3x3_reduce_partials.
void ddp_conv3x3_weight_partials_bf16(const unsigned short *dy, long dy_channel_stride, int out_channels,
                                      const unsigned short *x, long x_channel_stride, int in_channels,
                                      int height, int width, const unsigned short *tap_masks, int first,
                                      int last, double *partial);

/// ddp_phases in bf16: channel pairs as ddp_bf16_pack_pairs makes them when `paired`, plain bf16
/// rows otherwise.
void ddp_bf16_phases(const float *in, long in_channel_stride, int channels, int height, int width, int first,
                     int last, int paired, void *out, long out_channel_stride, long phase_stride);

/// The inverse of ddp_phases for images first..<last: out (+)= the image.
void ddp_unphase(const float *phases, long channel_stride, long phase_stride, int channels, int height, int width,
                 int first, int last, float *out, long out_channel_stride, int accumulate);

/// The forward of a stride-2 layer from paired phases: `weights` as ddp_conv3x3_direct_bf16's,
/// `tap_masks` those of the output plane (out_height x out_width).
void ddp_conv3x3s2_direct_bf16(const unsigned *phases, long pair_stride, long phase_stride, int in_channels,
                               const unsigned *weights, int out_channels, float *out, long out_channel_stride,
                               int out_height, int out_width, const unsigned short *tap_masks, int first, int last);

/// `weights` [out][in][3][3] into the blocks [in/8][9][out pairs][8] of the stride-2 input
/// gradient (taps grouped by the phase they reach), rounded with ddp_bf16_round.
void ddp_bf16_arrange_s2_input_gradient(const float *weights, int out_channels, int in_channels, unsigned *blocks);

/// The input gradient of a stride-2 layer, as Float phases (ddp_unphase makes the image): dy in
/// channel pairs (ddp_bf16_pack_pairs), input channels in 8s.
void ddp_conv3x3s2_input_gradient_bf16(const unsigned *dy, long pair_stride, int out_channels, const unsigned *blocks,
                                       int in_channels, float *phases, long channel_stride, long phase_stride,
                                       int out_height, int out_width, const unsigned short *tap_masks, int first,
                                       int last);

/// ddp_conv3x3_weight_partials_bf16 of a stride-2 layer: dy rows, x as plain phases.
void ddp_conv3x3s2_weight_partials_bf16(const unsigned short *dy, long dy_channel_stride, int out_channels,
                                        const unsigned short *phases, long channel_stride, long phase_stride,
                                        int in_channels, int out_height, int out_width,
                                        const unsigned short *tap_masks, int first, int last, double *partial);

/// Winograd convolution F(m x m, 3 x 3), m = 2 or 4, alpha = m + 2 (portable C: every CPU).
/// Tiles of m x m output pixels are numbered over a batch of height x width images, image by
/// image, row by row (ceil(height / m) x ceil(width / m) per image); a block is the tiles
/// first..<first + count. Transformed data is [alpha^2][channels][ld] (position-major, so each
/// position is one GEMM operand), ld >= count rounded up to a multiple of 16 (the entries past
/// count are written with junk or read and ignored); filters [alpha^2][outputs][inputs]. The functions that
/// take c0..<c1 do those channels only (threads split the channels).

/// u[pos][o][i] = (G f G^T)[pos], f = w[o][i] (w [outputs][inputs][3][3]) or, when `flipped`,
/// w[i][o] turned by 180 degrees (w [inputs][outputs][3][3]: the input gradient's filters).
void ddp_winograd_filters(int m, const float *w, int outputs, int inputs, int flipped, float *u);

/// v[pos][c][t] = (B^T d B)[pos], d the alpha x alpha window of x around tile t (one pixel of
/// zero padding around the image, zeros past its edge).
void ddp_winograd_input_tiles(int m, const float *x, long channel_stride, int channels, int c0, int c1,
                              int height, int width, long first, int count, long ld, float *v);

/// v[pos][c][t] = (A g A^T)[pos], g the m x m tile t of the output gradient (zeros past the edge).
void ddp_winograd_gradient_tiles(int m, const float *dy, long channel_stride, int channels, int c0, int c1,
                                 int height, int width, long first, int count, long ld, float *v);

/// y[c] (+)= A^T P A over each tile of the block, P = products[.][c][t]; only the pixels inside
/// the image are stored.
void ddp_winograd_output_tiles(int m, const float *products, int channels, int c0, int c1, int height,
                               int width, long first, int count, long ld, float *y, long channel_stride,
                               int accumulate);

/// The same three passes for F(4x4, 3x3) on AVX-512, bit for bit the portable ones (which
/// they replace where the CPU has it).
void ddp_winograd4_input_tiles_avx512(const float *x, long channel_stride, int channels, int c0, int c1,
                                      int height, int width, long first, int count, long ld, float *v);
void ddp_winograd4_gradient_tiles_avx512(const float *dy, long channel_stride, int channels, int c0, int c1,
                                         int height, int width, long first, int count, long ld, float *v);
void ddp_winograd4_output_tiles_avx512(const float *products, int channels, int c0, int c1, int height,
                                       int width, long first, int count, long ld, float *y, long channel_stride,
                                       int accumulate);

/// dw[o][i][3][3] = G^T S G, S = sums[.][o][i] (the weight gradient's transform-domain sums).
void ddp_winograd_filter_gradient(int m, const float *sums, int outputs, int inputs, float *dw);

/// 2x2, stride-2 max pooling of `planes` planes of height x width (both even): y gets each
/// window's maximum (the first in row-major order on ties, NaN wins: PyTorch's choice), argmax
/// its index within the plane.
void ddp_max_pool_2x2(const float *x, float *y, int *argmax, long planes, int height, int width);

/// Its backward: dx = dy at each window's argmax, 0 at the window's other three elements.
void ddp_max_pool_2x2_backward(const float *dy, const int *argmax, float *dx, long planes, int height,
                               int width);

/// torch.optim.SGD's update on n parameters, 16 at a time with fused multiply-adds, exactly
/// as Layers' SGD computes it one element at a time with fmaf (see SGD.step): bit-identical.
void ddp_sgd_step(float *p, const float *g, float *buffer, long n, float neg_lr, float decay, int has_decay,
                  float mu, int has_momentum, float keep, int first_step, int nesterov);

/// Batch normalization over one channel's n values (Layers' BatchNorm2d), 16 at a time, sums in
/// Float lanes over blocks of 512 values, block totals in Double:
/// sums[0] = sum(x - shift), sums[1] = sum((x - shift)^2).
void ddp_bn_shifted_sums(const float *x, long n, float shift, double *sums);

/// y = [max(0,] a x + b [+ residual][)]: `residual` may be NULL; relu 1 or 0.
void ddp_bn_normalize(const float *x, const float *residual, float *y, long n, float a, float b, int relu);

/// sums[0] = sum(g), sums[1] = sum((x - shift) g), g = dy where mask > 0 (a fused ReLU's output)
/// else 0; g = dy when `mask` is NULL.
void ddp_bn_gradient_sums(const float *dy, const float *x, const float *mask, long n, float shift, double *sums);

/// dx = a g + k1 x + k0, g as in ddp_bn_gradient_sums.
void ddp_bn_input_gradient(const float *dy, const float *x, const float *mask, long n, float a, float k1,
                           float k0, float *dx);

/// ddp_bn_gradient_sums and ddp_bn_input_gradient behind a fused ReLU whose gate is recomputed
/// from x instead of read from its output: g = dy where a x + b > 0, the forward's own fused
/// multiply-add (ddp_bn_normalize without a residual, the same a and b), so exactly the lanes
/// the ReLU let through; one tensor fewer to read in each pass. The input gradient's a is the
/// ReLU's a too.
void ddp_bn_relu_gradient_sums(const float *dy, const float *x, long n, float a, float b, float shift, double *sums);
void ddp_bn_relu_input_gradient(const float *dy, const float *x, long n, float b, float a, float k1, float k0,
                                float *dx);

/// One turn of a spin-wait (WorkerPool's idle workers and waiting caller): PAUSE on x86, which
/// lets the other hardware thread of the core run and costs less power than a bare loop.
static inline void ddp_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

#endif
