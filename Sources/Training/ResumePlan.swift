import AllReduce
import Foundation

/// `--resume`: the run a checkpoint recorded, continued with the flags given again.
///
/// Every setting of `TrainSetting.all` comes from the checkpoint unless its flag is given. A flag
/// given with the recorded value changes nothing; a new value is applied when the run stays
/// well-defined (listed in `changes`, which the banner prints) and refused otherwise, with one
/// line naming the flag, the recorded value and the way out. Besides those settings:
/// - the checkpoint directory is the run directory the checkpoint lies in;
/// - the metrics file is the one the run appended to (`run.json`);
/// - `--max-steps` holds until the run reaches it, and no longer after that;
/// - the ranks are the launch's (mpirun's or `--local-ranks`), or, for a process started alone,
///   the recorded number, run as threads; so `ddp train --resume DIR` continues any run;
/// - the global batch (ranks x `--batch-size` x `--accumulate`) is the run's on any number of
///   ranks, in the middle of an epoch too: `BatchSplit` derives the per-rank batch and the
///   accumulation the flags leave open, and a rank count that cannot share it is refused. The
///   sample stream, the steps of an epoch, the schedule and the learning rate so go on exactly;
///   the model to float tolerance (the allreduce sums in another order); dropout masks and
///   augmentation not (a rank the old world lacked draws a fresh stream, `Checkpoint.resume`).
///   Both flags given with another product change the global batch, at an epoch boundary only.
public struct ResumePlan: Sendable {
    public enum Launch: Equatable, Sendable {
        /// Ranks fixed by this launch: mpirun's, or `--local-ranks P`.
        case ranks(Int)
        /// A process started alone: it runs the recorded number of ranks.
        case alone

        /// This process's launch: `--local-ranks P` when given (P > 0), else mpirun's ranks, else alone.
        public static func current(localRanks: Int) -> Launch {
            localRanks > 0 ? .ranks(localRanks) : MPILaunchEnvironment.current.map { .ranks($0.size) } ?? .alone
        }
    }

    public let saved: Checkpoint.SavedRun
    /// The configuration the resumed run trains with.
    public private(set) var config: TrainConfig
    /// The ranks the resumed run has.
    public let ranks: Int
    /// "--epochs 20 (was 10)": each setting that differs from the recorded run.
    public private(set) var changes: [String] = []
    /// What the checkpoint could not restore, and what to do about it.
    public private(set) var notes: [String] = []

    /// `flags` holds the command line's values (defaults where not given), `given` the flags
    /// that were given (`TrainSetting.allFlags` for a config built in code); `flags.resume` is set.
    public init(flags: TrainConfig, given: Set<String>, launch: Launch) throws {
        precondition(flags.resume != nil, "ResumePlan needs flags.resume")
        saved = try Checkpoint.savedRun(flags.resume!)
        if case .ranks(let n) = launch { ranks = n } else { ranks = saved.ranks }

        // What concerns this invocation only comes from the command line. What no flag sets
        // (DDP_CONV=auto's `convolutionPlan`, for one) stays as the run recorded it.
        config = saved.config
        config.resume = flags.resume; config.initFrom = flags.initFrom; config.overwrite = flags.overwrite
        config.quiet = flags.quiet; config.timelinePath = flags.timelinePath

        try applySettings(flags, given: given)
        try applyBatchSplit(flags, given: given)
        try checkEpochs()
        applyMaxSteps(flags, given: given)
        try applyCheckpointDirectory(flags, given: given)
        applyMetrics(flags, given: given)
        if let problem = config.problem() { throw TrainError.badFlag(problem) }
    }

    private var resume: String { config.resume! }
    private var midEpoch: String { "stopped mid-epoch (step \(saved.stepInEpoch) of epoch \(saved.epoch + 1))" }
    private var newRun: String { "start a new run from its weights with --init-from \(resume)" }

    private func refuse(_ flag: String, _ value: String, _ was: String, _ why: String) -> TrainError {
        .badFlag("\(flag) \(value) differs from the run resumed from \(resume) (\(flag) \(was)): \(why); "
            + "leave \(flag) out to continue it as it was, or \(newRun)")
    }

