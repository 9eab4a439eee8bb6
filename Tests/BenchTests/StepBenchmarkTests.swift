import AllReduce
import Data
import Foundation
import Training
import XCTest
@testable import Bench

final class StepBenchmarkTests: XCTestCase {
    /// With --accumulate N a step is N micro-batches on every rank: the images and FLOPs per
    /// step the figures are computed from count all of them.
    func testAccumulatedMicroBatchesCountInTheFigures() throws {
        var config = TrainConfig()
        config.dataset = "synthetic"
        config.synthetic = SyntheticDataset.Options(trainCount: 128, testCount: 16, channels: 1, height: 8, width: 8,
                                                    classes: 3, seed: 1)
        config.model = "flatten-fc32-relu-fc"
        config.batchSize = 8
        config.accumulate = 3
        let lock = NSLock()
        var result: StepBenchmark.Result?
        try InProcessWorld.run(size: 2) { comm in
            let r = try StepBenchmark.run(config: config, warmup: 1, steps: 3, threads: 1, comm: comm)
            if comm.rank == 0 { lock.withLock { result = r } }
        }
        let r = try XCTUnwrap(result)
        XCTAssertEqual(r.accumulate, 3)
        XCTAssertEqual(r.imagesPerSecond * r.stepSeconds, 2 * 8 * 3, accuracy: 1e-9)
        XCTAssertEqual(r.gflopsPerRank * 1e9 * r.stepSeconds, r.flopsPerSample * 8 * 3, accuracy: 1e-6 * r.flopsPerSample)
    }
}
