import Foundation
import Tensor
import XCTest
@testable import Plot

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

    /// Both losses fall until epoch 7 with the gap narrowing to almost nothing; after it the test
    /// loss stays flat while the train loss keeps falling by 0.03 an epoch (8 epochs of widening).
    private var flatTest: [Double] {
        epochs.map { 0.42 + 0.6 * exp(-0.5 * Swift.min($0, 7)) }
    }
    private func flatTestTrain(slope: Double) -> [Double] {
        zip(epochs, flatTest).map { e, test in test - 0.3 * exp(-0.6 * Swift.min(e, 7)) - slope * Swift.max(0, e - 7) }
    }

    func testClassicOverfittingNamesTheNarrowestGapAndTheTestLossRise() {
        let verdict = OverfitVerdict(epochs: run(train: overfitTrain, test: overfitTest))
        XCTAssertEqual(verdict.kind, .overfitting)
        // The curves meet at epoch 3 (gap -0.002); from there train loss falls much faster than test loss.
        XCTAssertEqual(verdict.overfitEpoch, 3)
        XCTAssertEqual(verdict.testRiseEpoch, 7)
        XCTAssertEqual(verdict.minTestLossEpoch, 7)
        XCTAssertEqual(verdict.minTestLoss ?? 0, 0.35, accuracy: 1e-12)
        XCTAssertEqual(verdict.bestTestEpoch, 7)
        XCTAssertEqual(verdict.bestTestAccuracy ?? 0, 0.95 - 0.2 * 0.35, accuracy: 1e-12)
        XCTAssertTrue(verdict.summary.hasPrefix("over-fitting since epoch 3: test loss minus train loss widened from -0.002 to "),
                      verdict.summary)
        XCTAssertTrue(verdict.summary.contains("the test loss has risen since epoch 7, from 0.350 to 0.606"), verdict.summary)
        XCTAssertTrue(verdict.advice.hasPrefix("stop early at epoch 7 (best test accuracy 88.00%)"), verdict.advice)
        XCTAssertTrue(verdict.advice.contains("--weight-decay"))
    }

    /// The case the issue names: train loss falling, test loss flat, the gap growing for 8 epochs.
    func testWideningGapWithFlatTestLossIsOverfittingFromWhereItStartsToWiden() {
        let verdict = OverfitVerdict(epochs: run(train: flatTestTrain(slope: 0.03), test: flatTest))
        XCTAssertEqual(verdict.kind, .overfitting, verdict.summary)
        XCTAssertEqual(verdict.overfitEpoch, 7)
        XCTAssertNil(verdict.testRiseEpoch)
        XCTAssertTrue(verdict.summary.hasPrefix("over-fitting since epoch 7: test loss minus train loss widened from 0.004 to 0.244 (epoch 15)"),
                      verdict.summary)
        XCTAssertTrue(verdict.summary.hasSuffix("test loss went from 0.438 to 0.438; the test loss has not turned up: "
                                                + "it is at or near its minimum 0.438 (epoch 7)"), verdict.summary)
        XCTAssertFalse(verdict.advice.contains("stop early at epoch"), verdict.advice)
        XCTAssertTrue(verdict.advice.contains("augmentation") && verdict.advice.contains("--weight-decay"), verdict.advice)
    }

    /// A widening that speeds up (the test loss turning up after epoch 10) still starts at 7.
    func testAnAcceleratingWideningIsNamedFromWhereItStarts() {
        let bend = epochs.map { 0.004 * pow(Swift.max(0, $0 - 10), 2) }
        let test = zip(flatTest, bend).map(+)
        let train = zip(flatTestTrain(slope: 0.03), bend).map { $0 + $1 - 2 * $1 }
        let verdict = OverfitVerdict(epochs: run(train: train, test: test))
        XCTAssertEqual(verdict.kind, .overfitting, verdict.summary)
        XCTAssertEqual(verdict.overfitEpoch, 7)
        XCTAssertEqual(verdict.testRiseEpoch, 7)
    }

    func testWideningMustLastTwoEpochs() {
        // Cut one epoch after the narrowest gap: a single wider epoch is not yet a trend.
        let train = flatTestTrain(slope: 0.03)
        let verdict = OverfitVerdict(epochs: run(train: Array(train.prefix(8)), test: Array(flatTest.prefix(8))))
        XCTAssertNotEqual(verdict.kind, .overfitting)
        XCTAssertNil(verdict.overfitEpoch)
        let confirmed = OverfitVerdict(epochs: run(train: Array(train.prefix(9)), test: Array(flatTest.prefix(9))))
        XCTAssertEqual(confirmed.kind, .overfitting)
        XCTAssertEqual(confirmed.overfitEpoch, 7)
    }

    func testASmallWideningIsNoFinding() {
        // 8 x 0.002 = 0.016 of widening: below 5% of the test loss (0.021), however smooth.
        let verdict = OverfitVerdict(epochs: run(train: flatTestTrain(slope: 0.002), test: flatTest))
        XCTAssertNotEqual(verdict.kind, .overfitting, verdict.summary)
        XCTAssertEqual(OverfitVerdict(epochs: run(train: flatTestTrain(slope: 0.004), test: flatTest)).kind, .overfitting)
    }

    func testNarrowingThenStableGapIsNotOverfitting() {
        // After epoch 7 both losses level off together: the gap stays at its narrowest.
        let test = epochs.map { 0.42 + 0.6 * exp(-0.5 * Swift.min($0, 7)) - 0.02 * (1 - exp(-Swift.max(0, $0 - 7) / 2)) }
        let train = zip(epochs, test).map { e, t in t - 0.3 * exp(-0.6 * Swift.min(e, 7)) }
        let verdict = OverfitVerdict(epochs: run(train: train, test: test))
        XCTAssertEqual(verdict.kind, .noOverfitting, verdict.summary)
        XCTAssertNil(verdict.overfitEpoch)
    }

    func testSmallNoisyWigglesOfTheGapAreNotOverfitting() {
        var rng = SeededRNG(seed: 5)
        let train = flatTestTrain(slope: 0)
        for _ in 0..<100 {
            let verdict = OverfitVerdict(epochs: run(train: noisy(train, 0.004, &rng), test: noisy(flatTest, 0.004, &rng)))
            XCTAssertNotEqual(verdict.kind, .overfitting, verdict.summary)
        }
    }

    /// A gap that grows while the test loss falls as fast is convergence to a lower train loss.
    func testGapGrowingSlowerThanTheTestLossFallsIsNotOverfitting() {
        let test = epochs.map { 0.3 + 0.5 * exp(-0.25 * $0) }
        let train = epochs.map { 0.26 + 0.55 * exp(-0.25 * $0) }  // the gap grows from 0.001 to 0.039
        let verdict = OverfitVerdict(epochs: run(train: train, test: test))
        XCTAssertNotEqual(verdict.kind, .overfitting, verdict.summary)
    }

    /// The 4-rank Fashion-MNIST run of docs/GUIDE.md: the gap is narrowest at epoch 8 and
    /// reaches 0.036 two epochs later while the test loss still falls; three epochs of that are
    /// not yet a significant widening. Its one-cycle LR already decayed: no schedule advice.
    func testTheDocumentedRunIsNotYetOverfittingAndGetsNoScheduleAdvice() throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let log = try MetricsLog(contentsOf: repo.appendingPathComponent("docs/runs/fmnist-4ranks-metrics.jsonl"))
        let verdict = OverfitVerdict(epochs: log.epochs)
        XCTAssertEqual(verdict.kind, .noOverfitting, verdict.summary)
        XCTAssertTrue(verdict.summary.hasSuffix("test loss minus train loss is 0.036 at epoch 10 (narrowest 0.008 at epoch 8)"),
                      verdict.summary)
        XCTAssertTrue(verdict.advice.hasPrefix("the learning rate already decays"), verdict.advice)
        XCTAssertFalse(verdict.advice.contains("--schedule"), verdict.advice)
    }

    func testScheduleAdviceFollowsTheLoggedLearningRates() {
        // A run that already annealed its LR (one-cycle) is not told to decay it.
        let annealed = OverfitVerdict.scheduleAdvice([0.03, 0.1, 0.08, 0.04, 0.004])
        XCTAssertTrue(annealed.hasPrefix("the learning rate already decays (0.1 at its peak, 0.004 at the end)"), annealed)
        XCTAssertFalse(annealed.contains("--schedule"))
        XCTAssertTrue(OverfitVerdict.scheduleAdvice([0.05, 0.05, 0.05]).contains("--schedule cosine"))
        XCTAssertTrue(OverfitVerdict.scheduleAdvice([.nan, .nan, .nan]).hasPrefix("more epochs or a decaying learning rate"))
        // Through the verdict: a flat, healthy run at a constant LR.
        var records = run(train: healthyTrain, test: healthyTest)
        for i in records.indices { records[i].learningRate = 0.05 }
        XCTAssertTrue(OverfitVerdict(epochs: records).advice.contains("was constant (0.05)"))
    }

    func testNoisyOverfittingIsFoundNearTheTrueOnset() {
        var rng = SeededRNG(seed: 7)
        for _ in 0..<20 {
            let verdict = OverfitVerdict(epochs: run(train: noisy(overfitTrain, 0.0025, &rng),
                                                     test: noisy(overfitTest, 0.005, &rng)))
            XCTAssertEqual(verdict.kind, .overfitting)
            XCTAssertTrue((2...4).contains(verdict.overfitEpoch ?? 0), "onset \(String(describing: verdict.overfitEpoch))")
        }
    }

    func testHealthyConvergenceIsNotOverfitting() {
        let verdict = OverfitVerdict(epochs: run(train: healthyTrain, test: healthyTest))
        XCTAssertEqual(verdict.kind, .noOverfitting)
        XCTAssertNil(verdict.overfitEpoch)
        XCTAssertTrue(verdict.summary.hasPrefix("no over-fitting yet"), verdict.summary)
    }

    func testNoisyPlateauRaisesFewFalseAlarms() {
        var rng = SeededRNG(seed: 11)
        var falseAlarms = 0
        for _ in 0..<200 {
            let verdict = OverfitVerdict(epochs: run(train: noisy(healthyTrain, 0.01, &rng),
                                                     test: noisy(healthyTest, 0.02, &rng)))
            if verdict.kind == .overfitting { falseAlarms += 1 }
        }
        XCTAssertLessThanOrEqual(falseAlarms, 12, "documented: 3.3% of runs")
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
        XCTAssertLessThanOrEqual(Double(falseAlarms) / Double(runs), 0.03)
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

    /// A PyTorch peer's log: ten epochs of test accuracy, no losses. More epochs would not help.
    func testEpochsWithoutLossesAskForTheLossesNotForMoreEpochs() {
        var records = run(train: healthyTrain, test: healthyTest).prefix(10).map { $0 }
        for i in records.indices { records[i].trainLoss = .nan; records[i].testLoss = .nan }
        let verdict = OverfitVerdict(epochs: records)
        XCTAssertEqual(verdict.kind, .tooFewEpochs)
        XCTAssertTrue(verdict.summary.contains("10 epochs logged, the others without both losses"), verdict.summary)
        XCTAssertTrue(verdict.advice.hasPrefix("log the train and test loss of every epoch"), verdict.advice)
        XCTAssertEqual(verdict.bestTestEpoch, 10)
        XCTAssertTrue(OverfitVerdict(epochs: run(train: [0.9, 0.5], test: [0.8, 0.6])).advice.hasPrefix("train for more epochs"))
    }

    func testBestEpochTiesGoToTheEarliestAndMissingValuesAreSkipped() {
        var records = run(train: overfitTrain, test: overfitTest)
        records[9].testAccuracy = records[6].testAccuracy  // tie with epoch 7
        records[3].testLoss = .nan                         // one epoch without a test loss
        records[3].testAccuracy = .nan
        let verdict = OverfitVerdict(epochs: records.reversed())  // order of records does not matter
        XCTAssertEqual(verdict.bestTestEpoch, 7)
        XCTAssertEqual(verdict.kind, .overfitting)
        XCTAssertEqual(verdict.overfitEpoch, 3)
        XCTAssertEqual(verdict.testRiseEpoch, 7)
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
