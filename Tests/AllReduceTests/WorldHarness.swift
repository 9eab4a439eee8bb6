import AllReduce
import Foundation
import XCTest

/// Runs a body on every rank of an in-process world and hands back what each rank returned,
/// so the assertions run on the test's own thread.
func gatherFromRanks<R>(size: Int, timeoutSeconds: Double = 60,
                        file: StaticString = #filePath, line: UInt = #line,
                        _ body: @escaping (any Communicator) throws -> R) throws -> [R] {
    let lock = NSLock()
    var results = [R?](repeating: nil, count: size)
    try InProcessWorld.run(size: size, timeoutSeconds: timeoutSeconds) { communicator in
        let result = try body(communicator)
        lock.lock()
        results[communicator.rank] = result
        lock.unlock()
    }
    return results.map { $0! }
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
