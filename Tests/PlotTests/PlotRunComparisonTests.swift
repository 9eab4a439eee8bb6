import XCTest
@testable import Plot

final class PlotRunComparisonTests: XCTestCase {
    /// A run's log from its test accuracies per epoch (and train losses, when given).
    private func log(_ accuracies: [Double], trainLoss: [Double]? = nil) -> MetricsLog {
        MetricsLog(epochs: accuracies.enumerated().map { index, accuracy in
            MetricsLog.Epoch(epoch: index + 1, step: 100 * (index + 1), trainLoss: trainLoss?[index] ?? .nan,
                             trainAccuracy: .nan, testLoss: .nan, testAccuracy: accuracy)
        })
    }

    private func comparison(target: Double? = 0.92) -> RunComparison {
        RunComparison(runs: [
            .init(group: "ddp", source: "a.jsonl", log: log([0.90, 0.915, 0.921, 0.93], trainLoss: [0.9, 0.8, 0.7, 0.6])),
            .init(group: "torch", source: "p.jsonl", log: log([0.91, 0.92, 0.925])),
            .init(group: "ddp", source: "b.jsonl", log: log([0.89, 0.92, 0.91, 0.935], trainLoss: [1.0, 0.9, 0.8, 0.7])),
            .init(group: "ddp", source: "c.jsonl", log: log([0.88, 0.90, 0.91, 0.915])),
        ], target: target)
    }

    func testEachRunsFirstEpochAtTheTargetAndItsBest() {
        let runs = comparison().runSummaries
        XCTAssertEqual(runs.map(\.targetEpoch), [3, 2, 2, nil], "0.92 exactly counts; a later dip does not undo it")
        XCTAssertEqual(runs.map(\.lastEpoch), [4, 3, 4, 4])
        XCTAssertEqual(runs.map(\.finalAccuracy), [0.93, 0.925, 0.935, 0.915])
        XCTAssertEqual(runs.map(\.bestEpoch), [4, 3, 4, 4])
        XCTAssertEqual(comparison(target: nil).runSummaries.map(\.targetEpoch), [nil, nil, nil, nil])
    }

    func testGroupsKeepTheirFirstOrderAndCountRunsThatNeverReachTheTarget() throws {
        let comparison = comparison()
        let groups = comparison.groupSummaries
        XCTAssertEqual(groups.map(\.name), ["ddp", "torch"])
        XCTAssertEqual(groups.map(\.runs), [3, 1])
        XCTAssertEqual(groups[0].targetEpochs, [3, 2, nil])
        XCTAssertEqual(groups[0].targetMedian, 2.5)
        XCTAssertEqual(groups[0].targetMean, 2.5)
        XCTAssertEqual(groups[0].finalMean, (0.93 + 0.935 + 0.915) / 3, accuracy: 1e-12)
        XCTAssertEqual(groups[0].finalRange, 0.915...0.935)
        XCTAssertEqual(comparison.targetLine(groups[0]),
                       "92.00% first reached at epoch 3, 2, never (median 2.50, mean 2.50 over the 2 that reach it; 1 never does)")
        XCTAssertEqual(comparison.targetLine(groups[1]), "92.00% first reached at epoch 2")
        let none = RunComparison(runs: [.init(group: "x", source: "x", log: log([0.5])), .init(group: "x", source: "y", log: log([0.6]))],
                                 target: 0.9)
        XCTAssertEqual(none.targetLine(none.groupSummaries[0]), "90.00% first reached at epoch never, never (no run reaches it)")
    }

    /// The legend names groups, not files: each run thin and unnamed, the group's mean bold over
    /// the runs that have each epoch; a group of one is its bold line alone.
    func testThePictureDrawsRunsThinAndEachGroupsMeanBold() throws {
        let chart = comparison().chart()
        XCTAssertEqual(chart.panels.map(\.title), ["Test accuracy per epoch", "Training loss per epoch"])
        let accuracy = chart.panels[0].series
        XCTAssertEqual(accuracy.map(\.name), ["", "", "", "ddp, mean of 3 runs", "torch", "target 92.00%"])
        XCTAssertTrue(accuracy[0..<3].allSatisfy { $0.lineWidth < accuracy[3].lineWidth && $0.opacity < 1 })
        XCTAssertEqual(Set(accuracy[0..<4].map(\.color)).count, 1, "one colour per group")
        XCTAssertNotEqual(accuracy[3].color, accuracy[4].color)
        let mean = accuracy[3]
        XCTAssertEqual(mean.x, [1, 2, 3, 4])
        for (value, expected) in zip(mean.y, [89.0, 91.1666666, 91.3666666, 92.666666]) { XCTAssertEqual(value, expected, accuracy: 1e-4) }
        XCTAssertEqual(accuracy[5].y, [92, 92])
        XCTAssertEqual(accuracy[5].x, [1, 4], "the target spans every epoch drawn")

        // Train losses: the runs without them leave them out of the mean (NaN is no value).
        let loss = chart.panels[1].series.first { $0.name == "ddp, mean of 3 runs" }
        XCTAssertEqual(loss?.y.map { ($0 * 1000).rounded() / 1000 }, [0.95, 0.85, 0.75, 0.65])
        XCTAssertFalse(chart.panels[1].series.contains { $0.name == "torch" }, "a group without train losses is left out")

        XCTAssertEqual(chart.title, "Runs compared: ddp (3 runs), torch (1 run)")
        XCTAssertEqual(chart.notes.map(\.text), [
            "ddp: final test accuracy 92.67% mean (91.50% to 93.50%); 92.00% first reached at epoch 3, 2, never "
                + "(median 2.50, mean 2.50 over the 2 that reach it; 1 never does).",
            "torch: final test accuracy 92.50%; 92.00% first reached at epoch 2.",
        ])
        XCTAssertTrue(chart.render().contains("target 92.00%"))
    }

    func testWithoutAnyTrainLossThereIsOnePanelAndNoTargetLine() {
        let chart = RunComparison(runs: [.init(group: "a", source: "a", log: log([0.8, 0.9])),
                                         .init(group: "b", source: "b", log: log([0.85, 0.88]))], target: nil).chart()
        XCTAssertEqual(chart.panels.count, 1)
        XCTAssertEqual(chart.panels[0].series.map(\.name), ["a", "b"])
    }
}
