import Platform
import Tensor

/// Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight decay,
/// with `torch.optim.SGD`'s exact update (PyTorch 1.13, single-tensor path), per element:
///
///     d = g + weightDecay * p                      (if weightDecay != 0)
///     b = d                                        (first step)
///     b = momentum * b + (1 - dampening) * d       (later steps)     } if momentum != 0
///     d = nesterov ? d + momentum * b : b                            }
///     p = p - lr * d
///
/// Bit-exactness: each line is one torch kernel, so it rounds to Float once; `x + alpha * y` is a
/// fused multiply-add in torch's AVX2/AVX-512 kernels, so it is `addingProduct` (correctly rounded
/// fma) here, and the scalars are the Doubles rounded to Float as torch's kernels round them.
/// On the AVX-512 kernel path (`KernelPath`), `step` runs `SGDKernel` (CKernels): the same
/// operations 16 lanes at a time with vfmadd/vmul/vadd, hence the same bits, the buffer split
/// over the BLAS threads.
/// Elsewhere (and with `forceScalar`) the element loop below runs; there `addingProduct` compiles
/// to a libm `fmaf` call on the baseline x86-64 target (no FMA instructions), three calls per
/// parameter with Nesterov and weight decay.
public final class SGD: Optimizer {
    public var learningRate: Double
    /// Settable between steps so schedules can cycle it (one-cycle); a run built without momentum
    /// has no buffer and must keep it 0.
    public var momentum: Double {
        willSet { precondition(newValue == 0 || hasBuffer, "SGD built without momentum cannot take momentum \(newValue)") }
    }
    private let hasBuffer: Bool
    public let dampening: Double
    public let weightDecay: Double
    public let nesterov: Bool
    public let count: Int
    public private(set) var stepCount = 0
    /// The momentum buffer `b` (torch's "momentum_buffer"): `count` Floats with momentum, else
    /// one unused Float.
    private let buffer: UnsafeMutablePointer<Float>

    /// Checks the hyperparameters as torch.optim.SGD does (and rejects non-finite values).
    public init(count: Int, learningRate: Double, momentum: Double = 0, dampening: Double = 0,
                weightDecay: Double = 0, nesterov: Bool = false) throws {
        guard count >= 0 else { throw OptimizerError("SGD: parameter count \(count) is negative") }
        guard learningRate.isFinite, learningRate >= 0 else {
            throw OptimizerError("SGD: invalid learning rate \(learningRate), expected a finite value >= 0")
        }
        guard momentum.isFinite, momentum >= 0 else {
            throw OptimizerError("SGD: invalid momentum \(momentum), expected a finite value >= 0")
        }
        guard dampening.isFinite else {
            throw OptimizerError("SGD: invalid dampening \(dampening), expected a finite value")
        }
        guard weightDecay.isFinite, weightDecay >= 0 else {
            throw OptimizerError("SGD: invalid weight decay \(weightDecay), expected a finite value >= 0")
        }
        if nesterov && (momentum <= 0 || dampening != 0) {
            throw OptimizerError("SGD: Nesterov momentum requires a momentum > 0 and zero dampening "
                + "(got momentum \(momentum), dampening \(dampening))")
        }
        self.count = count
        self.learningRate = learningRate
        self.momentum = momentum
        self.dampening = dampening
        self.weightDecay = weightDecay
        self.nesterov = nesterov
        hasBuffer = momentum != 0
        let capacity = momentum != 0 ? max(count, 1) : 1
        buffer = .allocate(capacity: capacity)
        buffer.initialize(repeating: 0, count: capacity)
    }

    deinit {
        buffer.deallocate()
    }

    public func step(parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>, count n: Int) {
        precondition(n == count, "SGD built for \(count) parameters, stepped with \(n)")
        let p = parameters, g = gradients
        let negLR = Float(-learningRate)
        let decay = Float(weightDecay), hasDecay = weightDecay != 0
        let mu = Float(momentum), hasMomentum = momentum != 0
        let keep = Float(1 - dampening)
        let firstStep = stepCount == 0
        let nesterov = self.nesterov
        let b = buffer
        defer { stepCount += 1 }
        if SGDKernel.isAvailable && !forceScalar {
            // Element by element, so splitting the buffer over the threads changes no bit.
            Parallel.forEach(count: n, threads: BLASRuntime.threads) { _, r in
                let i = r.lowerBound
                SGDKernel.step(parameters: p + i, gradients: g + i, momentumBuffer: b + i, count: r.count,
                               negativeLearningRate: negLR, weightDecay: hasDecay ? decay : nil,
                               momentum: hasMomentum ? mu : nil, keep: keep, firstStep: firstStep, nesterov: nesterov)
            }
            return
        }
        var i = 0
        while i < n {
            var d = g[i]
            if hasDecay { d = d.addingProduct(p[i], decay) }
            if hasMomentum {
                var new = d
                if !firstStep {
                    let old = b[i] * mu
                    // fma(d, 1, x) == x + d exactly: the usual dampening 0 needs no fma call.
                    new = keep == 1 ? old + d : old.addingProduct(d, keep)
                }
                b[i] = new
                d = nesterov ? d.addingProduct(new, mu) : new
            }
            p[i] = p[i].addingProduct(d, negLR)
            i &+= 1
        }
    }

    /// Takes the element-at-a-time loop even where `SGDKernel` runs (tests compare the two).
    public var forceScalar = false

    public func stateTensors() -> [(name: String, values: [Float])] {
        momentum != 0 ? [(name: "momentum_buffer", values: Array(UnsafeBufferPointer(start: buffer, count: count)))] : []
    }

    public func loadState(_ tensors: [String: [Float]], stepCount: Int) throws {
        try OptimizerError.checkState(tensors, stepCount: stepCount,
                                      expected: momentum != 0 ? ["momentum_buffer"] : [],
                                      count: count, optimizer: "SGD")
        if let values = tensors["momentum_buffer"], count > 0 {
            values.withUnsafeBufferPointer { buffer.update(from: $0.baseAddress!, count: count) }
        }
        self.stepCount = stepCount
    }
}
