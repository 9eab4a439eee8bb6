import CKernels

/// `StridedConvolution` (3x3, stride 2, padding 1, even sides: the direct tiles on the input's
/// four phases) with bf16 operands and FP32 sums: `BF16DirectConvolution`'s arithmetic and
/// tiles. Per pass:
///
///     forward          x -> paired bf16 phases -> y = the tiles over the 9 taps
///     input gradient   dy -> paired bf16 -> dx's four phases, each from its 1, 2, 2 or 4
///                      taps -> dx (`ddp_unphase`)
///     weight gradient  dW = sum over pixels of bf16(dy) x bf16(the tap's phase)
///
/// Work is split over images as in `BF16DirectConvolution`, with the same partial sums, so the
/// thread count changes no result.
public enum BF16StridedConvolution {
    /// Floats of workspace for `outPixels` = batch x (H/2) x (W/2): the forward's paired phases,
    /// or the backward's paired dy, dy's rows, x's phases (bf16) and dx's phases (Float).
    public static func scratchFloats(inChannels: Int, outChannels: Int, outPixels: Int) -> Int {
        let backward = BF16DirectConvolution.pairs(outChannels) * outPixels + (outChannels * outPixels + 1) / 2
            + (4 * inChannels * outPixels + 1) / 2 + 4 * inChannels * outPixels
        return max(4 * BF16DirectConvolution.pairs(inChannels) * outPixels, backward)
    }

    /// y [out][N][H/2][W/2] = bf16(x) (*) the kernel, stride 2; `blocks` from
    /// `BF16DirectConvolution.arrangeForward`, `masks` the output plane's.
    public static func forward(input x: UnsafePointer<Float>, inChannels: Int, height: Int, width: Int, masks: TapMasks,
                               blocks: UnsafePointer<UInt32>, output y: UnsafeMutablePointer<Float>, outChannels: Int,
                               batch: Int, threads: Int, scratch: UnsafeMutablePointer<Float>) {
        let outPixels = batch * masks.height * masks.width, hw = height * width
        let phases = UnsafeMutableRawPointer(scratch)
            .bindMemory(to: UInt32.self, capacity: 4 * BF16DirectConvolution.pairs(inChannels) * outPixels)
        Parallel.forEach(count: batch, threads: threads) { _, images in
            let first = Int32(images.lowerBound), last = Int32(images.upperBound)
            ddp_bf16_phases(x, batch * hw, Int32(inChannels), Int32(height), Int32(width), first, last, 1, phases,
                            4 * outPixels, outPixels)
            masks.table.withUnsafeBufferPointer { table in
                ddp_conv3x3s2_direct_bf16(phases, 4 * outPixels, outPixels, Int32(inChannels), blocks, Int32(outChannels),
                                          y, outPixels, Int32(masks.height), Int32(masks.width), table.baseAddress,
                                          first, last)
            }
        }
    }

    /// `weights` [out][in][3][3] into the input gradient's blocks (input channels in 8s).
    public static func arrangeBackward(_ weights: UnsafePointer<Float>, outChannels: Int, inChannels: Int,
                                       into blocks: UnsafeMutablePointer<UInt32>) {
        precondition(DirectConvolution.supportsInputGradient(inChannels: inChannels), "no input gradient for \(inChannels) input channels")
        ddp_bf16_arrange_s2_input_gradient(weights, Int32(outChannels), Int32(inChannels), blocks)
    }

    /// dW [out][in][3][3] and, when asked, dx (`blocks` from `arrangeBackward`), as
    /// `BF16DirectConvolution.backward` computes them for stride 1; `partials` holds
    /// `DirectConvolution.partialsCount` floats, `scratch` `scratchFloats`.
    public static func backward(outputGradient dy: UnsafePointer<Float>, outChannels: Int, input x: UnsafePointer<Float>,
                                inChannels: Int, height: Int, width: Int, batch: Int, masks: TapMasks,
                                weightGradient dw: UnsafeMutablePointer<Float>, partials: UnsafeMutablePointer<Float>,
                                inputGradient: BF16DirectConvolution.InputGradient?, threads: Int,
                                scratch: UnsafeMutablePointer<Float>) {
        let ohw = masks.height * masks.width, outPixels = batch * ohw, hw = height * width
        // The scratch: dy's pairs, dy's rows, x's phases (bf16), dx's phases (Float).
        let pairCount = BF16DirectConvolution.pairs(outChannels) * outPixels
        let dyPairs = UnsafeMutableRawPointer(scratch).bindMemory(to: UInt32.self, capacity: pairCount)
        let dyRows = UnsafeMutableRawPointer(dyPairs + pairCount).bindMemory(to: UInt16.self, capacity: outChannels * outPixels)
        let xPhases = dyRows + outChannels * outPixels
        let dxPhases = scratch + pairCount + (outChannels * outPixels + 1) / 2 + (4 * inChannels * outPixels + 1) / 2
        DirectConvolution.weightGradient(outChannels: outChannels, inChannels: inChannels, batch: batch, threads: threads,
                                         partials: partials, into: dw) { images, sums in
            let first = Int32(images.lowerBound), last = Int32(images.upperBound)
            let begin = images.lowerBound * ohw, end = images.upperBound * ohw
            BF16DirectConvolution.roundOutputGradient(dy, channels: outChannels, pixels: outPixels, begin: begin, end: end,
                                                      rows: dyRows, pairs: inputGradient == nil ? nil : dyPairs)
            ddp_bf16_phases(x, batch * hw, Int32(inChannels), Int32(height), Int32(width), first, last, 0, xPhases,
                            4 * outPixels, outPixels)
            masks.table.withUnsafeBufferPointer { table in
                ddp_conv3x3s2_weight_partials_bf16(dyRows, outPixels, Int32(outChannels), xPhases, 4 * outPixels, outPixels,
                                                   Int32(inChannels), Int32(masks.height), Int32(masks.width),
                                                   table.baseAddress, first, last, sums)
                guard let g = inputGradient else { return }
                ddp_conv3x3s2_input_gradient_bf16(dyPairs, outPixels, Int32(outChannels), g.blocks, Int32(inChannels), dxPhases,
                                                  4 * outPixels, outPixels, Int32(masks.height), Int32(masks.width),
                                                  table.baseAddress, first, last)
                ddp_unphase(dxPhases, 4 * outPixels, outPixels, Int32(inChannels), Int32(height), Int32(width), first, last,
                            g.dx, batch * hw, g.accumulate ? 1 : 0)
            }
        }
    }
}
