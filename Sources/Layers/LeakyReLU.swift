import Tensor

/// Leaky ReLU, PyTorch's `nn.LeakyReLU(slope)`: y = x for x > 0, slope * x otherwise.
/// The slope must be in [0, 1) so that the sign of y tells the branch in backward.
public final class LeakyReLU: StatelessLayer {
    public let name: String
    public let slope: Float
    public let inputShape: FeatureShape
    public var outputShape: FeatureShape { inputShape }

    private let output = ActivationBuffer()
    private var lastOutput: Tensor?
    private var frozenPattern: [Bool]?

    /// Throws when the slope is outside [0, 1).
    public init(name: String, input: FeatureShape, slope: Float = 0.01) throws {
        guard slope >= 0, slope < 1 else {
            throw ModelError("layer \(name): LeakyReLU slope must be in [0, 1), got \(slope)")
        }
        self.name = name
        self.slope = slope
        self.inputShape = input
    }

    public var kind: String { "LeakyReLU(\(slope))" }

    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        let y = output.tensor(batch: inputShape.batch(of: input), shape: outputShape)
        if let frozenPattern {
            for i in 0..<y.count { y[i] = frozenPattern[i] ? input[i] : slope * input[i] }
        } else {
            Elementwise.leakyReLU(input.data, y.data, slope: slope, count: y.count)
        }
        lastOutput = y
        return y
    }

    public func backward(_ outputGradient: Tensor, inputGradient: Tensor?) {
        guard let inputGradient else { return }
        guard let y = lastOutput else { preconditionFailure("\(name): backward before forward") }
        Elementwise.leakyReLUBackward(output: y.data, outputGradient: outputGradient.data,
                                      inputGradient: inputGradient.data, slope: slope, count: y.count)
    }

    public func freezeKinks(_ frozen: Bool) {
        frozenPattern = frozen ? lastOutput.map { positivePattern($0.data, count: $0.count) } : nil
    }

    public var kinkSignature: UInt64 {
        guard let y = lastOutput else { return 0 }
        return positivePatternHash(y.data, count: y.count)
    }
}
