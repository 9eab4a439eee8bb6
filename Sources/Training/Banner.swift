import Foundation
import Layers
import Platform
import Tensor

/// The start banner rank 0 prints: what is trained, on what, with which kernel, how fast it can
/// go; for a resumed run, where it goes on from and what the command line changed.
enum Banner {
    static func text(config: TrainConfig, model: Model, data: TrainingData, ranks: Int, stepsPerEpoch: Int,
                     kernelPaths: [KernelPath], allreduce: String, resumed: ResumePlan?) -> String {
        let g = config.globalBatch(ranks: ranks)
        let split = "ranks \(ranks) x batch \(config.batchSize)"
            + (config.accumulate > 1 ? " x accumulate \(config.accumulate) micro-batches" : "")
        var lines = [
            "ddp train: \(config.model) (\(model.parameterCount) parameters) on \(config.dataset) "
                + "(\(data.train.count) train / \(data.test.count) test, \(data.inputShape.map(String.init).joined(separator: "x")), "
                + "\(data.classes) classes)",
            "  \(split) = global batch \(g), \(stepsPerEpoch) steps/epoch, "
                + count(config.epochs, "epoch"),
        ]
        if config.trainSubset > 0 { lines.append("  " + subset(config, data: data, globalBatch: g, stepsPerEpoch: stepsPerEpoch)) }
        let skipped = data.train.skipped + data.test.skipped
        if !skipped.isEmpty {
            lines.append("  skipped \(count(skipped.count, "file")) (--skip-bad): "
                + skipped.map { "\($0.path) (\($0.reason))" }.joined(separator: "; "))
        }
        let warmup = config.effectiveWarmupEpochs(ranks: ranks)
        lines += [
            "  \(config.optimizer.rawValue) lr \(config.effectiveLR(ranks: ranks))\(scaling(config, ranks: ranks)) "
                + "schedule \(config.schedule.rawValue)\(warmup > 0 ? " warmup \(warmup) epochs" : "") "
                + "momentum \(config.momentum)\(config.nesterov ? " nesterov" : "") "
                + "wd \(config.weightDecay)\(config.syncBN ? " sync-bn" : "")\(config.augment ? " augment" : "") seed \(config.seed)",
            "  " + start(config)
                + (config.labelSmoothing > 0 ? " label-smoothing \(config.labelSmoothing)" : "")
                + (config.ema > 0 ? " ema \(config.ema)" : "")
                + (ranks > 1 && model.layers.contains { $0 is Dropout } ? " dropout-masks \(config.dropoutMasks.rawValue)" : ""),
            "  BLAS: \(BLASRuntime.describe())",
            "  kernels: \(kernels(kernelPaths))",
            "  convolutions: \(ConvolutionChoice.describe(precision: config.precision, tuned: model.convolutionPlan != nil))",
            "  allreduce: \(allreduce)",
        ]
        let runs = model.convolutionRuns
        if !runs.isEmpty { lines.append("  conv layers: " + ConvolutionRun.line(runs)) }
        if let plan = model.convolutionPlan, !plan.timings.isEmpty {
            lines.append("  DDP_CONV=auto's timings (ms per forward + backward, the mean over ranks):")
            lines += runs.compactMap { run in plan.timings[run.layer].map { "    \(run.layer): \($0)" } }
        }
        if let resumed {
            let s = resumed.saved
            lines.append("  resumed from \(s.checkpoint): \(count(s.epoch, "epoch")) done"
                + (s.stepInEpoch == 0 ? "" : " and \(count(s.stepInEpoch, "step")) of the next") + " (global step \(s.globalStep))")
            if !resumed.changes.isEmpty { lines.append("  changed: " + resumed.changes.joined(separator: "; ")) }
            lines += resumed.notes.map { "  note: " + $0 }
        }
        return lines.joined(separator: "\n")
    }

    /// How the linear scaling rule made the LR: " (0.05 x 4 ranks)", " (0.05 x 2 ranks x 2
    /// micro-batches)", or after a resume that split the global batch anew " (0.05 x 256 / 64:
    /// global batch / the batch of --lr)"; "" without the rule.
    static func scaling(_ config: TrainConfig, ranks: Int) -> String {
        guard config.scaleLR else { return "" }
        if let lrBatch = config.lrBatchSize, lrBatch != config.batchSize {
            return " (\(config.lr) x \(config.globalBatch(ranks: ranks)) / \(lrBatch): global batch / the batch of --lr)"
        }
        return " (\(config.lr) x \(count(ranks, "rank"))"
            + (config.accumulate > 1 ? " x \(config.accumulate) micro-batches)" : ")")
    }

    /// Where the weights start: the scheme, or the checkpoint of --init-from (whose weights
    /// replace the scheme's draws).
    static func start(_ config: TrainConfig) -> String {
        config.initFrom.map { "init from \($0)" } ?? "init \(config.weightInit.rawValue)"
    }

    /// "1 epoch", "10 epochs".
    static func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }

    /// What `--train-subset` keeps: the first N samples, of which each epoch's whole global
    /// batches use all but the remainder (a different remainder each shuffled epoch).
    static func subset(_ config: TrainConfig, data: TrainingData, globalBatch: Int, stepsPerEpoch: Int) -> String {
        let kept = data.train.count
        var text = "--train-subset \(config.trainSubset): "
            + (kept < data.availableTrainCount ? "the first \(kept) of \(data.availableTrainCount) training samples"
                : "all \(kept) training samples (the data set has no more)")
        let used = stepsPerEpoch * globalBatch
        text += used == kept ? ", all used each epoch"
            : "; each epoch's \(count(stepsPerEpoch, "step")) of \(globalBatch) use \(used), leaving out \(kept - used)"
        return text
    }

    /// This process's kernel path, or which ranks run which when they differ.
    static func kernels(_ paths: [KernelPath]) -> String {
        guard Set(paths).count > 1 else { return KernelPath.describe() }
        let groups = KernelPath.allCases.map { path in
            let ranks = paths.indices.filter { paths[$0] == path }.map(String.init)
            return "\(path.rawValue) on rank\(ranks.count == 1 ? "" : "s") \(ranks.joined(separator: ", "))"
        }
        return "mixed: \(groups.joined(separator: "; ")). Each rank's share of the gradient rounds its own way; "
            + "the parameters stay identical (one allreduced gradient, an update that is bit-identical on both paths)"
    }
}
