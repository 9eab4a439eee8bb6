import Tensor

/// Inverted dropout, PyTorch's `nn.Dropout(p)`: in training each element is kept with
/// probability 1 - p and scaled by 1 / (1 - p) (zeroed otherwise), so evaluation is the identity.
///
/// Masks come from the model's shared `LayerContext.dropoutRNG`, one uniform draw per element
/// in memory order, element dropped when the draw is < p. Resetting that generator repeats the
/// masks (checkpoint resume, gradient checks). The same seed does not give PyTorch's masks.
public final class Dropout: Layer {
    public let name: String
    public let probability: Float
    public let inputShape: FeatureShape
    public var outputShape: FeatureShape { inputShape }

    private var context: LayerContext!
    private let output = ActivationBuffer()
    private let mask = ActivationBuffer()
    /// Whether the last forward applied a mask (training with p > 0) or was the identity.
    private var lastMasked = false
    private var lastMask: Tensor?

    /// Throws when p is outside [0, 1).
    public init(name: String, input: FeatureShape, probability: Float) throws {
        guard probability >= 0, probability < 1 else {
            throw ModelError("layer \(name): dropout probability must be in [0, 1), got \(probability)")
        }
        self.name = name
        self.probability = probability
        self.inputShape = input
    }

    public var kind: String { "Dropout(\(probability))" }
    public var stateSpecs: [StateSpec] { [] }
    public func bind(_ binding: LayerBinding) { context = binding.context }

    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        guard training, probability > 0 else { lastMasked = false; return input }
        let batch = inputShape.batch(of: input)
        let y = output.tensor(batch: batch, shape: outputShape)
        let m = mask.tensor(batch: batch, shape: outputShape)
        let keepScale = 1 / (1 - probability), p = probability
        let md = m.data, count = m.count
        context.dropoutRNG.fillUniform(md, count: count)
        for i in 0..<count { md[i] = md[i] < p ? 0 : keepScale }
        Elementwise.multiply(input.data, md, y.data, count: count)
        lastMasked = true
        lastMask = m
        return y
    }

    public func backward(_ outputGradient: Tensor, inputGradient: Tensor?) {
        guard let inputGradient else { return }
        if lastMasked, let m = lastMask {
            Elementwise.multiply(outputGradient.data, m.data, inputGradient.data, count: m.count)
        } else if inputGradient !== outputGradient {
            inputGradient.copy(from: outputGradient)
        }
    }
}