    /// The `TrainSetting`s given again: kept, applied as a change, or refused by their `onResume`.
    private mutating func applySettings(_ flags: TrainConfig, given: Set<String>) throws {
        let recorded = saved.config
        for setting in TrainSetting.all where given.contains(setting.flag) {
            let was = setting.text(recorded), value = setting.text(flags)
            guard value != was else { continue }
            switch setting.onResume {
            case .fixed:
                throw refuse(setting.flag, value, was, "a resume continues the same run, and this would make another one")
            case .length where ![.constant, .step].contains(recorded.schedule):
                throw refuse(setting.flag, value, was, "its \(recorded.schedule.rawValue) schedule is laid out over "
                    + "\(Banner.count(recorded.epochs, "epoch")) and cannot be stretched mid-run")
            default:
                break
            }
            setting.copy(&config, flags)
            changes.append("\(setting.flag) \(value) (was \(was))")
        }
        if recorded.schedule == .step && config.effectiveStepEpochs != recorded.effectiveStepEpochs {
            // A longer run with the default period (a third of --epochs) would move the decays
            // the run has already made: keep the period it had.
            config.stepEpochs = recorded.effectiveStepEpochs
        }
    }

    /// The global batch on this launch's ranks (see the type's comment); listed in `changes` when
    /// its split or the ranks differ from the run's.
    private mutating func applyBatchSplit(_ flags: TrainConfig, given: Set<String>) throws {
        let recorded = saved.config
        let global = recorded.globalBatch(ranks: saved.ranks)
        let batch = given.contains("--batch-size") ? flags.batchSize : nil
        let accumulate = given.contains("--accumulate") ? flags.accumulate : nil
        guard let split = BatchSplit.derive(global: global, ranks: ranks, batchSize: batch, accumulate: accumulate,
                                            recorded: BatchSplit(batchSize: recorded.batchSize, accumulate: recorded.accumulate))
        else { throw TrainError.badFlag(unsplittable(global, batch: batch, accumulate: accumulate)) }
        let newGlobal = split.globalBatch(ranks: ranks)
        if newGlobal != global {
            let product = newGlobal.map { "\($0)" } ?? "beyond \(Int.max)"
            if saved.stepInEpoch != 0 {
                throw TrainError.badFlag("--batch-size \(split.batchSize) x --accumulate \(split.accumulate) on "
                    + "\(Banner.count(ranks, "rank")) make a global batch of \(product), but the run resumed from \(resume) "
                    + "\(midEpoch) with \(global), and the rest of that epoch needs it; give them at an epoch boundary, "
                    + "or leave one out to keep \(global), or \(newRun)")
            }
            changes.append("global batch \(product) (was \(global))")
        }
        if split.batchSize != recorded.batchSize {
            changes.append("--batch-size \(split.batchSize) (was \(recorded.batchSize))")
            // --lr stays the learning rate of the batch it was given for (`TrainConfig.lrScale`).
            config.lrBatchSize = recorded.lrBatchSize ?? recorded.batchSize
        }
        if split.accumulate != recorded.accumulate {
            changes.append("--accumulate \(split.accumulate) (was \(recorded.accumulate))")
        }
        if ranks != saved.ranks { changes.append("ranks \(ranks) (was \(saved.ranks))") }
        config.batchSize = split.batchSize
        config.accumulate = split.accumulate
    }

    /// Why no split of `global` over this launch's ranks exists, with the way out.
    private func unsplittable(_ global: Int, batch: Int?, accumulate: Int?) -> String {
        let recorded = saved.config
        let theirs = "the global batch of \(global) of the run resumed from \(resume) (\(Banner.count(saved.ranks, "rank")) "
            + "x --batch-size \(recorded.batchSize) x --accumulate \(recorded.accumulate))"
        let here = Banner.count(ranks, "rank"), perRank = global / ranks
        // At an epoch boundary both flags together may set another global batch.
        let other = saved.stepInEpoch == 0 ? ", or give both --batch-size and --accumulate for another global batch" : ""
        if let batch, global % ranks == 0 {
            return "--batch-size \(batch) on \(here) cannot make up \(theirs) with a whole --accumulate: give a "
                + "--batch-size that divides \(perRank) (or leave it out)\(other), or \(newRun)"
        }
        if let accumulate, global % ranks == 0 {
            return "--accumulate \(accumulate) on \(here) cannot make up \(theirs) with a whole --batch-size: give an "
                + "--accumulate that divides \(perRank) (or leave it out)\(other), or \(newRun)"
        }
        return "this launch has \(here), which cannot share \(theirs) evenly: resume it on a number of ranks that "
            + "divides \(global), or \(newRun)"
    }

