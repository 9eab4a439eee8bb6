import AllReduce
import Layers
import XCTest
@testable import Training

final class CheckpointResumeTests: XCTestCase {
    /// 2 epochs straight == 1 epoch, stop, resume for the second: bit for bit (dropout and
    /// momentum included, 2 ranks).
    func testResumeIsBitExact() throws {
        let spec = "c8k3p1nb-bn-relu-mp2-flatten-drop0.3-fc16-relu-fc"
        var straight = TrainingFixture.config(spec: spec, batch: 8, epochs: 2)
        straight.schedule = .onecycle
        straight.checkpointDir = TrainingFixture.temporaryDirectory("straight")
        let a = try TrainingFixture.train(straight, ranks: 2)

        var first = straight
        first.checkpointDir = TrainingFixture.temporaryDirectory("first")
        first.maxSteps = 16 // one epoch: 256 samples / (8 x 2)
        let stopped = try TrainingFixture.train(first, ranks: 2)
        XCTAssertEqual(stopped.globalStep, 16)
        XCTAssertNotNil(stopped.lastCheckpoint)

        var second = straight
        second.checkpointDir = first.checkpointDir
        second.resume = first.checkpointDir
        let b = try TrainingFixture.train(second, ranks: 2)
        XCTAssertEqual(b.globalStep, a.globalStep)
        XCTAssertEqual(a.parameters, b.parameters, "resumed parameters differ from the uninterrupted run")
    }

    /// Resuming in the middle of an epoch continues the sampler where it stopped.
    func testMidEpochResumeIsBitExact() throws {
        var straight = TrainingFixture.config(batch: 8, epochs: 1)
        let a = try TrainingFixture.train(straight, ranks: 2)
        straight.checkpointDir = TrainingFixture.temporaryDirectory("mid")
        straight.maxSteps = 7
        _ = try TrainingFixture.train(straight, ranks: 2)
        var rest = straight
        rest.maxSteps = 0
        rest.resume = straight.checkpointDir
        let b = try TrainingFixture.train(rest, ranks: 2)
        XCTAssertEqual(a.parameters, b.parameters)
    }

    /// With `--accumulate`, a run stopped mid-epoch (between optimizer steps) and resumed ends
    /// bit for bit where the uninterrupted one does: dropout, momentum and the accumulated
    /// micro-batches included, and the recorded accumulation is the one resumed with.
    func testAccumulationResumesMidEpochBitExactly() throws {
        let spec = "c8k3p1nb-bn-relu-mp2-flatten-drop0.3-fc16-relu-fc"
        var straight = TrainingFixture.config(spec: spec, batch: 8, epochs: 2)
        straight.accumulate = 2
        straight.schedule = .onecycle
        let a = try TrainingFixture.train(straight, ranks: 2)
        XCTAssertEqual(a.globalStep, 16, "256 samples / (2 x 8 x 2) = 8 steps per epoch")

        var first = straight
        first.checkpointDir = TrainingFixture.temporaryDirectory("accumulate")
        first.maxSteps = 5
        _ = try TrainingFixture.train(first, ranks: 2)
        let saved = try Checkpoint.savedRun(first.checkpointDir!)
        XCTAssertEqual(saved.config.accumulate, 2)
        XCTAssertEqual(saved.stepInEpoch, 5)

        var rest = first
        rest.maxSteps = 0
        rest.resume = first.checkpointDir
        let b = try TrainingFixture.train(rest, ranks: 2)
        XCTAssertEqual(b.globalStep, 16)
        XCTAssertEqual(a.parameters, b.parameters, "resumed parameters differ from the uninterrupted run")
    }

    /// A checkpoint written before `--accumulate` existed (no key in its configuration) resumes
    /// as accumulation 1.
    func testACheckpointWithoutAccumulationResumesAsOne() throws {
        var c = TrainingFixture.config(spec: "flatten-fc8-relu-fc", batch: 8, epochs: 1, steps: 3)
        c.checkpointDir = TrainingFixture.temporaryDirectory("no-accumulate")
        let stopped = try TrainingFixture.train(c, ranks: 1)
        try OlderCheckpoint.dropConfigKeys(["accumulate"], in: stopped.lastCheckpoint!)
        XCTAssertEqual(try Checkpoint.savedRun(c.checkpointDir!).config.accumulate, 1)
        var rest = c
        rest.maxSteps = 0
        rest.resume = c.checkpointDir
        XCTAssertEqual(try TrainingFixture.train(rest, ranks: 1).globalStep, 32)
    }

