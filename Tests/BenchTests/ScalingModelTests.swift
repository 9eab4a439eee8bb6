import AllReduce
import Foundation
import Platform
import Training
import XCTest
@testable import Bench

final class ScalingModelTests: XCTestCase {
    let link = ScalingModel.Link(latencySeconds: 1e-4, bytesPerSecond: 1e8)

    func model(compute: [Int: Double] = [1: 0.08, 2: 0.05], cores: Double = 2, shared: Bool = false,
               buckets: [Int] = [4 << 20], inter: ScalingModel.Link? = nil,
               algorithm: AllReduceAlgorithm = .automatic) -> ScalingModel {
        ScalingModel(computeByThreads: compute, coresPerNode: cores, sharedCores: shared, batchSize: 64,
                     bucketBytes: buckets, latencyPathMaxBytes: 64 << 10, intraNode: link, interNode: inter,
                     algorithm: algorithm)
    }

    /// The rounds of RecursiveDoublingAllReduce's schedule: log2 of the largest power of two
    /// <= P, plus a fold and an unfold for the ranks beyond it.
    func testRecursiveDoublingRoundsFollowTheSchedule() {
        for (ranks, rounds) in [(2, 1), (3, 3), (4, 2), (5, 4), (6, 4), (7, 4), (8, 3), (12, 5)] {
            let t = ScalingModel.allreduceSeconds(bytes: 1000, ranks: ranks, link: link, latencyPathMaxBytes: 64 << 10)
            XCTAssertEqual(t / (1e-4 + 1000 / 1e8), Double(rounds), accuracy: 1e-9, "P = \(ranks)")
        }
        XCTAssertEqual(ScalingModel.allreduceSeconds(bytes: 1000, ranks: 1, link: link, latencyPathMaxBytes: 64 << 10), 0)
    }

    /// Large messages take the ring: its time tends to the bandwidth bound 2 (P-1)/P b / beta
    /// and pays 2 (P-1) latencies.
    func testRingApproachesItsBandwidthBound() {
        for ranks in [2, 3, 4, 8] {
            let bytes = 256 << 20
            let t = ScalingModel.allreduceSeconds(bytes: bytes, ranks: ranks, link: link, latencyPathMaxBytes: 64 << 10)
            let bound = 2 * Double(ranks - 1) / Double(ranks) * Double(bytes) / 1e8
            XCTAssertEqual(t - bound, Double(2 * (ranks - 1)) * 1e-4, accuracy: 1e-9, "P = \(ranks)")
        }
    }

    /// Compute: T = floor(C / R) threads per rank, and ranks beyond the cores share them.
    func testComputeFollowsThreadsAndSharedCores() throws {
        let alone = try model().predict(.init(nodes: 1, ranksPerNode: 1)).get()
        XCTAssertEqual(alone.threadsPerRank, 2)
        XCTAssertEqual(alone.computeSeconds, 0.05, accuracy: 1e-12)
        XCTAssertEqual(alone.allreduceSeconds, 0)
        XCTAssertEqual(alone.imagesPerSecond, 64 / 0.05, accuracy: 1e-9)

        let two = try model().predict(.init(nodes: 1, ranksPerNode: 2)).get()
        XCTAssertEqual(two.threadsPerRank, 1)
        XCTAssertEqual(two.computeSeconds, 0.08, accuracy: 1e-12)
        XCTAssertEqual(two.allreduceSeconds, 2 * (1e-4 + Double(2 << 20) / 1e8), accuracy: 1e-12)
        XCTAssertEqual(two.efficiency, 0.08 / (0.08 + two.allreduceSeconds), accuracy: 1e-12)

        // Four ranks on two cores: each rank's compute takes twice as long.
        XCTAssertEqual(try model().predict(.init(nodes: 1, ranksPerNode: 4)).get().computeSeconds, 0.16, accuracy: 1e-12)
        // Namespace hosts: 3 nodes of 1 rank share 2 cores.
        let shared = try model(shared: true, inter: link).predict(.init(nodes: 3, ranksPerNode: 1)).get()
        XCTAssertEqual(shared.computeSeconds, 0.08 * 1.5, accuracy: 1e-12)
        let separate = try model(inter: link).predict(.init(nodes: 3, ranksPerNode: 1)).get()
        XCTAssertEqual(separate.computeSeconds, 0.05, accuracy: 1e-12)
    }

