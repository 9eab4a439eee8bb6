import AllReduce
import Foundation
import Platform
import XCTest

/// Gradient buckets against one plain allreduce of the whole buffer and a Double reference.
final class GradientBucketsTests: XCTestCase {
    func testBucketsAreCutFromTheEndWithTheRemainderAtOffsetZero() throws {
        let ranges = try gatherFromRanks(size: 1) { communicator -> [Range<Int>] in
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: 10)
            defer { buffer.deallocate() }
            return try GradientBuckets(communicator: communicator, buffer: buffer, count: 10, capBytes: 16, overlap: false).ranges
        }
        XCTAssertEqual(ranges[0], [6..<10, 2..<6, 0..<2])
    }

    /// A fake model: layer sizes from a seed; backward reports each layer's start offset from the
    /// last layer to the first, with repeats and a few out-of-order (late, higher) reports mixed
    /// in, different on every rank.
    private func readinessSequence(count: Int, seed: UInt64) -> [Int] {
        var state = seed
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(state >> 33) % bound
        }
        var offsets: [Int] = []
        var offset = count
        while offset > 0 {
            offset = max(0, offset - 1 - next(1500))
            offsets.append(offset)
            if next(4) == 0 { offsets.append(min(count, offset + next(3000))) }
        }
        return offsets
    }

    func testBucketsGiveTheAverageOfOneAllReduceForRandomReadinessOrders() throws {
        let count = 10_007
        for ranks in 1...5 {
            let inputs = (0..<ranks).map { r in TestValues.vector(count: count, rank: r, random: true).map { Float($0) } }
            let results = try gatherFromRanks(size: ranks) { communicator -> [[Float]] in
                let rank = communicator.rank
                var whole = inputs[rank]
                try communicator.allReduce(&whole, op: .average)
                var outputs = [whole]
                for overlap in [false, true] {
                    var gradients = inputs[rank]
                    try gradients.withUnsafeMutableBufferPointer { buffer in
                        let buckets = try GradientBuckets(communicator: communicator, buffer: buffer.baseAddress!,
                                                          count: count, capBytes: 4096, overlap: overlap)
                        for offset in self.readinessSequence(count: count, seed: UInt64(rank * 2 + (overlap ? 1 : 0))) {
                            buckets.gradientReady(offset)
                        }
                        try buckets.finish()
                    }
                    outputs.append(gradients)
                }
                return outputs
            }
            let label = "P=\(ranks)"
            assertBitwiseIdentical(results.map { $0[2] }, label + " overlap on")
            for r in 0..<ranks {
                XCTAssertEqual(results[r][1], results[r][2], label + ": overlap off and on give the same bits")
            }
            let epsilon = Double(Float.ulpOfOne)
            for i in 0..<count {
                var exact = 0.0, magnitude = 0.0
                for r in 0..<ranks { exact += Double(inputs[r][i]); magnitude += abs(Double(inputs[r][i])) }
                exact /= Double(ranks); magnitude /= Double(ranks)
                let bound = Double(ranks) * epsilon * magnitude + epsilon * abs(exact)
                let bucketed = Double(results[0][2][i]), whole = Double(results[0][0][i])
                if abs(bucketed - exact) > bound || abs(whole - exact) > bound {
                    XCTFail("\(label) element \(i): buckets \(bucketed), one allreduce \(whole), exact \(exact)")
                    break
                }
            }
            // With two ranks every element is one commutative addition: bucketing cannot change a bit.
            if ranks <= 2 { XCTAssertEqual(results[0][0], results[0][2], label) }
        }
    }

    func testBucketsStayCorrectOverManySteps() throws {
        let count = 3000
        let results = try gatherFromRanks(size: 3) { communicator -> [Float] in
            var gradients = [Float](repeating: 0, count: count)
            var sums: [Float] = []
            try gradients.withUnsafeMutableBufferPointer { buffer in
                let buckets = try GradientBuckets(communicator: communicator, buffer: buffer.baseAddress!, count: count,
                                                  capBytes: 1024, overlap: true)
                for step in 0..<5 {
                    for i in 0..<count { buffer[i] = Float(communicator.rank + step) }
                    for offset in stride(from: count - 100, through: 0, by: -100) { buckets.gradientReady(offset) }
                    try buckets.finish()
                    sums.append(buffer[0] + buffer[count - 1])
                }
                // Timing counters add up over steps.
                sums.append(buckets.total.communicationSeconds > 0 ? 1 : 0)
                sums.append(buckets.total.waitSeconds >= buckets.lastStep.waitSeconds ? 1 : 0)
            }
            return sums
        }
        // The average of rank + step over ranks 0, 1, 2 is 1 + step, at both ends of the buffer.
        XCTAssertEqual(results[0], [2, 4, 6, 8, 10, 1, 1])
    }

    func testWithOverlapTheFirstBucketRunsBeforeFinishIsCalled() throws {
        let times = try gatherFromRanks(size: 2) { communicator -> (first: Double, last: Double, finishCalled: Double, buckets: Int) in
            let count = 4096
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: count)
            defer { buffer.deallocate() }
            buffer.initialize(repeating: 1, count: count)
            let buckets = try GradientBuckets(communicator: communicator, buffer: buffer, count: count,
                                              capBytes: 4096, overlap: true)
            buckets.gradientReady(count - 1024)      // exactly bucket 0 is final
            Thread.sleep(forTimeInterval: 0.2)       // "the rest of backward"
            let finishCalled = MonotonicClock.seconds()
            try buckets.finish()
            return (buckets.bucketTimes[0].end, buckets.bucketTimes[3].start, finishCalled, buckets.ranges.count)
        }
        for (r, t) in times.enumerated() {
            XCTAssertEqual(t.buckets, 4)
            XCTAssertLessThan(t.first, t.finishCalled, "rank \(r): bucket 0 was done while backward still ran")
            XCTAssertGreaterThanOrEqual(t.last, t.finishCalled, "rank \(r): bucket 3 waited for its gradients")
        }
    }

    func testAMismatchedBucketLayoutFailsInFinishOnEveryRank() throws {
        for overlap in [false, true] {
            let outcomes = try gatherFromRanks(size: 2, timeoutSeconds: 30) { communicator -> String in
                let count = communicator.rank == 0 ? 100 : 101
                let buffer = UnsafeMutablePointer<Float>.allocate(capacity: count)
                defer { buffer.deallocate() }
                buffer.initialize(repeating: 1, count: count)
                let buckets = try GradientBuckets(communicator: communicator, buffer: buffer, count: count, overlap: overlap)
                do { try buckets.finish() } catch { return "\(error)" }
                return "finished"
            }
            for (r, outcome) in outcomes.enumerated() {
                XCTAssertTrue(outcome.contains("collective mismatch"), "overlap \(overlap) rank \(r): \(outcome)")
            }
        }
    }
}
