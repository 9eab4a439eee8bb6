import CKernels

/// The 3x3, stride-2, padding-1 convolution (a ResNet stage's first layer) by the direct
/// kernels, for images of even height and width: the stride-1 tiles of `DirectConvolution` run
/// on the input's four phases, its pixels of even or odd row and column.
///
/// Why: im2col + BLAS ran these layers at a fraction of the direct kernels' rate (resnet20's two
/// took 13% of a bf16 step, Zen 4). The phases make them stride-1 problems:
///
///     image (H x W)            phases ((H/2) x (W/2) each)
///     a b a b a b              00: a a a     01: b b b
///     c d c d c d      ->          a a a         b b b
///     a b a b a b              10: c c c     11: d d d
///     c d c d c d                  c c c         d d d
///
/// Output pixel (i, j) reads input rows 2i - 1, 2i, 2i + 1: row i - 1 of the odd-row phases,
/// row i of the even-row ones, row i of the odd-row ones; the columns likewise. So each of the
/// nine taps is one phase at a fixed offset of 0 or -1 row and column (CKernels'
/// `direct_conv_tiles.h` has the table), and the tiles run unchanged, with the output plane's
/// `TapMasks`. Per pass:
///
///     forward          x -> its phases -> y = the tiles over the 9 taps
///     input gradient   dx's four phases, each from the 1, 2, 2 or 4 taps that reach it (the
///                      others never do) -> dx (`ddp_unphase`)
///     weight gradient  dW = sum over pixels of dy x the tap's phase, the stride-1 weight-gradient
///                      tiles at the phases' offsets
///
/// `BF16StridedConvolution` is the same with bf16 operands. Work is split over images, with the
/// partial sums of `DirectConvolution`, so the thread count changes no result.
public enum StridedConvolution {
    /// Floats of workspace for `outPixels` = batch x (H/2) x (W/2): x's phases, and in the
    /// backward dx's phases after them.
    public static func scratchFloats(inChannels: Int, outPixels: Int) -> Int { 8 * inChannels * outPixels }

    /// y [out][N][H/2][W/2] = x (*) the kernel, stride 2; `blocks` from
    /// `DirectConvolution.arrangeForward`, `masks` the output plane's.
    public static func forward(input x: UnsafePointer<Float>, inChannels: Int, height: Int, width: Int, masks: TapMasks,
                               blocks: UnsafePointer<Float>, output y: UnsafeMutablePointer<Float>, outChannels: Int,
                               batch: Int, threads: Int, scratch: UnsafeMutablePointer<Float>) {
        let outPixels = batch * masks.height * masks.width
        Parallel.forEach(count: batch, threads: threads) { _, images in
            let first = Int32(images.lowerBound), last = Int32(images.upperBound)
            ddp_phases(x, batch * height * width, Int32(inChannels), Int32(height), Int32(width), first, last, scratch,
                       4 * outPixels, outPixels)
            masks.table.withUnsafeBufferPointer { table in
                ddp_conv3x3s2_direct(scratch, 4 * outPixels, outPixels, Int32(inChannels), blocks, Int32(outChannels), y,
                                     outPixels, Int32(masks.height), Int32(masks.width), table.baseAddress, first, last)
            }
        }
    }

    /// `weights` [out][in][3][3] into the input gradient's blocks (input channels in 8s).
    public static func arrangeBackward(_ weights: UnsafePointer<Float>, outChannels: Int, inChannels: Int,
                                       into blocks: UnsafeMutablePointer<Float>) {
        precondition(DirectConvolution.supportsInputGradient(inChannels: inChannels), "no input gradient for \(inChannels) input channels")
        ddp_arrange_s2_input_gradient(weights, Int32(outChannels), Int32(inChannels), blocks)
    }

    /// dW [out][in][3][3] and, when asked, dx (`blocks` from `arrangeBackward`), as
    /// `DirectConvolution.backward` computes them for stride 1; `partials` holds
    /// `DirectConvolution.partialsCount` floats, `scratch` `scratchFloats`.
    public static func backward(outputGradient dy: UnsafePointer<Float>, outChannels: Int, input x: UnsafePointer<Float>,
                                inChannels: Int, height: Int, width: Int, batch: Int, masks: TapMasks,
                                weightGradient dw: UnsafeMutablePointer<Float>, partials: UnsafeMutablePointer<Float>,
                                inputGradient: DirectConvolution.InputGradient?, threads: Int,
                                scratch: UnsafeMutablePointer<Float>) {
        let outPixels = batch * masks.height * masks.width, hw = height * width
        let xPhases = scratch, dxPhases = scratch + 4 * inChannels * outPixels
        DirectConvolution.weightGradient(outChannels: outChannels, inChannels: inChannels, batch: batch, threads: threads,
                                         partials: partials, into: dw) { images, sums in
            let first = Int32(images.lowerBound), last = Int32(images.upperBound)
            ddp_phases(x, batch * hw, Int32(inChannels), Int32(height), Int32(width), first, last, xPhases, 4 * outPixels,
                       outPixels)
            masks.table.withUnsafeBufferPointer { table in
                ddp_conv3x3s2_weight_partials(dy, outPixels, Int32(outChannels), xPhases, 4 * outPixels, outPixels,
                                              Int32(inChannels), Int32(masks.height), Int32(masks.width), table.baseAddress,
                                              first, last, sums)
                guard let g = inputGradient else { return }
                ddp_conv3x3s2_input_gradient(dy, outPixels, Int32(outChannels), g.blocks, Int32(inChannels), dxPhases,
                                             4 * outPixels, outPixels, Int32(masks.height), Int32(masks.width),
                                             table.baseAddress, first, last)
                ddp_unphase(dxPhases, 4 * outPixels, outPixels, Int32(inChannels), Int32(height), Int32(width), first, last,
                            g.dx, batch * hw, g.accumulate ? 1 : 0)
            }
        }
    }
}
