import AllReduce
import Formats
import Foundation
import Layers
import XCTest
@testable import Training

/// `--ema` through the trainer: updated after every step, evaluated after every epoch beside the
/// model, saved as `ema.safetensors`, restored bit for bit by `--resume`, read by `ddp eval --ema`.
final class WeightAverageTrainingTests: XCTestCase {
    private func weights(_ model: Model) -> [Float] { Array(model.parameters.buffer) + Array(model.buffers.buffer) }

    private func epochLines(_ path: String) throws -> [[String: Any]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
            .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .filter { $0["event"] as? String == "epoch" }
    }

    /// One rank, 2 epochs of 8 steps: the saved average is the rule applied to the weights after
    /// each of the 16 steps (BatchNorm statistics included), in the model file's names and
    /// metadata; each epoch reports its evaluation beside the model's, the last one equal to
    /// what `ddp eval --ema` makes of the saved file.
    func testTheAverageFollowsEveryStepAndIsWhatTheEpochsEvaluateAndSave() throws {
        var c = TrainingFixture.config(batch: 8, epochs: 2)
        c.synthetic.trainCount = 64
        c.ema = 0.9
        c.quiet = false
        let dir = TrainingFixture.temporaryDirectory("ema")
        c.checkpointDir = dir + "/run"
        c.metricsPath = dir + "/m.jsonl"
        let initial = try Model(spec: c.model, inputShape: [1, 12, 12], classes: 4, seed: c.seed)
        var expected = weights(initial).map(Double.init)
        var steps = 0
        var lines: [String] = []
        var report: Evaluation.Report?
        try InProcessWorld.run(size: 1, timeoutSeconds: 60) { comm in
            let trainer = Trainer(config: c, communicator: comm, log: { lines.append($0) })
            trainer.afterStep = { model, _ in
                steps += 1
                expected = zip(expected, self.weights(model)).map { 0.9 * $0 + 0.1 * Double($1) }
            }
            _ = try trainer.run()
            report = try Evaluation.run(checkpoint: c.checkpointDir!, dataset: nil, dataDir: nil, batchSize: 8,
                                        average: true, comm: comm)
        }
        XCTAssertEqual(steps, 16)
        let (saved, _) = try Checkpoint.loadModel(checkpoint: c.checkpointDir!, file: Checkpoint.averageFile)
        let difference = TrainingFixture.maxRelativeDifference(weights(saved), expected.map(Float.init))
        XCTAssertLessThan(difference, 1e-5, "the saved average against the rule in Double")
        let (model, _) = try Checkpoint.loadModel(checkpoint: c.checkpointDir!)
        XCTAssertGreaterThan(TrainingFixture.maxRelativeDifference(weights(saved), weights(model)), 1e-2, "the average is not the model")

        let checkpoint = try XCTUnwrap(CheckpointDirectory.resolve(c.checkpointDir!))
        let averageFile = try SafeTensors.read(path: checkpoint + "/" + Checkpoint.averageFile)
        let modelFile = try SafeTensors.read(path: checkpoint + "/" + Checkpoint.modelFile)
        XCTAssertEqual(averageFile.names, modelFile.names, "PyTorch state_dict names, as the model file's")
        XCTAssertEqual(averageFile.names.map { averageFile.entries[$0]!.shape }, modelFile.names.map { modelFile.entries[$0]!.shape })
        XCTAssertEqual(averageFile.metadata, modelFile.metadata)

        let epochs = try epochLines(c.metricsPath!)
        XCTAssertEqual(epochs.count, 2)
        for epoch in epochs {
            XCTAssertNotNil(epoch["ema_test_loss"] as? Double, "\(epoch)")
            XCTAssertNotNil(epoch["ema_test_acc"] as? Double, "\(epoch)")
        }
        let last = try XCTUnwrap(epochs.last)
        let r = try XCTUnwrap(report)
        XCTAssertEqual(r.weights, Checkpoint.averageFile)
        XCTAssertEqual(r.result.accuracy, last["ema_test_acc"] as? Double)
        XCTAssertEqual(r.result.loss, last["ema_test_loss"] as? Double ?? .nan, accuracy: 1e-12)
        XCTAssertNotEqual(last["ema_test_loss"] as? Double, last["test_loss"] as? Double)
        XCTAssertEqual(lines.filter { $0.hasPrefix("epoch ") && $0.contains("  ema loss ") }.count, 2, "\(lines)")
    }

