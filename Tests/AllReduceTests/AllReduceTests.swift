import AllReduce
import XCTest

/// Ring and recursive-doubling allreduce over the in-process transport, P = 1...5, against a
/// reference sum computed in Double from the same (rounded) inputs.
final class AllReduceTests: XCTestCase {
    /// The size classes: empty, one element, fewer elements than ranks, one more than ranks, odd.
    private func sizes(ranks: Int) -> [Int] {
        Array(Set([0, 1, max(ranks - 1, 0), ranks + 1, 17, 1001])).sorted()
    }

    /// The ring with its default segments, the ring cut into 12-byte segments (many of them,
    /// some empty where chunks are short), and recursive doubling.
    private let configurations: [(algorithm: AllReduceAlgorithm, segmentBytes: Int)] =
        [(.ring, 256 << 10), (.ring, 12), (.recursiveDoubling, 0)]

    func testRankPlusOneGivesExactSumAndAverageForEverySizeClass() throws {
        for ranks in 1...5 {
            for count in sizes(ranks: ranks) {
                for (algorithm, segmentBytes) in configurations {
                    for op in [ReduceOp.sum, .average] {
                        try checkAllReduce(Float.self, ranks: ranks, count: count, random: false, op: op, algorithm: algorithm,
                                  segmentBytes: segmentBytes)
                        try checkAllReduce(Double.self, ranks: ranks, count: count, random: false, op: op, algorithm: algorithm,
                                  segmentBytes: segmentBytes)
                    }
                }
            }
        }
    }

    func testRandomValuesMatchDoubleReferenceForEverySizeClass() throws {
        for ranks in 1...5 {
            for count in sizes(ranks: ranks) {
                for (algorithm, segmentBytes) in configurations {
                    for op in [ReduceOp.sum, .average] {
                        try checkAllReduce(Float.self, ranks: ranks, count: count, random: true, op: op, algorithm: algorithm,
                                  segmentBytes: segmentBytes)
                        try checkAllReduce(Double.self, ranks: ranks, count: count, random: true, op: op, algorithm: algorithm,
                                  segmentBytes: segmentBytes)
                    }
                }
            }
        }
    }

    func testLargeUnevenBufferOverThreeAndFiveRanks() throws {
        let count = (1 << 20) + 3
        for ranks in [3, 5] {
            // Chunks of 1.4 and 0.8 MB: several 256 KiB segments per ring step.
            try checkAllReduce(Float.self, ranks: ranks, count: count, random: true, op: .average, algorithm: .ring)
        }
        try checkAllReduce(Float.self, ranks: 4, count: count, random: true, op: .sum, algorithm: .recursiveDoubling)
    }

    func testAutomaticTakesRecursiveDoublingUpToTheThresholdAndTheRingAbove() throws {
        let choices = try gatherFromRanks(size: 2) { communicator -> [AllReduceAlgorithm] in
            communicator.workspace.algorithm = .automatic
            communicator.workspace.latencyPathMaxBytes = 1024
            return [try communicator.chooseAlgorithm(bytes: 1024), try communicator.chooseAlgorithm(bytes: 1028)]
        }
        XCTAssertEqual(choices[0], [.recursiveDoubling, .ring])
    }

    /// The same pointer-based call the gradient buffer uses, repeated: results stay correct when
    /// the scratch is reused across calls of different lengths.
    func testRepeatedCallsOfChangingLengthReuseScratchCorrectly() throws {
        let lengths = [1000, 10, 5000, 0, 333]
        let results = try gatherFromRanks(size: 3) { communicator -> [[Float]] in
            communicator.workspace.algorithm = .ring
            return try lengths.map { n in
                let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(n, 1))
                defer { buffer.deallocate() }
                for i in 0..<n { buffer[i] = Float(communicator.rank * 1000 + i) }
                try communicator.allReduce(buffer, count: n, op: .sum)
                return Array(UnsafeBufferPointer(start: buffer, count: n))
            }
        }
        for (k, n) in lengths.enumerated() {
            XCTAssertEqual(results[1][k], results[0][k])
            XCTAssertEqual(results[2][k], results[0][k])
            XCTAssertEqual(results[0][k], (0..<n).map { Float(3000 + 3 * $0) }, "length \(n)")
        }
    }
}
