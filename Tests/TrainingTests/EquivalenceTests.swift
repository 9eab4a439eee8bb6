import AllReduce
import Layers
import XCTest
@testable import Training

/// DESIGN.md's promise: P ranks with batch B train exactly like 1 rank with batch P*B (exact
/// sharding, averaged gradients, SyncBN), up to the order of floating-point sums.
final class EquivalenceTests: XCTestCase {
    func testRanksWithSyncBNEqualOneBigBatch() throws {
        for ranks in [2, 4] {
            var one = TrainingFixture.config(batch: 8 * ranks, steps: 6)
            one.syncBN = true
            var many = TrainingFixture.config(batch: 8, steps: 6)
            many.syncBN = true
            let big = try TrainingFixture.train(one, ranks: 1)
            let split = try TrainingFixture.train(many, ranks: ranks)
            XCTAssertEqual(big.globalStep, 6)
            XCTAssertEqual(split.globalStep, 6)
            let diff = TrainingFixture.maxRelativeDifference(big.parameters, split.parameters)
            print("P=\(ranks): max relative parameter difference after 6 steps \(diff)")
            XCTAssertLessThan(diff, 1e-5, "P=\(ranks)")
            // The loss each step reports is the mean over all P x B samples (the ranks' losses
            // averaged): it must be the one big batch's loss at every step.
            XCTAssertEqual(big.losses.count, 6)
            XCTAssertEqual(split.losses.count, 6)
            var lossDiff = 0.0
            for (x, y) in zip(big.losses, split.losses) { lossDiff = max(lossDiff, abs(x - y) / max(abs(x), abs(y), 1e-3)) }
            print("P=\(ranks): max relative loss difference over 6 steps \(lossDiff)")
            XCTAssertLessThan(lossDiff, 1e-5, "P=\(ranks)")
            // The losses did change, so they are a per-step comparison, not one number repeated.
            XCTAssertGreaterThan(Set(big.losses).count, 1)
            // And the parameters did move: the comparison is not between two untouched inits.
            let initial = try Model(spec: one.model, inputShape: [1, 12, 12], classes: 4, seed: one.seed)
            XCTAssertGreaterThan(TrainingFixture.maxRelativeDifference(Array(initial.parameters.buffer), big.parameters), 1e-3)
        }
    }

    /// Under `--precision bf16` too (where the CPU has it): an image's activations round the same
    /// way on any rank, so P ranks still train like one big batch, up to the order of sums (and
    /// a value that lands on the other side of a bf16 rounding boundary because of it); and bf16
    /// did run: the result is not the FP32 run's.
    func testBF16RanksWithSyncBNEqualOneBigBatch() throws {
        let (diff, fromFP32) = try bf16Distances(spec: TrainingFixture.bnSpec)
        XCTAssertLessThan(diff, 1e-4)
        XCTAssertGreaterThan(fromFP32, 10 * diff)
    }

    /// The same with a stride-2 layer on the bf16 kernels (`BF16StridedConvolution`) feeding a
    /// stride-1 one. Two bf16 layers in a row on 6x6 planes let more roundings flip with the
    /// order of the SyncBN sums: 7.9e-4 here, 1.3e-3 for the same net with a max pool in place of
    /// the stride (no strided kernel at all), against 4e-6 for the stride-2 layer alone. So the
    /// bound is relative: within a tenth of the distance to the FP32 run (3.2e-2).
    func testBF16StridedLayerRanksWithSyncBNEqualOneBigBatch() throws {
        let (diff, fromFP32) = try bf16Distances(spec: "c8k3p1nb-bn-relu-c16s2nb-bn-relu-c16nb-bn-relu-gap-fc")
        XCTAssertLessThan(diff, fromFP32 / 10)
    }

