import Foundation

/// The picture `ddp plot` draws from a metrics log: loss per epoch on the left, accuracy per
/// epoch on the right, the verdict drawn on both (marker lines, a shaded over-fitting span)
/// and written under them with the advice and the loss-noise estimate.
public enum TrainingCurves {
    /// Where each of `log.steps` sits on the epoch axis (epoch e spans e-1...e, its epoch
    /// record sits at e), NaN when the log does not say.
    ///
    /// Step numbers are read the way the epoch records use them: when the epoch records'
    /// `step` grows from epoch to epoch it is a global counter and steps-per-epoch is its
    /// growth per epoch; when it stays the same it is the count within an epoch; with a single
    /// epoch record it is taken as global (the two readings agree in the first epoch).
    public static func stepPositions(_ log: MetricsLog) -> [Double] {
        positions(of: log.steps.map { ($0.epoch, $0.step) }, in: log)
    }

    /// Where records at (epoch, step) sit on the epoch axis, read as `stepPositions` reads steps.
    static func positions(of records: [(epoch: Int, step: Int)], in log: MetricsLog) -> [Double] {
        let epochs = log.epochs
        guard let reference = epochs.last else { return records.map { _ in .nan } }
        let global = epochs.count < 2 || zip(epochs, epochs.dropFirst()).allSatisfy { $0.step < $1.step }
        let stepsPerEpoch: Double
        if epochs.count >= 2 && global {
            stepsPerEpoch = Double(reference.step - epochs[0].step) / Double(reference.epoch - epochs[0].epoch)
        } else if global {
            stepsPerEpoch = Double(reference.step) / Double(reference.epoch)
        } else {
            stepsPerEpoch = Double(reference.step)
        }
        guard stepsPerEpoch.isFinite, stepsPerEpoch > 0 else { return records.map { _ in .nan } }
        return records.map { record in
            global ? Double(reference.epoch) + Double(record.step - reference.step) / stepsPerEpoch
                : Double(record.epoch - 1) + Double(record.step) / stepsPerEpoch
        }
    }

    /// The loss-noise estimate of a finished run: over the last epoch's step losses when
    /// there are at least `LossNoise.minimumCount`, else over all step losses.
    public static func lossNoise(_ log: MetricsLog) -> LossNoise? {
        guard let lastEpoch = log.steps.last?.epoch else { return nil }
        let recent = log.steps.filter { $0.epoch == lastEpoch }.map(\.loss)
        return LossNoise(losses: recent) ?? LossNoise(losses: log.steps.map(\.loss))
    }

    /// The two-panel chart for `log`, judged by `verdict`; `source` (the file name) and the run's
    /// settings, when the log records them, name the run in the title.
    public static func chart(log: MetricsLog, verdict: OverfitVerdict, noise: LossNoise?, source: String) -> SVGChart {
        let x = log.epochs.map { Double($0.epoch) }
        let stepX = stepPositions(log)
        let marks = VerdictMarks(verdict, epochs: log.epochs, lastEpoch: x.last ?? 0)
        // One epoch range for both panels (step losses and evaluations start inside epoch 1),
        // so the two read side by side.
        let evaluationX = positions(of: log.evaluations.map { ($0.epoch, $0.step) }, in: log)
        let allX = (x + stepX + evaluationX).filter(\.isFinite)
        let epochRange = allX.min().flatMap { low in allX.max().map { Foundation.floor(low)...Foundation.ceil($0) } }
        let epochAxis = ChartAxis(label: "epoch", range: epochRange.flatMap { $0.lowerBound < $0.upperBound ? $0 : nil },
                                  integerTicks: true)
        let lossPanel = ChartPanel(
            title: "Loss per epoch",
            subtitle: "cross-entropy on the training and the test set; lower is better",
            xAxis: epochAxis, yAxis: ChartAxis(label: "loss (cross-entropy, nats)"),
            series: lossSeries(log, x: x, stepX: stepX), markers: marks.loss, bands: marks.bands)
        let accuracyPanel = ChartPanel(
            title: "Accuracy per epoch",
            subtitle: "share of images classified correctly; higher is better",
            xAxis: epochAxis, yAxis: ChartAxis(label: "accuracy (%)"),
            series: accuracySeries(log, x: x), markers: marks.accuracy, bands: marks.bands)
        return SVGChart(title: log.run.map(title) ?? "Training curves: \(source)",
                        subtitle: subtitle(log, verdict: verdict, source: source),
                        panels: [lossPanel, accuracyPanel], notes: notes(verdict: verdict, noise: noise))
    }

