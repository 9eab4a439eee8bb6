import AllReduce
import Data
import Foundation
import Layers

/// Everything a training run is configured by. `ddp train` fills it from flags; tests build it
/// directly. Codable so checkpoints record what produced them.
public struct TrainConfig: Codable, Sendable, Equatable {
    public enum OptimizerKind: String, Codable, CaseIterable, Sendable { case sgd, adam }
    /// `--dropout-masks`: whether the ranks drop the same elements (`shared`: every rank draws
    /// from rank 0's stream, as PyTorch DDP's ranks do when every rank seeds torch alike) or
    /// each its own (`perRank`: P ranks drop as one process with the global batch would).
    /// `shared` is the default: over fourteen seeds of fmnist-cnn at 2 ranks it reached 92% at
    /// epoch 5.07 on average, as PyTorch DDP does, against 5.50 with a stream per rank
    /// (docs/RESULTS.md, "Dropout masks shared by the ranks").
    public enum DropoutMasks: String, Codable, CaseIterable, Sendable {
        case shared, perRank = "per-rank"

        /// The rank whose dropout stream `rank` draws.
        func streamRank(of rank: Int) -> Int { self == .shared ? 0 : rank }
    }
    /// `--init`'s schemes, named here so the command line needs no more than Training.
    public typealias WeightInit = Layers.WeightInit
    public typealias Precision = Layers.Precision

    public var dataset = "fashion-mnist"
    /// The directory of the data set's files, or its file (`--data`: packed, `.npz`).
    public var dataDir: String? = nil
    /// Image folders: `--image-size HxW`, `--val-fraction F`; `--skip-bad` for all sources of
    /// the user's own (see `SourceOptions`).
    public var imageSize: ImageSize? = nil
    public var valFraction = 0.0
    public var skipBad = false
    /// NumPy arrays: `--layout nchw|nhwc|auto`, the axis order of 4-D images.
    public var layout = ImageLayout.auto
    /// Shape and size of `--dataset synthetic`.
    public var synthetic = SyntheticDataset.Options()
    public var model = "fmnist-cnn"
    /// How the conv and linear weights start (`WeightInit`).
    public var weightInit = WeightInit.standard
    /// The convolutions' arithmetic (`--precision`, `Precision`): fp32, or bf16 operands with
    /// FP32 sums on CPUs with AVX512_BF16.
    public var precision = Precision.fp32
    /// What `DDP_CONV=auto` chose for each convolution at the run's start (nil: not asked), so a
    /// resume runs the same algorithms (`TrainingData.model`).
    public var convolutionPlan: ConvolutionPlan? = nil
    public var epochs = 10
    /// Per rank and micro-batch; the global batch is batchSize x ranks x accumulate.
    public var batchSize = 64
    /// Micro-batches per optimizer step (`--accumulate N`, PyTorch's `no_sync`): each rank runs N
    /// forward/backward passes of `batchSize`, sums their gradients, and the ranks allreduce once.
    /// The gradient is the mean over the whole global batch; BatchNorm normalizes each micro-batch
    /// by its own statistics, so a model with BatchNorm is not exactly one N times larger batch.
    public var accumulate = 1
    /// The batch `lr` is given for (`scaleLR`): the per-rank batch the run started with; nil:
    /// `batchSize`. A resume that splits the global batch differently (another rank count,
    /// `ResumePlan`) pins it, so the learning rate follows the global batch, not its split.
    public var lrBatchSize: Int? = nil
    /// The peak of the schedule for one rank's batch (with `scaleLR`) or for the whole run.
    /// 0.05 is the PyTorch reference's (`peers/torch_ref.py`: fmnist-cnn, batch 64, one-cycle), so
    /// one rank with the defaults trains as it does.
    public var lr = 0.05
    /// The linear scaling rule for the global batch (Goyal et al., "Accurate, Large Minibatch
    /// SGD"; Horovod's `lr * hvd.size()`): `lr` is the learning rate of one rank's batch, and P
    /// ranks of N accumulated micro-batches, whose global batch is P x N times larger, train at
    /// P x N x lr, after a warmup (`effectiveWarmupEpochs`). Off: `lr` as given for any number of
    /// ranks and micro-batches, PyTorch DDP's way.
    public var scaleLR = true
    public var optimizer = OptimizerKind.sgd
    public var momentum = 0.9
    public var nesterov = true
    public var weightDecay = 5e-4
    public var schedule = LRSchedule.Kind.onecycle
    /// Linear warmup in epochs; nil: the linear scaling rule's default (`effectiveWarmupEpochs`).
    public var warmupEpochs: Double? = nil
    public var stepEpochs = 0
    public var gamma = 0.1
    public var syncBN = false
    public var seed: UInt64 = 0
    public var dropoutMasks = DropoutMasks.shared
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
    /// Share of the target moved from the label to all classes in the training loss (PyTorch's
    /// `label_smoothing`); the test loss stays the plain cross-entropy.
    public var labelSmoothing = 0.0
    /// Decay of the exponential moving average of the weights that is evaluated and saved beside
    /// the model (`WeightAverage`); 0: none.
    public var ema = 0.0
    public var bucketCapMB = 4.0
    /// Off by default: measured on 2 cores, the communication thread competes with backward for the
    /// core and costs more than it hides (docs/RESULTS.md).
    public var overlap = false
    /// The allreduce algorithm (`--allreduce`); nil: $DDP_ALLREDUCE_ALGORITHM, else automatic.
    public var allreduce: AllReduceAlgorithm?
    /// Seconds a collective may wait for a peer before the job is aborted (0 = forever).
    public var timeout = 300.0
    /// Compare a parameter fingerprint across ranks every N steps (0 = never).
    public var desyncCheckEvery = 100
    /// Print and log every rank's compute and wait time every N steps (0 = at epoch ends only;
    /// `RankTimes`).
    public var rankTimesEvery = 0
    /// Evaluate on the test set every N epochs (0 = never).
    public var evalEvery = 1
    /// Also evaluate inside epochs, every N optimizer steps (0 = never; `Trainer.evaluateInEpoch`).
    public var evalEverySteps = 0
    /// Subsample of the training set (0 = all); for sanity checks and quick experiments.
    public var trainSubset = 0
    public var quiet = false
    /// Lets a new run replace another run's checkpoints in `checkpointDir` and truncate a
    /// metrics file that holds lines (refused otherwise: one run per directory and file).
    public var overwrite = false

