import Tensor

/// Fully connected layer, PyTorch's `nn.Linear(in, out, bias)`: y = x W^T + b.
///
/// Input `[N, in]`, weight `[out, in]`, output `[N, out]`; each pass is one GEMM
/// (forward x W^T, dW = dY^T x, dX = dY W). Weights and bias start as the model's `WeightInit`
/// draws them (fan_in = in).
public final class Linear: Layer {
    public let name: String
    public let inFeatures: Int, outFeatures: Int
    public let hasBias: Bool
    public var inputShape: FeatureShape { .flat(inFeatures) }
    public var outputShape: FeatureShape { .flat(outFeatures) }

    private var weight: Tensor!, weightGradient: Tensor!
    private var bias: Tensor?, biasGradient: Tensor?
    private let output = ActivationBuffer()
    private var lastInput: Tensor?

    /// Throws when the input is a feature map (flatten it first) or a size is not positive.
    public init(name: String, input: FeatureShape, outFeatures: Int, bias: Bool = true) throws {
        guard case let .flat(f) = input else {
            throw ModelError("layer \(name): Linear needs flat features, got a \(input) feature map (put flatten or gap before it)")
        }
        guard outFeatures > 0 else { throw ModelError("layer \(name): Linear needs out features > 0, got \(outFeatures)") }
        self.name = name
        self.inFeatures = f; self.outFeatures = outFeatures
        self.hasBias = bias
    }

    public var kind: String { "Linear(\(inFeatures)->\(outFeatures)\(hasBias ? "" : ", no bias"))" }

    public var stateSpecs: [StateSpec] {
        var specs = [StateSpec(name: "weight", shape: [outFeatures, inFeatures],
                               role: .parameter(.weight(fanIn: inFeatures, fanOut: outFeatures)))]
        if hasBias { specs.append(StateSpec(name: "bias", shape: [outFeatures], role: .parameter(.bias(fanIn: inFeatures)))) }
        return specs
    }

    public func bind(_ binding: LayerBinding) {
        weight = binding.parameters[0]; weightGradient = binding.gradients[0]
        if hasBias { bias = binding.parameters[1]; biasGradient = binding.gradients[1] }
    }

    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        let batch = input.shape[0]
        let y = output.tensor(batch: batch, shape: outputShape)
        lastInput = input
        let o = outFeatures
        if let bias {
            // Rows start as the bias; the GEMM adds x W^T on top (beta 1).
            for n in 0..<batch { (y.data + n &* o).update(from: bias.data, count: o) }
        }
        GEMM.multiply(transposeA: false, transposeB: true, m: batch, n: o, k: inFeatures,
                      a: input.data, lda: inFeatures, b: weight.data, ldb: inFeatures,
                      beta: hasBias ? 1 : 0, c: y.data, ldc: o)
        return y
    }

    public func backward(_ outputGradient: Tensor, inputGradient: Tensor?) {
        guard let input = lastInput else { preconditionFailure("\(name): backward before forward") }
        let batch = input.shape[0], o = outFeatures
        let dy = outputGradient.data
        // dW[out, in] = dY^T[out, N] x X[N, in]
        GEMM.multiply(transposeA: true, transposeB: false, m: o, n: inFeatures, k: batch,
                      a: dy, lda: o, b: input.data, ldb: inFeatures, beta: 0, c: weightGradient.data, ldc: inFeatures)
        if let biasGradient {
            let db = biasGradient.data
            db.update(repeating: 0, count: o)
            for n in 0..<batch {
                let row = dy + n &* o
                for j in 0..<o { db[j] += row[j] }
            }
        }
        if let inputGradient {
            // dX[N, in] = dY[N, out] x W[out, in]
            GEMM.multiply(transposeA: false, transposeB: false, m: batch, n: inFeatures, k: o,
                          a: dy, lda: o, b: weight.data, ldb: inFeatures, beta: 0, c: inputGradient.data, ldc: inFeatures)
        }
    }
}