    /// A resume may change the batch size at an epoch boundary; the schedule then goes on from
    /// where the run is in it (the start of epoch 2 of 2: half way through the one cycle), not
    /// from the global step, which counted the smaller steps of epoch 1.
    func testABatchChangeAtAnEpochBoundaryKeepsTheSchedulesPlace() throws {
        var first = TrainingFixture.config(batch: 8, epochs: 2, steps: 32)  // 256 samples: 32 steps per epoch
        first.schedule = .onecycle
        first.checkpointDir = TrainingFixture.temporaryDirectory("batch-change")
        first.metricsPath = first.checkpointDir! + "/m.jsonl"
        first.logEvery = 1
        _ = try TrainingFixture.train(first, ranks: 1)
        var rest = first
        rest.resume = first.checkpointDir
        rest.batchSize = 16
        rest.maxSteps = 0
        _ = try TrainingFixture.train(rest, ranks: 1)
        let stepLines = try String(contentsOfFile: first.metricsPath!, encoding: .utf8).split(separator: "\n")
            .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .filter { $0["event"] as? String == "step" && $0["epoch"] as? Int == 2 }
        XCTAssertEqual(stepLines.count, 16)
        let schedule = LRSchedule(kind: .onecycle, baseLR: first.lr, totalSteps: 32, stepsPerEpoch: 16)
        XCTAssertEqual(stepLines.first?["lr"] as? Double, schedule.learningRate(at: 16))
        XCTAssertEqual(stepLines.last?["lr"] as? Double, schedule.learningRate(at: 31))
        XCTAssertGreaterThan(schedule.learningRate(at: 16), 100 * schedule.learningRate(at: 31))
    }

    /// Same seed, same ranks: identical checkpoint files, byte for byte.
    func testSameSeedGivesIdenticalCheckpoints() throws {
        var c = TrainingFixture.config(spec: "c8k3p1nb-bn-relu-mp2-flatten-drop0.3-fc", batch: 8, epochs: 1)
        c.checkpointDir = TrainingFixture.temporaryDirectory("det-a")
        let a = try TrainingFixture.train(c, ranks: 2)
        c.checkpointDir = TrainingFixture.temporaryDirectory("det-b")
        let b = try TrainingFixture.train(c, ranks: 2)
        let fa = try Data(contentsOf: URL(fileURLWithPath: a.lastCheckpoint! + "/model.safetensors"))
        let fb = try Data(contentsOf: URL(fileURLWithPath: b.lastCheckpoint! + "/model.safetensors"))
        XCTAssertEqual(fa, fb)
        let ta = try Data(contentsOf: URL(fileURLWithPath: a.lastCheckpoint! + "/trainer.safetensors"))
        let tb = try Data(contentsOf: URL(fileURLWithPath: b.lastCheckpoint! + "/trainer.safetensors"))
        XCTAssertEqual(ta, tb)
        // A different seed must give a different model (the comparison above can fail).
        c.seed = 1
        c.checkpointDir = TrainingFixture.temporaryDirectory("det-c")
        let d = try TrainingFixture.train(c, ranks: 2)
        XCTAssertNotEqual(a.parameters, d.parameters)
    }

    /// The checkpoint loads back into a model whose evaluation, on one rank, matches the one the
    /// trainer's two ranks made at the end of the epoch (averaged running statistics included).
    func testCheckpointRoundTripAndEvaluation() throws {
        var c = TrainingFixture.config(batch: 8, epochs: 1)
        c.checkpointDir = TrainingFixture.temporaryDirectory("eval")
        let s = try TrainingFixture.train(c, ranks: 2)
        let (model, info) = try Checkpoint.loadModel(checkpoint: c.checkpointDir!)
        XCTAssertEqual(Array(model.parameters.buffer), s.parameters)
        XCTAssertEqual(info.inputShape, [1, 12, 12])
        XCTAssertEqual(CheckpointDirectory.resolve(c.checkpointDir!), s.lastCheckpoint)

        let data = try TrainingData(config: c)
        var result: Evaluation.Result?
        try InProcessWorld.run(size: 1) { comm in
            result = try Evaluation.evaluate(model: model, batches: data.testBatches, comm: comm, batchSize: 8)
        }
        let trainer = try XCTUnwrap(s.epochs.last)
        XCTAssertEqual(result?.samples, 64)
        XCTAssertEqual(result?.accuracy, trainer.testAcc)
        // Two ranks sum their halves' losses in another order than one rank does.
        XCTAssertEqual(result?.loss ?? .nan, trainer.testLoss ?? .infinity, accuracy: 1e-12 * max(trainer.testLoss ?? 1, 1))
    }

    /// A corrupt checkpoint is refused with one line naming the file; --resume never overwrites it.
    func testCorruptCheckpointIsRefused() throws {
        var c = TrainingFixture.config(batch: 8, steps: 3)
        c.checkpointDir = TrainingFixture.temporaryDirectory("corrupt")
        let s = try TrainingFixture.train(c, ranks: 1)
        let file = s.lastCheckpoint! + "/model.safetensors"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        bytes = bytes.prefix(bytes.count - 100)
        try bytes.write(to: URL(fileURLWithPath: file))
        var r = c
        r.resume = c.checkpointDir
        r.maxSteps = 6
        XCTAssertThrowsError(try TrainingFixture.train(r, ranks: 1)) { error in
            XCTAssertTrue("\(error)".contains("model.safetensors"), "\(error)")
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: file)), bytes, "the bad checkpoint was rewritten")
    }
}