    public init() {}

    /// Decodes the configuration a checkpoint recorded, written by this or an older version of
    /// ddp: a setting an older version did not record keeps its default, or what those versions
    /// did where the default changed since (`unrecordedValues`).
    public static func decodeSaved(_ json: String) throws -> TrainConfig {
        let defaults = try JSONSerialization.jsonObject(with: JSONEncoder().encode(TrainConfig())) as? [String: Any] ?? [:]
        guard let saved = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else {
            throw TrainError.checkpoint("the recorded configuration is not a JSON object")
        }
        let merged = defaults.merging(unrecordedValues.mapValues { $0 as Any }) { _, old in old }.merging(saved) { _, recorded in recorded }
        return try JSONDecoder().decode(TrainConfig.self, from: JSONSerialization.data(withJSONObject: merged))
    }

    /// What runs recorded before a setting existed did, where that is not the setting's default:
    /// they drew a dropout stream per rank.
    static let unrecordedValues: [String: String] = ["dropoutMasks": DropoutMasks.perRank.rawValue]

    /// Bounds that keep `epochs * stepsPerEpoch` and the bucket size in bytes far from Int's limits.
    public static let maximumEpochs = 1_000_000
    public static let maximumBucketCapMB = 65536.0
    /// Far more micro-batches than any step needs, few enough that batch x accumulate cannot overflow.
    public static let maximumAccumulate = 65536

    /// How the data set's files are read; the validation split is drawn with the run's seed.
    public var sourceOptions: SourceOptions {
        SourceOptions(imageSize: imageSize, valFraction: valFraction, seed: seed, skipBad: skipBad, layout: layout)
    }

    /// Samples per optimizer step over all ranks: batchSize x ranks x accumulate (Int.max when
    /// that overflows; the sampler refuses such a batch).
    public func globalBatch(ranks: Int) -> Int {
        let (perMicroBatch, overflow) = batchSize.multipliedReportingOverflow(by: ranks)
        let (global, overflowToo) = perMicroBatch.multipliedReportingOverflow(by: accumulate)
        return overflow || overflowToo ? Int.max : global
    }

    /// What the linear scaling rule multiplies `lr` by: the global batch over the batch `lr` is
    /// for (ranks x accumulate, unless a resume split the global batch anew); 1 without it.
    public func lrScale(ranks: Int) -> Double {
        scaleLR ? Double(globalBatch(ranks: ranks)) / Double(lrBatchSize ?? batchSize) : 1
    }

    /// The learning rate actually used at the top of the schedule.
    public func effectiveLR(ranks: Int) -> Double { lr * lrScale(ranks: ranks) }

    /// Goyal et al.'s gradual warmup for the linear scaling rule (Horovod's examples too).
    static let scaledWarmupEpochs = 5.0