    /// 6 bf16 steps of `spec` with SyncBN: the largest relative parameter difference of 2 ranks
    /// of 8 from 1 rank of 16, and of that rank from the same run in FP32. With He's init: the
    /// default's conv weights are 2.4 times smaller, so behind a BatchNorm their steps are about 6
    /// times larger relative to them, and six such steps of these small nets amplify the flipped
    /// roundings (to 0.12 for the stride-2 net, against 0.39 from FP32).
    private func bf16Distances(spec: String) throws -> (ranks: Double, fromFP32: Double) {
        if let problem = Precision.bf16.problem { throw XCTSkip(problem) }
        var one = TrainingFixture.config(spec: spec, batch: 16, steps: 6)
        one.weightInit = .kaiming
        one.syncBN = true
        one.precision = .bf16
        var many = one
        many.batchSize = 8
        var fp32 = one
        fp32.precision = .fp32
        let big = try TrainingFixture.train(one, ranks: 1), split = try TrainingFixture.train(many, ranks: 2)
        let plain = try TrainingFixture.train(fp32, ranks: 1)
        let diff = TrainingFixture.maxRelativeDifference(big.parameters, split.parameters)
        let fromFP32 = TrainingFixture.maxRelativeDifference(big.parameters, plain.parameters)
        print("bf16 \(spec), P=2: max relative parameter difference after 6 steps \(diff); from the FP32 run \(fromFP32)")
        return (diff, fromFP32)
    }

    /// Without SyncBN the batch statistics differ per rank, so the runs must differ: the
    /// equivalence above is SyncBN's doing, not an accident of the test.
    func testLocalBatchNormDiffersFromOneBigBatch() throws {
        let big = try TrainingFixture.train(TrainingFixture.config(batch: 16, steps: 4), ranks: 1)
        let split = try TrainingFixture.train(TrainingFixture.config(batch: 8, steps: 4), ranks: 2)
        XCTAssertGreaterThan(TrainingFixture.maxRelativeDifference(big.parameters, split.parameters), 1e-5)
    }

    /// Overlapping bucket allreduce with backward must not change a single bit, with gradient
    /// accumulation too (the last micro-batch folds the sum in while buckets are in flight).
    func testOverlapDoesNotChangeResults() throws {
        for accumulate in [1, 2] {
            var a = TrainingFixture.config(batch: 8, steps: 5)
            a.bucketCapMB = 0.001 // many tiny buckets, so overlap really interleaves with backward
            a.overlap = false
            a.accumulate = accumulate
            var b = a
            b.overlap = true
            let x = try TrainingFixture.train(a, ranks: 3)
            let y = try TrainingFixture.train(b, ranks: 3)
            XCTAssertEqual(x.parameters, y.parameters, "accumulate \(accumulate)")
        }
    }

    /// Through the node first (2 nodes of 2 ranks, chosen automatically and forced; overlap on,
    /// so the communication thread's duplicate learns the nodes too): the same training as one big
    /// batch and as the flat ring, up to the order of sums, and the same bits on every rank.
    func testHierarchicalAllReduceAcrossNodesEqualsOneBigBatch() throws {
        var ring = TrainingFixture.config(batch: 8, steps: 6)
        ring.syncBN = true
        ring.bucketCapMB = 0.01
        ring.overlap = true
        ring.allreduce = .ring
        var big = TrainingFixture.config(batch: 32, steps: 6)
        big.syncBN = true
        let reference = try TrainingFixture.train(big, ranks: 1)
        let ringRun = try TrainingFixture.train(ring, ranks: 4)
        for algorithm in [AllReduceAlgorithm.automatic, .hierarchical] {
            var nodes = ring
            nodes.allreduce = algorithm
            let ranks = try TrainingFixture.trainAllRanks(nodes, ranks: 4, nodeSizes: [2, 2])
            for r in 1..<4 { XCTAssertTrue(ranks[r].parameters == ranks[0].parameters, "\(algorithm): rank \(r) differs from rank 0") }
            XCTAssertLessThan(TrainingFixture.maxRelativeDifference(reference.parameters, ranks[0].parameters), 1e-5, "\(algorithm)")
            XCTAssertLessThan(TrainingFixture.maxRelativeDifference(ringRun.parameters, ranks[0].parameters), 1e-5, "\(algorithm)")
            // The ring adds in another order: different bits show that the hierarchy ran.
            XCTAssertFalse(ringRun.parameters == ranks[0].parameters, "\(algorithm): the ring's bits")
        }
    }

