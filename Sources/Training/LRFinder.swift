import AllReduce
import Data
import Foundation
import Layers
import Tensor

/// `ddp lr-find`: the learning-rate range test (Smith, "Cyclical Learning Rates", 2017).
///
/// The LR grows exponentially from `startLR` to `endLR` over `steps` steps while training; the
/// loss is smoothed by a bias-corrected exponential moving average and the test stops once it
/// exceeds `divergeFactor` times its minimum. The suggested LR is the one where the smoothed loss
/// falls fastest (steepest negative slope against log LR), capped at a tenth of the LR of the
/// minimum — the usual reading of the curve.
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
        public var smoothing = 0.98
        public var divergeFactor = 4.0
        public init() {}
    }

    public static func run(config: TrainConfig, options: Options, comm: any Communicator) throws -> Result {
        let data = try World.agree(comm) { try TrainingData(config: config) }
        let model = try World.agree(comm) {
            try Model(spec: config.model, inputShape: data.inputShape, classes: data.classes, seed: config.seed)
        }
        try comm.broadcast(model.parameters.data, count: model.parameterCount, root: 0)
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
                loss = try stepper.run(batches: data.trainBatches, indices: sampler.indices(epoch: epoch, step: step),
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

    /// The steepest descent of the smoothed curve (slope over a small window in log LR), no later
    /// than the minimum, and at most a tenth of the minimum's LR.
    public static func suggest(_ points: [Point]) -> (suggested: Double, minimumLR: Double) {
        guard points.count >= 3 else { return (points.first?.lr ?? .nan, points.first?.lr ?? .nan) }
        let minIndex = points.indices.min { points[$0].smoothed < points[$1].smoothed }!
        let w = max(1, points.count / 50)
        var bestSlope = 0.0, bestIndex = 0
        // Skip the first steps, where the moving average still warms up.
        for i in stride(from: min(5, minIndex), to: max(minIndex - w, 0), by: 1) where i + w < points.count {
            let slope = (points[i + w].smoothed - points[i].smoothed) / (log(points[i + w].lr) - log(points[i].lr))
            if slope < bestSlope { bestSlope = slope; bestIndex = i }
        }
        let minLR = points[minIndex].lr
        let steep = bestSlope < 0 ? points[bestIndex].lr : minLR / 10
        return (min(steep, minLR / 10), minLR)
    }
}
