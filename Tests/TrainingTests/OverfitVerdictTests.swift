import Foundation
import Tensor
import XCTest
@testable import Training

final class OverfitVerdictTests: XCTestCase {
    /// Epoch records from loss curves; test accuracy falls as test loss rises (a common shape).
    private func run(train: [Double], test: [Double], trainAccuracy: Double = 0.95) -> [MetricsLog.Epoch] {
        zip(train, test).enumerated().map { i, losses in
            MetricsLog.Epoch(epoch: i + 1, step: 100 * (i + 1), trainLoss: losses.0, trainAccuracy: trainAccuracy,
                             testLoss: losses.1, testAccuracy: 0.95 - 0.2 * losses.1)
        }
    }

    private let epochs = (1...15).map(Double.init)
    /// Train loss falling throughout; test loss U-shaped with its minimum at epoch 7.
    private var overfitTrain: [Double] { epochs.map { 0.05 + 0.9 * exp(-0.3 * $0) } }
    private var overfitTest: [Double] { epochs.map { 0.35 + 0.004 * ($0 - 7) * ($0 - 7) } }
    /// Both losses fall and level off; the test loss never turns up.
    private var healthyTrain: [Double] { epochs.map { 0.25 + 0.6 * exp(-0.35 * $0) } }
    private var healthyTest: [Double] { epochs.map { 0.3 + 0.5 * exp(-0.4 * $0) } }

    private func noisy(_ values: [Double], _ sigma: Double, _ rng: inout SeededRNG) -> [Double] {
        values.map { $0 + sigma * Double(rng.normal()) }
    }

    func testClassicOverfittingNamesTheEpochOfLowestTestLoss() {
        let verdict = OverfitVerdict(epochs: run(train: overfitTrain, test: overfitTest))
        XCTAssertEqual(verdict.kind, .overfitting)
        XCTAssertEqual(verdict.overfitEpoch, 7)
        XCTAssertEqual(verdict.minTestLossEpoch, 7)
        XCTAssertEqual(verdict.minTestLoss ?? 0, 0.35, accuracy: 1e-12)
        XCTAssertEqual(verdict.bestTestEpoch, 7)
        XCTAssertEqual(verdict.bestTestAccuracy ?? 0, 0.95 - 0.2 * 0.35, accuracy: 1e-12)
        XCTAssertTrue(verdict.summary.hasPrefix("over-fitting since epoch 7: test loss rose from 0.350 to 0.606"), verdict.summary)
        XCTAssertTrue(verdict.advice.hasPrefix("stop early at epoch 7 (best test accuracy 88.00%)"), verdict.advice)
        XCTAssertTrue(verdict.advice.contains("--weight-decay"))
    }

    func testOverfittingNeedsTwoEpochsOfRise() {
        // Cut the U one epoch after its minimum: a single higher epoch is not yet a trend.
        let verdict = OverfitVerdict(epochs: run(train: Array(overfitTrain.prefix(8)), test: Array(overfitTest.prefix(8))))
        XCTAssertNotEqual(verdict.kind, .overfitting)
        XCTAssertNil(verdict.overfitEpoch)
        let confirmed = OverfitVerdict(epochs: run(train: Array(overfitTrain.prefix(9)), test: Array(overfitTest.prefix(9))))
        XCTAssertEqual(confirmed.kind, .overfitting)
        XCTAssertEqual(confirmed.overfitEpoch, 7)
    }

    func testNoisyOverfittingIsFoundNearTheTrueOnset() {
        var rng = SeededRNG(seed: 7)
        for _ in 0..<20 {
            let verdict = OverfitVerdict(epochs: run(train: noisy(overfitTrain, 0.0025, &rng),
                                                     test: noisy(overfitTest, 0.005, &rng)))
            XCTAssertEqual(verdict.kind, .overfitting)
            XCTAssertTrue((5...9).contains(verdict.overfitEpoch ?? 0), "onset \(String(describing: verdict.overfitEpoch))")
        }
    }

    func testHealthyConvergenceIsNotOverfitting() {
        let verdict = OverfitVerdict(epochs: run(train: healthyTrain, test: healthyTest))
        XCTAssertEqual(verdict.kind, .noOverfitting)
        XCTAssertNil(verdict.overfitEpoch)
        XCTAssertTrue(verdict.summary.hasPrefix("no over-fitting yet"), verdict.summary)
    }

    func testNoisyPlateauRaisesNoFalseAlarm() {
        var rng = SeededRNG(seed: 11)
        for _ in 0..<50 {
            let verdict = OverfitVerdict(epochs: run(train: noisy(healthyTrain, 0.01, &rng),
                                                     test: noisy(healthyTest, 0.02, &rng)))
            XCTAssertNotEqual(verdict.kind, .overfitting, verdict.summary)
        }
    }

