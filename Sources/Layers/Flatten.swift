import Tensor

/// PyTorch's `nn.Flatten()`: each sample's C x H x W map becomes C*H*W features in (c, h, w)
/// order. Maps are stored channel-major, so this is the one transpose `[C, N, HW] -> [N, C*HW]`
/// (contiguous H*W runs); flat input passes through untouched.
public final class Flatten: StatelessLayer {
    public let name: String
    public let inputShape: FeatureShape
    public let outputShape: FeatureShape

    private let channels: Int, planeSize: Int
    private let output = ActivationBuffer()
    private var lastBatch = 0

    public init(name: String, input: FeatureShape) {
        self.name = name
        self.inputShape = input
        self.outputShape = .flat(input.elementsPerSample)
        switch input {
        case let .map(c, h, w): channels = c; planeSize = h * w
        case let .flat(f): channels = 1; planeSize = f
        }
    }

    public var kind: String { "Flatten" }
    public var passesInputThrough: Bool { if case .flat = inputShape { return true } else { return false } }

    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        if passesInputThrough { return input }
        let batch = input.shape[1]
        lastBatch = batch
        let y = output.tensor(batch: batch, shape: outputShape)
        let features = channels * planeSize
        for c in 0..<channels {
            for n in 0..<batch {
                let to: Int = n &* features &+ c &* planeSize, from: Int = (c &* batch &+ n) &* planeSize
                (y.data + to).update(from: input.data + from, count: planeSize)
            }
        }
        return y
    }

    public func backward(_ outputGradient: Tensor, inputGradient: Tensor?) {
        guard let inputGradient else { return }
        if passesInputThrough {
            if inputGradient !== outputGradient { inputGradient.copy(from: outputGradient) }
            return
        }
        let batch = lastBatch, features = channels * planeSize
        for c in 0..<channels {
            for n in 0..<batch {
                let to: Int = (c &* batch &+ n) &* planeSize, from: Int = n &* features &+ c &* planeSize
                (inputGradient.data + to).update(from: outputGradient.data + from, count: planeSize)
            }
        }
    }
}
