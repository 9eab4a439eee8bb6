import Tensor

/// The smooth activations whose derivative is a function of their output, so that backward
/// needs only the output forward kept: PyTorch's `nn.Sigmoid()`, y = 1 / (1 + exp(-x)),
/// dy/dx = y (1 - y); and `nn.Tanh()`, y = tanh(x), dy/dx = 1 - y^2.
public final class SmoothActivation: StatelessLayer {
    public enum Function: String, Sendable {
        case sigmoid = "Sigmoid", tanh = "Tanh"
    }

    public let function: Function
    public let name: String
    public let inputShape: FeatureShape
    public var outputShape: FeatureShape { inputShape }

    private let output = ActivationBuffer()
    private var lastOutput: Tensor?

    public init(_ function: Function, name: String, input: FeatureShape) {
        self.function = function
        self.name = name
        self.inputShape = input
    }

    public var kind: String { function.rawValue }

    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        let y = output.tensor(batch: inputShape.batch(of: input), shape: outputShape)
        switch function {
        case .sigmoid: Elementwise.sigmoid(input.data, y.data, count: y.count)
        case .tanh: Elementwise.tanh(input.data, y.data, count: y.count)
        }
        lastOutput = y
        return y
    }

    public func backward(_ outputGradient: Tensor, inputGradient: Tensor?) {
        guard let inputGradient else { return }
        guard let y = lastOutput else { preconditionFailure("\(name): backward before forward") }
        let dy = outputGradient.data, dx = inputGradient.data
        switch function {
        case .sigmoid: Elementwise.sigmoidBackward(output: y.data, outputGradient: dy, inputGradient: dx, count: y.count)
        case .tanh: Elementwise.tanhBackward(output: y.data, outputGradient: dy, inputGradient: dx, count: y.count)
        }
    }
}
