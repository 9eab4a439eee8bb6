import AllReduce
import Foundation
import XCTest

/// Runs a body on every rank of an in-process world and hands back what each rank returned,
/// so the assertions run on the test's own thread.
func gatherFromRanks<R>(size: Int, nodeSizes: [Int]? = nil, timeoutSeconds: Double = 60,
                        file: StaticString = #filePath, line: UInt = #line,
                        _ body: @escaping (any Communicator) throws -> R) throws -> [R] {
    let lock = NSLock()
    var results = [R?](repeating: nil, count: size)
    try InProcessWorld.run(size: size, nodeSizes: nodeSizes, timeoutSeconds: timeoutSeconds) { communicator in
        let result = try body(communicator)
        lock.lock()
        results[communicator.rank] = result
        lock.unlock()
    }
    return results.map { $0! }
}

/// Runs one allreduce on every rank (of a world laid out on nodes as `nodeSizes` says) and checks: same bits everywhere; within `tolerance`
/// ulps-of-the-magnitude of the Double reference (0: exact).
func checkAllReduce<T: ReducibleElement>(_: T.Type, ranks: Int, count: Int, random: Bool, op: ReduceOp,
                                         algorithm: AllReduceAlgorithm, segmentBytes: Int = 256 << 10,
                                         nodeSizes: [Int]? = nil, pieceBytes: Int = 1 << 20,
                                         file: StaticString = #filePath, line: UInt = #line) throws {
    // Inputs rounded to T, and the same rounded values in Double for the reference.
    let rounded = (0..<ranks).map { r in TestValues.vector(count: count, rank: r, random: random).roundedTo(T.self) }
    let inputs = rounded.map { values in
        [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            for i in 0..<count { buffer[i] = T(values[i]) }
            initialized = count
        }
    }
    let results = try gatherFromRanks(size: ranks, nodeSizes: nodeSizes) { communicator -> [T] in
        communicator.workspace.algorithm = algorithm
        communicator.workspace.ringSegmentBytes = segmentBytes
        communicator.workspace.hierarchyPieceBytes = pieceBytes
        var values = inputs[communicator.rank]
        try communicator.allReduce(&values, op: op)
        return values
    }
    let label: String = "\(T.self) P=\(ranks) nodes \(nodeSizes ?? [ranks]) n=\(count) \(random ? "random" : "rank+1") "
        + "\(op) \(algorithm) segments \(segmentBytes) pieces \(pieceBytes)"
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

/// Deterministic per-(seed, rank, index) values: SplitMix64, mapped to [-1, 1).
struct TestValues {
    static func uniform(seed: UInt64, rank: Int, index: Int) -> Double {
        var z = seed &+ UInt64(rank) &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(index) &* 0xD1B5_4A32_D192_ED03
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Double(z >> 11) / Double(1 << 53) * 2 - 1
    }

    /// Rank r's vector: either r + 1 everywhere or seeded random values.
    static func vector(count: Int, rank: Int, random: Bool, seed: UInt64 = 42) -> [Double] {
        // A plain loop: `map` over a range is slow in the debug builds tests run in.
        [Double](unsafeUninitializedCapacity: count) { buffer, initialized in
            for i in 0..<count { buffer[i] = random ? uniform(seed: seed, rank: rank, index: i) : Double(rank + 1) }
            initialized = count
        }
    }
}

/// Asserts that every rank holds the same bits.
func assertBitwiseIdentical<T>(_ perRank: [[T]], _ message: String, file: StaticString = #filePath, line: UInt = #line) {
    for r in 1..<max(perRank.count, 1) {
        let same = perRank[r].count == perRank[0].count && perRank[r].withUnsafeBytes { a in
            perRank[0].withUnsafeBytes { b in a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0 }
        }
        XCTAssertTrue(same, "\(message): rank \(r) does not hold rank 0's bits", file: file, line: line)
    }
}

extension Array where Element == Double {
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
