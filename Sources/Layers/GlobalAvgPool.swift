import Tensor

/// Global average pooling to flat features: PyTorch's `nn.AdaptiveAvgPool2d(1)` followed by
/// `flatten(1)`. Input maps `[C, N, H, W]`, output `[N, C]` with y[n, c] = mean of plane (c, n);
/// backward spreads dy[n, c] / (H*W) over the plane.
public final class GlobalAvgPool: StatelessLayer {
    public let name: String
    public let inputShape: FeatureShape
    public let outputShape: FeatureShape

    private let channels: Int, planeSize: Int
    private let output = ActivationBuffer()
    private var lastBatch = 0

    /// Throws when the input is not a feature map.
    public init(name: String, input: FeatureShape) throws {
        guard case let .map(c, h, w) = input else {
            throw ModelError("layer \(name): global average pooling needs a feature map input, got \(input) flat features")
        }
        self.name = name
        self.inputShape = input
        self.channels = c
        self.planeSize = h * w
        self.outputShape = .flat(c)
    }

    public var kind: String { "GlobalAvgPool" }

    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        let batch = input.shape[1]
        lastBatch = batch
        let y = output.tensor(batch: batch, shape: outputShape)
        let scale = 1 / Double(planeSize)
        for c in 0..<channels {
            for n in 0..<batch {
                let s = Elementwise.sum(input.data + (c &* batch &+ n) &* planeSize, count: planeSize)
                y.data[n &* channels &+ c] = Float(s * scale)
            }
        }
        return y
    }

    public func backward(_ outputGradient: Tensor, inputGradient: Tensor?) {
        guard let inputGradient else { return }
        let batch = lastBatch
        let scale = 1 / Float(planeSize)
        for c in 0..<channels {
            for n in 0..<batch {
                let g = outputGradient.data[n &* channels &+ c] * scale
                (inputGradient.data + (c &* batch &+ n) &* planeSize).update(repeating: g, count: planeSize)
            }
        }
    }
}