    /// The average only watches: 2 ranks train the same parameters and report the same test
    /// figures with it as without it.
    func testTheAverageLeavesTrainingAsItWas() throws {
        var c = TrainingFixture.config(batch: 8, epochs: 2)
        let plain = try TrainingFixture.train(c, ranks: 2)
        c.ema = 0.9
        let averaged = try TrainingFixture.train(c, ranks: 2)
        XCTAssertEqual(averaged.parameters, plain.parameters)
        XCTAssertEqual(averaged.runningStats, plain.runningStats)
        XCTAssertEqual(averaged.epochs.map(\.testLoss), plain.epochs.map(\.testLoss))
        XCTAssertEqual(plain.epochs.compactMap(\.averageTestLoss), [])
        XCTAssertEqual(averaged.epochs.compactMap(\.averageTestLoss).count, 2)
    }

    /// 2 ranks without SyncBN, stopped 5 steps into epoch 2 (where each rank's statistics of the
    /// average are its own), then resumed: the same average, byte for byte, as a run never stopped.
    func testResumeRestoresTheAverageBitForBit() throws {
        var straight = TrainingFixture.config(batch: 8, epochs: 2)
        straight.ema = 0.9
        straight.checkpointDir = TrainingFixture.temporaryDirectory("ema-straight")
        let a = try TrainingFixture.train(straight, ranks: 2)

        var first = straight
        first.checkpointDir = TrainingFixture.temporaryDirectory("ema-first")
        first.maxSteps = 21  // 16 steps per epoch: 256 samples / (8 x 2)
        let stopped = try TrainingFixture.train(first, ranks: 2)
        let trainer = try SafeTensors.read(path: try XCTUnwrap(stopped.lastCheckpoint) + "/" + Checkpoint.trainerFile)
        let perRank = try XCTUnwrap(trainer.entries[Checkpoint.averageStatsTensor])
        let n = perRank.shape[1]
        let rows = try perRank.floats()
        XCTAssertEqual(perRank.shape[0], 2)
        XCTAssertNotEqual(Array(rows[0..<n]), Array(rows[n..<(2 * n)]), "mid-epoch, each rank's statistics are its own")

        var rest = first
        rest.maxSteps = 0
        rest.resume = first.checkpointDir
        let b = try TrainingFixture.train(rest, ranks: 2)
        XCTAssertEqual(b.parameters, a.parameters)
        func bytes(_ checkpoint: String?, _ file: String) throws -> Data {
            try Data(contentsOf: URL(fileURLWithPath: try XCTUnwrap(checkpoint) + "/" + file))
        }
        XCTAssertEqual(try bytes(b.lastCheckpoint, Checkpoint.averageFile), try bytes(a.lastCheckpoint, Checkpoint.averageFile))
        XCTAssertEqual(b.epochs.last?.averageTestLoss, a.epochs.last?.averageTestLoss)
    }

    /// At an epoch boundary the ranks may change: every rank then takes the saved file's
    /// statistics of the average, as it takes the model's.
    func testAnotherRankCountGoesOnFromTheSavedAverage() throws {
        var c = TrainingFixture.config(batch: 8, epochs: 2, steps: 16)
        c.ema = 0.9
        c.checkpointDir = TrainingFixture.temporaryDirectory("ema-ranks")
        _ = try TrainingFixture.train(c, ranks: 2)
        let (before, _) = try Checkpoint.loadModel(checkpoint: c.checkpointDir!, file: Checkpoint.averageFile)
        var rest = c
        rest.maxSteps = 0
        rest.resume = c.checkpointDir
        let resumed = try TrainingFixture.train(rest, ranks: 1)
        XCTAssertEqual(resumed.globalStep, 48, "16 steps of 2 ranks, then 32 of 1")
        let (after, _) = try Checkpoint.loadModel(checkpoint: c.checkpointDir!, file: Checkpoint.averageFile)
        XCTAssertNotEqual(weights(after), weights(before))
        XCTAssertNotNil(resumed.epochs.last?.averageTestAcc)
    }

    /// `ddp eval --ema` on a run that kept no average says so and how to go on.
    func testEvaluatingAnAverageThatWasNotKeptIsRefused() throws {
        var c = TrainingFixture.config(batch: 8, epochs: 1, steps: 2)
        c.checkpointDir = TrainingFixture.temporaryDirectory("no-ema")
        _ = try TrainingFixture.train(c, ranks: 1)
        XCTAssertThrowsError(try InProcessWorld.run(size: 1, timeoutSeconds: 30) { comm in
            _ = try Evaluation.run(checkpoint: c.checkpointDir!, dataset: nil, dataDir: nil, batchSize: 8, average: true, comm: comm)
        }) { error in
            XCTAssertTrue("\(error)".contains("holds no ema.safetensors: its run kept no moving average"), "\(error)")
            XCTAssertTrue("\(error)".contains("leave out --ema"), "\(error)")
        }
    }
}
