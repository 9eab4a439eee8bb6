import Formats
import Foundation
import Layers
import XCTest
@testable import Training

/// `--init-from`: a checkpoint's weights, nothing else: the optimizer, the position and the
/// schedule start afresh.
final class InitFromTests: XCTestCase {
    private func optimizerState(_ checkpoint: String) throws -> [String: [Float]] {
        let file = try SafeTensors.read(path: checkpoint + "/" + Checkpoint.trainerFile)
        var state: [String: [Float]] = [:]
        for name in file.names where name.hasPrefix("optimizer.") { state[name] = try file.floats(name) }
        return state
    }

    func testInitFromLoadsTheWeightsAndStartsAFreshOptimizer() throws {
        var source = TrainingFixture.config(batch: 8, steps: 3)
        source.checkpointDir = TrainingFixture.temporaryDirectory("init-source")
        let trained = try TrainingFixture.train(source, ranks: 2)
        let checkpoint = try XCTUnwrap(trained.lastCheckpoint)
        let (saved, _) = try Checkpoint.loadModel(checkpoint: checkpoint)
        let fresh = try Model(spec: source.model, inputShape: [1, 12, 12], classes: 4, seed: source.seed)
        XCTAssertNotEqual(Array(saved.parameters.buffer), Array(fresh.parameters.buffer))

        // lr 0: one step leaves the parameters where step 0 found them, and fills the momentum.
        var start = TrainingFixture.config(batch: 8, steps: 1)
        start.lr = 0
        start.initFrom = checkpoint
        start.checkpointDir = TrainingFixture.temporaryDirectory("init-run")
        let run = try TrainingFixture.train(start, ranks: 2)
        XCTAssertEqual(run.parameters, Array(saved.parameters.buffer), "step 0 did not start from the checkpoint's weights")
        let meta = try SafeTensors.read(path: try XCTUnwrap(run.lastCheckpoint) + "/" + Checkpoint.trainerFile).metadata
        XCTAssertEqual(meta["global_step"], "1")
        XCTAssertEqual(meta["optimizer_steps"], "1", "the optimizer's step count went on from the source's 3")

        // The same start from the model file alone (no trainer state to take anything from)
        // must leave the very same momentum: nothing of the source's optimizer came along.
        let weightsOnly = TrainingFixture.temporaryDirectory("init-weights-only")
        try FileManager.default.copyItem(atPath: checkpoint + "/" + Checkpoint.modelFile,
                                         toPath: weightsOnly + "/" + Checkpoint.modelFile)
        var alone = start
        alone.initFrom = weightsOnly
        alone.checkpointDir = TrainingFixture.temporaryDirectory("init-run-alone")
        let other = try TrainingFixture.train(alone, ranks: 2)
        let momentum = try optimizerState(try XCTUnwrap(run.lastCheckpoint))
        XCTAssertFalse(momentum.isEmpty)
        XCTAssertTrue(momentum.values.contains { $0.contains { $0 != 0 } }, "one step must have filled the momentum")
        XCTAssertEqual(momentum, try optimizerState(try XCTUnwrap(other.lastCheckpoint)))
    }

    /// The banner names the checkpoint the weights came from, not the scheme they did not.
    func testTheBannerSaysWhereTheWeightsStart() {
        var config = TrainConfig()
        XCTAssertEqual(Banner.start(config), "init torch")
        config.weightInit = .kaiming
        XCTAssertEqual(Banner.start(config), "init kaiming")
        config.initFrom = "runs/a/checkpoints"
        XCTAssertEqual(Banner.start(config), "init from runs/a/checkpoints")
    }
}
