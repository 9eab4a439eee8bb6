import Platform
import Tensor

/// Rectified linear unit, PyTorch's `nn.ReLU()`: y = max(0, x); dy/dx = 1 where x > 0, else 0.
///
/// When a model places it right after a BatchNorm2d, the model fuses it: the batch norm writes
/// max(0, ...) in its own normalization pass and masks the gradient in its own backward pass, and
/// this layer passes input and gradient through untouched (`passesInputThrough`).
public final class ReLU: StatelessLayer {
    public let name: String
    public let inputShape: FeatureShape
    public var outputShape: FeatureShape { inputShape }
    /// Set by the model when the BatchNorm2d before this layer applies the ReLU itself.
    public internal(set) var isFusedIntoPrevious = false

    private let output = ActivationBuffer()
    private var lastOutput: Tensor?
    private var frozenPattern: [Bool]?

    public init(name: String, input: FeatureShape) {
        self.name = name
        self.inputShape = input
    }

    public var kind: String { isFusedIntoPrevious ? "ReLU (fused into the BatchNorm2d before)" : "ReLU" }
    public var passesInputThrough: Bool { isFusedIntoPrevious }

    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        if isFusedIntoPrevious { lastOutput = input; return input }
        let y = output.tensor(batch: inputShape.batch(of: input), shape: outputShape)
        if let frozenPattern {
            for i in 0..<y.count { y[i] = frozenPattern[i] ? input[i] : 0 }
        } else {
            Elementwise.relu(input.data, y.data, count: y.count)
        }
        lastOutput = y
        return y
    }

    public func backward(_ outputGradient: Tensor, inputGradient: Tensor?) {
        guard let inputGradient else { return }
        if isFusedIntoPrevious {
            if inputGradient !== outputGradient { inputGradient.copy(from: outputGradient) }
            return
        }
        guard let y = lastOutput else { preconditionFailure("\(name): backward before forward") }
        Elementwise.reluBackward(output: y.data, outputGradient: outputGradient.data,
                                 inputGradient: inputGradient.data, count: y.count, threads: BLASRuntime.threads)
    }

    public func freezeKinks(_ frozen: Bool) {
        frozenPattern = frozen && !isFusedIntoPrevious ? lastOutput.map { positivePattern($0.data, count: $0.count) } : nil
    }

    public var kinkSignature: UInt64 {
        guard let y = lastOutput else { return 0 }
        return positivePatternHash(y.data, count: y.count)
    }
}
