import Foundation

/// Several runs side by side (`ddp plot A.jsonl B.jsonl ...`): the test accuracy and the training
/// loss of every run per epoch, runs gathered into groups (the seeds of one trainer, say), and the
/// epoch at which each run first reaches a target accuracy.
///
/// ```
///   ddp=s0.jsonl ddp=s1.jsonl torch=p0.jsonl torch=p1.jsonl --target 0.92
///
///   accuracy |            ____======  bold: a group's mean per epoch
///            |  - - - - -/-/- - - - -  target
///            |   __/====/ /            thin: one run each, in its group's colour
///            +------------------------ epoch
///   ddp:   2 runs, 92% first reached at epoch 5 and 6 (median 5.5, mean 5.5)
///   torch: 2 runs, ...
/// ```
///
/// A group's mean at epoch e averages the runs that have a value at e (a run stopped early adds
/// nothing after its last epoch). A group of one run is drawn bold alone. Every figure is the
/// model's own test accuracy (`test_acc`), so a PyTorch peer's lines compare with ddp's.
public struct RunComparison: Sendable {
    /// One metrics file and the group it belongs to.
    public struct Run: Sendable {
        public var group: String
        /// How the run is named in tables (its path).
        public var source: String
        public var log: MetricsLog

        public init(group: String, source: String, log: MetricsLog) {
            self.group = group
            self.source = source
            self.log = log
        }
    }

    /// What one run reached.
    public struct RunSummary: Sendable, Equatable {
        public var group: String
        public var source: String
        public var lastEpoch: Int
        public var finalAccuracy: Double
        public var bestAccuracy: Double?
        public var bestEpoch: Int?
        /// The first epoch whose test accuracy is at least the target; nil: never, or no target.
        public var targetEpoch: Int?
    }

    /// What a group's runs reached together.
    public struct GroupSummary: Sendable, Equatable {
        public var name: String
        public var runs: Int
        /// The last epoch's test accuracy: mean, lowest, highest over the group's runs.
        public var finalMean: Double
        public var finalRange: ClosedRange<Double>
        /// Each run's first epoch at the target, in the order given (nil: never reached).
        public var targetEpochs: [Int?]

        public var reached: [Int] { targetEpochs.compactMap { $0 } }
        public var targetMedian: Double? { reached.isEmpty ? nil : Median.of(reached.map(Double.init)) }
        public var targetMean: Double? {
            reached.isEmpty ? nil : Double(reached.reduce(0, +)) / Double(reached.count)
        }
    }

    public let runs: [Run]
    /// A fraction of 1 (0.92), or nil for no target.
    public let target: Double?

    /// - Precondition: at least one run.
    public init(runs: [Run], target: Double?) {
        precondition(!runs.isEmpty, "a comparison of no runs")
        self.runs = runs
        self.target = target
    }

    /// Group names in the order they first appear.
    public var groupNames: [String] {
        var names: [String] = []
        for run in runs where !names.contains(run.group) { names.append(run.group) }
        return names
    }

    public var runSummaries: [RunSummary] {
        runs.map { run in
            let measured = run.log.epochs.filter { $0.testAccuracy.isFinite }
            let best = measured.max { $0.testAccuracy < $1.testAccuracy }
            let reaching = target.flatMap { target in measured.first { $0.testAccuracy >= target }?.epoch }
            let last = run.log.epochs.last!
            return RunSummary(group: run.group, source: run.source, lastEpoch: last.epoch,
                              finalAccuracy: last.testAccuracy, bestAccuracy: best?.testAccuracy,
                              bestEpoch: best?.epoch, targetEpoch: reaching)
        }
    }

    public var groupSummaries: [GroupSummary] {
        let summaries = runSummaries
        return groupNames.map { name in
            let members = summaries.filter { $0.group == name }
            let finals = members.map(\.finalAccuracy)
            return GroupSummary(name: name, runs: members.count, finalMean: finals.reduce(0, +) / Double(finals.count),
                                finalRange: finals.min()!...finals.max()!, targetEpochs: members.map(\.targetEpoch))
        }
    }

