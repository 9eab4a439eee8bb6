import Foundation

/// One setting of a run as the `ddp train` flag that sets it, with what `--resume` does when the
/// command line gives it again with another value than the checkpoint recorded.
///
/// The table is the one place that says which settings make up a run: a resume restores each of
/// them from the checkpoint unless its flag is given, and the banner names every one given with
/// a new value.
public struct TrainSetting: Sendable {
    public enum OnResume: Sendable {
        /// Part of what the run is (model, data, optimizer, schedule): a new value makes another
        /// run, refused in favour of `--init-from`.
        case fixed
        /// How the run is carried out or recorded, not what it computes: applied.
        case free
        /// `--epochs`: applied when the schedule can be extended (`ResumePlan`).
        case length
    }

    public let flag: String
    public let onResume: OnResume
    /// The value as a user would read it, also what two values are compared by.
    let text: @Sendable (TrainConfig) -> String
    /// Copies this setting from `source` into `target`.
    let copy: @Sendable (inout TrainConfig, TrainConfig) -> Void

    private static func field<T>(_ flag: String, _ key: WritableKeyPath<TrainConfig, T> & Sendable, _ onResume: OnResume,
                                 _ text: @escaping @Sendable (T) -> String = { "\($0)" }) -> TrainSetting {
        TrainSetting(flag: flag, onResume: onResume, text: { text($0[keyPath: key]) },
                     copy: { $0[keyPath: key] = $1[keyPath: key] })
    }

    private static let path: @Sendable (String?) -> String = { value in
        value.map { URL(fileURLWithPath: $0).standardizedFileURL.path } ?? "none"
    }

    private static let onOff: @Sendable (Bool) -> String = { $0 ? "on" : "off" }

    /// Every setting a checkpoint restores. Not here, because they concern one invocation only:
    /// --resume, --init-from, --overwrite, --quiet, --timeline, --local-ranks, --summary.
    /// `--checkpoint-dir`, `--metrics`, `--max-steps`, `--batch-size` and `--accumulate` are
    /// restored by `ResumePlan` itself (from where the checkpoint lies, its `run.json`, how far
    /// the run got, and the global batch on this launch's ranks).
    public static let all: [TrainSetting] = [
        field("--dataset", \.dataset, .fixed),
        field("--data-dir", \.dataDir, .fixed, path),
        field("--image-size", \.imageSize, .fixed) { $0.map { "\($0)" } ?? "none (as stored)" },
        field("--val-fraction", \.valFraction, .fixed),
        field("--skip-bad", \.skipBad, .fixed, onOff),
        field("--layout", \.layout, .fixed) { $0.rawValue },
        TrainSetting(flag: "(synthetic data set options)", onResume: .fixed, text: { "\($0.synthetic)" },
                     copy: { $0.synthetic = $1.synthetic }),
        field("--train-subset", \.trainSubset, .fixed),
        field("--model", \.model, .fixed),
        field("--init", \.weightInit, .fixed) { $0.rawValue },
        field("--seed", \.seed, .fixed),
        field("--dropout-masks", \.dropoutMasks, .fixed) { $0.rawValue },
        field("--no-shuffle", \.shuffle, .fixed) { $0 ? "off (shuffled)" : "on (file order)" },
        field("--augment", \.augment, .fixed, onOff),
        field("--optimizer", \.optimizer, .fixed) { $0.rawValue },
        field("--lr", \.lr, .fixed),
        field("--scale-lr", \.scaleLR, .fixed, onOff),
        field("--momentum", \.momentum, .fixed),
        field("--nesterov", \.nesterov, .fixed, onOff),
        field("--weight-decay", \.weightDecay, .fixed),
        field("--schedule", \.schedule, .fixed) { $0.rawValue },
        field("--warmup-epochs", \.warmupEpochs, .fixed) { $0.map { "\($0)" } ?? "default" },
        // Compared by the period it gives: 0 means a third of --epochs (`ResumePlan` pins it
        // when --epochs changes).
        TrainSetting(flag: "--step-epochs", onResume: .fixed, text: { "\($0.effectiveStepEpochs)" },
                     copy: { $0.stepEpochs = $1.stepEpochs }),
        field("--gamma", \.gamma, .fixed),
        field("--sync-bn", \.syncBN, .fixed, onOff),
        field("--clip-grad-norm", \.clipGradNorm, .fixed),
        field("--label-smoothing", \.labelSmoothing, .fixed),
        field("--ema", \.ema, .fixed),
        field("--epochs", \.epochs, .length),
        field("--threads", \.threads, .free) { $0 == 0 ? "0 (cores / ranks)" : "\($0)" },
        field("--checkpoint-every", \.checkpointEvery, .free),
        field("--keep-checkpoints", \.keepCheckpoints, .free),
        field("--log-every", \.logEvery, .free),
        field("--eval-every-steps", \.evalEverySteps, .free),
        field("--bucket-cap-mb", \.bucketCapMB, .free),
        field("--overlap", \.overlap, .free, onOff),
        field("--allreduce", \.allreduce, .free) { $0?.rawValue ?? "default" },
        field("--precision", \.precision, .free) { $0.rawValue },
        field("--timeout", \.timeout, .free),
        field("--desync-check-every", \.desyncCheckEvery, .free),
        field("--rank-times-every", \.rankTimesEvery, .free),
        TrainSetting(flag: "(evaluation and timeline cadence)", onResume: .free,
                     text: { "\($0.evalEvery) \($0.timelineSteps)" },
                     copy: { $0.evalEvery = $1.evalEvery; $0.timelineSteps = $1.timelineSteps }),
    ]

    /// The flags of every setting and of those `ResumePlan` restores itself: what a config built
    /// in code (rather than from a command line) gives in full.
    public static let allFlags: Set<String> = Set(all.map(\.flag)
        + ["--checkpoint-dir", "--metrics", "--max-steps", "--batch-size", "--accumulate"])
}
