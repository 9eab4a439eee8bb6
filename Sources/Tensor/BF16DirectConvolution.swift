import CKernels

/// `DirectConvolution` with bf16 operands and FP32 sums: the mixed precision of
/// `--precision bf16`, on CPUs with AVX512_BF16 (Zen 4, Cooper Lake, Sapphire Rapids).
///
/// Why: VDPBF16PS multiplies two pairs of bf16 values per 32-bit lane and adds both products to
/// an FP32 lane, twice the multiplies of an FP32 fused multiply-add per instruction (measured on
/// Zen 4: 223-234 GFLOP/s against 116 in a register-only loop). A bf16 value is the top half of
/// a Float: the same exponent range, 8 significant bits instead of 24. Each product of two is
/// exact in FP32, so the only roundings are the operands' (at most 2^-8 relative each, so 2^-7
/// per product) and the FP32 sums', which are those of the FP32 kernels.
///
/// What is rounded, per pass (everything else stays FP32: the weights the optimizer updates,
/// the gradients it reads, batch norm and its statistics):
///
///     forward          y  = bf16(x)  (*) bf16(W)
///     input gradient   dx = bf16(dy) (*) bf16(W) turned
///     weight gradient  dW = sum over pixels of bf16(dy) x bf16(x)
///
/// The activations are rounded into the workspace before each pass (`scratchFloats`): for the
/// forward kernel, channel pairs interleaved per pixel (the pair one VDPBF16PS lane reduces);
/// for the weight gradient, plain rows (the lane reduces two neighbouring pixels). The weights
/// are rounded by `ddp_bf16_round`, the conversions' rule in portable C. Work is split over
/// images, as in `DirectConvolution`, so the thread count changes no result.
public enum BF16DirectConvolution {
    /// Whether this CPU has the instructions (AVX-512 F, BW, VL and AVX512_BF16).
    public static let cpuHasBF16 = ddp_avx512_bf16_available() != 0

    /// True when the bf16 kernels can run in this process: the CPU has them and ddp's AVX-512
    /// kernels are not switched off (`KernelPath`).
    public static var isAvailable: Bool { cpuHasBF16 && KernelPath.usesAVX512 }

    /// Channel pairs of `channels` (a last odd channel pairs with zero).
    static func pairs(_ channels: Int) -> Int { (channels + 1) / 2 }

    /// Floats of workspace a layer's passes need for `pixels` = batch x H x W: the larger of the
    /// forward's packed input and the backward's packed output gradient plus both plain rows.
    public static func scratchFloats(inChannels: Int, outChannels: Int, pixels: Int) -> Int {
        let backward = pairs(outChannels) * pixels + ((outChannels + inChannels) * pixels + 1) / 2
        return max(pairs(inChannels) * pixels, backward)
    }

    /// The UInt32 weight blocks `arrangeForward` and `arrangeBackward` fill (the larger).
    public static func blockCount(outChannels: Int, inChannels: Int) -> Int {
        9 * max(outChannels * pairs(inChannels), inChannels * pairs(outChannels))
    }

    /// `weights` [out][in][3][3] into [out/8][tap][in pairs][8] bf16 pairs (the forward kernel's).
    public static func arrangeForward(_ weights: UnsafePointer<Float>, outChannels: Int, inChannels: Int,
                                      into blocks: UnsafeMutablePointer<UInt32>) {
        let p = pairs(inChannels)
        blocks.update(repeating: 0, count: outChannels * 9 * p)  // an odd channel's partner
        for o in 0..<outChannels {
            for c in 0..<inChannels {
                let w = weights + (o &* inChannels &+ c) &* 9
                for s in 0..<9 {
                    blocks[(((o >> 3) &* 9 &+ s) &* p &+ (c >> 1)) &* 8 &+ (o & 7)] |= UInt32(ddp_bf16_round(w[s])) << (16 * (c & 1))
                }
            }
        }
    }

    /// `weights` [out][in][3][3] into [in/8][tap][out pairs][8]: the input gradient's kernel,
    /// transposed and flipped as in `DirectConvolution.arrangeBackward`, in bf16 pairs (input
    /// channels in 8s: `DirectConvolution.supportsInputGradient`).
    public static func arrangeBackward(_ weights: UnsafePointer<Float>, outChannels: Int, inChannels: Int,
                                       into blocks: UnsafeMutablePointer<UInt32>) {
        precondition(DirectConvolution.supportsInputGradient(inChannels: inChannels), "no input gradient for \(inChannels) input channels")
        let p = pairs(outChannels)
        blocks.update(repeating: 0, count: inChannels * 9 * p)
        for o in 0..<outChannels {
            for c in 0..<inChannels {
                let w = weights + (o &* inChannels &+ c) &* 9
                for s in 0..<9 {
                    blocks[(((c >> 3) &* 9 &+ s) &* p &+ (o >> 1)) &* 8 &+ (c & 7)] |= UInt32(ddp_bf16_round(w[8 &- s])) << (16 * (o & 1))
                }
            }
        }
    }

    /// y [out][N][H][W] = bf16(x) (*) the kernel, with `blocks` from `arrangeForward`; `scratch`
    /// holds `scratchFloats`.
    public static func forward(input x: UnsafePointer<Float>, inChannels: Int, masks: TapMasks, blocks: UnsafePointer<UInt32>,
                               output y: UnsafeMutablePointer<Float>, outChannels: Int, batch: Int, threads: Int,
                               scratch: UnsafeMutablePointer<Float>) {
        let pixels = batch * masks.height * masks.width
        let packed = UnsafeMutableRawPointer(scratch).bindMemory(to: UInt32.self, capacity: pairs(inChannels) * pixels)
        Parallel.forEach(count: batch, threads: threads) { _, images in
            convolve(x, channels: inChannels, pixels: pixels, masks: masks, packed: packed, blocks: blocks, into: y,
                     outChannels: outChannels, accumulate: false, images: images)
        }
    }

