import CKernels

/// The 3x3, stride-1, padding-1 convolution ("same" 3x3, the CNN workhorse) computed directly by
/// the AVX-512 kernels of CKernels instead of im2col + GEMM.
///
/// Why: for the thin layers of small CNNs (32 to 64 channels) an im2col matrix is nine times the
/// input, and OpenBLAS copies (packs) it once more before multiplying: more time went into those
/// copies and into col2im than into the multiplications. Here the kernels read the plain
/// [C][N][H][W] maps where they are: each of the nine kernel taps is a fixed offset, and a tap
/// that would fall outside the image (the zero padding) is a masked-out vector lane (`TapMasks`).
/// No padded copy, no work on padding positions. Forward and input gradient are one kernel: the
/// input gradient is the forward convolution of the output gradient with the flipped,
/// transposed kernel. The weight gradient, a long reduction over pixels into a small matrix, is
/// a second kernel. Work is split over images across `threads` threads.
///
/// Runs on the AVX-512 kernel path (`KernelPath`) when the output channels come in 8s (the input
/// gradient also needs the input channels in 8s); Layers' `ConvolutionChoice` decides which
/// layers take it (`DDP_CONV` forces another path, to compare them).
public enum DirectConvolution {
    /// True when the AVX-512 kernels run in this process (`KernelPath`).
    public static var isAvailable: Bool { KernelPath.usesAVX512 }

    /// Whether the input gradient can too: it is the forward kernel with the channels swapped,
    /// so the input channels must come in 8s (a first layer of 1 or 3 channels never needs it).
    public static func supportsInputGradient(inChannels: Int) -> Bool { inChannels % 8 == 0 }

    /// `weights` [out][in][3][3] into the forward kernel's blocks [out/8][tap][in][8].
    public static func arrangeForward(_ weights: UnsafePointer<Float>, outChannels: Int, inChannels: Int,
                                      into blocks: UnsafeMutablePointer<Float>) {
        for o in 0..<outChannels {
            for c in 0..<inChannels {
                let w = weights + (o &* inChannels &+ c) &* 9
                for s in 0..<9 { blocks[(((o >> 3) &* 9 &+ s) &* inChannels &+ c) &* 8 &+ (o & 7)] = w[s] }
            }
        }
    }

    /// `weights` [out][in][3][3] into the blocks [in/8][tap][out][8] of the input gradient: the
    /// kernel transposed (in and out swapped) and flipped (tap s reads weight 8 - s).
    public static func arrangeBackward(_ weights: UnsafePointer<Float>, outChannels: Int, inChannels: Int,
                                       into blocks: UnsafeMutablePointer<Float>) {
        for o in 0..<outChannels {
            for c in 0..<inChannels {
                let w = weights + (o &* inChannels &+ c) &* 9
                for s in 0..<9 { blocks[(((c >> 3) &* 9 &+ s) &* outChannels &+ o) &* 8 &+ (c & 7)] = w[8 &- s] }
            }
        }
    }

    /// y [out][N][H][W] = x [in][N][H][W] (*) the kernel, with `blocks` from `arrangeForward`.
    public static func forward(input x: UnsafePointer<Float>, inChannels: Int, masks: TapMasks, blocks: UnsafePointer<Float>,
                               output y: UnsafeMutablePointer<Float>, outChannels: Int, batch: Int, threads: Int) {
        Parallel.forEach(count: batch, threads: threads) { _, images in
            convolve(x, channels: inChannels, batch: batch, masks: masks, blocks: blocks, into: y,
                     outChannels: outChannels, accumulate: false, images: images)
        }
    }

    /// Floats of scratch `backward` needs with `threads` threads (it holds Doubles).
    public static func partialsCount(outChannels: Int, inChannels: Int, threads: Int) -> Int {
        2 * max(1, threads) * partialsPerThread(outChannels: outChannels, inChannels: inChannels)
    }

    /// Doubles per thread: input channels are summed in pairs (CKernels; a single one alone,
    /// in the first half).
    private static func partialsPerThread(outChannels: Int, inChannels: Int) -> Int {
        9 * outChannels * (inChannels + inChannels % 2)
    }

    /// The input gradient's part of `backward`: dx (+)= dy (*) the kernel transposed and flipped
    /// (`blocks` from `arrangeBackward`).
    public struct InputGradient {
        public var dx: UnsafeMutablePointer<Float>
        public var blocks: UnsafePointer<Float>
        public var accumulate: Bool

        public init(dx: UnsafeMutablePointer<Float>, blocks: UnsafePointer<Float>, accumulate: Bool) {
            self.dx = dx; self.blocks = blocks; self.accumulate = accumulate
        }
    }