    /// There must be epochs left to train.
    private func checkEpochs() throws {
        let recorded = saved.config
        if config.epochs <= saved.epoch {
            let extend = [.constant, .step].contains(recorded.schedule)
                ? "raise --epochs to train on" : "its \(recorded.schedule.rawValue) schedule ended there: \(newRun)"
            throw TrainError.badFlag("the run in \(resume) has trained \(saved.epoch) of --epochs \(config.epochs): "
                + "nothing left to train; \(extend)")
        }
    }

    /// `--max-steps` holds until the run reaches it, and no longer after that.
    private mutating func applyMaxSteps(_ flags: TrainConfig, given: Set<String>) {
        let recorded = saved.config
        if given.contains("--max-steps") {
            config.maxSteps = flags.maxSteps
            if flags.maxSteps != recorded.maxSteps { changes.append("--max-steps \(flags.maxSteps) (was \(recorded.maxSteps))") }
        } else if recorded.maxSteps > 0 && recorded.maxSteps <= saved.globalStep {
            // The run stopped there; resuming it means going on.
            config.maxSteps = 0
            changes.append("--max-steps 0 (was \(recorded.maxSteps), reached)")
        }
    }

    /// The run directory the checkpoint lies in, unless `--checkpoint-dir` names another; going
    /// on in a run directory needs its latest checkpoint.
    private mutating func applyCheckpointDirectory(_ flags: TrainConfig, given: Set<String>) throws {
        let runDirectory = URL(fileURLWithPath: saved.checkpoint).deletingLastPathComponent().path
        if given.contains("--checkpoint-dir") {
            config.checkpointDir = flags.checkpointDir
            if let dir = flags.checkpointDir, !CheckpointDirectory.isRunDirectory(dir, of: saved.checkpoint) {
                changes.append("--checkpoint-dir \(dir) (the run's was \(runDirectory))")
            } else if flags.checkpointDir == nil {
                notes.append("no --checkpoint-dir: this run writes no checkpoints")
            }
            return
        }
        guard let latest = CheckpointDirectory.resolve(runDirectory) else {
            throw TrainError.badFlag("--resume \(resume) lies in no run directory (no 'latest' beside it), so there "
                + "is no run directory to go on in: give --checkpoint-dir DIR for the resumed run's checkpoints")
        }
        func real(_ path: String) -> String { URL(fileURLWithPath: path).resolvingSymlinksInPath().path }
        guard real(latest) == real(saved.checkpoint) else {
            throw TrainError.badFlag("--resume \(resume) is not the latest checkpoint of \(runDirectory) (that is "
                + "\(URL(fileURLWithPath: latest).lastPathComponent)): going on there would mix two runs; give "
                + "--checkpoint-dir DIR for this one, or --resume \(runDirectory) to continue from the latest")
        }
        config.checkpointDir = resume == saved.checkpoint ? runDirectory : resume
    }

    /// The metrics file the run appended to, unless `--metrics` names another.
    private mutating func applyMetrics(_ flags: TrainConfig, given: Set<String>) {
        if given.contains("--metrics") {
            config.metricsPath = flags.metricsPath
            let path = flags.metricsPath.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
            if saved.metricsRecorded && path != saved.metricsPath {
                changes.append("--metrics \(flags.metricsPath ?? "none") (was \(saved.metricsPath ?? "none"))")
            }
        } else if saved.metricsRecorded {
            config.metricsPath = saved.metricsPath
        } else {
            notes.append("\(saved.checkpoint) is older than ddp's record of the metrics file: give --metrics FILE "
                + "to go on appending to the run's metrics")
        }
    }
}
