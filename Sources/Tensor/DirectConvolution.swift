import CKernels
import Foundation

/// The 3x3, stride-1, padding-1 convolution ("same" 3x3, the CNN workhorse) computed directly by
/// the AVX-512 kernels of CKernels instead of im2col + GEMM.
///
/// Why: for the thin layers of small CNNs (32 to 64 channels) an im2col matrix is nine times the
/// input, and OpenBLAS copies (packs) it once more before multiplying: more time went into those
/// copies and into col2im than into the multiplications. Here feature maps sit in zero-bordered
/// planes (`PaddedPlanes`), so each of the nine kernel taps is a fixed offset and the kernels
/// read the input where it is. Forward and input gradient are one kernel: the input gradient is
/// the forward convolution of the padded output gradient with the flipped, transposed kernel.
/// The weight gradient, a long reduction over pixels into a small matrix, is a second kernel.
/// Work is split over images across `threads` threads.
///
/// Used when the CPU has AVX-512 and the output channels come in 8s (the input gradient also
/// needs the input channels in 8s); `DDP_CONV=im2col` in the environment forces the im2col +
/// BLAS path (to compare the two).
public enum DirectConvolution {
    public static let variable = "DDP_CONV"

    /// True when the kernels can run here and the environment does not ask for im2col.
    public static let isAvailable: Bool =
        ddp_avx512_available() != 0 && ProcessInfo.processInfo.environment[variable] != "im2col"

    /// One line for `ddp info` and the start banner: how convolutions are computed here.
    public static func describe() -> String {
        if isAvailable { return "direct AVX-512 kernels for 3x3 stride-1 padding-1 layers, im2col + BLAS for others" }
        return ddp_avx512_available() != 0 ? "im2col + BLAS (\(variable)=im2col)" : "im2col + BLAS (no AVX-512 on this CPU)"
    }

    /// Whether a convolution of this shape can take the direct path for its output and weight
    /// gradient (3x3, stride 1, padding 1, output channels in 8s).
    public static func supports(kernelSize: Int, stride: Int, padding: Int, outChannels: Int) -> Bool {
        isAvailable && kernelSize == 3 && stride == 1 && padding == 1 && outChannels % 8 == 0
    }

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
    /// `planes` (in channels) is the padded copy of x, kept for `backward`. Each thread copies
    /// in and convolves its own images.
    public static func forward(input x: UnsafePointer<Float>, planes: PaddedPlanes, blocks: UnsafePointer<Float>,
                               output y: UnsafeMutablePointer<Float>, outChannels: Int, batch: Int, threads: Int) {
        planes.resize(batch: batch)
        countProducts(outChannels: outChannels, inChannels: planes.channels, planes: planes)
        Parallel.forEach(count: batch, threads: threads) { _, images in
            planes.load(from: x, images: images)
            convolve(planes, blocks: blocks, into: y, outChannels: outChannels, accumulate: false, images: images)
        }
    }

    /// Floats of scratch `backward` needs with `threads` threads.
    public static func partialsCount(outChannels: Int, inChannels: Int, threads: Int) -> Int {
        max(1, threads) * partialsPerThread(outChannels: outChannels, inChannels: inChannels)
    }