    /// `--accumulate N`: P ranks x N micro-batches of B train like one rank with batch P*N*B
    /// (the same samples, the mean gradient over them, one update per step) on a model without
    /// BatchNorm, up to the order of floating-point sums; an epoch has floor(256 / (P*N*B)) steps.
    func testAccumulatedMicroBatchesEqualOneBigBatch() throws {
        let spec = "c8k3p1-relu-mp2-c16k3p1-relu-gap-fc"
        for (ranks, accumulate) in [(1, 4), (2, 2), (4, 2)] {
            let big = try TrainingFixture.train(TrainingFixture.config(spec: spec, batch: 8 * ranks * accumulate, epochs: 2,
                                                                       steps: 6), ranks: 1)
            var micro = TrainingFixture.config(spec: spec, batch: 8, epochs: 2, steps: 6)
            micro.accumulate = accumulate
            let split = try TrainingFixture.train(micro, ranks: ranks)
            XCTAssertEqual(split.globalStep, 6)
            // Within 1e-5 absolute, with a wide margin (about 3e-8 is seen). Relative to the
            // parameter (floor 1e-3) it is about 1e-5: those near zero carry the rounding of the
            // sums over the batch, which are cut into micro-batches here and added in another order.
            let absolute = TrainingFixture.maxAbsoluteDifference(big.parameters, split.parameters)
            let relative = TrainingFixture.maxRelativeDifference(big.parameters, split.parameters)
            print("P=\(ranks) N=\(accumulate): max parameter difference after 6 steps \(absolute), relative \(relative)")
            XCTAssertLessThan(absolute, 1e-6, "P=\(ranks) N=\(accumulate)")
            XCTAssertLessThan(relative, 1e-4, "P=\(ranks) N=\(accumulate)")
            var lossDiff = 0.0
            for (x, y) in zip(big.losses, split.losses) { lossDiff = max(lossDiff, abs(x - y) / max(abs(x), abs(y), 1e-3)) }
            XCTAssertLessThan(lossDiff, 1e-5, "P=\(ranks) N=\(accumulate): the step's loss is the global batch's mean")
            let initial = try Model(spec: spec, inputShape: [1, 12, 12], classes: 4, seed: micro.seed)
            XCTAssertGreaterThan(TrainingFixture.maxRelativeDifference(Array(initial.parameters.buffer), split.parameters), 1e-3)
        }
        var epoch = TrainingFixture.config(spec: spec, batch: 8)
        epoch.accumulate = 2
        let one = try TrainingFixture.train(epoch, ranks: 2)
        XCTAssertEqual(one.globalStep, 8, "256 samples / (2 ranks x 8 x 2) = 8 optimizer steps")
        XCTAssertEqual(one.epochs.last?.step, 8)
    }

    /// With BatchNorm (no SyncBN) each micro-batch is normalized by its own statistics: P ranks x
    /// N micro-batches of B train like P*N ranks of B (the sampler hands both the same groups of
    /// B samples), not like one rank with batch P*N*B.
    func testAccumulationNormalizesEachMicroBatchOnItsOwn() throws {
        var micro = TrainingFixture.config(batch: 8, epochs: 2, steps: 6)
        micro.accumulate = 2
        let accumulated = try TrainingFixture.train(micro, ranks: 2)
        let ranks = try TrainingFixture.train(TrainingFixture.config(batch: 8, epochs: 2, steps: 6), ranks: 4)
        let big = try TrainingFixture.train(TrainingFixture.config(batch: 32, epochs: 2, steps: 6), ranks: 1)
        XCTAssertLessThan(TrainingFixture.maxRelativeDifference(accumulated.parameters, ranks.parameters), 1e-5)
        XCTAssertGreaterThan(TrainingFixture.maxRelativeDifference(accumulated.parameters, big.parameters), 1e-4)
    }
}
