import Foundation
import Platform
import Tensor

/// Batch normalization over feature maps, PyTorch's `nn.BatchNorm2d(C)` (eps 1e-5, momentum 0.1,
/// affine, tracking running statistics).
///
/// Training: per channel, mean and biased variance over the N*H*W values of the batch;
/// y = gamma * (x - mean) / sqrt(var + eps) + beta; then
/// running_mean = 0.9 running_mean + 0.1 mean, running_var = 0.9 running_var + 0.1 var_unbiased
/// (var * M / (M - 1), M = N*H*W), num_batches_tracked += 1. Evaluation normalizes with the
/// running statistics instead.
///
/// Backward (training), with xhat = (x - mean) * invstd and sums over the channel's M values:
/// dgamma = sum(dy * xhat), dbeta = sum(dy),
/// dx = gamma * invstd * (dy - sum(dy) / M - xhat * sum(dy * xhat) / M).
///
/// Synchronized (context.batchNormReducer set): the sample count and per-channel sums are summed
/// across ranks, then the centered sums of squares; in backward the two channel sums. M is then
/// the global count, so P ranks of B samples normalize exactly as one rank of P*B. The parameter
/// gradients stay local sums (the data-parallel allreduce adds them up like every other gradient).
///
/// Channels are contiguous runs of the channel-major input, so every pass is a tight loop over
/// raw memory. When followed by a ReLU the model sets `fusesReLU`: the normalization writes
/// max(0, y) and backward masks dy by y > 0 within its own passes, recomputing y from x (the
/// forward's own fused multiply-add, so the same sign) where it can instead of reading it.
public final class BatchNorm2d: Layer {
    public let name: String
    public let channels: Int
    public let eps: Float = 1e-5
    public let momentum: Float = 0.1
    public let inputShape: FeatureShape
    public var outputShape: FeatureShape { inputShape }
    /// Whether this layer also applies the ReLU that follows it (set by the model).
    public internal(set) var fusesReLU = false

    private let planeSize: Int
    private var weight: Tensor!, bias: Tensor!, weightGradient: Tensor!, biasGradient: Tensor!
    private var runningMean: Tensor!, runningVar: Tensor!
    private var batchesTracked: Counter!
    private var context: LayerContext!
    private let output = ActivationBuffer()

    /// Per channel: mean and 1/sqrt(var + eps) used by the last forward, its scale a = gamma*invstd
    /// and offset b = beta - mean * a.
    private let mean: UnsafeMutablePointer<Float>, invStd: UnsafeMutablePointer<Float>, scale: UnsafeMutablePointer<Float>
    private let offset: UnsafeMutablePointer<Float>
    /// Vector handed to the reducer: [count, C channel values] or [2C values].
    private let reduction: UnsafeMutablePointer<Float>
    private var lastInput: Tensor?, lastOutput: Tensor?
    private var lastTraining = false
    /// Whether backward recomputes the fused ReLU's gate from x (a x + b > 0) instead of reading
    /// the output: the last forward ran the ReLU without a residual or a frozen pattern, on the
    /// AVX-512 path, where the backward's fused multiply-add is the forward's.
    private var gatesFromInput = false
    /// The ReLU pattern of the last output while kinks are frozen.
    private var frozenPattern: [Bool]?
    /// Values per channel behind the last forward's statistics (all ranks when synchronized).
    private var lastCount = 0.0

    /// Throws when the input is not a feature map.
    public init(name: String, input: FeatureShape) throws {
        guard case let .map(c, h, w) = input else {
            throw ModelError("layer \(name): BatchNorm2d needs a feature map input, got \(input) flat features")
        }
        self.name = name
        self.channels = c
        self.planeSize = h * w
        self.inputShape = input
        mean = .allocate(capacity: c); invStd = .allocate(capacity: c); scale = .allocate(capacity: c)
        offset = .allocate(capacity: c)
        reduction = .allocate(capacity: 2 * c + 1)
        for p in [mean, invStd, scale, offset] { p.initialize(repeating: 0, count: c) }
        reduction.initialize(repeating: 0, count: 2 * c + 1)
    }

    deinit {
        mean.deallocate(); invStd.deallocate(); scale.deallocate(); offset.deallocate(); reduction.deallocate()
    }

    public var kind: String { fusesReLU ? "BatchNorm2d(\(channels)) + ReLU" : "BatchNorm2d(\(channels))" }

    public var stateSpecs: [StateSpec] {
        [StateSpec(name: "weight", shape: [channels], role: .parameter(.ones)),
         StateSpec(name: "bias", shape: [channels], role: .parameter(.zeros)),
         StateSpec(name: "running_mean", shape: [channels], role: .buffer(initial: 0)),
         StateSpec(name: "running_var", shape: [channels], role: .buffer(initial: 1)),
         StateSpec(name: "num_batches_tracked", shape: [], role: .counter)]
    }

