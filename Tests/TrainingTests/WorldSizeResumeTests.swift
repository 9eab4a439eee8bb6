import AllReduce
import Foundation
import XCTest
@testable import Training

/// `--resume` on another number of ranks continues the same run: the global batch, the sample
/// stream, the optimizer, the schedule and the moving average go on, so a model without dropout
/// or BatchNorm ends where the uninterrupted run does, up to the order of the allreduce's sums.
final class WorldSizeResumeTests: XCTestCase {
    /// No dropout, no BatchNorm: nothing per rank but the data.
    private let spec = "c8k3p1-relu-mp2-flatten-fc16-relu-fc"

    /// 4 ranks x 4 = global batch 16, 16 steps per epoch, the one-cycle schedule over 2 epochs,
    /// the linear scaling rule on (so the LR depends on how the batch is split), with --ema.
    private func config() -> TrainConfig {
        var c = TrainingFixture.config(spec: spec, batch: 4, epochs: 2)
        c.schedule = .onecycle
        c.scaleLR = true
        c.lr = 0.02
        c.ema = 0.9
        return c
    }

    /// The run's global batches, step by step: every rank's micro-batches in rank order.
    private final class SampleLog: @unchecked Sendable {
        private let lock = NSLock()
        private var byStep: [Int: [Int: [Int]]] = [:]

        func record(rank: Int, step: Int, microBatches: [ArraySlice<Int>]) {
            lock.lock(); defer { lock.unlock() }
            byStep[step, default: [:]][rank] = microBatches.flatMap { $0 }
        }

        /// Global step -> the global batch's indices.
        var globalBatches: [Int: [Int]] {
            lock.lock(); defer { lock.unlock() }
            return byStep.mapValues { ranks in ranks.keys.sorted().flatMap { ranks[$0]! } }
        }
    }

    /// Trains `config` on `ranks` threads with the command line's `given` flags; returns rank 0's summary.
    private func train(_ config: TrainConfig, ranks: Int, given: Set<String> = TrainSetting.allFlags,
                       log: SampleLog) throws -> TrainSummary {
        let lock = NSLock()
        var first: TrainSummary?
        try InProcessWorld.run(size: ranks, timeoutSeconds: 60) { comm in
            let trainer = Trainer(config: config, flagsGiven: given, communicator: comm, log: { _ in })
            trainer.beforeStep = { step, microBatches in log.record(rank: comm.rank, step: step, microBatches: microBatches) }
            let summary = try trainer.run()
            if comm.rank == 0 { lock.lock(); first = summary; lock.unlock() }
        }
        return first!
    }

    /// 4 ranks stop mid-epoch after 5 steps; the rest (into the second epoch, 21 steps in all)
    /// runs on 2 ranks (2 x 8, derived) and on 1 (1 x 4 x accumulate 4, from --batch-size 4):
    /// the same samples at every step, and the parameters of the uninterrupted 4-rank run.
    func testFewerRanksContinueTheSameRun() throws {
        var straight = config()
        straight.maxSteps = 21
        let straightLog = SampleLog()
        let uninterrupted = try train(straight, ranks: 4, log: straightLog)
        XCTAssertEqual(uninterrupted.globalStep, 21)

        for (ranks, batch) in [(2, nil), (1, 4)] as [(Int, Int?)] {
            var first = config()
            first.checkpointDir = TrainingFixture.temporaryDirectory("world-\(ranks)")
            first.maxSteps = 5
            let log = SampleLog()
            _ = try train(first, ranks: 4, log: log)

            var rest = first
            rest.resume = first.checkpointDir
            rest.maxSteps = 21
            rest.batchSize = batch ?? first.batchSize
            var given = TrainSetting.allFlags.subtracting(["--batch-size", "--accumulate"])
            if batch != nil { given.insert("--batch-size") }
            let resumed = try train(rest, ranks: ranks, given: given, log: log)
            XCTAssertEqual(resumed.globalStep, 21, "\(ranks) ranks")
            XCTAssertEqual(log.globalBatches, straightLog.globalBatches, "\(ranks) ranks: another sample stream")
            // As in EquivalenceTests' accumulation test: 1e-5 absolute with a wide margin; relative
            // to parameters near zero the rounding of the reordered sums is about 1e-5.
            let absolute = TrainingFixture.maxAbsoluteDifference(uninterrupted.parameters, resumed.parameters)
            let relative = TrainingFixture.maxRelativeDifference(uninterrupted.parameters, resumed.parameters)
            print("4 -> \(ranks) ranks: max parameter difference after 21 steps \(absolute), relative \(relative)")
            XCTAssertLessThan(absolute, 1e-6, "\(ranks) ranks")
            XCTAssertLessThan(relative, 1e-4, "\(ranks) ranks")
            let plan = try ResumePlan(flags: rest, given: given, launch: .ranks(ranks))
            XCTAssertEqual(plan.config.globalBatch(ranks: ranks), 16)
        }
        XCTAssertEqual(straightLog.globalBatches.count, 21)
        XCTAssertEqual(Set(straightLog.globalBatches[3]!).count, 16)
    }

    /// A rank count that cannot share the global batch ends every rank with one line that says so.
    func testARankCountThatCannotShareTheGlobalBatchIsRefused() throws {
        var first = config()
        first.checkpointDir = TrainingFixture.temporaryDirectory("world-3")
        first.maxSteps = 5
        _ = try train(first, ranks: 4, log: SampleLog())
        var rest = first
        rest.resume = first.checkpointDir
        rest.maxSteps = 0
        let given = TrainSetting.allFlags.subtracting(["--batch-size", "--accumulate", "--max-steps"])
        XCTAssertThrowsError(try train(rest, ranks: 3, given: given, log: SampleLog())) { error in
            XCTAssertEqual("\(error)", "this launch has 3 ranks, which cannot share the global batch of 16 of the run "
                + "resumed from \(first.checkpointDir!) (4 ranks x --batch-size 4 x --accumulate 1) evenly: resume it on "
                + "a number of ranks that divides 16, or start a new run from its weights with --init-from \(first.checkpointDir!)")
        }
    }
}
