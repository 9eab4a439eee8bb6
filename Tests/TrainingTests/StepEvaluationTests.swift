import AllReduce
import Foundation
import XCTest
@testable import Training

/// `--eval-every-steps`: test-set evaluations inside the epochs that leave the training alone.
final class StepEvaluationTests: XCTestCase {
    /// BatchNorm (statistics averaged for the evaluation, then each rank's own put back) and
    /// dropout (no mask drawn in evaluation), with a moving average evaluated beside the model.
    private func config(evalEverySteps: Int) -> TrainConfig {
        var c = TrainingFixture.config(spec: "c8k3p1nb-bn-relu-mp2-flatten-drop0.5-fc", batch: 8, epochs: 2)
        c.ema = 0.9
        c.evalEverySteps = evalEverySteps
        c.metricsPath = TrainingFixture.temporaryDirectory("step-eval") + "/m.jsonl"
        return c
    }

    private func events(_ path: String, _ event: String) throws -> [[String: Any]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").compactMap {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }.filter { $0["event"] as? String == event }
    }

    func testEvaluationsInsideEpochsChangeNothingTrained() throws {
        let plain = try TrainingFixture.trainAllRanks(config(evalEverySteps: 0), ranks: 2)
        let c = config(evalEverySteps: 5)
        let evaluated = try TrainingFixture.trainAllRanks(c, ranks: 2)
        for rank in 0..<2 {
            XCTAssertEqual(evaluated[rank].parameters, plain[rank].parameters, "rank \(rank): parameters bit for bit")
            XCTAssertEqual(evaluated[rank].runningStats, plain[rank].runningStats, "rank \(rank): running statistics")
            XCTAssertEqual(evaluated[rank].losses, plain[rank].losses, "rank \(rank): every step's loss")
        }
        XCTAssertEqual(evaluated[0].epochs.map(\.testAcc), plain[0].epochs.map(\.testAcc))
        XCTAssertEqual(evaluated[0].epochs.map(\.averageTestAcc), plain[0].epochs.map(\.averageTestAcc))

        // 256 samples / (8 x 2 ranks) = 16 steps an epoch; steps 16 and 32 are the epochs' own.
        XCTAssertEqual(evaluated[0].evaluations.map(\.step), [5, 10, 15, 20, 25, 30])
        XCTAssertEqual(evaluated[0].evaluations.map(\.epoch), [1, 1, 1, 2, 2, 2])
        XCTAssertEqual(evaluated[1].evaluations, evaluated[0].evaluations, "every rank sees the reduced figures")
        let accuracies = evaluated[0].evaluations.map(\.testAcc)
        XCTAssertEqual(Set(evaluated[0].evaluations.map(\.testLoss)).count, 6, "the model moves between evaluations")
        XCTAssertTrue(evaluated[0].evaluations.allSatisfy { $0.averageTestAcc != nil && $0.averageTestLoss != nil })

        let lines = try events(c.metricsPath!, "eval")
        XCTAssertEqual(lines.map { $0["step"] as? Int }, [5, 10, 15, 20, 25, 30])
        XCTAssertEqual(lines.map { $0["test_acc"] as? Double }, accuracies)
        XCTAssertEqual(Set(lines[0].keys), ["event", "epoch", "step", "test_loss", "test_acc", "ema_test_loss", "ema_test_acc"])
        XCTAssertEqual(try events(c.metricsPath!, "epoch").count, 2)
    }

    /// The evaluation at a step is what `ddp eval` says of a checkpoint written there: the same
    /// weights and the ranks' averaged statistics.
    func testAnEvaluationIsWhatTheCheckpointOfThatStepEvaluatesTo() throws {
        var c = config(evalEverySteps: 10)
        c.maxSteps = 10
        c.checkpointDir = TrainingFixture.temporaryDirectory("step-eval-checkpoint")
        let inside = try XCTUnwrap(TrainingFixture.train(c, ranks: 2).evaluations.first)
        XCTAssertEqual(inside.step, 10)
        var model: Evaluation.Report?, average: Evaluation.Report?
        try InProcessWorld.run(size: 1, timeoutSeconds: 60) { comm in
            model = try Evaluation.run(checkpoint: c.checkpointDir!, dataset: nil, dataDir: nil, batchSize: 8, comm: comm)
            average = try Evaluation.run(checkpoint: c.checkpointDir!, dataset: nil, dataDir: nil, batchSize: 8,
                                         average: true, comm: comm)
        }
        let m = try XCTUnwrap(model?.result), a = try XCTUnwrap(average?.result)
        XCTAssertEqual(m.accuracy, inside.testAcc)
        XCTAssertEqual(m.loss, inside.testLoss, accuracy: 1e-9 * max(1, m.loss))
        XCTAssertEqual(a.accuracy, try XCTUnwrap(inside.averageTestAcc))
        XCTAssertEqual(a.loss, try XCTUnwrap(inside.averageTestLoss), accuracy: 1e-9 * max(1, a.loss))
        XCTAssertNotEqual(m.loss, a.loss, "the two evaluations are of different weights")
    }
}
