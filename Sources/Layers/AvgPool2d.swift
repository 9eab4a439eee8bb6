import Tensor

/// Average pooling, PyTorch's `nn.AvgPool2d(kernel, stride)` (no padding, floor output size):
/// each output is the mean of its window; backward spreads dy / (k*k) over the window.
public final class AvgPool2d: StatelessLayer {
    public let name: String
    public let inputShape: FeatureShape
    private let window: PoolWindow
    private let output = ActivationBuffer()
    private var lastBatch = 0

    /// Throws when the input is not a feature map or is smaller than the window.
    public init(name: String, input: FeatureShape, kernelSize: Int, stride: Int? = nil) throws {
        window = try PoolWindow(layer: name, kind: "AvgPool2d", input: input, kernelSize: kernelSize, stride: stride)
        self.name = name
        self.inputShape = input
    }

    public var outputShape: FeatureShape { window.outputShape }
    public var kernelSize: Int { window.kernelSize }
    public var stride: Int { window.stride }

    public var kind: String { "AvgPool2d(\(window.kernelSize)x\(window.kernelSize), s\(window.stride))" }

    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        let batch = input.shape[1]
        lastBatch = batch
        let y = output.tensor(batch: batch, shape: outputShape)
        let planes = window.channels * batch
        let hw = window.height * window.width, ohw = window.outHeight * window.outWidth
        let k = window.kernelSize, s = window.stride, w = window.width, ow = window.outWidth, oh = window.outHeight
        let scale = 1 / Float(k * k)
        let x = input.data, out = y.data
        for p in 0..<planes {
            let src = x + p &* hw, dst = out + p &* ohw
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var acc: Float = 0
                    for i in 0..<k {
                        let offset: Int = (oy &* s &+ i) &* w &+ ox &* s
                        let row = src + offset
                        for j in 0..<k { acc += row[j] }
                    }
                    dst[oy &* ow &+ ox] = acc * scale
                }
            }
        }
        return y
    }

    public func backward(_ outputGradient: Tensor, inputGradient: Tensor?) {
        guard let inputGradient else { return }
        let planes = window.channels * lastBatch
        let hw = window.height * window.width, ohw = window.outHeight * window.outWidth
        let k = window.kernelSize, s = window.stride, w = window.width, ow = window.outWidth, oh = window.outHeight
        let scale = 1 / Float(k * k)
        let dx = inputGradient.data, dy = outputGradient.data
        inputGradient.fill(0)
        for p in 0..<planes {
            let dst = dx + p &* hw, src = dy + p &* ohw
            for oy in 0..<oh {
                for ox in 0..<ow {
                    let g = src[oy &* ow &+ ox] * scale
                    for i in 0..<k {
                        let offset: Int = (oy &* s &+ i) &* w &+ ox &* s
                        let row = dst + offset
                        for j in 0..<k { row[j] += g }
                    }
                }
            }
        }
    }
}
