import Foundation
import XCTest
@testable import Training

/// One-cycle and cosine against reference values printed by PyTorch 1.13 (OneCycleLR and
/// CosineAnnealingLR stepped once per batch) for the same settings; the others, and --scale-lr,
/// against their definitions.
final class LRScheduleTests: XCTestCase {
    func testOneCycleMatchesTorch() {
        let s = LRSchedule(kind: .onecycle, baseLR: 0.05, totalSteps: 100, stepsPerEpoch: 10)
        let torch: [(Int, Double, Double)] = [
            (0, 0.0020000000000000018, 0.95), (1, 0.002140689028295374, 0.9497068978577179),
            (29, 0.05, 0.85), (30, 0.04997482676422622, 0.8500503466729342),
            (50, 0.0396946725287866, 0.8706107373853763), (99, 2e-07, 0.95),
        ]
        for (step, lr, momentum) in torch {
            XCTAssertEqual(s.learningRate(at: step), lr, accuracy: 1e-12, "step \(step)")
            XCTAssertEqual(s.momentum(at: step, fixed: 0.9), momentum, accuracy: 1e-12, "step \(step)")
        }
    }

    func testCosineMatchesTorch() {
        let s = LRSchedule(kind: .cosine, baseLR: 0.1, totalSteps: 50, stepsPerEpoch: 10)
        for (step, lr) in [(0, 0.1), (1, 0.09990133642141358), (25, 0.049999999999999996), (49, 9.866357858642205e-05)] {
            XCTAssertEqual(s.learningRate(at: step), lr, accuracy: 1e-12, "step \(step)")
        }
    }

    func testStepAndWarmup() {
        let s = LRSchedule(kind: .step, baseLR: 1, totalSteps: 100, stepsPerEpoch: 10, warmupSteps: 4, stepEpochs: 3, gamma: 0.5)
        XCTAssertEqual(s.learningRate(at: 0), 0.25)
        XCTAssertEqual(s.learningRate(at: 3), 1)
        XCTAssertEqual(s.learningRate(at: 29), 1)
        XCTAssertEqual(s.learningRate(at: 30), 0.5)
        XCTAssertEqual(s.learningRate(at: 60), 0.25)
        XCTAssertEqual(s.momentum(at: 5, fixed: 0.9), 0.9)
    }

    func testConstantHoldsTheBaseRateAfterItsWarmup() {
        let s = LRSchedule(kind: .constant, baseLR: 0.05, totalSteps: 100, stepsPerEpoch: 10)
        for step in [0, 1, 37, 99, 150] { XCTAssertEqual(s.learningRate(at: step), 0.05, "step \(step)") }
        XCTAssertEqual(s.momentum(at: 42, fixed: 0.9), 0.9)
        let warm = LRSchedule(kind: .constant, baseLR: 0.05, totalSteps: 100, stepsPerEpoch: 10, warmupSteps: 5)
        for (step, lr) in [(0, 0.01), (1, 0.02), (3, 0.04), (4, 0.05), (5, 0.05), (60, 0.05)] {
            XCTAssertEqual(warm.learningRate(at: step), lr, accuracy: 1e-15, "step \(step)")
        }
    }

    /// The linear scaling rule is the default: --lr is one rank's, P ranks peak at P x --lr. Its
    /// warmup: none where nothing is scaled or one-cycle climbs anyway, else 5 epochs whatever the
    /// run's length; a given --warmup-epochs always wins.
    func testTheLinearScalingRuleWithWarmupIsTheDefault() {
        let defaults = TrainConfig()
        XCTAssertTrue(defaults.scaleLR)
        XCTAssertEqual(defaults.schedule, .onecycle)
        XCTAssertEqual(defaults.effectiveLR(ranks: 1), 0.05)
        XCTAssertEqual(defaults.effectiveLR(ranks: 4), 0.2)
        XCTAssertEqual(defaults.effectiveWarmupEpochs(ranks: 4), 0, "one-cycle's own climb is the warmup")
        var step = defaults
        step.schedule = .step
        XCTAssertEqual(step.effectiveWarmupEpochs(ranks: 1), 0, "one rank: the LR as given")
        XCTAssertEqual(step.effectiveWarmupEpochs(ranks: 2), 5, "Goyal et al.'s 5 epochs")
        step.epochs = 90
        XCTAssertEqual(step.effectiveWarmupEpochs(ranks: 8), 5, "not a share of the run")
        step.warmupEpochs = 2
        XCTAssertEqual(step.effectiveWarmupEpochs(ranks: 8), 2)
        step.warmupEpochs = nil
        step.scaleLR = false
        XCTAssertEqual(step.effectiveLR(ranks: 8), 0.05)
        XCTAssertEqual(step.effectiveWarmupEpochs(ranks: 8), 0, "nothing scaled, nothing warmed up")
    }

    /// --scale-lr on 2 ranks with a constant schedule: the LR climbs over the rule's 5 epochs of
    /// warmup (80 steps of 16 per epoch) towards --lr x 2, in what the metrics report and in what
    /// the optimizer applies: the same parameters as the unscaled LR 0.1 with that warmup given.
    func testScaleLRMultipliesTheRateByTheRanksAfterAWarmup() throws {
        var c = TrainingFixture.config(batch: 8, epochs: 5, steps: 6)
        XCTAssertEqual(c.effectiveLR(ranks: 2), 0.05)
        c.scaleLR = true
        XCTAssertEqual(c.effectiveLR(ranks: 2), 0.1)
        c.metricsPath = TrainingFixture.temporaryDirectory("scale-lr") + "/m.jsonl"
        c.logEvery = 1
        let scaled = try TrainingFixture.train(c, ranks: 2)
        let text = try String(contentsOfFile: c.metricsPath!, encoding: .utf8)
        let lines = try text.split(separator: "\n").map { line in
            try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
        // The run line's peak LR, then each step's.
        XCTAssertEqual(lines.map { $0["event"] as? String }, ["run"] + Array(repeating: "step", count: 6))
        let expected = [0.1] + (1...6).map { 0.1 * Double($0) / 80 }
        for (line, lr) in zip(lines, expected) { XCTAssertEqual(line["lr"] as? Double ?? .nan, lr, accuracy: 1e-15) }

        var plain = TrainingFixture.config(batch: 8, epochs: 5, steps: 6)
        plain.lr = 0.1
        plain.warmupEpochs = 5
        XCTAssertEqual(try TrainingFixture.train(plain, ranks: 2).parameters, scaled.parameters)
        plain.warmupEpochs = nil
        XCTAssertNotEqual(try TrainingFixture.train(plain, ranks: 2).parameters, scaled.parameters)
    }
}