    /// The rates the type documents, re-measured on fresh seeds (fewer runs, looser bounds).
    func testDocumentedDetectionAndFalseAlarmRates() {
        var rng = SeededRNG(seed: 2024)
        var detected = 0
        var falseAlarms = 0
        let runs = 300
        for _ in 0..<runs {
            let overfit = OverfitVerdict(epochs: run(train: noisy(overfitTrain, 0.01, &rng), test: noisy(overfitTest, 0.02, &rng)))
            if overfit.kind == .overfitting { detected += 1 }
            let healthy = OverfitVerdict(epochs: run(train: noisy(healthyTrain, 0.02, &rng), test: noisy(healthyTest, 0.04, &rng)))
            if healthy.kind == .overfitting { falseAlarms += 1 }
        }
        XCTAssertGreaterThanOrEqual(Double(detected) / Double(runs), 0.95)
        XCTAssertLessThanOrEqual(Double(falseAlarms) / Double(runs), 0.02)
    }

    func testBothStillFallingIsUnderfittingStillImproving() {
        let e = (1...10).map(Double.init)
        let verdict = OverfitVerdict(epochs: run(train: e.map { 0.2 + exp(-0.12 * $0) }, test: e.map { 0.3 + exp(-0.1 * $0) },
                                                 trainAccuracy: 0.7))
        XCTAssertEqual(verdict.kind, .stillImproving)
        XCTAssertTrue(verdict.summary.hasPrefix("under-fitting: train and test loss are both still falling"), verdict.summary)
        XCTAssertTrue(verdict.advice.hasPrefix("train for more epochs"))
    }

    func testBothHighAndFlatIsUnderfitting() {
        let train = [1.6, 1.3, 1.21, 1.2, 1.201, 1.2, 1.199, 1.2]
        let test = [1.5, 1.32, 1.26, 1.25, 1.252, 1.249, 1.25, 1.251]
        let verdict = OverfitVerdict(epochs: run(train: train, test: test, trainAccuracy: 0.55))
        XCTAssertEqual(verdict.kind, .underfitting)
        XCTAssertTrue(verdict.summary.contains("train accuracy 55.00%"), verdict.summary)
        XCTAssertTrue(verdict.advice.contains("bigger model"))
        // The same flat curves with a high train accuracy are not under-fitting.
        XCTAssertEqual(OverfitVerdict(epochs: run(train: train, test: test, trainAccuracy: 0.97)).kind, .noOverfitting)
    }

    func testRisingTrainLossIsDivergence() {
        let train = [0.9, 0.6, 0.45, 0.4, 0.38, 0.37, 0.5, 0.9, 1.6]
        let test = [0.8, 0.55, 0.45, 0.42, 0.41, 0.40, 0.55, 1.0, 1.8]
        let verdict = OverfitVerdict(epochs: run(train: train, test: test))
        XCTAssertEqual(verdict.kind, .diverging)
        XCTAssertEqual(verdict.divergenceEpoch, 6)
        XCTAssertNil(verdict.overfitEpoch)
        XCTAssertTrue(verdict.advice.contains("--lr"))
    }

    func testTooFewEpochsStillReportsTheBestEpoch() {
        let verdict = OverfitVerdict(epochs: run(train: [0.9, 0.5], test: [0.8, 0.6]))
        XCTAssertEqual(verdict.kind, .tooFewEpochs)
        XCTAssertEqual(verdict.bestTestEpoch, 2)
        XCTAssertEqual(OverfitVerdict(epochs: []).bestTestEpoch, nil)
        XCTAssertEqual(OverfitVerdict(epochs: []).kind, .tooFewEpochs)
    }

    func testBestEpochTiesGoToTheEarliestAndMissingValuesAreSkipped() {
        var records = run(train: overfitTrain, test: overfitTest)
        records[9].testAccuracy = records[6].testAccuracy  // tie with epoch 7
        records[3].testLoss = .nan                         // one epoch without a test loss
        records[3].testAccuracy = .nan
        let verdict = OverfitVerdict(epochs: records.reversed())  // order of records does not matter
        XCTAssertEqual(verdict.bestTestEpoch, 7)
        XCTAssertEqual(verdict.kind, .overfitting)
        XCTAssertEqual(verdict.overfitEpoch, 7)
    }

    func testNoiseEstimateMatchesTheStandardDeviationOfWhiteNoise() {
        var rng = SeededRNG(seed: 3)
        // A curved trend plus noise of std 0.05: second differences remove the trend.
        let values = (0..<4000).map { 1 + 1e-7 * Double($0 * $0) + 0.05 * Double(rng.normal()) }
        XCTAssertEqual(OverfitVerdict.noise(values), 0.05, accuracy: 0.005)
        XCTAssertEqual(OverfitVerdict.noise([1, 2]), 0)
    }

    func testMinimumIndexIgnoresASingleLuckyEpoch() {
        // Raw minimum at index 2 is a lone dip on the way down; the sustained minimum is at 6.
        let values = [1.0, 0.8, 0.5, 0.75, 0.6, 0.55, 0.52, 0.56, 0.6]
        XCTAssertEqual(OverfitVerdict.minimumIndex(values), 6)
    }
}
