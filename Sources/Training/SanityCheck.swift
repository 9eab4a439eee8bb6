import AllReduce
import Data
import Formats
import Foundation
import Layers
import Tensor

/// `ddp sanity`: the practitioner's checks before a long run (Karpathy, "A Recipe for Training
/// Neural Networks"; CS231n's "sanity checks"):
/// 1. the loss at initialization is close to ln(classes) (a softmax that is not yet sure of anything);
/// 2. with learning rate 0 the training loss over a few hundred steps stays flat: no trend, no
///    jumps. Nothing learns, so any drift means the data or the network changes under us;
/// 3. a tiny subset (a couple of batches) is overfit until the loss is near zero: the model and
///    its gradients can express the data at all.
public enum SanityCheck {
    public struct Verdict: Sendable {
        public var name: String
        public var passed: Bool
        public var detail: String
        /// What to do when it failed.
        public var advice: String
    }

    /// The accepted initial loss, as multiples of ln(classes).
    public static let initialLossRange = 0.85...1.15

    public struct Options: Sendable {
        public var flatSteps = 200
        public var overfitSamples = 32
        public var overfitSteps = 400
        public var overfitLR = 0.01
        public var overfitTargetLoss = 0.05
        public init() {}
    }

    /// Runs the three checks on every rank of `comm` (the batches are sharded like training).
    public static func run(config base: TrainConfig, options: Options, comm: any Communicator) throws -> [Verdict] {
        let data = try World.agree(comm) { try TrainingData(config: base) }
        var verdicts: [Verdict] = []

        // 1 + 2: lr 0 and no weight decay. SGD scales the decay by the lr too, so at lr 0 it
        // could not move the weights anyway; off, a moved weight can only be an update bug.
        var still = base
        still.weightDecay = 0
        let model = try data.replica(base, comm: comm)
        let frozen = Array(model.parameters.buffer)
        let losses = try trainLosses(model: model, batches: data.trainBatches, config: still, comm: comm, steps: options.flatSteps, lr: 0, momentum: 0)
        verdicts.append(initialLossVerdict(losses, classes: data.classes))
        let flat = FlatLoss.analyze(losses)
        let unchanged = Array(model.parameters.buffer) == frozen
        verdicts.append(Verdict(
            name: "lr=0 keeps the loss flat", passed: flat.isFlat && unchanged,
            detail: flat.summary + (unchanged ? "" : "; parameters moved although lr = 0"),
            advice: flat.isFlat && unchanged ? "" : unchanged
                ? "with nothing learning the loss still moves: the data pipeline changes over time "
                    + "(normalization, a stateful loader, labels drifting against images?)"
                : "the update changes weights at lr 0: an optimizer or weight-decay bug"))

        // 3: overfit a tiny fixed subset with regularization off.
        var tiny = base
        tiny.trainSubset = options.overfitSamples
        tiny.weightDecay = 0
        let small = try BatchAssembler(dataset: data.train.subset(0..<min(options.overfitSamples, data.train.count)),
                                       normalization: data.normalization)
        let fresh = try data.replica(base, comm: comm)
        var batch = tiny
        batch.batchSize = max(1, min(base.batchSize, options.overfitSamples / max(comm.size, 1)))
        let fit = try trainLosses(model: fresh, batches: small, config: batch,
                                  comm: comm, steps: options.overfitSteps, lr: options.overfitLR, momentum: 0.9,
                                  stopBelow: options.overfitTargetLoss)
        let last = fit.suffix(5).reduce(0, +) / Double(min(5, fit.count))
        let fitOK = last <= options.overfitTargetLoss
        verdicts.append(Verdict(
            name: "overfit \(options.overfitSamples) samples", passed: fitOK,
            detail: String(format: "loss %.4f after %d steps (target <= %.2f; started at %.3f)",
                           last.printable, fit.count, options.overfitTargetLoss, (fit.first ?? .nan).printable),
            advice: fitOK ? "" : "the model cannot even memorize a few samples: the model is too small or "
                + "its gradients are wrong (run `ddp gradcheck`), the learning rate too low, or labels are "
                + "shuffled against images"))
        return verdicts
    }