    /// dW [out][in][3][3] = the sum over the batch of dy (x) the input x at each tap, and the
    /// input gradient when asked. `partials` holds `partialsCount` floats. Each thread sums its
    /// own images' products (in Doubles) and writes its images' dx; the threads' sums are added
    /// in thread order, so the same thread count gives the same bits (`weightGradient`).
    public static func backward(outputGradient dy: UnsafePointer<Float>, outChannels: Int, input x: UnsafePointer<Float>,
                                inChannels: Int, batch: Int, masks: TapMasks, weightGradient dw: UnsafeMutablePointer<Float>,
                                partials: UnsafeMutablePointer<Float>, inputGradient: InputGradient?, threads: Int) {
        precondition(inputGradient == nil || supportsInputGradient(inChannels: inChannels),
                     "direct convolution: no input gradient for \(inChannels) input channels")
        let pixels = batch * masks.height * masks.width
        weightGradient(outChannels: outChannels, inChannels: inChannels, batch: batch, threads: threads, partials: partials,
                       into: dw) { images, sums in
            masks.table.withUnsafeBufferPointer { table in
                ddp_conv3x3_weight_partials(dy, pixels, Int32(outChannels), x, pixels, Int32(inChannels),
                                            Int32(masks.height), Int32(masks.width), table.baseAddress,
                                            Int32(images.lowerBound), Int32(images.upperBound), sums)
            }
            guard let g = inputGradient else { return }
            convolve(dy, channels: outChannels, batch: batch, masks: masks, blocks: g.blocks, into: g.dx,
                     outChannels: inChannels, accumulate: g.accumulate, images: images)
        }
    }

    /// The weight gradient of every direct path (stride 1 or 2, FP32 or bf16) over a batch split
    /// by images: `body(images, sums)` runs for each worker's images, adding their products into
    /// that worker's Doubles in `partials` (`partialsCount` floats; cleared first), along with
    /// any other work per image (the input gradient). The workers' sums are then added in worker
    /// order, so the same thread count gives the same bits, and written to dw [out][in][3][3].
    public static func weightGradient(outChannels: Int, inChannels: Int, batch: Int, threads: Int,
                                      partials: UnsafeMutablePointer<Float>, into dw: UnsafeMutablePointer<Float>,
                                      _ body: (_ images: Range<Int>, _ sums: UnsafeMutablePointer<Double>) -> Void) {
        let size = partialsPerThread(outChannels: outChannels, inChannels: inChannels)
        let workers = Parallel.workers(count: batch, threads: threads)
        let partials = UnsafeMutableRawPointer(partials).bindMemory(to: Double.self, capacity: workers * size)
        Parallel.forEach(count: batch, threads: workers) { worker, images in
            let mine = partials + worker * size
            mine.update(repeating: 0, count: size)
            body(images, mine)
        }
        for worker in 1..<workers {
            let part = partials + worker * size
            for i in 0..<size { partials[i] += part[i] }
        }
        ddp_conv3x3_reduce_partials(partials, Int32(outChannels), Int32(inChannels), dw)
    }

    /// The kernel on `images` of the plain [channels][batch][H][W] `input` into (or onto) the
    /// plain [out][batch][H][W] `output`.
    private static func convolve(_ input: UnsafePointer<Float>, channels: Int, batch: Int, masks: TapMasks,
                                 blocks: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>,
                                 outChannels: Int, accumulate: Bool, images: Range<Int>) {
        let pixels = batch * masks.height * masks.width
        masks.table.withUnsafeBufferPointer { table in
            ddp_conv3x3_direct(input, pixels, Int32(channels), blocks, Int32(outChannels), output, pixels,
                               accumulate ? 1 : 0, Int32(masks.height), Int32(masks.width), table.baseAddress,
                               Int32(images.lowerBound), Int32(images.upperBound))
        }
    }
}

/// Which of the nine 3x3 taps of each pixel of a height x width image fall inside the image,
/// as the vector-lane masks the kernels load (see `ddp_conv3x3_tap_masks`): computed once per
/// layer geometry.
public final class TapMasks: Sendable {
    public let height: Int, width: Int
    let table: [UInt16]

    public init(height: Int, width: Int) {
        self.height = height; self.width = width
        table = [UInt16](unsafeUninitializedCapacity: height * width * 9) { buffer, count in
            ddp_conv3x3_tap_masks(Int32(height), Int32(width), buffer.baseAddress)
            count = height * width * 9
        }
    }
}
