import Platform
import Tensor

/// `DDP_CONV=auto`: each convolution of a model runs whichever of its candidate algorithms
/// (`ConvolutionChoice.candidates`) measured fastest on its own shape, batch and threads.
///
///     per convolution    candidates            time each (fresh layer, random data)
///     "3" 32->32 28x28   direct  winograd4 ... -> seconds [0.0141, 0.0123, ...]
///     "7" 32->64 14x14   ...                   -> ...
///                         every rank times its candidates; the caller sums the times over
///                         ranks (`TrainingData`), rank 0 picks the least of each row, every
///                         rank takes its picks
///     plan               {"3": winograd4, "7": direct, ...}
///
/// Why it is opt-in: a plan depends on timings, so two runs with the same seed may pick
/// differently and differ in rounding. A run records its plan in its checkpoints
/// (`ConvolutionPlan`), so a resume reuses it and continues bit for bit.
///
/// Each time is the least over the passes after a warm-up (a timing can only be slowed by a
/// shared machine, never sped up; `passTimes`, which `ddp bench conv` times with too); a pass
/// is the forward and the backward, the input gradient included unless the layer is its
/// model's first (the model never asks it for one). Layers of the same shape are timed once.
public enum ConvolutionTuner {
    /// Seconds of one pass of each convolution in `convolutions` with each of its candidates (the
    /// rows of `candidates`), `minTime` seconds of passes at least (and 3 passes). `first`: the
    /// model's first layer, if a convolution.
    public static func measure(_ convolutions: [Conv2d], candidates: [[Conv2d.Algorithm]], first: Conv2d?, batch: Int,
                               minTime: Double = 0.05) throws -> [[Double]] {
        var timed: [String: Double] = [:]
        return try zip(convolutions, candidates).map { conv, algorithms in
            let inputGradient = conv !== first
            return try algorithms.map { algorithm in
                let key = "\(conv.kind) \(conv.inputShape) \(algorithm.rawValue) \(inputGradient)"
                if let seconds = timed[key] { return seconds }
                let seconds = try time(conv, on: algorithm, batch: batch, inputGradient: inputGradient, minTime: minTime)
                timed[key] = seconds
                return seconds
            }
        }
    }

    /// The index of the least time (the first on a tie).
    public static func fastest(_ seconds: [Double]) -> Int {
        seconds.indices.min { seconds[$0] < seconds[$1] } ?? 0
    }

    /// A fresh layer of `conv`'s shape on `algorithm`, timed: the least of its passes.
    private static func time(_ conv: Conv2d, on algorithm: Conv2d.Algorithm, batch: Int, inputGradient: Bool,
                             minTime: Double) throws -> Double {
        let layer = try freshLayer(name: conv.name, input: conv.inputShape, outChannels: conv.outChannels,
                                   kernelSize: conv.kernelSize, stride: conv.stride, padding: conv.padding, bias: conv.hasBias,
                                   on: algorithm)
        precondition(layer.algorithm == algorithm, "\(conv.name): \(algorithm.rawValue) is not a candidate here")
        // One warm-up: the first touches of the buffers.
        let passes = passTimes(layer, batch: batch, inputGradient: inputGradient, warmUps: 1, minTime: minTime)
        return passes.map { $0.forward + $0.backward }.min() ?? .infinity
    }

    /// An unbound layer of this shape asked to run `algorithm` (`directBF16`: the direct kernels
    /// under bf16); where it cannot, it falls back as `ConvolutionChoice` says (check `algorithm`).
    public static func freshLayer(name: String, input: FeatureShape, outChannels: Int, kernelSize: Int, stride: Int,
                                  padding: Int, bias: Bool, on algorithm: Conv2d.Algorithm) throws -> Conv2d {
        let request: ConvolutionRequest = switch algorithm {
        case .direct, .directBF16: .direct
        case .winograd2: .winograd2
        case .winograd4: .winograd4
        case .im2col: .im2col
        }
        let layer = try Conv2d(name: name, input: input, outChannels: outChannels, kernelSize: kernelSize, stride: stride,
                               padding: padding, bias: bias, algorithm: request)
        if algorithm == .directBF16 { layer.setPrecision(.bf16) }
        return layer
    }

    /// Seconds of the forward and the backward of each timed pass of `layer` (unbound: bound here
    /// to weights drawn from a fixed seed and a workspace) on random data of `batch` images, the
    /// input gradient included when `inputGradient`: `warmUps` untimed passes, then timed ones
    /// until there are 3 and they took `minTime` seconds.
    public static func passTimes(_ layer: Conv2d, batch: Int, inputGradient: Bool, warmUps: Int,
                                 minTime: Double) -> [(forward: Double, backward: Double)] {
        // Binds the layer to its weights (kept alive by the layer's views) and a workspace.
        _ = ParameterStore(layers: [layer], seed: 7)
        guard case let .map(c, h, w) = layer.inputShape, case let .map(o, oh, ow) = layer.outputShape else { return [] }
        var rng = SeededRNG(seed: 3)
        let x = Tensor(shape: [c, batch, h, w]), dy = Tensor(shape: [o, batch, oh, ow])
        for i in 0..<x.count { x[i] = rng.normal() }
        for i in 0..<dy.count { dy[i] = rng.normal() }
        let dx = inputGradient ? Tensor(shape: [c, batch * h * w]) : nil
        var times: [(forward: Double, backward: Double)] = [], spent = 0.0, passes = 0
        while times.count < 3 || spent < minTime {
            let t0 = MonotonicClock.seconds()
            _ = layer.forward(x, training: true)
            let t1 = MonotonicClock.seconds()
            layer.backward(dy, inputGradient: dx)
            let t2 = MonotonicClock.seconds()
            passes += 1
            guard passes > warmUps else { continue }
            times.append((t1 - t0, t2 - t1))
            spent += t2 - t0
        }
        return times
    }
}