    /// The warmup the run gets: `warmupEpochs` when given. Otherwise none unless the linear
    /// scaling rule raised the LR (a global batch larger than `lr`'s): then Goyal et al.'s 5 epochs. One-cycle
    /// needs none: its first 30% already climbs from a 25th of the peak to the peak. The default
    /// does not depend on `epochs`, so that more `--epochs` on resume (constant and step
    /// schedules) change nothing already planned; a run shorter than 5 epochs is still warming up
    /// when it ends.
    public func effectiveWarmupEpochs(ranks: Int) -> Double {
        if let warmupEpochs { return warmupEpochs }
        return lrScale(ranks: ranks) > 1 && schedule != .onecycle ? Self.scaledWarmupEpochs : 0
    }

    /// The step schedule's decay period in epochs: `stepEpochs`, or a third of the run.
    public var effectiveStepEpochs: Int { stepEpochs > 0 ? stepEpochs : max(1, epochs / 3) }

    /// Flags that make no sense, as one line naming the flag; nil when all is well. Every number
    /// that later becomes an Int or a product is bounded here (NaN and infinity included), so no
    /// flag can trap a conversion or an overflow check deeper down.
    public func problem() -> String? {
        if !(1...Self.maximumEpochs).contains(epochs) { return "--epochs must be between 1 and \(Self.maximumEpochs) (got \(epochs))" }
        if batchSize < 1 { return "--batch-size must be at least 1 (got \(batchSize))" }
        if !(1...Self.maximumAccumulate).contains(accumulate) {
            return "--accumulate must be between 1 and \(Self.maximumAccumulate) (got \(accumulate))"
        }
        if let lrBatchSize, lrBatchSize < 1 { return "the recorded batch of --lr must be at least 1 (got \(lrBatchSize))" }
        if !(lr >= 0) || !lr.isFinite { return "--lr must be a finite number >= 0 (got \(lr))" }
        if !(momentum >= 0 && momentum < 1) { return "--momentum must be in [0, 1) (got \(momentum))" }
        if nesterov && momentum == 0 && optimizer == .sgd { return "--nesterov needs --momentum > 0" }
        if !(weightDecay >= 0) || !weightDecay.isFinite { return "--weight-decay must be a finite number >= 0 (got \(weightDecay))" }
        if let warmupEpochs, !(warmupEpochs >= 0 && warmupEpochs <= Double(epochs)) {
            return "--warmup-epochs must be between 0 and --epochs \(epochs) (got \(warmupEpochs))"
        }
        if stepEpochs < 0 { return "--step-epochs must be >= 0 (got \(stepEpochs))" }
        if !(gamma > 0) || !gamma.isFinite { return "--gamma must be a finite number > 0 (got \(gamma))" }
        if threads < 0 { return "--threads must be >= 0 (got \(threads))" }
        if checkpointEvery < 0 { return "--checkpoint-every must be >= 0 (got \(checkpointEvery))" }
        if maxSteps < 0 { return "--max-steps must be >= 0 (got \(maxSteps))" }
        if logEvery < 0 { return "--log-every must be >= 0 (got \(logEvery))" }
        if evalEverySteps < 0 { return "--eval-every-steps must be >= 0 (got \(evalEverySteps))" }
        if !(bucketCapMB > 0 && bucketCapMB <= Self.maximumBucketCapMB) {
            return "--bucket-cap-mb must be > 0 and at most \(Int(Self.maximumBucketCapMB)) (got \(bucketCapMB))"
        }
        if !(timeout >= 0) || !timeout.isFinite { return "--timeout must be a finite number of seconds >= 0 (got \(timeout))" }
        if !(clipGradNorm >= 0) || !clipGradNorm.isFinite { return "--clip-grad-norm must be a finite number >= 0 (got \(clipGradNorm))" }
        if !(labelSmoothing >= 0 && labelSmoothing < 1) { return "--label-smoothing must be in [0, 1) (got \(labelSmoothing))" }
        if !(ema >= 0 && ema < 1) { return "--ema must be a decay in (0, 1) such as 0.999, or 0 for none (got \(ema))" }
        if keepCheckpoints < 1 { return "--keep-checkpoints must be at least 1 (got \(keepCheckpoints))" }
        if desyncCheckEvery < 0 { return "--desync-check-every must be >= 0 (got \(desyncCheckEvery))" }
        if rankTimesEvery < 0 { return "--rank-times-every must be >= 0 (got \(rankTimesEvery))" }
        if trainSubset < 0 { return "--train-subset must be >= 0 (got \(trainSubset))" }
        if !(valFraction >= 0 && valFraction < 1) { return "--val-fraction must be in [0, 1) (got \(valFraction))" }
        if dataDir == nil && ["folder", "npy", "packed"].contains(dataset) {
            return "--dataset \(dataset) needs --data FILE (or --data-dir DIR): where the data is"
        }
        if resume != nil && initFrom != nil { return "--resume and --init-from exclude each other" }
        return KnownName.datasetProblem(dataset) ?? KnownName.modelProblem(model)
    }
}
