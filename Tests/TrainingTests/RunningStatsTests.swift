import Data
import Formats
import Layers
import Tensor
import XCTest
@testable import Training

/// BatchNorm running statistics without --sync-bn: each rank's follow its own shards; they are
/// averaged across ranks at an epoch's end (for eval and the checkpoint), and a stop mid-epoch
/// puts the average in the model file while every rank's own go to the trainer state.
final class RunningStatsTests: XCTestCase {
    /// Rank `rank`'s running statistics after `steps` steps of epoch 0, replayed outside the
    /// trainer. With lr 0 the parameters never move, so a rank's statistics depend on nothing
    /// but its own slices of the batches.
    private func replay(_ config: TrainConfig, ranks: Int, rank: Int, steps: Int) throws -> [Float] {
        let data = try TrainingData(config: config)
        let model = try Model(spec: config.model, inputShape: data.inputShape, classes: data.classes, seed: config.seed)
        let sampler = try DistributedSampler(count: data.train.count, batchSize: config.batchSize, ranks: ranks,
                                             rank: rank, seed: config.seed, shuffle: config.shuffle)
        let batch = Tensor(shape: [config.batchSize] + data.inputShape)
        var labels = [Int32](repeating: 0, count: config.batchSize)
        var rng = SeededRNG(seed: 0) // no augmentation: never drawn from
        for step in 0..<steps {
            labels.withUnsafeMutableBufferPointer {
                data.trainBatches.fill(indices: sampler.indices(epoch: 0, step: step), rng: &rng,
                                       images: batch.data, labels: $0.baseAddress!)
            }
            _ = model.forward(batch, training: true)
        }
        return Array(model.buffers.buffer)
    }

    private func mean(_ rows: [[Float]]) -> [Float] {
        (0..<rows[0].count).map { i in rows.reduce(Float(0)) { $0 + $1[i] } / Float(rows.count) }
    }

    private func frozenConfig(steps: Int) -> TrainConfig {
        var c = TrainingFixture.config(batch: 8, epochs: 1, steps: steps)
        c.lr = 0
        c.evalEvery = 0
        c.checkpointDir = TrainingFixture.temporaryDirectory("stats")
        return c
    }

    func testEpochEndAveragesRunningStatsAcrossRanks() throws {
        let c = frozenConfig(steps: 0) // one whole epoch: 256 / (8 x 2) = 16 steps
        let own = try (0..<2).map { try replay(c, ranks: 2, rank: $0, steps: 16) }
        XCTAssertGreaterThan(TrainingFixture.maxRelativeDifference(own[0], own[1]), 1e-3, "the ranks' statistics must differ")
        let expected = mean(own)
        let summaries = try TrainingFixture.trainAllRanks(c, ranks: 2)
        for (rank, s) in summaries.enumerated() {
            XCTAssertLessThan(TrainingFixture.maxRelativeDifference(s.runningStats, expected), 1e-6, "rank \(rank)")
        }
        let (saved, _) = try Checkpoint.loadModel(checkpoint: c.checkpointDir!)
        XCTAssertLessThan(TrainingFixture.maxRelativeDifference(Array(saved.buffers.buffer), expected), 1e-6)
    }

    func testMidEpochStopSavesTheAverageAndKeepsEachRanksOwn() throws {
        let c = frozenConfig(steps: 5)
        let own = try (0..<2).map { try replay(c, ranks: 2, rank: $0, steps: 5) }
        let summaries = try TrainingFixture.trainAllRanks(c, ranks: 2)
        for rank in 0..<2 {
            XCTAssertEqual(summaries[rank].runningStats, own[rank], "rank \(rank)'s live statistics were changed by the save")
        }
        let dir = try XCTUnwrap(summaries[0].lastCheckpoint)
        let (saved, _) = try Checkpoint.loadModel(checkpoint: dir)
        XCTAssertLessThan(TrainingFixture.maxRelativeDifference(Array(saved.buffers.buffer), mean(own)), 1e-6)
        let trainer = try SafeTensors.read(path: dir + "/" + Checkpoint.trainerFile)
        XCTAssertEqual(try trainer.floats("running_stats", shape: [2, own[0].count]), own[0] + own[1])
    }

    /// P = 3 without SyncBN, stopped mid-epoch (or at an epoch's end) and resumed: parameters
    /// and every rank's running statistics equal an uninterrupted run's, bit for bit. At an
    /// epoch's end the statistics are averaged already, and averaging them again would move some:
    /// x = s / P summed over P ranks and divided by P is not always x. For P = 3 it happens to be
    /// (3 x rounds back to s), but with 5 ranks about a fifth of the values move, so a run of 5
    /// ranks checks that the model file keeps them as they were.
    func testResumeRestoresEveryRanksRunningStatsBitExactly() throws {
        let straight = TrainingFixture.config(batch: 8, epochs: 2)
        // 256 / (8 x 3): 10 steps per epoch; 256 / (8 x 5): 6.
        for (ranks, stopAt, endAt) in [(3, 4, 0), (3, 10, 0), (3, 14, 17), (5, 6, 0)] {
            var reference = straight
            reference.maxSteps = endAt
            let a = try TrainingFixture.trainAllRanks(reference, ranks: ranks)

            var first = straight
            first.checkpointDir = TrainingFixture.temporaryDirectory("bn-resume")
            first.maxSteps = stopAt
            let stopped = try TrainingFixture.trainAllRanks(first, ranks: ranks)
            let what = "\(ranks) ranks stopped at \(stopAt), run to \(endAt == 0 ? "the end" : "step \(endAt)")"
            if stopAt % (256 / (8 * ranks)) == 0 {
                let (saved, _) = try Checkpoint.loadModel(checkpoint: try XCTUnwrap(stopped[0].lastCheckpoint))
                XCTAssertEqual(Array(saved.buffers.buffer), stopped[0].runningStats, what)
            }
            var rest = reference
            rest.checkpointDir = first.checkpointDir
            rest.resume = first.checkpointDir
            let b = try TrainingFixture.trainAllRanks(rest, ranks: ranks)

            XCTAssertEqual(b[0].globalStep, a[0].globalStep, what)
            XCTAssertEqual(a[0].parameters, b[0].parameters, what)
            for rank in 0..<ranks {
                XCTAssertEqual(a[rank].runningStats, b[rank].runningStats, "rank \(rank), \(what)")
            }
            if endAt != 0 {
                // Mid-epoch the ranks' own statistics differ: the comparison above saw three.
                XCTAssertNotEqual(a[0].runningStats, a[1].runningStats, what)
            }
        }
    }
}
