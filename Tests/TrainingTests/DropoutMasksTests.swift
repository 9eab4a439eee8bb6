import AllReduce
import Foundation
import Tensor
import XCTest
@testable import Training

/// `--dropout-masks`: with `shared` every rank draws rank 0's dropout stream, also after a resume
/// on more ranks; with `per-rank` each rank its own; a run recorded before the setting existed
/// resumes per-rank, as it trained.
///
/// The masks are what the stream gives for the batch's shape, so ranks of one batch shape whose
/// streams stand alike after every step have dropped the same elements in every step.
final class DropoutMasksTests: XCTestCase {
    private let spec = "flatten-fc16-relu-drop0.5-fc"

    /// Each rank's dropout stream after every step.
    private final class Streams: @unchecked Sendable {
        private let lock = NSLock()
        private var byRank: [Int: [SeededRNG]] = [:]

        func record(rank: Int, _ stream: SeededRNG) {
            lock.lock(); defer { lock.unlock() }
            byRank[rank, default: []].append(stream)
        }

        func of(_ rank: Int) -> [SeededRNG] {
            lock.lock(); defer { lock.unlock() }
            return byRank[rank] ?? []
        }
    }

    private func train(_ config: TrainConfig, ranks: Int, given: Set<String> = TrainSetting.allFlags) throws -> Streams {
        let streams = Streams()
        try InProcessWorld.run(size: ranks, timeoutSeconds: 60) { comm in
            let trainer = Trainer(config: config, flagsGiven: given, communicator: comm, log: { _ in })
            trainer.afterStep = { model, _ in streams.record(rank: comm.rank, model.dropoutRNG) }
            _ = try trainer.run()
        }
        return streams
    }

    private func config(_ masks: TrainConfig.DropoutMasks, steps: Int) -> TrainConfig {
        var c = TrainingFixture.config(spec: spec, batch: 4, epochs: 2, steps: steps)
        c.dropoutMasks = masks
        return c
    }

    func testSharedMasksAreRankZerosOnEveryRankAndPerRankMasksDiffer() throws {
        let shared = try train(config(.shared, steps: 3), ranks: 3)
        let perRank = try train(config(.perRank, steps: 3), ranks: 3)
        XCTAssertEqual(shared.of(0).count, 3)
        XCTAssertEqual(shared.of(1), shared.of(0))
        XCTAssertEqual(shared.of(2), shared.of(0))
        XCTAssertEqual(perRank.of(0), shared.of(0), "rank 0 draws its own stream either way")
        for step in 0..<3 {
            XCTAssertNotEqual(perRank.of(1)[step], perRank.of(0)[step], "step \(step)")
            XCTAssertNotEqual(perRank.of(2)[step], perRank.of(1)[step], "step \(step)")
        }
    }

    /// 2 ranks stop after 3 steps; 4 ranks go on (2 x 8 = 4 x 4): the two new ranks draw rank 0's
    /// stream too.
    func testSharedMasksStaySharedOnMoreRanks() throws {
        var first = TrainingFixture.config(spec: spec, batch: 8, epochs: 1, steps: 3)
        first.checkpointDir = TrainingFixture.temporaryDirectory("shared-masks")
        _ = try train(first, ranks: 2)
        var rest = first
        rest.resume = first.checkpointDir
        rest.maxSteps = 6
        let resumed = try train(rest, ranks: 4, given: TrainSetting.allFlags.subtracting(["--batch-size", "--accumulate"]))
        XCTAssertEqual(resumed.of(0).count, 3)
        for rank in 1..<4 { XCTAssertEqual(resumed.of(rank), resumed.of(0), "rank \(rank)") }
    }

    func testARunRecordedBeforeTheSettingResumesPerRank() throws {
        var first = config(.perRank, steps: 2)
        first.checkpointDir = TrainingFixture.temporaryDirectory("older-masks")
        let straight = try train(config(.perRank, steps: 4), ranks: 2)
        let stopped = try train(first, ranks: 2)
        try OlderCheckpoint.dropConfigKeys(["dropoutMasks"], in: first.checkpointDir! + "/latest")
        XCTAssertEqual(try Checkpoint.savedRun(first.checkpointDir!).config.dropoutMasks, .perRank)
        var rest = first
        rest.resume = first.checkpointDir
        rest.maxSteps = 4
        rest.dropoutMasks = .shared  // the default a resume without the flag gets, overruled by the record
        let resumed = try train(rest, ranks: 2, given: TrainSetting.allFlags.subtracting(["--dropout-masks"]))
        XCTAssertEqual(stopped.of(1).count, 2)
        XCTAssertEqual(resumed.of(0), Array(straight.of(0)[2...]))
        XCTAssertEqual(resumed.of(1), Array(straight.of(1)[2...]))
    }
}
