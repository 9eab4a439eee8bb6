import AllReduce
import Foundation
import XCTest

/// Mismatched collectives, aborting ranks and silent peers end in clear errors on every rank,
/// promptly: never a hang, never garbage. "Promptly" is shown by the kind of error, not by a
/// stopwatch: a rank that only stopped because its timeout expired says "did not answer".
final class FailureTests: XCTestCase {
    /// Runs `body` on every rank and returns, per rank, the error its body threw (nil if none).
    private func errorsFromRanks(size: Int, timeoutSeconds: Double = 30,
                                 _ body: @escaping (any Communicator) throws -> Void) throws -> [CommunicatorError?] {
        try gatherFromRanks(size: size, timeoutSeconds: timeoutSeconds) { communicator -> CommunicatorError? in
            do { try body(communicator); return nil } catch let error as CommunicatorError { return error }
        }
    }

    func testMismatchedLengthsThrowOnEveryRankWithoutWaitingForTheTimeout() throws {
        for ranks in 2...5 {
            for algorithm in [AllReduceAlgorithm.ring, .recursiveDoubling] {
                let errors = try errorsFromRanks(size: ranks) { communicator in
                    communicator.workspace.algorithm = algorithm
                    var values = [Float](repeating: 1, count: communicator.rank == 0 ? 10 : 11)
                    try communicator.allReduce(&values)
                }
                for (r, error) in errors.enumerated() {
                    let text = error.map { "\($0)" } ?? "no error"
                    XCTAssertTrue(text.contains("collective mismatch"), "P=\(ranks) \(algorithm) rank \(r): \(text)")
                }
            }
        }
    }

    func testTheMismatchNamesBothCalls() throws {
        let errors = try errorsFromRanks(size: 2) { communicator in
            communicator.workspace.algorithm = .ring
            var values = [Float](repeating: 1, count: communicator.rank == 0 ? 10 : 11)
            try communicator.allReduce(&values)
        }
        // Rank 1 hears from rank 0 first (its left neighbour) or from rank 0's notice; either way
        // the line names the two calls.
        let line = "\(errors[1]!)"
        XCTAssertTrue(line.contains("allReduce(ring, sum) of 11 Float") && line.contains("allReduce(ring, sum) of 10"), line)
    }

    func testDifferentCollectivesThrowOnEveryRankByTheNextCall() throws {
        for ranks in 2...4 {
            let errors = try errorsFromRanks(size: ranks) { communicator in
                var values = [Float](repeating: 1, count: 8)
                // Rank 0 broadcasts while the others allreduce; the root needs nobody to finish
                // its part, so it meets the failure at its next call.
                if communicator.rank == 0 { try communicator.broadcast(&values) } else { try communicator.allReduce(&values) }
                try communicator.barrier()
            }
            for (r, error) in errors.enumerated() {
                XCTAssertTrue(error.map { "\($0)".contains("collective mismatch") } ?? false,
                              "P=\(ranks) rank \(r): \(error.map { "\($0)" } ?? "no error")")
            }
        }
    }

    func testAnAbortingRankMakesTheOthersThrowInsteadOfHanging() throws {
        struct BadInput: Error, CustomStringConvertible { var description: String { "train.idx: wrong magic" } }
        let lock = NSLock()
        var seen = [String](repeating: "", count: 3)
        XCTAssertThrowsError(try InProcessWorld.run(size: 3, timeoutSeconds: 60) { communicator in
            do {
                if communicator.rank == 1 {
                    communicator.abort(message: "train.idx: wrong magic")
                    throw BadInput()
                }
                var values = [Float](repeating: 1, count: 1000)
                try communicator.allReduce(&values)
                try communicator.allReduce(&values)
            } catch {
                lock.lock(); seen[communicator.rank] = "\(error)"; lock.unlock()
                throw error
            }
        }) { error in
            XCTAssertTrue(error is BadInput, "run rethrows the cause, not an echo: \(error)")
        }
        XCTAssertEqual(seen[0], "rank 1 aborted the job: train.idx: wrong magic")
        XCTAssertEqual(seen[2], "rank 1 aborted the job: train.idx: wrong magic")
    }

    func testARankThatThrowsWithoutAbortingStillReleasesTheOthers() throws {
        struct Crash: Error {}
        let lock = NSLock()
        var seen = [String](repeating: "", count: 4)
        XCTAssertThrowsError(try InProcessWorld.run(size: 4, timeoutSeconds: 60) { communicator in
            do {
                if communicator.rank == 3 { throw Crash() }
                var values = [Double](repeating: 1, count: 10)
                try communicator.allReduce(&values)
            } catch {
                lock.lock(); seen[communicator.rank] = "\(error)"; lock.unlock()
                throw error
            }
        }) { error in
            XCTAssertTrue(error is Crash, "\(error)")
        }
        // Released by rank 3's failure, not by their own 60 s timeout.
        for r in 0..<3 {
            XCTAssertTrue(seen[r].contains("rank 3") && !seen[r].contains("did not answer"), "rank \(r): \(seen[r])")
        }
    }

    func testASilentPeerIsNamedWhenTheTimeoutExpires() throws {
        for algorithm in [AllReduceAlgorithm.ring, .recursiveDoubling] {
            let errors = try errorsFromRanks(size: 3, timeoutSeconds: 0.3) { communicator in
                // Rank 0 never joins; ranks 1 and 2 allreduce and wait for it, directly or not.
                if communicator.rank == 0 { return }
                communicator.workspace.algorithm = algorithm
                var values = [Float](repeating: 1, count: 100)
                try communicator.allReduce(&values)
            }
            XCTAssertNil(errors[0])
            // Every waiting rank reports a timeout (its own, or another's it heard of). Rank 1
            // waits directly for rank 0 under both algorithms: it names rank 0 as silent, or, if
            // a rank waiting on rank 1 timed out first, says it was itself waiting for rank 0.
            for r in 1...2 {
                let text = errors[r].map { "\($0)" } ?? "no error"
                XCTAssertTrue(text.contains("did not answer within 0.3 s"), "\(algorithm) rank \(r): \(text)")
            }
            let first = errors[1].map { "\($0)" } ?? "no error"
            XCTAssertTrue(first.contains("rank 0 did not answer") || first.contains("waiting for rank 0"),
                          "\(algorithm) rank 1: \(first)")
        }
    }

    func testAFailedCommunicatorKeepsFailingButADuplicateMadeBeforeStillWorks() throws {
        let results = try gatherFromRanks(size: 2) { communicator -> [String] in
            let healthy = try communicator.duplicate()
            var values = [Float](repeating: 1, count: communicator.rank == 0 ? 4 : 5)
            var outcome: [String] = []
            do { try communicator.allReduce(&values) } catch { outcome.append("first") }
            do { try communicator.barrier() } catch { outcome.append("again") }
            var ok: [Float] = [Float(communicator.rank)]
            try healthy.allReduce(&ok)
            outcome.append("healthy \(ok[0])")
            return outcome
        }
        XCTAssertEqual(results, [["first", "again", "healthy 1.0"], ["first", "again", "healthy 1.0"]])
    }
}
