import Training
import XCTest
@testable import Bench

final class StepBenchmarkTests: XCTestCase {
    /// With --accumulate N a step is N micro-batches on every rank: the images and FLOPs per
    /// step the figures are computed from count all of them.
    func testAccumulatedMicroBatchesCountInTheFigures() throws {
        var config = TrainConfig.tiny()
        config.accumulate = 3
        let r = try XCTUnwrap(rankZeroResult(ranks: 2) { comm in
            try StepBenchmark.run(config: config, warmup: 1, steps: 3, threads: 1, comm: comm)
        })
        XCTAssertEqual(r.accumulate, 3)
        XCTAssertEqual(r.imagesPerSecond * r.stepSeconds, 2 * 8 * 3, accuracy: 1e-9)
        XCTAssertEqual(r.gflopsPerRank * 1e9 * r.stepSeconds, r.flopsPerSample * 8 * 3, accuracy: 1e-6 * r.flopsPerSample)
    }
}