    static let trainColor = ChartColor.blue
    static let testColor = ChartColor.vermillion
    static let averageColor = ChartColor.green

    /// The moving average's values (`--ema`), NaN where an epoch has none; nil when no epoch has.
    static func averageValues(_ log: MetricsLog, _ value: (MetricsLog.Epoch) -> Double?) -> [Double]? {
        let values = log.epochs.map(value)
        return values.contains { $0 != nil } ? values.map { $0 ?? .nan } : nil
    }

    /// `--eval-every-steps`' figures joined with the epochs' own along the epoch axis (nil without
    /// any evaluation inside an epoch): how the test figure moves between the epoch ends.
    static func insideEpochs(_ log: MetricsLog, _ inside: (MetricsLog.Evaluation) -> Double,
                             _ atEnd: (MetricsLog.Epoch) -> Double) -> (x: [Double], y: [Double])? {
        guard !log.evaluations.isEmpty else { return nil }
        let evaluations = zip(positions(of: log.evaluations.map { ($0.epoch, $0.step) }, in: log), log.evaluations.map(inside))
        let ends = zip(log.epochs.map { Double($0.epoch) }, log.epochs.map(atEnd))
        let points = (Array(evaluations) + Array(ends)).filter { $0.0.isFinite }.sorted { $0.0 < $1.0 }
        return (points.map(\.0), points.map(\.1))
    }

    /// The step losses (faint, not setting the y range), the epoch-mean train loss and the test loss.
    static func lossSeries(_ log: MetricsLog, x: [Double], stepX: [Double]) -> [ChartSeries] {
        var series: [ChartSeries] = []
        if !log.steps.isEmpty {
            series.append(ChartSeries(name: "train loss per logged step", x: stepX,
                                      y: log.steps.map(\.loss), color: ChartColor.skyBlue, lineWidth: 1,
                                      opacity: 0.45, affectsYRange: false))
        }
        series.append(ChartSeries(name: "train loss (epoch mean)", x: x, y: log.epochs.map(\.trainLoss),
                                  color: trainColor, lineWidth: 2.2, dash: "7 4", showsPoints: true))
        if let inside = insideEpochs(log, \.testLoss, \.testLoss) {
            series.append(ChartSeries(name: "test loss inside epochs", x: inside.x, y: inside.y, color: testColor,
                                      lineWidth: 1.2, opacity: 0.5))
        }
        series.append(ChartSeries(name: "test loss", x: x, y: log.epochs.map(\.testLoss),
                                  color: testColor, lineWidth: 2.2, showsPoints: true))
        if let average = averageValues(log, \.averageTestLoss) {
            series.append(ChartSeries(name: "moving-average test loss", x: x, y: average,
                                      color: averageColor, lineWidth: 2.2, dash: "2 3", showsPoints: true))
        }
        return series
    }

    static func accuracySeries(_ log: MetricsLog, x: [Double]) -> [ChartSeries] {
        var series: [ChartSeries] = []
        if let inside = insideEpochs(log, \.testAccuracy, \.testAccuracy) {
            series.append(ChartSeries(name: "test accuracy inside epochs", x: inside.x, y: inside.y.map { $0 * 100 },
                                      color: testColor, lineWidth: 1.2, opacity: 0.5))
        }
        series += [
            ChartSeries(name: "train accuracy", x: x, y: log.epochs.map { $0.trainAccuracy * 100 },
                        color: trainColor, lineWidth: 2.2, dash: "7 4", showsPoints: true),
            ChartSeries(name: "test accuracy", x: x, y: log.epochs.map { $0.testAccuracy * 100 },
                        color: testColor, lineWidth: 2.2, showsPoints: true),
        ]
        if let average = averageValues(log, \.averageTestAccuracy) {
            series.append(ChartSeries(name: "moving-average test accuracy", x: x, y: average.map { $0 * 100 },
                                      color: averageColor, lineWidth: 2.2, dash: "2 3", showsPoints: true))
        }
        return series
    }

    /// The verdict drawn on the panels: marker lines on each and the shaded span on both.
    struct VerdictMarks {
        var loss: [ChartMarker] = []
        var accuracy: [ChartMarker] = []
        var bands: [ChartBand] = []

