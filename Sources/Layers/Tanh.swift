import Tensor

/// Hyperbolic tangent, PyTorch's `nn.Tanh()`: y = tanh(x); dy/dx = 1 - y^2.
public final class Tanh: Layer {
    public let name: String
    public let inputShape: FeatureShape
    public var outputShape: FeatureShape { inputShape }

    private let output = ActivationBuffer()
    private var lastOutput: Tensor?

    public init(name: String, input: FeatureShape) {
        self.name = name
        self.inputShape = input
    }

    public var kind: String { "Tanh" }
    public var stateSpecs: [StateSpec] { [] }
    public func bind(_ binding: LayerBinding) {}

    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        let y = output.tensor(batch: inputShape.batch(of: input), shape: outputShape)
        Elementwise.tanh(input.data, y.data, count: y.count)
        lastOutput = y
        return y
    }

    public func backward(_ outputGradient: Tensor, inputGradient: Tensor?) {
        guard let inputGradient else { return }
        guard let y = lastOutput else { preconditionFailure("\(name): backward before forward") }
        Elementwise.tanhBackward(output: y.data, outputGradient: outputGradient.data,
                                 inputGradient: inputGradient.data, count: y.count)
    }
}
