import ArgumentParser
import Formats
import Foundation
import Plot
import Training

/// `ddp plot METRICS.jsonl -o curves.svg`: training curves as SVG and a verdict on over-fitting.
struct PlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Draw train/test loss and accuracy per epoch as SVG and judge over-fitting.",
        discussion: """
            Reads the metrics file written by `ddp train --metrics FILE.jsonl` and draws one \
            picture: loss per epoch (left; per-step loss faint behind it when logged with \
            --log-every) and accuracy per epoch (right). It prints, and writes under the panels, \
            a verdict: over-fitting (the gap test loss - train loss widens after having \
            narrowed: for at least 2 epochs, by more than its noise and 5% of the test loss, and \
            faster than the test loss still falls; named from the epoch where the widening \
            starts, and saying whether the test loss has also risen), diverging, under-fitting (both \
            losses still falling, or both high and flat), or no over-fitting yet; and what to do \
            (early stop at the best test epoch, regularisation, more epochs, a lower learning \
            rate; the schedule advice follows the logged learning rates). When step losses were \
            logged it also says whether they are noisy enough that a larger batch or a lower \
            learning rate would help. Evaluations inside epochs (ddp train --eval-every-steps) \
            add a thin test curve through them.

            --json prints one object: verdict, message, advice, overfit_epoch, test_rise_epoch, \
            best_test_epoch, best_test_acc (0...1), svg, and with step losses loss_noise_ratio and \
            loss_noise_hint.

            Several files compare runs (-o names the picture): the test accuracy and the \
            training loss per epoch of each, one colour per group. NAME=FILE puts a file in group \
            NAME (the seeds of one recipe, say: each run drawn thin, the group's mean bold); a \
            file without a name is a group of its own, named after the file. --target 0.92 draws \
            that accuracy and names the first epoch each run reaches it, with each group's \
            median and mean. The PyTorch peers' epoch lines (shared/peers, scripts/accuracy) \
            read too. --json then prints one object: runs (file, group, last_epoch, \
            final_test_acc, best_test_acc, best_test_epoch, target_epoch), groups (name, runs, \
            final_test_acc_mean, target_epoch_median, target_epoch_mean, never_reached), target \
            and svg.
            """)

    @Argument(help: ArgumentHelp("The metrics JSONL file of a run (ddp train --metrics); several compare runs.",
                                 valueName: "[name=]metrics"))
    var metrics: [String]

    @Option(name: [.short, .customLong("output")],
            help: "Where to write the SVG (default for one run: the metrics path with .svg instead of its extension).")
    var output: String?

    @Option(help: ArgumentHelp("With several runs: the test accuracy (0...1) whose first epoch each run reaches is named.",
                               valueName: "accuracy"))
    var target: Double?

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    /// (group, path) of each argument: NAME=FILE, or a file alone, its own group named after it.
    private var runFiles: [(group: String, path: String)] {
        metrics.map { argument in
            if let equals = argument.firstIndex(of: "="), !FileManager.default.fileExists(atPath: argument) {
                let name = String(argument[..<equals])
                if !name.isEmpty, !name.contains("/") { return (name, String(argument[argument.index(after: equals)...])) }
            }
            return (URL(fileURLWithPath: argument).deletingPathExtension().lastPathComponent, argument)
        }
    }

    /// The SVG path: --output, or for one run the metrics path with its extension replaced by .svg.
    private var outputURL: URL {
        URL(fileURLWithPath: output ?? URL(fileURLWithPath: metrics[0]).deletingPathExtension().appendingPathExtension("svg").path)
    }

    func validate() throws {
        if let output, output.isEmpty { throw ValidationError("--output must name a file, e.g. -o curves.svg") }
        if metrics.count > 1 && output == nil {
            throw ValidationError("\(metrics.count) runs compared: name the picture with -o, e.g. -o compare.svg")
        }
        if let target, !(target > 0 && target <= 1) {
            throw ValidationError("--target is an accuracy in (0, 1], e.g. 0.92; got \(target)")
        }
        if metrics.count == 1 && target != nil {
            throw ValidationError("--target names the epoch each of several runs reaches an accuracy; give two or more metrics files")
        }
        for (_, path) in runFiles where outputURL.standardizedFileURL == URL(fileURLWithPath: path).standardizedFileURL {
            throw ValidationError("the SVG would overwrite the metrics file \(path); choose another -o")
        }
    }

    func run() throws {
        if metrics.count > 1 { return try compare() }
        let metrics = metrics[0]
        let inputURL = URL(fileURLWithPath: metrics)
        let log = try MetricsLog(contentsOf: inputURL)
        let verdict = OverfitVerdict(epochs: log.epochs)
        let noise = TrainingCurves.lossNoise(log)
        let chart = TrainingCurves.chart(log: log, verdict: verdict, noise: noise, source: inputURL.lastPathComponent)
        try chart.write(to: outputURL)

        if json {
            // Keys in alphabetical order, as they always were.
            var fields: [(String, JSONLine.Value)] = [
                ("advice", .string(verdict.advice)),
                ("best_test_acc", verdict.bestTestAccuracy.map(JSONLine.Value.number) ?? .null),
                ("best_test_epoch", verdict.bestTestEpoch.map { .number(Double($0)) } ?? .null),
            ]
            if let noise {
                fields += [("loss_noise_hint", noise.hint.map(JSONLine.Value.string) ?? .null),
                           ("loss_noise_ratio", .number(noise.ratio))]
            }
            fields += [
                ("message", .string(verdict.summary)),
                ("overfit_epoch", verdict.overfitEpoch.map { .number(Double($0)) } ?? .null),
                ("svg", .string(outputURL.path)),
                ("test_rise_epoch", verdict.testRiseEpoch.map { .number(Double($0)) } ?? .null),
                ("verdict", .string(verdict.kind.rawValue)),
            ]
            print(JSONLine.object(fields))
        } else {
            let first = log.epochs.first!.epoch
            let last = log.epochs.last!.epoch
            print("metrics:  \(metrics) (epochs \(first)-\(last), \(log.steps.count) step records)")
            if let b = verdict.bestTestEpoch, let accuracy = verdict.bestTestAccuracy {
                print("best:     test accuracy \(String(format: "%.2f%%", accuracy * 100)) at epoch \(b)")
            }
            print("verdict:  \(verdict.summary)")
            print("advice:   \(verdict.advice)")
            if let noise {
                print("noise:    \(noise.hint ?? String(format: "per-step loss noise/trend ratio %.2f (fine below %.1f)", noise.ratio, LossNoise.hintThreshold))")
            }
            print("wrote:    \(outputURL.path)")
        }
    }

    /// Several runs: the comparison picture, a line per run and per group.
    private func compare() throws {
        let runs = try runFiles.map { group, path in
            RunComparison.Run(group: group, source: path, log: try MetricsLog(contentsOf: URL(fileURLWithPath: path)))
        }
        let comparison = RunComparison(runs: runs, target: target)
        try comparison.chart().write(to: outputURL)
        let summaries = comparison.runSummaries, groups = comparison.groupSummaries
        let number = { (value: Double?) in value.map(JSONLine.Value.number) ?? .null }
        let epoch = { (value: Int?) in value.map { JSONLine.Value.number(Double($0)) } ?? .null }
        if json {
            let runLines = summaries.map { run in
                JSONLine.Value.object([("file", .string(run.source)), ("group", .string(run.group)),
                                       ("last_epoch", .number(Double(run.lastEpoch))),
                                       ("final_test_acc", number(run.finalAccuracy)), ("best_test_acc", number(run.bestAccuracy)),
                                       ("best_test_epoch", epoch(run.bestEpoch)), ("target_epoch", epoch(run.targetEpoch))])
            }
            let groupLines = groups.map { group in
                JSONLine.Value.object([("name", .string(group.name)), ("runs", .number(Double(group.runs))),
                                       ("final_test_acc_mean", .number(group.finalMean)),
                                       ("target_epoch_median", number(group.targetMedian)),
                                       ("target_epoch_mean", number(group.targetMean)),
                                       ("never_reached", target == nil ? .null : .number(Double(group.runs - group.reached.count)))])
            }
            print(JSONLine.object([("runs", .array(runLines)), ("groups", .array(groupLines)),
                                   ("target", number(target)), ("svg", .string(outputURL.path))]))
            return
        }
        let width = summaries.map(\.source.count).max()!, groupWidth = summaries.map(\.group.count).max()!
        for run in summaries {
            var line = run.group.padding(toLength: groupWidth, withPad: " ", startingAt: 0) + "  "
                + run.source.padding(toLength: width, withPad: " ", startingAt: 0)
                + "  epochs \(run.lastEpoch), final \(String(format: "%.2f%%", run.finalAccuracy * 100))"
            if let best = run.bestAccuracy, let at = run.bestEpoch { line += String(format: ", best %.2f%% (epoch %d)", best * 100, at) }
            if let target { line += ", \(String(format: "%.2f%%", target * 100)): " + (run.targetEpoch.map { "epoch \($0)" } ?? "never") }
            print(line)
        }
        for group in groups {
            var line = "\(group.name): \(group.runs) run\(group.runs == 1 ? "" : "s"), final test accuracy "
                + String(format: "%.2f%%", group.finalMean * 100) + (group.runs > 1 ? " mean" : "")
            if let reached = comparison.targetLine(group) { line += "; " + reached }
            print(line)
        }
        print("wrote: \(outputURL.path)")
    }
}