    func testAcrossNodesTheInterNodeLinkCountsAndMustBeMeasured() throws {
        let slow = ScalingModel.Link(latencySeconds: 1e-3, bytesPerSecond: 1e7)
        let p = try model(inter: slow, algorithm: .flat).predict(.init(nodes: 2, ranksPerNode: 2)).get()
        XCTAssertEqual(p.allreduceSeconds, 6 * (1e-3 + Double(1 << 20) / 1e7), accuracy: 1e-12)
        guard case .failure(.noInterNodeLink) = model().predict(.init(nodes: 2, ranksPerNode: 1)) else {
            return XCTFail("a prediction across nodes without the link between them")
        }
        XCTAssertEqual(ScalingModel.Layout("3x2"), .init(nodes: 3, ranksPerNode: 2))
        for bad in ["3", "0x2", "2x", "ax2", "2x2x2"] { XCTAssertNil(ScalingModel.Layout(bad), bad) }
    }

    /// Automatic goes through the node when N > 1 and R > 1: the leaders' ring over N nodes, or
    /// the node's own work (3 transfers inside it) when that is longer, plus the first and last
    /// piece's copies; a node of one rank or a single node stays flat.
    func testHierarchicalPredictionFollowsTheLeadersOrTheNode() throws {
        let slow = ScalingModel.Link(latencySeconds: 1e-3, bytesPerSecond: 1e7)
        let automatic = model(inter: slow)
        XCTAssertTrue(automatic.throughNode(.init(nodes: 2, ranksPerNode: 2)))
        XCTAssertFalse(automatic.throughNode(.init(nodes: 2, ranksPerNode: 1)))
        XCTAssertFalse(automatic.throughNode(.init(nodes: 1, ranksPerNode: 4)))
        XCTAssertFalse(model(inter: slow, algorithm: .ring).throughNode(.init(nodes: 2, ranksPerNode: 2)))

        let leaders = 2 * (1e-3 + Double(2 << 20) / 1e7)       // the ring of 2 leaders over 4 MiB
        let fill = 2 * (1e-4 + Double(256 << 10) / 1e8)        // a 256 KiB piece in, one out
        let p = try automatic.predict(.init(nodes: 2, ranksPerNode: 2)).get()
        XCTAssertEqual(p.allreduceSeconds, leaders + fill, accuracy: 1e-12)
        // A fast link between nodes: the node's copy in, sum and copy out are what takes longest.
        let fast = try model(inter: ScalingModel.Link(latencySeconds: 1e-6, bytesPerSecond: 1e10))
            .predict(.init(nodes: 2, ranksPerNode: 2)).get()
        XCTAssertEqual(fast.allreduceSeconds, 3 * (1e-4 + Double(4 << 20) / 1e8) + fill, accuracy: 1e-12)
        // Forced on one node: the node's work alone.
        let one = try model(algorithm: .hierarchical).predict(.init(nodes: 1, ranksPerNode: 2)).get()
        XCTAssertEqual(one.allreduceSeconds, 3 * (1e-4 + Double(4 << 20) / 1e8), accuracy: 1e-12)
    }

    /// The measurement end to end, 2 ranks as threads of this process (one node): compute at
    /// every thread count, the link inside the node, and buckets that hold the whole gradient.
    func testMeasureInProcess() throws {
        var config = TrainConfig.tiny()
        config.bucketCapMB = 0.001
        let m = try XCTUnwrap(rankZeroResult(ranks: 2) { comm in
            try ScalingBenchmark.measure(config: config, coresPerNode: 2, sharedCores: false, steps: 3, comm: comm)
        })
        XCTAssertEqual(m.nodes, 1)
        XCTAssertEqual(m.parameterCount, 64 * 32 + 32 + 32 * 3 + 3)
        XCTAssertEqual(m.model.bucketBytes.reduce(0, +), m.parameterCount * 4)
        XCTAssertTrue(m.model.bucketBytes.allSatisfy { $0 <= 1048 }, "\(m.model.bucketBytes)")
        XCTAssertEqual(Set(m.model.computeByThreads.keys), Set(1...max(1, CPUInfo.current().cores)))
        XCTAssertTrue(m.model.computeByThreads.values.allSatisfy { $0 > 0 })
        let intra = try XCTUnwrap(m.model.intraNode)
        XCTAssertGreaterThan(intra.latencySeconds, 0)
        XCTAssertGreaterThan(intra.bytesPerSecond, 0)
        XCTAssertNil(m.model.interNode)
    }
}