    /// Check 1: the first losses of the untrained net against ln(classes).
    static func initialLossVerdict(_ losses: [Double], classes: Int) -> Verdict {
        let expected = log(Double(classes))
        let initial = losses.prefix(10).reduce(0, +) / Double(min(10, losses.count))
        // A softmax of random logits of std s costs about ln(C) + s^2 / 2, so 15% above ln(10)
        // allows s up to about 0.8: an untrained net that is sure of nothing yet. `--init kaiming`
        // keeps the classifier small for this on any net, the default (torch) stays inside on
        // every preset (`WeightInit`); He-normal there started fmnist-cnn at 1.9 x ln(10). Far
        // below ln(C), labels leak.
        let initOK = initial > Self.initialLossRange.lowerBound * expected && initial < Self.initialLossRange.upperBound * expected
        return Verdict(
            name: "initial loss", passed: initOK,
            detail: String(format: "%.3f over the first steps; an untrained softmax gives about ln(%d) = %.3f "
                           + "(accepted: %.2f to %.2f)", initial.printable, classes, expected,
                           Self.initialLossRange.lowerBound * expected, Self.initialLossRange.upperBound * expected),
            advice: initOK ? "" : initial >= Self.initialLossRange.upperBound * expected
                ? "the untrained net is already confident: check the initialization (--init kaiming: He for the "
                    + "layers before a ReLU, a small classifier), the final layer's scale, the input normalization, "
                    + "and that labels are in 0..<\(classes)"
                : "the untrained net already knows the answers: are the labels leaking into the inputs?")
    }

    /// Per-step global losses of a fixed-lr run over `data` (cycling through it).
    static func trainLosses(model: Model, batches: BatchAssembler, config: TrainConfig,
                            comm: any Communicator, steps: Int, lr: Double, momentum: Double,
                            stopBelow: Double? = nil) throws -> [Double] {
        let optimizer = try SGD(count: model.parameterCount, learningRate: lr, momentum: momentum,
                                weightDecay: config.weightDecay, nesterov: false)
        let stepper = try TrainingStep(model: model, optimizer: optimizer, comm: comm, batchSize: config.batchSize,
                                       bucketCapBytes: 4 << 20, overlap: false)
        let sampler = try DistributedSampler(count: batches.dataset.count, batchSize: config.batchSize, ranks: comm.size,
                                             rank: comm.rank, seed: config.seed, shuffle: true)
        var rng = SeededRNG(seed: config.seed)
        var losses: [Double] = []
        for s in 0..<steps {
            let epoch = s / sampler.stepsPerEpoch, step = s % sampler.stepsPerEpoch
            let out = try stepper.run(batches: batches, indices: { _ in sampler.indices(epoch: epoch, step: step) },
                                      rng: &rng, lr: lr,
                                      position: (epoch + 1, step + 1), timeline: nil, globalStep: s)
            losses.append(out.loss)
            if let stop = stopBelow, losses.count >= 5, losses.suffix(5).reduce(0, +) / 5 <= stop { break }
        }
        return losses
    }
}

/// Is a loss sequence flat? Splits it in quarters and compares the first and last quarter's
/// means against the step-to-step noise (a trend test that tolerates batch noise), and looks for
/// single jumps far outside that noise.
public struct FlatLoss: Sendable {
    public var isFlat: Bool
    public var drift: Double      // last-quarter mean minus first-quarter mean
    public var noise: Double      // standard deviation of the steps
    public var maxJump: Double    // largest step-to-step change
    public var summary: String

    public static func analyze(_ losses: [Double]) -> FlatLoss {
        guard losses.count >= 8 else {
            return FlatLoss(isFlat: false, drift: .nan, noise: .nan, maxJump: .nan, summary: "too few steps to judge")
        }
        let q = losses.count / 4
        let first = losses.prefix(q).reduce(0, +) / Double(q)
        let last = losses.suffix(q).reduce(0, +) / Double(q)
        let mean = losses.reduce(0, +) / Double(losses.count)
        let sd = (losses.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(losses.count - 1)).squareRoot()
        let jumps = zip(losses.dropFirst(), losses).map { abs($0 - $1) }
        let maxJump = jumps.max() ?? 0
        let typicalJump = jumps.sorted()[jumps.count / 2]
        // The difference of two quarter means has standard error sd * sqrt(2/q); 4 of them is a trend.
        let driftLimit = 4 * sd * (2 / Double(q)).squareRoot() + 1e-6 * abs(mean)
        let jumpLimit = 12 * max(typicalJump, 1e-6 * abs(mean))
        let ok = losses.allSatisfy(\.isFinite) && abs(last - first) <= driftLimit && maxJump <= jumpLimit
        let summary = String(format: "mean %.4f, drift %+.4f (limit %.4f), step noise %.4f, largest jump %.4f (limit %.4f) over %d steps",
                             mean.printable, (last - first).printable, driftLimit.printable, sd.printable, maxJump.printable,
                             jumpLimit.printable, losses.count)
        return FlatLoss(isFlat: ok, drift: last - first, noise: sd, maxJump: maxJump, summary: summary)
    }
}
