import Foundation
import Tensor
import XCTest
@testable import Plot

final class PlotTrainingCurvesTests: XCTestCase {
    /// A 12-epoch over-fitting run as JSONL, 100 steps per epoch, a step record every 10 steps.
    private func overfittingJSONL(stepNoise: Double) -> String {
        var rng = SeededRNG(seed: 5)
        var lines = [#"{"event":"start","model":"fmnist-cnn"}"#]
        for epoch in 1...12 {
            for step in stride(from: 10, through: 100, by: 10) {
                let t = Double(epoch - 1) + Double(step) / 100
                let loss = (0.05 + 0.9 * exp(-0.3 * t)) * (1 + stepNoise * Double(rng.normal()))
                lines.append(#"{"event":"step","epoch":\#(epoch),"step":\#((epoch - 1) * 100 + step),"loss":\#(loss),"lr":0.1}"#)
            }
            let e = Double(epoch)
            let train = 0.05 + 0.9 * exp(-0.3 * e)
            let test = 0.35 + 0.004 * (e - 5) * (e - 5)
            lines.append(#"{"event":"epoch","epoch":\#(epoch),"step":\#(epoch * 100),"train_loss":\#(train),"train_acc":\#(1 - train / 2),"test_loss":\#(test),"test_acc":\#(0.95 - 0.2 * test),"lr":0.1,"elapsed_s":\#(10 * e),"images_per_s":3000}"#)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private func render(_ jsonl: String) throws -> (String, OverfitVerdict, LossNoise?) {
        let log = try MetricsLog(parsing: jsonl, source: "metrics.jsonl")
        let verdict = OverfitVerdict(epochs: log.epochs)
        let noise = TrainingCurves.lossNoise(log)
        let svg = TrainingCurves.chart(log: log, verdict: verdict, noise: noise, source: "metrics.jsonl").render()
        return (svg, verdict, noise)
    }

    func testOverfittingRunIsDrawnWithItsVerdict() throws {
        let (svg, verdict, noise) = try render(overfittingJSONL(stepNoise: 0.1))
        XCTAssertEqual(verdict.kind, .overfitting)
        // The curves meet at epoch 4; the test loss is lowest at 5 and rises after it.
        XCTAssertEqual(verdict.overfitEpoch, 4)
        XCTAssertEqual(verdict.testRiseEpoch, 5)
        XCTAssertNil(noise?.hint)
        let parsed = SVGInspector.parse(svg)
        XCTAssertNil(parsed.error)
        for text in ["Training curves: metrics.jsonl", "Loss per epoch", "Accuracy per epoch",
                     "cross-entropy on the training and the test set; lower is better",
                     "share of images classified correctly; higher is better",
                     "train loss per logged step", "train loss (epoch mean)", "test loss", "train accuracy",
                     "test accuracy", "epoch", "accuracy (%)", "over-fitting starts: epoch 4",
                     "test loss rises after epoch 5", "stop here: epoch 5",
                     "best test accuracy 88.00% (epoch 5)", "over-fitting: train/test gap widening"] {
            XCTAssertTrue(parsed.texts.contains(text), "missing \(text)")
        }
        XCTAssertTrue(parsed.texts.contains { $0.hasPrefix("Verdict: over-fitting since epoch 4") }, "\(parsed.texts.suffix(4))")
        XCTAssertTrue(parsed.texts.contains { $0.hasPrefix("What to do: stop early at epoch 5") })
        XCTAssertTrue(parsed.texts.contains { $0.hasPrefix("Loss noise: noise/trend ratio 0.") })
        // Five series (per-step loss, train and test loss, train and test accuracy), each one line
        // but the per-step loss, which runs above the axis and is cut there into pieces.
        let series = parsed.attributes.filter { $0["class"] == "series" }.compactMap { $0["data-name"] }
        XCTAssertEqual(series, ["train loss per logged step", "train loss (epoch mean)", "test loss", "train accuracy", "test accuracy"])
        XCTAssertGreaterThan(parsed.elements.filter { $0 == "polyline" }.count, 5)
    }

    /// With the run line, the title says what was trained, on how many ranks, at which LR; both
    /// panels show the same epoch range (from 0, where the first epoch's step losses start),
    /// labelled alike.
    func testTitleNamesTheRunAndBothPanelsShareTheEpochAxis() throws {
        let run = #"{"event":"run","model":"lenet5","dataset":"mnist","ranks":2,"batch_size":32,"lr":0.05,"schedule":"cosine","epochs":12,"seed":0}"#
        let (svg, _, _) = try render(run + "\n" + overfittingJSONL(stepNoise: 0.1))
        let parsed = SVGInspector.parse(svg)
        XCTAssertNil(parsed.error)
        XCTAssertTrue(parsed.texts.contains("Training curves of lenet5 on mnist: 2 ranks x batch 32, lr 0.05 (cosine)"),
                      "\(parsed.texts.prefix(3))")
        XCTAssertTrue(parsed.texts.contains { $0.hasPrefix("metrics.jsonl: 12 epochs, final test accuracy") }, "\(parsed.texts.prefix(3))")
        // The epoch labels (the whole numbers up to 12: loss labels have decimals, accuracy ones
        // are above 80), panel after panel: the same under both, from 0 to 12.
        let epochLabels = parsed.texts.filter { Int($0).map { $0 <= 12 } ?? false }
        let half = epochLabels.count / 2
        XCTAssertEqual(Array(epochLabels.prefix(half)), Array(epochLabels.suffix(half)), "\(epochLabels)")
        XCTAssertEqual(epochLabels.first, "0")
        XCTAssertEqual(epochLabels.last, "12")
    }

    /// A run with `--ema` logs its moving average's test loss and accuracy beside the model's:
    /// each panel gets a third curve, from the logged values (null reads as a gap).
    func testTheMovingAverageGetsItsOwnCurves() throws {
        let lines = overfittingJSONL(stepNoise: 0.1).split(separator: "\n").map { line -> String in
            guard line.contains(#""event":"epoch""#) else { return String(line) }
            let average = line.contains(#""epoch":1,"#) ? #""ema_test_loss":null,"ema_test_acc":null"#
                : #""ema_test_loss":0.3,"ema_test_acc":0.91"#
            return line.replacingOccurrences(of: #""lr":0.1,"elapsed_s""#, with: average + #","lr":0.1,"elapsed_s""#)
        }
        let jsonl = lines.joined(separator: "\n") + "\n"
        let log = try MetricsLog(parsing: jsonl, source: "metrics.jsonl")
        XCTAssertEqual(log.epochs.count, 12)
        XCTAssertTrue(log.epochs[0].averageTestAccuracy!.isNaN)
        XCTAssertEqual(log.epochs.dropFirst().map(\.averageTestAccuracy), Array(repeating: 0.91, count: 11))
        XCTAssertEqual(log.epochs.last?.averageTestLoss, 0.3)
        let parsed = SVGInspector.parse(try render(jsonl).0)
        XCTAssertNil(parsed.error)
        let series = parsed.attributes.filter { $0["class"] == "series" }.compactMap { $0["data-name"] }
        XCTAssertEqual(series, ["train loss per logged step", "train loss (epoch mean)", "test loss", "moving-average test loss",
                                "train accuracy", "test accuracy", "moving-average test accuracy"])
        // Without those keys there is no such curve (the first test's log) and no value.
        XCTAssertNil(try MetricsLog(parsing: overfittingJSONL(stepNoise: 0.1), source: "m").epochs[0].averageTestLoss)
    }

    /// `--eval-every-steps` lines: a thin test curve through them and the epoch ends, each at its
    /// place inside its epoch (100 steps an epoch: step 150 sits at 1.5).
    func testEvaluationsInsideEpochsGetAThinCurveThroughTheEpochEnds() throws {
        let evaluations = [50, 150, 250].map { step in
            #"{"event":"eval","epoch":\#(step / 100 + 1),"step":\#(step),"test_loss":0.5,"test_acc":0.8}"#
        }
        let jsonl = overfittingJSONL(stepNoise: 0.1) + evaluations.joined(separator: "\n") + "\n"
        let log = try MetricsLog(parsing: jsonl, source: "metrics.jsonl")
        XCTAssertEqual(log.evaluations.map(\.step), [50, 150, 250])
        XCTAssertEqual(log.evaluations.map(\.epoch), [1, 2, 3])
        let accuracy = try XCTUnwrap(TrainingCurves.accuracySeries(log, x: log.epochs.map { Double($0.epoch) })
            .first { $0.name == "test accuracy inside epochs" })
        XCTAssertEqual(Array(accuracy.x.prefix(7)), [0.5, 1, 1.5, 2, 2.5, 3, 4])
        XCTAssertEqual(accuracy.y[0], 80, accuracy: 1e-9)
        XCTAssertEqual(accuracy.y[1], log.epochs[0].testAccuracy * 100, accuracy: 1e-9)
        XCTAssertEqual(accuracy.x.count, 15, "3 evaluations and 12 epoch ends")
        let withoutSteps = MetricsLog(epochs: log.epochs, evaluations: log.evaluations)
        let chart = TrainingCurves.chart(log: withoutSteps, verdict: OverfitVerdict(epochs: log.epochs), noise: nil, source: "m")
        XCTAssertEqual(chart.panels[1].xAxis.range?.lowerBound, 0, "the axis starts where the first evaluation sits")
        let series = SVGInspector.parse(try render(jsonl).0).attributes.filter { $0["class"] == "series" }.compactMap { $0["data-name"] }
        XCTAssertEqual(series, ["train loss per logged step", "train loss (epoch mean)", "test loss inside epochs", "test loss",
                                "test accuracy inside epochs", "train accuracy", "test accuracy"])
    }

    func testSameLogGivesTheSameBytes() throws {
        XCTAssertEqual(try render(overfittingJSONL(stepNoise: 0.1)).0, try render(overfittingJSONL(stepNoise: 0.1)).0)
    }

    func testNoisyStepsPutTheHintUnderThePicture() throws {
        let (svg, _, noise) = try render(overfittingJSONL(stepNoise: 0.8))
        XCTAssertNotNil(noise?.hint)
        let parsed = SVGInspector.parse(svg)
        XCTAssertTrue(parsed.texts.contains { $0.hasPrefix("Loss noise: the per-step loss is very noisy") },
                      "\(parsed.texts.suffix(4))")
    }

    func testLossNoiseUsesTheLastEpochWhenItHasEnoughSteps() throws {
        let steps = (1...3).flatMap { epoch in
            (1...25).map { MetricsLog.Step(epoch: epoch, step: (epoch - 1) * 25 + $0,
                                            loss: epoch == 3 ? 1 : ($0 % 2 == 0 ? 0.2 : 3)) }
        }
        let log = MetricsLog(epochs: [], steps: steps)
        XCTAssertEqual(TrainingCurves.lossNoise(log)?.count, 25)
        XCTAssertEqual(TrainingCurves.lossNoise(log)?.ratio, 0)
        // With too few records in the last epoch, all step records are used.
        let short = MetricsLog(epochs: [], steps: Array(steps.prefix(60)))
        XCTAssertEqual(TrainingCurves.lossNoise(short)?.count, 60)
    }
}
