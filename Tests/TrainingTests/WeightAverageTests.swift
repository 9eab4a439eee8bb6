import AllReduce
import Foundation
import Layers
import Tensor
import XCTest
@testable import Training

/// The moving average of the weights against its rule in Double, and the swaps that evaluate,
/// save and load it through the model.
final class WeightAverageTests: XCTestCase {
    private func model(seed: UInt64) throws -> Model {
        try Model(spec: TrainingFixture.bnSpec, inputShape: [1, 12, 12], classes: 4, seed: seed)
    }

    private func weights(_ model: Model) -> [Float] { Array(model.parameters.buffer) + Array(model.buffers.buffer) }

    func testFollowsTheRuleOnParametersAndStatistics() throws {
        let live = try model(seed: 1)
        let decay = 0.9
        let average = WeightAverage(model: live, decay: decay)
        var expected = weights(live).map(Double.init)
        var rng = SeededRNG(seed: 2)
        for _ in 0..<5 {
            for i in 0..<live.parameters.count { live.parameters[i] += rng.normal() }
            for i in 0..<live.buffers.count { live.buffers[i] = abs(rng.normal()) }
            average.update(from: live)
            expected = zip(expected, weights(live)).map { decay * $0 + (1 - decay) * Double($1) }
        }
        let own = weights(live)
        let swapped = average.withAverage(in: live) { weights(live) }
        XCTAssertEqual(swapped.count, expected.count)
        let worst = zip(swapped, expected).map { abs(Double($0) - $1) }.max()!
        XCTAssertLessThan(worst, 1e-5, "the average against the rule in Double")
        XCTAssertGreaterThan(zip(swapped, own).map { abs($0 - $1) }.max()!, 0.1, "the average is not the model")
        XCTAssertEqual(weights(live), own, "the model's own weights come back")
    }

    func testTheModelComesBackWhenTheBodyThrows() throws {
        struct Failure: Error {}
        let live = try model(seed: 3)
        let average = WeightAverage(model: try model(seed: 4), decay: 0.5)
        let own = weights(live)
        XCTAssertThrowsError(try average.withAverage(in: live) { throw Failure() })
        XCTAssertEqual(weights(live), own)
        XCTAssertThrowsError(try average.load(through: live) { throw Failure() })
        XCTAssertEqual(weights(live), own)
    }

    /// What `load` puts into the model becomes the average; the model keeps its own weights.
    func testLoadThroughTheModelTakesWhatItLoads() throws {
        let live = try model(seed: 5), saved = try model(seed: 6)
        saved.buffers.fill(0.25)
        let average = WeightAverage(model: live, decay: 0.99)
        let own = weights(live)
        try average.load(through: live) { try live.load(Dictionary(uniqueKeysWithValues: saved.stateDict().map { ($0.name, $0.value) })) }
        XCTAssertEqual(weights(live), own)
        XCTAssertEqual(average.withAverage(in: live) { weights(live) }, weights(saved))
    }

    func testStatisticsAveragedAcrossRanks() throws {
        var results = [[Float]](repeating: [], count: 2)
        let lock = NSLock()
        try InProcessWorld.run(size: 2, timeoutSeconds: 30) { comm in
            let live = try self.model(seed: 7)
            live.buffers.fill(Float(comm.rank + 1))
            let average = WeightAverage(model: live, decay: 0.5)
            try average.averageStatistics(comm: comm)
            let stats = Array(average.statistics.buffer)
            lock.lock(); results[comm.rank] = stats; lock.unlock()
        }
        XCTAssertEqual(results[0], results[1])
        XCTAssertEqual(Set(results[0]), [1.5])
    }
}
