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

    /// --scale-lr (the linear scaling rule): the top of the schedule is --lr x ranks, in what the
    /// metrics report and in what the optimizer applies.
    func testScaleLRMultipliesTheRateByTheRanks() throws {
        var c = TrainingFixture.config(batch: 8, steps: 3)
        XCTAssertEqual(c.effectiveLR(ranks: 4), 0.05)
        c.scaleLR = true
        XCTAssertEqual(c.effectiveLR(ranks: 4), 0.2)
        c.metricsPath = TrainingFixture.temporaryDirectory("scale-lr") + "/m.jsonl"
        c.logEvery = 1
        let scaled = try TrainingFixture.train(c, ranks: 2)
        let text = try String(contentsOfFile: c.metricsPath!, encoding: .utf8)
        let lines = try text.split(separator: "\n").map { line in
            try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
        // The run line's peak LR, then each step's.
        XCTAssertEqual(lines.map { $0["event"] as? String }, ["run", "step", "step", "step"])
        XCTAssertEqual(lines.map { $0["lr"] as? Double }, [0.1, 0.1, 0.1, 0.1])

        var plain = TrainingFixture.config(batch: 8, steps: 3)
        plain.lr = 0.1
        XCTAssertEqual(try TrainingFixture.train(plain, ranks: 2).parameters, scaled.parameters)
        plain.lr = 0.05
        XCTAssertNotEqual(try TrainingFixture.train(plain, ranks: 2).parameters, scaled.parameters)
    }
}
