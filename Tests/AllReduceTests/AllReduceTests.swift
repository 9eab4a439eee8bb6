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

    /// Runs one allreduce on every rank and checks: same bits everywhere; within `tolerance`
    /// ulps-of-the-magnitude of the Double reference (0: exact).
    private func check<T: ReducibleElement>(_: T.Type, ranks: Int, count: Int, random: Bool, op: ReduceOp,
                                            algorithm: AllReduceAlgorithm, segmentBytes: Int = 256 << 10,
                                            file: StaticString = #filePath,
                                            line: UInt = #line) throws {
        // Inputs rounded to T, and the same rounded values in Double for the reference.
        let rounded = (0..<ranks).map { r in TestValues.vector(count: count, rank: r, random: random).roundedTo(T.self) }
        let inputs = rounded.map { values in
            [T](unsafeUninitializedCapacity: count) { buffer, initialized in
                for i in 0..<count { buffer[i] = T(values[i]) }
                initialized = count
            }
        }
        let results = try gatherFromRanks(size: ranks) { communicator -> [T] in
            communicator.workspace.algorithm = algorithm
            communicator.workspace.ringSegmentBytes = segmentBytes
            var values = inputs[communicator.rank]
            try communicator.allReduce(&values, op: op)
            return values
        }
        let label = "\(T.self) P=\(ranks) n=\(count) \(random ? "random" : "rank+1") \(op) \(algorithm) segments \(segmentBytes)"
        assertBitwiseIdentical(results, label, file: file, line: line)
        XCTAssertEqual(results[0].count, count, label, file: file, line: line)
        let result = [Double](unsafeUninitializedCapacity: count) { buffer, initialized in
            for i in 0..<count { buffer[i] = Double(results[0][i]) }
            initialized = count
        }
        let epsilon = Double(T.ulpOfOne)
        for i in 0..<count {
            var reference = 0.0, magnitude = 0.0
            for r in 0..<ranks { reference += rounded[r][i]; magnitude += abs(rounded[r][i]) }
            if op == .average { reference /= Double(ranks); magnitude /= Double(ranks) }
            // P - 1 roundings of partial sums bounded by the magnitude, plus the division's one.
            let bound = random ? Double(ranks) * epsilon * magnitude + epsilon * abs(reference) : 0
            let error = abs(result[i] - reference)
            if error > bound {
                XCTFail("\(label): element \(i) = \(result[i]), reference \(reference), error \(error) > \(bound)",
                        file: file, line: line)
                return
            }
        }
    }

    func testRankPlusOneGivesExactSumAndAverageForEverySizeClass() throws {
        for ranks in 1...5 {
            for count in sizes(ranks: ranks) {
                for (algorithm, segmentBytes) in configurations {
                    for op in [ReduceOp.sum, .average] {
                        try check(Float.self, ranks: ranks, count: count, random: false, op: op, algorithm: algorithm,
                                  segmentBytes: segmentBytes)
                        try check(Double.self, ranks: ranks, count: count, random: false, op: op, algorithm: algorithm,
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
                        try check(Float.self, ranks: ranks, count: count, random: true, op: op, algorithm: algorithm,
                                  segmentBytes: segmentBytes)
                        try check(Double.self, ranks: ranks, count: count, random: true, op: op, algorithm: algorithm,
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
            try check(Float.self, ranks: ranks, count: count, random: true, op: .average, algorithm: .ring)
        }
        try check(Float.self, ranks: 4, count: count, random: true, op: .sum, algorithm: .recursiveDoubling)
    }

    func testAutomaticTakesRecursiveDoublingUpToTheThresholdAndTheRingAbove() throws {
        let choices = try gatherFromRanks(size: 2) { communicator -> [AllReduceAlgorithm] in
            communicator.workspace.algorithm = .automatic
            communicator.workspace.latencyPathMaxBytes = 1024
            return [communicator.chooseAlgorithm(bytes: 1024), communicator.chooseAlgorithm(bytes: 1028)]
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

private extension Array where Element == Double {
    /// Each value rounded to `T` and back: what the ranks' T inputs are, exactly, in Double.
    func roundedTo<T: ReducibleElement>(_: T.Type) -> [Double] {
        if T.self == Float.self {
            return [Double](unsafeUninitializedCapacity: count) { buffer, initialized in
                for i in 0..<count { buffer[i] = Double(Float(self[i])) }
                initialized = count
            }
        }
        return self
    }
}
