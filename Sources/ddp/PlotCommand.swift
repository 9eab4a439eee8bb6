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
            learning rate would help.

            --json prints one object: verdict, message, advice, overfit_epoch, test_rise_epoch, \
            best_test_epoch, best_test_acc (0...1), svg, and with step losses loss_noise_ratio and \
            loss_noise_hint.
            """)

    @Argument(help: "The metrics JSONL file of a run (ddp train --metrics).")
    var metrics: String

    @Option(name: [.short, .customLong("output")],
            help: "Where to write the SVG (default: the metrics path with .svg instead of its extension).")
    var output: String?

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    /// The SVG path: --output, or the metrics path with its extension replaced by .svg.
    private var outputURL: URL {
        URL(fileURLWithPath: output ?? URL(fileURLWithPath: metrics).deletingPathExtension().appendingPathExtension("svg").path)
    }

    func validate() throws {
        if let output, output.isEmpty { throw ValidationError("--output must name a file, e.g. -o curves.svg") }
        if outputURL.standardizedFileURL == URL(fileURLWithPath: metrics).standardizedFileURL {
            throw ValidationError("the SVG would overwrite the metrics file \(metrics); choose another -o")
        }
    }

    func run() throws {
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
}