    /// Input channels are summed in pairs (CKernels; a single one alone, in the first half).
    private static func partialsPerThread(outChannels: Int, inChannels: Int) -> Int {
        9 * outChannels * (inChannels + inChannels % 2) * 16
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

    /// dW [out][in][3][3] = the sum over the batch of dy (x) the input at each tap (`input`: the
    /// planes `forward` filled), and the input gradient when asked. `planes` (out channels) get
    /// dy with zero borders; `partials` holds `partialsCount` floats. Each thread copies in its
    /// images' dy, sums its own lanes and writes its images' dx; the lanes are added in thread
    /// order, so the same thread count gives the same bits.
    public static func backward(outputGradient dy: UnsafePointer<Float>, planes: PaddedPlanes, input x: PaddedPlanes,
                                weightGradient dw: UnsafeMutablePointer<Float>, partials: UnsafeMutablePointer<Float>,
                                inputGradient: InputGradient?, threads: Int) {
        let batch = x.batch
        planes.resize(batch: batch)
        countProducts(outChannels: planes.channels, inChannels: x.channels, planes: x)
        if inputGradient != nil { countProducts(outChannels: planes.channels, inChannels: x.channels, planes: x) }
        precondition(inputGradient == nil || supportsInputGradient(inChannels: x.channels),
                     "direct convolution: no input gradient for \(x.channels) input channels")
        let size = partialsPerThread(outChannels: planes.channels, inChannels: x.channels)
        let workers = Parallel.workers(count: batch, threads: threads)
        partials.update(repeating: 0, count: workers * size)
        Parallel.forEach(count: batch, threads: workers) { worker, images in
            planes.load(from: dy, images: images)
            ddp_conv3x3_weight_partials(planes.data, planes.channelStride, Int32(planes.channels),
                                        x.data, x.channelStride, Int32(x.channels), Int32(x.height), Int32(x.width),
                                        Int32(images.lowerBound), Int32(images.upperBound), partials + worker * size)
            guard let g = inputGradient else { return }
            convolve(planes, blocks: g.blocks, into: g.dx, outChannels: x.channels, accumulate: g.accumulate,
                     images: images)
        }
        for worker in 1..<workers {
            let part = partials + worker * size
            for i in 0..<size { partials[i] += part[i] }
        }
        ddp_conv3x3_reduce_partials(partials, Int32(planes.channels), Int32(x.channels), dw)
    }

    /// The kernel on `images` of `input` into (or onto) the plain [out][N][H][W] `output`.
    private static func convolve(_ input: PaddedPlanes, blocks: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>,
                                 outChannels: Int, accumulate: Bool, images: Range<Int>) {
        ddp_conv3x3_direct(input.data, input.channelStride, Int32(input.channels), blocks, Int32(outChannels),
                           output, input.batch * input.height * input.width, accumulate ? 1 : 0,
                           Int32(input.height), Int32(input.width), Int32(images.lowerBound), Int32(images.upperBound))
    }

    /// Adds the products im2col + GEMM would make (padding taps included), for `ddp bench step`.
    private static func countProducts(outChannels: Int, inChannels: Int, planes: PaddedPlanes) {
        if GEMM.flopCounter != nil {
            GEMM.flopCounter! += 2 * outChannels * inChannels * 9 * planes.batch * planes.height * planes.width
        }
    }
}

/// A feature map [C][N][H][W] stored with zero borders for the direct kernels (the layout of
/// include/ckernels.h: rows of W + 1 floats whose zero column is shared by neighbouring rows,
/// images of H + 1 rows whose zero row is shared by neighbouring images). Room is kept for
/// `capacity` images per channel, so a smaller batch (the last of an evaluation) reuses the same
/// buffer and the borders stay zero; only a larger batch reallocates.
public final class PaddedPlanes: CustomStringConvertible {
    public let channels: Int, height: Int, width: Int
    public private(set) var batch = 0
    public private(set) var capacity = 0
    public private(set) var data: UnsafeMutablePointer<Float>

    public init(channels: Int, height: Int, width: Int) {
        self.channels = channels; self.height = height; self.width = width
        data = .allocate(capacity: 1)
    }

    deinit { data.deallocate() }

    /// Channel runs allocated: an odd count gets a run of zeros more (the weight-gradient kernel
    /// reads input channels in pairs).
    private var runs: Int { channels + channels % 2 }

    /// Floats from one row to the next, and from one image to the next.
    public var pitch: Int { width + 1 }
    public var imageStride: Int { (height + 1) * (width + 1) }
    /// Floats from one channel's run to the next: the images, the zero row after the last, and
    /// the one float the last pixel's lower-right neighbour needs.
    public var channelStride: Int { capacity * imageStride + pitch + 1 }
    public var description: String { "[\(channels)][\(batch)][\(height)][\(width)] padded" }

    /// Makes room for `batch` images (allocating only past the capacity) and returns self.
    @discardableResult
    public func resize(batch: Int) -> PaddedPlanes {
        if batch > capacity {
            data.deallocate()
            capacity = batch
            data = .allocate(capacity: runs * channelStride)
            data.initialize(repeating: 0, count: runs * channelStride)
        }
        self.batch = batch
        return self
    }

    /// Copies `images` of `source` [C][N][H][W] (N = batch) into the interiors.
    public func load(from source: UnsafePointer<Float>, images: Range<Int>) {
        ddp_conv3x3_load_planes(source, Int32(channels), Int32(batch), Int32(height), Int32(width),
                                Int32(images.lowerBound), Int32(images.upperBound), data, channelStride)
    }
}
