import XCTest
@testable import Data
import Tensor

/// The sampler against DESIGN.md's definition: P ranks x B equal 1 rank x P*B, disjoint slices,
/// no repeats, identical permutations on every rank, new ones every epoch, exact eval sharding.
final class DistributedSamplerTests: XCTestCase {
    /// The documented derivation, transcribed: seed XOR SplitMix64 output of the epoch.
    private func referencePermutation(count: Int, seed: UInt64, epoch: Int) -> [Int] {
        var z = UInt64(epoch) &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        var rng = SeededRNG(seed: seed ^ (z ^ (z >> 31)))
        return rng.permutation(count)
    }

    private let configurations = [(n: 1000, b: 8, p: 4), (n: 103, b: 5, p: 2), (n: 64, b: 16, p: 4), (n: 17, b: 1, p: 17), (n: 50, b: 7, p: 3)]

    func testRanksTogetherEqualOneRankWithTheGlobalBatch() throws {
        for (n, b, p) in configurations {
            let single = try DistributedSampler(count: n, batchSize: b * p, ranks: 1, rank: 0, seed: 11)
            let ranks = try (0..<p).map { try DistributedSampler(count: n, batchSize: b, ranks: p, rank: $0, seed: 11) }
            XCTAssertEqual(single.stepsPerEpoch, n / (b * p))
            for epoch in 0..<3 {
                var seen = Set<Int>()
                for step in 0..<single.stepsPerEpoch {
                    let slices = ranks.map { Array($0.indices(epoch: epoch, step: step)) }
                    XCTAssertEqual(slices.flatMap { $0 }, Array(single.indices(epoch: epoch, step: step)))
                    for slice in slices {
                        XCTAssertEqual(slice.count, b)
                        for i in slice {
                            XCTAssertTrue((0..<n).contains(i))
                            XCTAssertTrue(seen.insert(i).inserted, "sample \(i) twice in epoch \(epoch)")
                        }
                    }
                }
                XCTAssertEqual(seen.count, single.stepsPerEpoch * b * p)
            }
        }
    }

    /// P ranks x N micro-batches of B: micro-batch m of rank r is the (r*N + m)-th B of the step's
    /// global batch, so together they are one rank's batch of P*N*B, and each rank's N
    /// micro-batches are what it takes with batch N*B and no accumulation.
    func testMicroBatchesTogetherEqualOneRankWithTheGlobalBatch() throws {
        for (n, b, p, accumulate) in [(1000, 8, 4, 2), (103, 5, 2, 3), (64, 4, 1, 16), (50, 1, 3, 5)] {
            let single = try DistributedSampler(count: n, batchSize: b * p * accumulate, ranks: 1, rank: 0, seed: 5)
            let ranks = try (0..<p).map {
                try DistributedSampler(count: n, batchSize: b, ranks: p, rank: $0, accumulate: accumulate, seed: 5)
            }
            let whole = try (0..<p).map { try DistributedSampler(count: n, batchSize: b * accumulate, ranks: p, rank: $0, seed: 5) }
            XCTAssertEqual(ranks[0].globalBatchSize, b * p * accumulate)
            XCTAssertEqual(ranks[0].stepsPerEpoch, n / (b * p * accumulate))
            for epoch in 0..<2 {
                for step in 0..<single.stepsPerEpoch {
                    let perRank = ranks.map { r in (0..<accumulate).flatMap { r.indices(epoch: epoch, step: step, microBatch: $0) } }
                    XCTAssertEqual(perRank.flatMap { $0 }, Array(single.indices(epoch: epoch, step: step)))
                    XCTAssertEqual(perRank, whole.map { Array($0.indices(epoch: epoch, step: step)) })
                    XCTAssertTrue(ranks.allSatisfy { r in (0..<accumulate).allSatisfy { r.indices(epoch: epoch, step: step, microBatch: $0).count == b } })
                }
            }
        }
        XCTAssertThrowsError(try DistributedSampler(count: 100, batchSize: 8, ranks: 2, rank: 0, accumulate: 0, seed: 0))
        XCTAssertThrowsError(try DistributedSampler(count: 100, batchSize: 8, ranks: 2, rank: 0, accumulate: 7, seed: 0)) { error in
            XCTAssertEqual("\(error)", "dataset of 100 samples is smaller than one global batch 8 x 2 x 7 = 112 "
                + "(lower --batch-size, --accumulate or the number of ranks)")
        }
    }