    public func bind(_ binding: LayerBinding) {
        weight = binding.parameters[0]; bias = binding.parameters[1]
        weightGradient = binding.gradients[0]; biasGradient = binding.gradients[1]
        runningMean = binding.buffers[0]; runningVar = binding.buffers[1]
        batchesTracked = binding.counters[0]
        context = binding.context
    }

    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        forward(input, training: training, residual: nil, relu: fusesReLU)
    }

    /// y = [relu](gamma * xhat + beta [+ residual]): a residual block ends with this one pass.
    func forward(_ input: Tensor, training: Bool, residual: Tensor?, relu: Bool) -> Tensor {
        let batch = input.shape[1]
        let m = batch * planeSize
        let y = output.tensor(batch: batch, shape: outputShape)
        lastInput = input; lastOutput = y; lastTraining = training
        let x = input.data, out = y.data, r = residual?.data
        let pattern = relu ? frozenPattern : nil
        gatesFromInput = relu && r == nil && pattern == nil && BatchNormKernel.isAvailable
        if training, context.batchNormReducer != nil {
            synchronizedStatistics(x, count: m)
        } else if training {
            // Statistics and normalization channel by channel: a channel's N*H*W values are
            // still in L2 when the normalization reads them again.
            perChannel { c in
                localStatistics(channel: c, x, count: m)
                if pattern == nil { normalize(channel: c, x, out, residual: r, count: m, relu: relu) }
            }
            finishStatistics(count: Double(m))
            if pattern == nil { return y }
        } else {
            for c in 0..<channels {
                mean[c] = runningMean.data[c]
                invStd[c] = 1 / (runningVar.data[c] + eps).squareRoot()
            }
            lastCount = Double(m)
        }
        if let pattern {
            normalizeWithPattern(x, out, residual: r, count: m, pattern: pattern)
        } else {
            perChannel { c in normalize(channel: c, x, out, residual: r, count: m, relu: relu) }
        }
        return y
    }

    /// y = [relu](gamma * xhat + beta [+ residual]) over channel c; keeps its scale and offset.
    private func normalize(channel c: Int, _ x: UnsafeMutablePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                           residual r: UnsafeMutablePointer<Float>?, count m: Int, relu: Bool) {
        let a = weight.data[c] * invStd[c]
        let b = bias.data[c] - mean[c] * a
        scale[c] = a
        offset[c] = b
        BatchNormKernel.normalize(x + c &* m, residual: r.map { UnsafePointer($0 + c &* m) }, out + c &* m,
                                  count: m, a: a, b: b, relu: relu)
    }

    /// The normalization pass with a frozen ReLU pattern instead of the sign test.
    private func normalizeWithPattern(_ x: UnsafeMutablePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                                      residual r: UnsafeMutablePointer<Float>?, count m: Int, pattern: [Bool]) {
        for c in 0..<channels {
            let a = weight.data[c] * invStd[c]
            let b = bias.data[c] - mean[c] * a
            scale[c] = a
            for i in (c * m)..<((c + 1) * m) {
                let v = x[i] * a + b + (r?[i] ?? 0)
                out[i] = pattern[i] ? v : 0
            }
        }
    }

    /// Channel c's batch mean, centered sum of squares (in `reduction[c]`) and 1/sqrt(var + eps)
    /// on this rank's values, in one pass: sums of d = x - k and d^2, shifted by the channel's
    /// first value k (a value from the data, so |mean - k| is of the order of the spread, and
    /// the centered sum of squares d2 - d1^2 / n keeps its digits).
    private func localStatistics(channel c: Int, _ x: UnsafeMutablePointer<Float>, count m: Int) {
        let total = Double(m)
        let k = x[c &* m]
        let (d1, d2) = BatchNormKernel.shiftedSums(x + c &* m, shift: k, count: m)
        mean[c] = Float(Double(k) + d1 / total)
        reduction[c] = Float(max(0, d2 - d1 * d1 / total))
        setInvStd(channel: c, count: total)
    }

    /// Batch mean and biased variance over all ranks' values: two reductions, [count, sum_c]
    /// for the global mean, then the centered sums of squares for the variance (without the
    /// cancellation of E[x^2] - mean^2).
    private func synchronizedStatistics(_ x: UnsafeMutablePointer<Float>, count m: Int) {
        let reducer = context.batchNormReducer!
        reduction[0] = Float(m)
        perChannel { c in reduction[1 + c] = Float(Elementwise.sum(x + c &* m, count: m)) }
        reducer.sumAcrossRanks(reduction, count: channels + 1)
        let total = Double(reduction[0])
        for c in 0..<channels { mean[c] = Float(Double(reduction[1 + c]) / total) }
        perChannel { c in
            reduction[c] = Float(Elementwise.sumOfSquaredDeviations(x + c &* m, shift: mean[c], count: m))
        }
        reducer.sumAcrossRanks(reduction, count: channels)
        for c in 0..<channels { setInvStd(channel: c, count: total) }
        finishStatistics(count: total)
    }

    /// invStd[c] from the centered sum of squares in `reduction[c]` over `count` values.
    private func setInvStd(channel c: Int, count: Double) {
        invStd[c] = Float(1 / (Double(reduction[c]) / count + Double(eps)).squareRoot())
    }

    /// The running statistics' update from this step's (`reduction` holds the centered sums of
    /// squares over `count` values per channel).
    private func finishStatistics(count total: Double) {
        lastCount = total
        // PyTorch refuses a single value per channel in training; keep running_var finite anyway.
        let unbias = total > 1 ? total / (total - 1) : 1
        let keep = 1 - momentum
        for c in 0..<channels {
            let variance = Double(reduction[c]) / total
            runningMean.data[c] = keep * runningMean.data[c] + momentum * mean[c]
            runningVar.data[c] = keep * runningVar.data[c] + momentum * Float(variance * unbias)
        }
        batchesTracked.value &+= 1
    }

    public func backward(_ outputGradient: Tensor, inputGradient: Tensor?) {
        guard let input = lastInput, let y = lastOutput else { preconditionFailure("\(name): backward before forward") }
        let m = input.shape[1] * planeSize
        let x = input.data, dy = outputGradient.data, out = y.data
        let mask = fusesReLU ? UnsafePointer(out) : nil
        let synchronized = lastTraining && context.batchNormReducer != nil
        guard synchronized, let dx = inputGradient?.data else {
            // Sums and input gradient channel by channel: the second pass finds the channel's
            // dy, x and y still in L2.
            perChannel { c in
                reduceGradients(channel: c, dy, x, mask: mask, count: m)
                if let dx = inputGradient?.data { writeInputGradient(channel: c, dy, x, mask: mask, dx, count: m) }
            }
            return
        }
        perChannel { c in reduceGradients(channel: c, dy, x, mask: mask, count: m) }
        context.batchNormReducer!.sumAcrossRanks(reduction, count: 2 * channels)
        perChannel { c in writeInputGradient(channel: c, dy, x, mask: mask, dx, count: m) }
    }

    /// reduction[c] = sum(dy'), reduction[C + c] = sum(dy' * (x - mean)) over channel c, and the
    /// parameter gradients from them; dy' = dy where the fused ReLU let the value through.
    private func reduceGradients(channel c: Int, _ dy: UnsafeMutablePointer<Float>, _ x: UnsafeMutablePointer<Float>,
                                 mask: UnsafePointer<Float>?, count m: Int) {
        let (sum, dot) = gatesFromInput
            ? BatchNormKernel.reluGradientSums(dy + c &* m, x + c &* m, a: scale[c], b: offset[c], shift: mean[c], count: m)
            : BatchNormKernel.gradientSums(dy + c &* m, x + c &* m, shift: mean[c], mask: mask.map { $0 + c &* m }, count: m)
        reduction[c] = Float(sum)
        reduction[channels + c] = Float(dot)
        biasGradient.data[c] = reduction[c]
        weightGradient.data[c] = reduction[channels + c] * invStd[c]
    }

    /// dx over channel c from the sums in `reduction`: a dy' + k1 (x - mean) + k0 in training,
    /// only a dy' in evaluation.
    private func writeInputGradient(channel c: Int, _ dy: UnsafeMutablePointer<Float>, _ x: UnsafeMutablePointer<Float>,
                               mask: UnsafePointer<Float>?, _ dx: UnsafeMutablePointer<Float>, count m: Int) {
        let a = scale[c], count = Float(lastCount)
        var k1: Float = 0, k0: Float = 0
        if lastTraining {
            k0 = -a * reduction[c] / count
            k1 = -a * invStd[c] * invStd[c] * reduction[channels + c] / count
        }
        if gatesFromInput {
            BatchNormKernel.reluInputGradient(dy + c &* m, x + c &* m, b: offset[c], a: a, k1: k1, k0: k0 - k1 * mean[c],
                                              dx + c &* m, count: m)
        } else {
            BatchNormKernel.inputGradient(dy + c &* m, x + c &* m, mask: mask.map { $0 + c &* m }, a: a, k1: k1,
                                          k0: k0 - k1 * mean[c], dx + c &* m, count: m)
        }
    }

    /// body(c) for every channel, the channels split over the threads (each channel's numbers
    /// are its own, so the thread count changes nothing).
    private func perChannel(_ body: (Int) -> Void) {
        Parallel.forEach(count: channels, threads: BLASRuntime.threads) { _, range in
            for c in range { body(c) }
        }
    }

    public func freezeKinks(_ frozen: Bool) {
        frozenPattern = frozen ? lastOutput.map { positivePattern($0.data, count: $0.count) } : nil
    }

    public var kinkSignature: UInt64 {
        guard fusesReLU, let y = lastOutput else { return 0 }
        return positivePatternHash(y.data, count: y.count)
    }
}
