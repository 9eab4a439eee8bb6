import Platform
import Tensor

/// Max pooling, PyTorch's `nn.MaxPool2d(kernel, stride)` (no padding, floor output size).
///
/// Each output is the largest element of its window (the first one on ties, NaN wins, as in
/// PyTorch). Forward stores the winner's index for backward, which routes each output gradient
/// to that element only (adding up where windows overlap).
public final class MaxPool2d: StatelessLayer {
    public let name: String
    public let inputShape: FeatureShape
    private let window: PoolWindow
    private let output = ActivationBuffer()
    /// Per output element, the index of the chosen input element within its (channel, image) plane.
    private let argmax = ScratchBuffer<Int32>(zero: 0)
    private var lastBatch = 0
    private var frozen = false

    /// Throws when the input is not a feature map or is smaller than the window.
    public init(name: String, input: FeatureShape, kernelSize: Int, stride: Int? = nil) throws {
        window = try PoolWindow(layer: name, kind: "MaxPool2d", input: input, kernelSize: kernelSize, stride: stride)
        self.name = name
        self.inputShape = input
    }

    /// 2x2 windows, stride 2, even plane: `MaxPoolKernel` where the CPU runs it (and the
    /// scalar loops when `forceScalar`, which tests compare).
    private var usesKernel: Bool {
        kernelSize == 2 && stride == 2 && window.height % 2 == 0 && window.width % 2 == 0 && MaxPoolKernel.isAvailable && !forceScalar
    }

    /// Takes the scalar loops even where `MaxPoolKernel` runs.
    public var forceScalar = false

    public var outputShape: FeatureShape { window.outputShape }
    public var kernelSize: Int { window.kernelSize }
    public var stride: Int { window.stride }

    public var kind: String { "MaxPool2d(\(window.kernelSize)x\(window.kernelSize), s\(window.stride))" }

    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        let batch = input.shape[1]
        lastBatch = batch
        let y = output.tensor(batch: batch, shape: outputShape)
        let planes = window.channels * batch
        let hw = window.height * window.width, ohw = window.outHeight * window.outWidth
        let idx = argmax.reserve(planes * ohw)
        let k = window.kernelSize, s = window.stride, w = window.width, ow = window.outWidth, oh = window.outHeight
        let x = input.data, out = y.data
        if frozen {
            for p in 0..<planes {
                for o in 0..<ohw { out[p &* ohw &+ o] = x[p &* hw &+ Int(idx[p &* ohw &+ o])] }
            }
            return y
        }
        if usesKernel {
            Parallel.forEach(count: planes, threads: BLASRuntime.threads) { _, r in
                let first = r.lowerBound
                MaxPoolKernel.forward(x + first &* hw, out + first &* ohw, argmax: idx + first &* ohw, planes: r.count,
                                      height: window.height, width: window.width)
            }
            return y
        }
        if k == 2 && s == 2 {
            forward2x2(x, out, idx, planes: planes)
            return y
        }
        for p in 0..<planes {
            let src = x + p &* hw, dst = out + p &* ohw, arg = idx + p &* ohw
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var best = (oy &* s) &* w &+ ox &* s
                    var bestValue = src[best]
                    for i in 0..<k {
                        let row = (oy &* s &+ i) &* w &+ ox &* s
                        for j in 0..<k {
                            let v = src[row &+ j]
                            if v > bestValue || v.isNaN { bestValue = v; best = row &+ j }
                        }
                    }
                    dst[oy &* ow &+ ox] = bestValue
                    arg[oy &* ow &+ ox] = Int32(truncatingIfNeeded: best)
                }
            }
        }
        return y
    }

    /// The common 2x2 stride-2 window, unrolled: the same choices as the general loop (first
    /// maximum in row-major window order, NaN wins).
    private func forward2x2(_ x: UnsafeMutablePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                            _ idx: UnsafeMutablePointer<Int32>, planes: Int) {
        let w = window.width, ow = window.outWidth, oh = window.outHeight, hw = window.height * window.width, ohw = window.outHeight * window.outWidth
        for p in 0..<planes {
            let src = x + p &* hw, dst = out + p &* ohw, arg = idx + p &* ohw
            for oy in 0..<oh {
                let top = (2 &* oy) &* w
                for ox in 0..<ow {
                    // Selects rather than branches: random signs would mispredict them.
                    let i0 = top &+ 2 &* ox, i1 = i0 &+ 1, i2 = i0 &+ w, i3 = i2 &+ 1
                    var best = i0, bestValue = src[i0]
                    let v1 = src[i1], v2 = src[i2], v3 = src[i3]
                    let t1 = v1 > bestValue || v1 != v1
                    best = t1 ? i1 : best; bestValue = t1 ? v1 : bestValue
                    let t2 = v2 > bestValue || v2 != v2
                    best = t2 ? i2 : best; bestValue = t2 ? v2 : bestValue
                    let t3 = v3 > bestValue || v3 != v3
                    best = t3 ? i3 : best; bestValue = t3 ? v3 : bestValue
                    dst[oy &* ow &+ ox] = bestValue
                    arg[oy &* ow &+ ox] = Int32(truncatingIfNeeded: best)
                }
            }
        }
    }

    public func backward(_ outputGradient: Tensor, inputGradient: Tensor?) {
        guard let inputGradient else { return }
        let planes = window.channels * lastBatch
        let hw = window.height * window.width, ohw = window.outHeight * window.outWidth
        let dx = inputGradient.data, dy = outputGradient.data, idx = argmax.pointer
        if usesKernel {
            Parallel.forEach(count: planes, threads: BLASRuntime.threads) { _, r in
                let first = r.lowerBound
                MaxPoolKernel.backward(dy + first &* ohw, argmax: idx + first &* ohw, dx + first &* hw, planes: r.count,
                                       height: window.height, width: window.width)
            }
            return
        }
        inputGradient.fill(0)
        for p in 0..<planes {
            let dst = dx + p &* hw, src = dy + p &* ohw, arg = idx + p &* ohw
            for i in 0..<ohw { dst[Int(arg[i])] += src[i] }
        }
    }

    public func freezeKinks(_ frozen: Bool) { self.frozen = frozen }

    public var kinkSignature: UInt64 {
        let n = window.channels * lastBatch * window.outHeight * window.outWidth
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for i in 0..<n { h = hashCombine(h, UInt64(UInt32(bitPattern: argmax.pointer[i]))) }
        return h
    }
}
