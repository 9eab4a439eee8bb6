import Data
import Foundation

/// Everything a training run is configured by. `ddp train` fills it from flags; tests build it
/// directly. Codable so checkpoints record what produced them.
public struct TrainConfig: Codable, Sendable, Equatable {
    public enum OptimizerKind: String, Codable, CaseIterable, Sendable { case sgd, adam }

    public var dataset = "fashion-mnist"
    public var dataDir: String? = nil
    /// Shape and size of `--dataset synthetic`.
    public var synthetic = SyntheticDataset.Options()
    public var model = "fmnist-cnn"
    public var epochs = 10
    /// Per rank; the global batch is batchSize x ranks.
    public var batchSize = 64
    public var lr = 0.1
    /// Horovod's rule: multiply `lr` by the number of ranks (the global batch grows with them).
    public var scaleLR = false
    public var optimizer = OptimizerKind.sgd
    public var momentum = 0.9
    public var nesterov = true
    public var weightDecay = 5e-4
    public var schedule = LRSchedule.Kind.onecycle
    public var warmupEpochs = 0.0
    public var stepEpochs = 0
    public var gamma = 0.1
    public var syncBN = false
    public var seed: UInt64 = 0
    /// BLAS threads per rank; 0 = cores / ranks on the node.
    public var threads = 0
    public var checkpointDir: String? = nil
    /// Save every N epochs (0 = only at the end).
    public var checkpointEvery = 1
    public var keepCheckpoints = 2
    public var resume: String? = nil
    public var initFrom: String? = nil
    /// Stop after this many optimizer steps in total (0 = no limit); a checkpoint is written there.
    public var maxSteps = 0
    public var shuffle = true
    public var augment = false
    public var metricsPath: String? = nil
    public var logEvery = 0
    public var timelinePath: String? = nil
    /// Steps recorded in the timeline (bounded so a long run cannot fill memory).
    public var timelineSteps = 200
    public var clipGradNorm = 0.0
    public var bucketCapMB = 4.0
    /// Off by default: measured on 2 cores, the communication thread competes with backward for the
    /// core and costs more than it hides (docs/RESULTS.md).
    public var overlap = false
    /// Seconds a collective may wait for a peer before the job is aborted (0 = forever).
    public var timeout = 300.0
    /// Compare a parameter fingerprint across ranks every N steps (0 = never).
    public var desyncCheckEvery = 100
    /// Evaluate on the test set every N epochs (0 = never).
    public var evalEvery = 1
    /// Subsample of the training set (0 = all); for sanity checks and quick experiments.
    public var trainSubset = 0
    public var quiet = false

    public init() {}

    /// The learning rate actually used at the top of the schedule.
    public func effectiveLR(ranks: Int) -> Double { scaleLR ? lr * Double(ranks) : lr }

    /// Flags that make no sense, as one line naming the flag; nil when all is well.
    public func problem() -> String? {
        if epochs < 1 { return "--epochs must be at least 1 (got \(epochs))" }
        if batchSize < 1 { return "--batch-size must be at least 1 (got \(batchSize))" }
        if !(lr >= 0) || !lr.isFinite { return "--lr must be a finite number >= 0 (got \(lr))" }
        if !(momentum >= 0 && momentum < 1) { return "--momentum must be in [0, 1) (got \(momentum))" }
        if nesterov && momentum == 0 && optimizer == .sgd { return "--nesterov needs --momentum > 0" }
        if !(weightDecay >= 0) { return "--weight-decay must be >= 0 (got \(weightDecay))" }
        if warmupEpochs < 0 { return "--warmup-epochs must be >= 0 (got \(warmupEpochs))" }
        if threads < 0 { return "--threads must be >= 0 (got \(threads))" }
        if maxSteps < 0 { return "--max-steps must be >= 0 (got \(maxSteps))" }
        if logEvery < 0 { return "--log-every must be >= 0 (got \(logEvery))" }
        if !(bucketCapMB > 0) { return "--bucket-cap-mb must be > 0 (got \(bucketCapMB))" }
        if timeout < 0 { return "--timeout must be >= 0 (got \(timeout))" }
        if clipGradNorm < 0 { return "--clip-grad-norm must be >= 0 (got \(clipGradNorm))" }
        if keepCheckpoints < 1 { return "--keep-checkpoints must be at least 1 (got \(keepCheckpoints))" }
        if resume != nil && initFrom != nil { return "--resume and --init-from exclude each other" }
        return nil
    }
}