    func testPermutationMatchesDocumentedDerivation() throws {
        let sampler = try DistributedSampler(count: 97, batchSize: 4, ranks: 3, rank: 1, seed: 123_456)
        for epoch in [0, 1, 2, 1000] {
            let perm = referencePermutation(count: 97, seed: 123_456, epoch: epoch)
            XCTAssertEqual(DistributedSampler.permutation(count: 97, seed: 123_456, epoch: epoch), perm)
            for step in 0..<sampler.stepsPerEpoch {
                let start = step * 12 + 4
                XCTAssertEqual(Array(sampler.indices(epoch: epoch, step: step)), Array(perm[start..<(start + 4)]))
            }
        }
        XCTAssertEqual(Set(referencePermutation(count: 97, seed: 1, epoch: 0)), Set(0..<97))
    }

    func testEpochsAndSeedsDiffer() throws {
        let a = DistributedSampler.permutation(count: 500, seed: 7, epoch: 0)
        XCTAssertNotEqual(a, DistributedSampler.permutation(count: 500, seed: 7, epoch: 1))
        XCTAssertNotEqual(a, DistributedSampler.permutation(count: 500, seed: 8, epoch: 0))
        XCTAssertEqual(a, DistributedSampler.permutation(count: 500, seed: 7, epoch: 0))
        // Seeds that a naive seed + epoch would confuse stay apart.
        XCTAssertNotEqual(DistributedSampler.permutation(count: 500, seed: 1, epoch: 0),
                          DistributedSampler.permutation(count: 500, seed: 0, epoch: 1))
        // Going back to an earlier epoch (a resume) gives its permutation again.
        let sampler = try DistributedSampler(count: 500, batchSize: 10, ranks: 1, rank: 0, seed: 7)
        let first = Array(sampler.indices(epoch: 0, step: 3))
        _ = sampler.indices(epoch: 5, step: 0)
        XCTAssertEqual(Array(sampler.indices(epoch: 0, step: 3)), first)
    }

    func testNoShuffleIsIdentityOrder() throws {
        for rank in 0..<3 {
            let sampler = try DistributedSampler(count: 100, batchSize: 6, ranks: 3, rank: rank, seed: 99, shuffle: false)
            XCTAssertEqual(sampler.stepsPerEpoch, 5)
            for epoch in 0..<2 {
                for step in 0..<5 {
                    let start = step * 18 + rank * 6
                    XCTAssertEqual(Array(sampler.indices(epoch: epoch, step: step)), Array(start..<(start + 6)))
                }
            }
        }
    }

    func testSliceDoesNotCopyThePermutation() throws {
        let sampler = try DistributedSampler(count: 60000, batchSize: 64, ranks: 4, rank: 2, seed: 1)
        let slice = sampler.indices(epoch: 0, step: 10)
        XCTAssertEqual(slice.startIndex, 10 * 256 + 2 * 64)
        let again = sampler.indices(epoch: 0, step: 11)
        slice.withUnsafeBufferPointer { a in
            again.withUnsafeBufferPointer { b in XCTAssertEqual(a.baseAddress! + 256, b.baseAddress!) }
        }
    }

    func testEvaluationRangesCoverEverySampleOnce() {
        for n in 0...60 {
            for p in 1...9 {
                var covered = [Int](repeating: 0, count: n)
                var previousEnd = 0
                var sizes: [Int] = []
                for r in 0..<p {
                    let range = DistributedSampler.evaluationRange(count: n, rank: r, ranks: p)
                    XCTAssertEqual(range.lowerBound, previousEnd, "ranges must be contiguous and ordered")
                    // The PyTorch peer shards with r * N // P.
                    XCTAssertEqual(range, (r * n / p)..<((r + 1) * n / p))
                    previousEnd = range.upperBound
                    sizes.append(range.count)
                    for i in range { covered[i] += 1 }
                }
                XCTAssertEqual(previousEnd, n)
                XCTAssertTrue(covered.allSatisfy { $0 == 1 })
                XCTAssertLessThanOrEqual(sizes.max()! - sizes.min()!, 1)
            }
        }
        XCTAssertEqual(DistributedSampler.evaluationRange(count: 10000, rank: 3, ranks: 4), 7500..<10000)
        let huge = Int.max / 2
        XCTAssertEqual(DistributedSampler.evaluationRange(count: huge, rank: 6, ranks: 7).upperBound, huge)
    }
}