    /// "92.00% first reached at epoch 5, 5, 6, never (median 5, mean 5.33 over the 3 that reach
    /// it; 1 never does)": one group's line; nil without a target.
    public func targetLine(_ group: GroupSummary) -> String? {
        guard let target else { return nil }
        let epochs = group.targetEpochs.map { $0.map(String.init) ?? "never" }.joined(separator: ", ")
        var line = "\(OverfitVerdict.percent(target)) first reached at epoch \(epochs)"
        guard let median = group.targetMedian, let mean = group.targetMean else { return line + " (no run reaches it)" }
        guard group.runs > 1 else { return line }
        line += " (median \(Self.epochs(median)), mean \(Self.epochs(mean))"
        let never = group.runs - group.reached.count
        if never > 0 { line += " over the \(group.reached.count) that reach it; \(never) never \(never == 1 ? "does" : "do")" }
        return line + ")"
    }

    static func epochs(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%.2f", value)
    }

    // MARK: The picture

    static let palette = [ChartColor.blue, ChartColor.orange, ChartColor.green, ChartColor.vermillion,
                          ChartColor.purple, ChartColor.skyBlue, ChartColor.gray, ChartColor.yellow]

    /// Test accuracy per epoch (left) and, when any run logged it, the training loss (right).
    public func chart() -> SVGChart {
        let epochValues = runs.flatMap { $0.log.epochs.map { Double($0.epoch) } }
        let epochAxis = ChartAxis(label: "epoch", range: epochValues.min().flatMap { low in
            epochValues.max().flatMap { low < $0 ? low...$0 : nil }
        }, integerTicks: true)
        var accuracy = series { $0.testAccuracy * 100 }
        if let target, let range = epochAxis.range {
            accuracy.append(ChartSeries(name: "target \(OverfitVerdict.percent(target))", x: [range.lowerBound, range.upperBound],
                                        y: [target * 100, target * 100], color: "#333333", lineWidth: 1.2, dash: "5 4"))
        }
        var panels = [ChartPanel(title: "Test accuracy per epoch",
                                 subtitle: "thin: each run; bold: the group's mean; higher is better",
                                 xAxis: epochAxis, yAxis: ChartAxis(label: "test accuracy (%)"), series: accuracy)]
        if runs.contains(where: { $0.log.epochs.contains { $0.trainLoss.isFinite } }) {
            panels.append(ChartPanel(title: "Training loss per epoch",
                                     subtitle: "mean over the epoch's batches; thin: each run; bold: the group's mean",
                                     xAxis: epochAxis, yAxis: ChartAxis(label: "loss (cross-entropy, nats)"),
                                     series: series(\.trainLoss)))
        }
        let groups = groupSummaries
        let title = "Runs compared: " + groups.map { "\($0.name) (\($0.runs) run\($0.runs == 1 ? "" : "s"))" }
            .joined(separator: ", ")
        let notes = groups.map { group in
            var text = "\(group.name): final test accuracy \(OverfitVerdict.percent(group.finalMean))"
            if group.runs > 1 {
                text += " mean (\(OverfitVerdict.percent(group.finalRange.lowerBound))"
                    + " to \(OverfitVerdict.percent(group.finalRange.upperBound)))"
            }
            if let line = targetLine(group) { text += "; " + line }
            return SVGChart.Note(text + ".")
        }
        return SVGChart(title: title, subtitle: runs.map(\.source).joined(separator: ", "), panels: panels, notes: notes)
    }

    /// Per group: each run thin and unnamed (so the legend lists groups, not files), then the
    /// group's mean bold and named; a group of one run is its bold line alone, and a group without
    /// a value (a peer that logs no train loss) is left out of the panel.
    private func series(_ value: (MetricsLog.Epoch) -> Double) -> [ChartSeries] {
        var thin: [ChartSeries] = [], bold: [ChartSeries] = []
        for (index, name) in groupNames.enumerated() {
            let color = Self.palette[index % Self.palette.count]
            let members = runs.filter { $0.group == name }
            guard members.contains(where: { $0.log.epochs.contains { value($0).isFinite } }) else { continue }
            if members.count > 1 {
                for run in members {
                    thin.append(ChartSeries(name: "", x: run.log.epochs.map { Double($0.epoch) },
                                            y: run.log.epochs.map(value), color: color, lineWidth: 1, opacity: 0.45))
                }
            }
            let epochs = Array(Set(members.flatMap { $0.log.epochs.map(\.epoch) })).sorted()
            let means = epochs.map { epoch -> Double in
                let values = members.compactMap { $0.log.epochs.first { $0.epoch == epoch } }.map(value).filter(\.isFinite)
                return values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count)
            }
            bold.append(ChartSeries(name: members.count > 1 ? "\(name), mean of \(members.count) runs" : name,
                                    x: epochs.map(Double.init), y: means, color: color, lineWidth: 2.6, showsPoints: true))
        }
        return thin + bold
    }
}
