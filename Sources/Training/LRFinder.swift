import AllReduce
import Data
import Foundation
import Layers
import Tensor

/// `ddp lr-find`: the learning-rate range test (Smith, "Cyclical Learning Rates", 2017).
///
/// The LR grows exponentially from `startLR` to `endLR` over `steps` steps while training; the
/// loss is smoothed by a bias-corrected exponential moving average and the test stops once it
/// exceeds `divergeFactor` times its minimum. The suggested LR is a tenth of the LR at the
/// smoothed loss's minimum: the minimum itself is already at the edge of stability (and the
/// moving average reaches it late), so one decade below is the usual, robust reading of the curve.
public enum LRFinder {
    public struct Point: Sendable { public var lr: Double; public var loss: Double; public var smoothed: Double }

    public struct Result: Sendable {
        public var points: [Point]
        public var suggested: Double
        public var minimumLR: Double
        public var diverged: Bool
    }

    public struct Options: Sendable {
        public var startLR = 1e-6
        public var endLR = 10.0
        public var steps = 200
        /// Weight of the past in the moving average: a 10-step memory, short enough not to lag far
        /// behind an LR that grows by a decade every ~30 steps.
        public var smoothing = 0.9
        public var divergeFactor = 4.0
        public init() {}
    }

    public static func run(config: TrainConfig, options: Options, comm: any Communicator) throws -> Result {
        let data = try World.agree(comm) { try TrainingData(config: config) }
        let model = try data.replica(config, comm: comm)
        let optimizer = try SGD(count: model.parameterCount, learningRate: options.startLR,
                                momentum: config.momentum, weightDecay: config.weightDecay,
                                nesterov: config.nesterov && config.momentum > 0)
        let stepper = try TrainingStep(model: model, optimizer: optimizer, comm: comm, batchSize: config.batchSize,
                                       bucketCapBytes: Int(config.bucketCapMB * 1_048_576), overlap: config.overlap)
        let sampler = try DistributedSampler(count: data.train.count, batchSize: config.batchSize, ranks: comm.size,
                                             rank: comm.rank, seed: config.seed, shuffle: true)
        var rng = SeededRNG(seed: config.seed &+ UInt64(comm.rank))
        var points: [Point] = []
        var average = 0.0
        var best = Double.infinity
        var diverged = false
        let ratio = pow(options.endLR / options.startLR, 1 / Double(max(options.steps - 1, 1)))
        for s in 0..<options.steps {
            let lr = options.startLR * pow(ratio, Double(s))
            let epoch = s / sampler.stepsPerEpoch, step = s % sampler.stepsPerEpoch
            let loss: Double
            do {
                loss = try stepper.run(batches: data.trainBatches, indices: { _ in sampler.indices(epoch: epoch, step: step) },
                                       rng: &rng, lr: lr,
                                       position: (epoch + 1, step + 1), timeline: nil, globalStep: s).loss
            } catch TrainError.nonFinite {
                diverged = true   // the loss blew up: exactly what the test looks for
                break
            }
            average = options.smoothing * average + (1 - options.smoothing) * loss
            let smoothed = average / (1 - pow(options.smoothing, Double(s + 1)))
            points.append(Point(lr: lr, loss: loss, smoothed: smoothed))
            best = min(best, smoothed)
            if s > 10 && smoothed > options.divergeFactor * best { diverged = true; break }
        }
        let (suggested, minimumLR) = suggest(points)
        return Result(points: points, suggested: suggested, minimumLR: minimumLR, diverged: diverged)
    }

    /// A tenth of the LR at the smoothed loss's minimum, and that LR.
    public static func suggest(_ points: [Point]) -> (suggested: Double, minimumLR: Double) {
        guard let best = points.min(by: { $0.smoothed < $1.smoothed }) else { return (.nan, .nan) }
        return (best.lr / 10, best.lr)
    }
}
