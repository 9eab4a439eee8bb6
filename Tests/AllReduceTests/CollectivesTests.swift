import AllReduce
import Foundation
import XCTest

/// Broadcast, allgather, barrier and the point-to-point layer under them (in-process transport).
final class CollectivesTests: XCTestCase {
    func testBroadcastFromEveryRootGivesEveryRankTheRootsBits() throws {
        for ranks in 1...5 {
            for root in 0..<ranks {
                for count in [0, 1, 1001] {
                    let inputs = (0..<ranks).map { r in TestValues.vector(count: count, rank: r, random: true).map { Float($0) } }
                    let results = try gatherFromRanks(size: ranks) { communicator -> [Float] in
                        var values = inputs[communicator.rank]
                        try communicator.broadcast(&values, root: root)
                        return values
                    }
                    for r in 0..<ranks {
                        XCTAssertEqual(results[r].map(\.bitPattern), inputs[root].map(\.bitPattern),
                                       "P=\(ranks) root=\(root) n=\(count) rank \(r)")
                    }
                }
            }
        }
    }

    func testBroadcastThroughAPointerMovesDoubles() throws {
        let results = try gatherFromRanks(size: 3) { communicator -> [Double] in
            var values = [Double](repeating: Double(communicator.rank), count: 5)
            try values.withUnsafeMutableBufferPointer { try communicator.broadcast($0.baseAddress!, count: 5, root: 2) }
            return values
        }
        XCTAssertEqual(results, Array(repeating: Array(repeating: 2.0, count: 5), count: 3))
    }

    func testAllGatherOfVectorsWhoseLengthsDifferByRank() throws {
        // Rank r contributes (2r) % 3 values: lengths 0, 2, 1, 0, 2.
        func contribution(_ r: Int) -> [Double] { (0..<((2 * r) % 3)).map { Double(r * 10 + $0) } }
        for ranks in 1...5 {
            let results = try gatherFromRanks(size: ranks) { communicator in
                try communicator.allGather(contribution(communicator.rank))
            }
            for r in 0..<ranks {
                XCTAssertEqual(results[r], (0..<ranks).map(contribution), "P=\(ranks), as seen by rank \(r)")
            }
        }
    }

    func testAllGatherOfStrings() throws {
        let results = try gatherFromRanks(size: 4) { communicator in
            try communicator.allGather(communicator.rank == 2 ? "" : "model=fmnist-cnn seed=\(communicator.rank)")
        }
        let expected = ["model=fmnist-cnn seed=0", "model=fmnist-cnn seed=1", "", "model=fmnist-cnn seed=3"]
        XCTAssertEqual(results, Array(repeating: expected, count: 4))
    }

    func testBarrierHoldsEveryRankUntilAllHaveArrived() throws {
        for ranks in [2, 3, 5] {
            let lock = NSLock()
            var arrived = 0
            let seenAfterBarrier = try gatherFromRanks(size: ranks) { communicator -> Int in
                // Later ranks arrive later; nobody may leave before the last one came in.
                Thread.sleep(forTimeInterval: 0.02 * Double(communicator.rank))
                lock.lock(); arrived += 1; lock.unlock()
                try communicator.barrier()
                lock.lock(); defer { lock.unlock() }
                return arrived
            }
            XCTAssertEqual(seenAfterBarrier, Array(repeating: ranks, count: ranks), "P=\(ranks)")
        }
    }

    func testPointToPointIsFifoPerPairAndReportsTagsAndTruncation() throws {
        let received = try gatherFromRanks(size: 2) { communicator -> [(Envelope, [Float])] in
            if communicator.rank == 0 {
                var first: [Float] = [1, 2, 3]
                var second: [Float] = [4, 5, 6, 7, 8]
                try communicator.send(&first, count: 3, to: 1, tag: 7)
                try communicator.send(&second, count: 5, to: 1, tag: 9)
                return []
            }
            var buffer = [Float](repeating: 0, count: 3)
            let a = try communicator.receive(&buffer, count: 3, from: 0)
            let firstBuffer = buffer
            let b = try communicator.receive(&buffer, count: 3, from: 0)
            return [(a, firstBuffer), (b, buffer)]
        }
        XCTAssertEqual(received[1].map(\.0), [Envelope(tag: 7, byteCount: 12, truncated: false),
                                             Envelope(tag: 9, byteCount: 12, truncated: true)])
        XCTAssertEqual(received[1].map(\.1), [[1, 2, 3], [4, 5, 6]], "a truncated message keeps its first bytes")
    }

    func testDuplicateKeepsItsMessagesApartFromTheOriginals() throws {
        let tags = try gatherFromRanks(size: 2) { communicator -> [Int32] in
            let other = try communicator.duplicate()
            var byte: UInt8 = 0
            if communicator.rank == 0 {
                try other.send(&byte, count: 1, to: 1, tag: 5)
                try communicator.send(&byte, count: 1, to: 1, tag: 6)
                return []
            }
            // Read the original first: it must not see the duplicate's earlier message.
            return [try communicator.receive(&byte, count: 1, from: 0).tag, try other.receive(&byte, count: 1, from: 0).tag]
        }
        XCTAssertEqual(tags[1], [6, 5])
    }

    func testBadArgumentsAreOneLineErrorsNotCrashes() throws {
        let messages = try gatherFromRanks(size: 2) { communicator -> [String] in
            var values: [Float] = [1]
            var errors: [String] = []
            do { try communicator.broadcast(&values, root: 2) } catch { errors.append("\(error)") }
            do { try values.withUnsafeMutableBufferPointer { try communicator.allReduce($0.baseAddress!, count: -1) } }
            catch { errors.append("\(error)") }
            do { try communicator.send(&values, count: 1, to: 5, tag: 0) } catch { errors.append("\(error)") }
            return errors
        }
        XCTAssertEqual(messages[0], [
            "broadcast: root 2 is not a rank of this 2-rank world",
            "allReduce: count must be >= 0 (got -1)",
            "send: rank 5 is not in this 2-rank world",
        ])
    }
}
