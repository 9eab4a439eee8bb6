import Tensor

/// Max pooling, PyTorch's `nn.MaxPool2d(kernel, stride)` (no padding, floor output size).
///
/// Each output is the largest element of its window (the first one on ties, NaN wins, as in
/// PyTorch). Forward stores the winner's index for backward, which routes each output gradient
/// to that element only (adding up where windows overlap).
public final class MaxPool2d: Layer {
    public let name: String
    public let kernelSize: Int, stride: Int
    public let inputShape: FeatureShape
    public let outputShape: FeatureShape

    private let channels: Int, height: Int, width: Int, outHeight: Int, outWidth: Int
    private let output = ActivationBuffer()
    /// Per output element, the index of the chosen input element within its (channel, image) plane.
    private let argmax = ScratchBuffer<Int32>(zero: 0)
    private var lastBatch = 0
    private var frozen = false

    /// Throws when the input is not a feature map or is smaller than the window.
    public init(name: String, input: FeatureShape, kernelSize: Int, stride: Int? = nil) throws {
        guard case let .map(c, h, w) = input else {
            throw ModelError("layer \(name): MaxPool2d needs a feature map input, got \(input) flat features")
        }
        let s = stride ?? kernelSize
        guard kernelSize > 0, s > 0 else {
            throw ModelError("layer \(name): MaxPool2d needs kernel and stride > 0, got k \(kernelSize) s \(s)")
        }
        guard h >= kernelSize, w >= kernelSize else {
            throw ModelError("layer \(name): input \(input) is smaller than the \(kernelSize)x\(kernelSize) MaxPool2d window")
        }
        self.name = name
        self.kernelSize = kernelSize; self.stride = s
        self.inputShape = input
        self.channels = c; self.height = h; self.width = w
        self.outHeight = (h - kernelSize) / s + 1
        self.outWidth = (w - kernelSize) / s + 1
        self.outputShape = .map(channels: c, height: outHeight, width: outWidth)
    }

    public var kind: String { "MaxPool2d(\(kernelSize)x\(kernelSize), s\(stride))" }
    public var stateSpecs: [StateSpec] { [] }
    public func bind(_ binding: LayerBinding) {}

    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        let batch = input.shape[1]
        lastBatch = batch
        let y = output.tensor(batch: batch, shape: outputShape)
        let planes = channels * batch
        let hw = height * width, ohw = outHeight * outWidth
        let idx = argmax.reserve(planes * ohw)
        let k = kernelSize, s = stride, w = width, ow = outWidth, oh = outHeight
        let x = input.data, out = y.data
        if frozen {
            for p in 0..<planes {
                for o in 0..<ohw { out[p &* ohw &+ o] = x[p &* hw &+ Int(idx[p &* ohw &+ o])] }
            }
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

    public func backward(_ outputGradient: Tensor, inputGradient: Tensor?) {
        guard let inputGradient else { return }
        let planes = channels * lastBatch
        let hw = height * width, ohw = outHeight * outWidth
        let dx = inputGradient.data, dy = outputGradient.data, idx = argmax.pointer
        inputGradient.fill(0)
        for p in 0..<planes {
            let dst = dx + p &* hw, src = dy + p &* ohw, arg = idx + p &* ohw
            for i in 0..<ohw { dst[Int(arg[i])] += src[i] }
        }
    }

    public func freezeKinks(_ frozen: Bool) { self.frozen = frozen }

    public var kinkSignature: UInt64 {
        let n = channels * lastBatch * outHeight * outWidth
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for i in 0..<n { h = hashCombine(h, UInt64(UInt32(bitPattern: argmax.pointer[i]))) }
        return h
    }
}
