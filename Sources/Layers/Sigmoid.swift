import Tensor

/// Logistic sigmoid, PyTorch's `nn.Sigmoid()`: y = 1 / (1 + exp(-x)); dy/dx = y (1 - y).
public final class Sigmoid: Layer {
    public let name: String
    public let inputShape: FeatureShape
    public var outputShape: FeatureShape { inputShape }

    private let output = ActivationBuffer()
    private var lastOutput: Tensor?

    public init(name: String, input: FeatureShape) {
        self.name = name
        self.inputShape = input
    }

    public var kind: String { "Sigmoid" }
    public var stateSpecs: [StateSpec] { [] }
    public func bind(_ binding: LayerBinding) {}

    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        let y = output.tensor(batch: inputShape.batch(of: input), shape: outputShape)
        Elementwise.sigmoid(input.data, y.data, count: y.count)
        lastOutput = y
        return y
    }

    public func backward(_ outputGradient: Tensor, inputGradient: Tensor?) {
        guard let inputGradient else { return }
        guard let y = lastOutput else { preconditionFailure("\(name): backward before forward") }
        Elementwise.sigmoidBackward(output: y.data, outputGradient: outputGradient.data,
                                    inputGradient: inputGradient.data, count: y.count)
    }
}
