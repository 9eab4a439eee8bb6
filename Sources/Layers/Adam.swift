import Foundation

/// Adam (Kingma & Ba) with L2 weight decay added to the gradient (not AdamW), with
/// `torch.optim.Adam`'s exact update (PyTorch 1.13, single-tensor path, amsgrad off). At step t:
///
///     g = g + weightDecay * p                                   (if weightDecay != 0)
///     m = beta1 * m + (1 - beta1) * g
///     v = beta2 * v + (1 - beta2) * g * g
///     p = p + (-lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
///
/// The bias corrections and the step size are computed in Double as torch computes them in
/// Python, then rounded to Float; each line rounds as torch's kernel does: the `x + alpha * y`
/// updates are fused multiply-adds (`addingProduct`), `(1 - beta2) * g * g` multiplies left to
/// right before its fused add, and the last line divides before it adds (no fma there).
public final class Adam: Optimizer {
    public var learningRate: Double
    public let beta1: Double
    public let beta2: Double
    public let eps: Double
    public let weightDecay: Double
    public let count: Int
    public private(set) var stepCount = 0
    /// First moment `m` (torch's "exp_avg") and second moment `v` ("exp_avg_sq").
    private let firstMoment: UnsafeMutablePointer<Float>
    private let secondMoment: UnsafeMutablePointer<Float>

    /// Checks the hyperparameters as torch.optim.Adam does (and rejects non-finite values).
    public init(count: Int, learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999,
                eps: Double = 1e-8, weightDecay: Double = 0) throws {
        guard count >= 0 else { throw OptimizerError("Adam: parameter count \(count) is negative") }
        guard learningRate.isFinite, learningRate >= 0 else {
            throw OptimizerError("Adam: invalid learning rate \(learningRate), expected a finite value >= 0")
        }
        guard eps.isFinite, eps >= 0 else {
            throw OptimizerError("Adam: invalid epsilon \(eps), expected a finite value >= 0")
        }
        for (index, beta) in [beta1, beta2].enumerated() where !(beta >= 0 && beta < 1) {
            throw OptimizerError("Adam: invalid beta\(index + 1) \(beta), expected 0 <= beta < 1")
        }
        guard weightDecay.isFinite, weightDecay >= 0 else {
            throw OptimizerError("Adam: invalid weight decay \(weightDecay), expected a finite value >= 0")
        }
        self.count = count
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
        firstMoment = .allocate(capacity: max(count, 1))
        firstMoment.initialize(repeating: 0, count: max(count, 1))
        secondMoment = .allocate(capacity: max(count, 1))
        secondMoment.initialize(repeating: 0, count: max(count, 1))
    }

    deinit {
        firstMoment.deallocate()
        secondMoment.deallocate()
    }

    public func step(parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>, count n: Int) {
        precondition(n == count, "Adam built for \(count) parameters, stepped with \(n)")
        stepCount += 1
        let t = Double(stepCount)
        let biasCorrection1 = 1 - pow(beta1, t)
        let biasCorrection2 = 1 - pow(beta2, t)
        let negStepSize = Float(-(learningRate / biasCorrection1))
        let biasCorrection2Sqrt = Float(biasCorrection2.squareRoot())
        let decay = Float(weightDecay), hasDecay = weightDecay != 0
        let b1 = Float(beta1), keep1 = Float(1 - beta1)
        let b2 = Float(beta2), keep2 = Float(1 - beta2)
        let epsilon = Float(eps)
        let p = parameters, g = gradients, m = firstMoment, v = secondMoment
        var i = 0
        while i < n {
            var grad = g[i]
            if hasDecay { grad = grad.addingProduct(p[i], decay) }
            let mi = (m[i] * b1).addingProduct(grad, keep1)
            let vi = (v[i] * b2).addingProduct(keep2 * grad, grad)
            m[i] = mi
            v[i] = vi
            let denominator = vi.squareRoot() / biasCorrection2Sqrt + epsilon
            p[i] = p[i] + (negStepSize * mi) / denominator
            i &+= 1
        }
    }

    public func stateTensors() -> [(name: String, values: [Float])] {
        [(name: "exp_avg", values: Array(UnsafeBufferPointer(start: firstMoment, count: count))),
         (name: "exp_avg_sq", values: Array(UnsafeBufferPointer(start: secondMoment, count: count)))]
    }

    public func loadState(_ tensors: [String: [Float]], stepCount: Int) throws {
        try OptimizerError.checkState(tensors, stepCount: stepCount, expected: ["exp_avg", "exp_avg_sq"],
                                      count: count, optimizer: "Adam")
        if count > 0 {
            tensors["exp_avg"]!.withUnsafeBufferPointer { firstMoment.update(from: $0.baseAddress!, count: count) }
            tensors["exp_avg_sq"]!.withUnsafeBufferPointer { secondMoment.update(from: $0.baseAddress!, count: count) }
        }
        self.stepCount = stepCount
    }
}