        init(_ verdict: OverfitVerdict, epochs: [MetricsLog.Epoch], lastEpoch: Double) {
            if let k = verdict.overfitEpoch {
                bands.append(ChartBand(from: Double(k), to: lastEpoch, label: "over-fitting: train/test gap widening",
                                       color: ChartColor.vermillion))
                loss.append(ChartMarker(x: Double(k), y: epochs.first { $0.epoch == k }?.testLoss,
                                        label: "over-fitting starts: epoch \(k)", color: ChartColor.vermillion))
                if let r = verdict.testRiseEpoch, let minimum = verdict.minTestLoss {
                    loss.append(ChartMarker(x: Double(r), y: minimum, label: "test loss rises after epoch \(r)",
                                            color: ChartColor.gray))
                }
            } else if let j = verdict.divergenceEpoch {
                bands.append(ChartBand(from: Double(j), to: lastEpoch, label: "diverging: train loss rising",
                                       color: ChartColor.purple))
                loss.append(ChartMarker(x: Double(j), label: "diverging from epoch \(j)", color: ChartColor.purple))
            } else if let k = verdict.minTestLossEpoch, let minimum = verdict.minTestLoss {
                loss.append(ChartMarker(x: Double(k), y: minimum,
                                        label: "lowest test loss \(OverfitVerdict.loss(minimum)) (epoch \(k))",
                                        color: ChartColor.gray))
            }
            if let b = verdict.bestTestEpoch, let best = verdict.bestTestAccuracy {
                accuracy.append(ChartMarker(x: Double(b), y: best * 100,
                                            label: "best test accuracy \(OverfitVerdict.percent(best)) (epoch \(b))",
                                            color: ChartColor.green))
                if verdict.testRiseEpoch != nil {
                    loss.append(ChartMarker(x: Double(b), label: "stop here: epoch \(b)", color: ChartColor.green))
                }
            }
            if let k = verdict.overfitEpoch {
                accuracy.append(ChartMarker(x: Double(k), label: "over-fitting starts: epoch \(k)",
                                            color: ChartColor.vermillion))
            }
        }
    }

    /// "metrics.jsonl: 10 epochs, final test accuracy ..., best test accuracy ... at epoch ...".
    static func subtitle(_ log: MetricsLog, verdict: OverfitVerdict, source: String) -> String {
        let epochs = log.epochs
        var subtitle = (log.run == nil ? "" : source + ": ") + "\(epochs.count) epoch\(epochs.count == 1 ? "" : "s")"
        if let final = epochs.last {
            subtitle += ", final test accuracy \(OverfitVerdict.percent(final.testAccuracy))"
                + ", final test loss \(OverfitVerdict.loss(final.testLoss))"
        }
        if let b = verdict.bestTestEpoch, let accuracy = verdict.bestTestAccuracy {
            subtitle += ", best test accuracy \(OverfitVerdict.percent(accuracy)) at epoch \(b)"
        }
        return subtitle
    }

    /// The verdict, the advice and the loss-noise reading, under the panels.
    static func notes(verdict: OverfitVerdict, noise: LossNoise?) -> [SVGChart.Note] {
        var notes = [
            SVGChart.Note("Verdict: \(verdict.summary).", emphasized: true, color: color(of: verdict.kind)),
            SVGChart.Note("What to do: \(verdict.advice)."),
        ]
        if let noise {
            if let hint = noise.hint {
                notes.append(SVGChart.Note("Loss noise: \(hint).", emphasized: true, color: "#8a4b00"))
            } else {
                let ratio = String(format: "%.2f", noise.ratio)
                notes.append(SVGChart.Note("Loss noise: noise/trend ratio \(ratio) (RMS of (loss - trend) / trend over "
                    + "\(noise.count) logged steps); below \(LossNoise.hintThreshold), no action needed.",
                    color: "#444444"))
            }
        }
        return notes
    }

    /// "Training curves of fmnist-cnn on fashion-mnist: 4 ranks x batch 64, lr 0.1 (onecycle)".
    static func title(_ run: MetricsLog.Run) -> String {
        let ranks = "\(run.ranks) rank\(run.ranks == 1 ? "" : "s")" + (run.batchSize.map { " x batch \($0)" } ?? "")
        let lr = "lr \(OverfitVerdict.rate(run.learningRate))" + (run.schedule.map { " (\($0))" } ?? "")
        return "Training curves of \(run.model)" + (run.dataset.map { " on \($0)" } ?? "") + ": \(ranks), \(lr)"
    }

    /// Red for a problem to act on, amber for "not done yet", green for fine.
    static func color(of kind: OverfitVerdict.Kind) -> String {
        switch kind {
        case .overfitting: return "#b22d00"
        case .diverging: return "#8e3b73"
        case .stillImproving, .underfitting: return "#8a4b00"
        case .noOverfitting: return "#00704f"
        case .tooFewEpochs: return "#444444"
        }
    }
}
