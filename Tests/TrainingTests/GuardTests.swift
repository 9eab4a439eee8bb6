import AllReduce
import XCTest
@testable import Training

/// The NaN guard and the cross-rank consistency checks end runs together, with a clear reason.
final class GuardTests: XCTestCase {
    func testHugeLearningRateStopsEveryRankWithAdvice() throws {
        var c = TrainingFixture.config(batch: 8, epochs: 3)
        c.lr = 1e6
        c.checkpointDir = TrainingFixture.temporaryDirectory("nan")
        let lock = NSLock()
        var seen = ["", ""]
        XCTAssertThrowsError(try InProcessWorld.run(size: 2, timeoutSeconds: 60) { comm in
            do {
                _ = try Trainer(config: c, communicator: comm, log: { _ in }).run()
            } catch {
                lock.lock(); seen[comm.rank] = "\(error)"; lock.unlock()
                throw error
            }
        })
        // Each rank stops with the advice itself, at the same step: none waits for the other
        // until its timeout.
        for text in seen {
            XCTAssertTrue(text.contains("learning rate"), text)
            XCTAssertTrue(text.contains("epoch 1"), text)
            XCTAssertNotNil(text.range(of: #"step [0-9]+ "#, options: .regularExpression), text)
            XCTAssertTrue(text.contains("lr 1000000"), text)
        }
        XCTAssertEqual(seen[0], seen[1])
    }

    func testDifferentFlagsOnRanksAreCaughtAtStart() throws {
        let base = TrainingFixture.config(batch: 8, steps: 2)
        XCTAssertThrowsError(try InProcessWorld.run(size: 2, timeoutSeconds: 30) { comm in
            var c = base
            if comm.rank == 1 { c.seed = 99 }
            _ = try Trainer(config: c, communicator: comm, log: { _ in }).run()
        }) { error in
            XCTAssertTrue("\(error)".contains("seed"), "\(error)")
        }
    }

    func testFingerprintSeesAnyBitChange() {
        var values: [Float] = (0..<1000).map { Float($0) * 0.001 }
        let a = values.withUnsafeMutableBufferPointer { ConsistencyCheck.fingerprint($0) }
        values[517] = values[517].nextUp
        let b = values.withUnsafeMutableBufferPointer { ConsistencyCheck.fingerprint($0) }
        XCTAssertNotEqual(a, b)
        values.swapAt(3, 4)
        let c = values.withUnsafeMutableBufferPointer { ConsistencyCheck.fingerprint($0) }
        XCTAssertNotEqual(b, c)
    }

    func testBadFlagsAreRefusedWithOneLine() {
        var c = TrainingFixture.config()
        c.batchSize = 0
        XCTAssertEqual(c.problem(), "--batch-size must be at least 1 (got 0)")
        c = TrainingFixture.config()
        c.lr = -1
        XCTAssertNotNil(c.problem())
        // More ranks than samples: the sampler refuses, every rank agrees, one message.
        var tiny = TrainingFixture.config(batch: 200)
        tiny.maxSteps = 1
        XCTAssertThrowsError(try TrainingFixture.train(tiny, ranks: 2)) { error in
            XCTAssertTrue("\(error)".contains("smaller than one global batch"), "\(error)")
        }
    }
}