    /// The input gradient's part of `backward`: dx (+)= bf16(dy) (*) the kernel turned (`blocks`
    /// from `arrangeBackward`).
    public struct InputGradient {
        public var dx: UnsafeMutablePointer<Float>
        public var blocks: UnsafePointer<UInt32>
        public var accumulate: Bool

        public init(dx: UnsafeMutablePointer<Float>, blocks: UnsafePointer<UInt32>, accumulate: Bool) {
            self.dx = dx; self.blocks = blocks; self.accumulate = accumulate
        }
    }

    /// dW [out][in][3][3] = the sum over the batch of bf16(dy) (x) bf16(x) at each tap, and the
    /// input gradient when asked; `partials` holds `DirectConvolution.partialsCount` floats,
    /// `scratch` `scratchFloats`. Sums as in `DirectConvolution.backward`: per thread in Doubles,
    /// added in thread order.
    public static func backward(outputGradient dy: UnsafePointer<Float>, outChannels: Int, input x: UnsafePointer<Float>,
                                inChannels: Int, batch: Int, masks: TapMasks, weightGradient dw: UnsafeMutablePointer<Float>,
                                partials: UnsafeMutablePointer<Float>, inputGradient: InputGradient?, threads: Int,
                                scratch: UnsafeMutablePointer<Float>) {
        precondition(inputGradient == nil || DirectConvolution.supportsInputGradient(inChannels: inChannels),
                     "direct convolution: no input gradient for \(inChannels) input channels")
        let hw = masks.height * masks.width, pixels = batch * hw
        // The scratch: dy's channel pairs (the input gradient's operand), then dy's and x's rows.
        let packed = UnsafeMutableRawPointer(scratch).bindMemory(to: UInt32.self, capacity: pairs(outChannels) * pixels)
        let dyRows = UnsafeMutableRawPointer(packed + pairs(outChannels) * pixels)
            .bindMemory(to: UInt16.self, capacity: (outChannels + inChannels) * pixels)
        let xRows = dyRows + outChannels * pixels
        DirectConvolution.weightGradient(outChannels: outChannels, inChannels: inChannels, batch: batch, threads: threads,
                                         partials: partials, into: dw) { images, sums in
            let begin = images.lowerBound * hw, end = images.upperBound * hw
            roundOutputGradient(dy, channels: outChannels, pixels: pixels, begin: begin, end: end, rows: dyRows,
                                pairs: inputGradient == nil ? nil : packed)
            ddp_bf16_convert(x, pixels, Int32(inChannels), begin, end, xRows, pixels)
            masks.table.withUnsafeBufferPointer { table in
                ddp_conv3x3_weight_partials_bf16(dyRows, pixels, Int32(outChannels), xRows, pixels, Int32(inChannels),
                                                 Int32(masks.height), Int32(masks.width), table.baseAddress,
                                                 Int32(images.lowerBound), Int32(images.upperBound), sums)
            }
            guard let g = inputGradient else { return }
            run(packed, channels: outChannels, pixels: pixels, masks: masks, blocks: g.blocks, into: g.dx,
                outChannels: inChannels, accumulate: g.accumulate, images: images)
        }
    }

    /// dy's bf16 rows (the weight gradient's operand) over the positions begin ..< end, and its
    /// channel pairs (the input gradient's) when `pairs` is given: one read of dy for both.
    static func roundOutputGradient(_ dy: UnsafePointer<Float>, channels: Int, pixels: Int, begin: Int, end: Int,
                                    rows: UnsafeMutablePointer<UInt16>, pairs: UnsafeMutablePointer<UInt32>?) {
        if let pairs {
            ddp_bf16_convert_and_pack(dy, pixels, Int32(channels), begin, end, rows, pixels, pairs, pixels)
        } else {
            ddp_bf16_convert(dy, pixels, Int32(channels), begin, end, rows, pixels)
        }
    }

    /// Rounds `images` of the plain [channels][batch][H][W] `input` into channel pairs in
    /// `packed`, then runs the kernel on them into (or onto) `output`.
    private static func convolve(_ input: UnsafePointer<Float>, channels: Int, pixels: Int, masks: TapMasks,
                                 packed: UnsafeMutablePointer<UInt32>, blocks: UnsafePointer<UInt32>,
                                 into output: UnsafeMutablePointer<Float>, outChannels: Int, accumulate: Bool,
                                 images: Range<Int>) {
        let hw = masks.height * masks.width
        ddp_bf16_pack_pairs(input, pixels, Int32(channels), images.lowerBound * hw, images.upperBound * hw, packed, pixels)
        run(packed, channels: channels, pixels: pixels, masks: masks, blocks: blocks, into: output,
            outChannels: outChannels, accumulate: accumulate, images: images)
    }

    /// The kernel on `images` of the channel pairs `packed` into (or onto) `output`.
    private static func run(_ packed: UnsafeMutablePointer<UInt32>, channels: Int, pixels: Int, masks: TapMasks,
                            blocks: UnsafePointer<UInt32>, into output: UnsafeMutablePointer<Float>, outChannels: Int,
                            accumulate: Bool, images: Range<Int>) {
        masks.table.withUnsafeBufferPointer { table in
            ddp_conv3x3_direct_bf16(packed, pixels, Int32(channels), blocks, Int32(outChannels), output, pixels,
                                    accumulate ? 1 : 0, Int32(masks.height), Int32(masks.width), table.baseAddress,
                                    Int32(images.lowerBound), Int32(images.upperBound))
        }
    }
}
