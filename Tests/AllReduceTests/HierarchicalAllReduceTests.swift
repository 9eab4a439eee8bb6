import AllReduce
import XCTest

/// `HierarchicalAllReduce` over in-process worlds laid out as several nodes: correct sums,
/// bitwise identical on every rank, in every layout (uneven nodes, a node of one rank, one node
/// only), in one piece or many; the automatic choice; the splits it is built on; and a rank that
/// never arrives named by the timeout.
final class HierarchicalAllReduceTests: XCTestCase {
    /// Two nodes of two (the benchmark's layout), uneven nodes, a lone rank beside a pair, one
    /// node, and one rank per node (then only the leaders' allreduce runs).
    private let layouts: [[Int]] = [[2, 2], [3, 1], [1, 2, 2], [4], [1, 1, 1]]

    func testSumsAndAveragesMatchTheReferenceInEveryLayout() throws {
        for nodes in layouts {
            let ranks = nodes.reduce(0, +)
            for count in [0, 1, ranks + 1, 1001] {
                // One piece, and 12-byte pieces (pipelined, the last one short).
                for pieceBytes in [1 << 20, 12] {
                    for op in [ReduceOp.sum, .average] {
                        for random in [false, true] {
                            try checkAllReduce(Float.self, ranks: ranks, count: count, random: random, op: op,
                                               algorithm: .hierarchical, nodeSizes: nodes, pieceBytes: pieceBytes)
                        }
                    }
                    try checkAllReduce(Double.self, ranks: ranks, count: count, random: true, op: .average,
                                       algorithm: .hierarchical, nodeSizes: nodes, pieceBytes: pieceBytes)
                }
            }
        }
    }

    /// Calls of changing length on one communicator: the region grows (and its flags start over)
    /// or is reused with a different slot layout, and no call reads another's data.
    func testRepeatedCallsOfChangingLengthStayCorrect() throws {
        let lengths = [1000, 10, 5000, 0, 333, 5000, 7]
        let results = try gatherFromRanks(size: 5, nodeSizes: [3, 2]) { communicator -> [[Float]] in
            communicator.workspace.algorithm = .hierarchical
            communicator.workspace.hierarchyPieceBytes = 400
            return try lengths.enumerated().map { call, n in
                var values = [Float](repeating: Float(communicator.rank + call), count: n)
                try communicator.allReduce(&values)
                return values
            }
        }
        for (call, n) in lengths.enumerated() {
            // (0 + call) + (1 + call) + ... + (4 + call)
            let expected = [Float](repeating: Float(10 + 5 * call), count: n)
            for rank in 0..<5 { XCTAssertEqual(results[rank][call], expected, "call \(call), rank \(rank)") }
        }
    }

    func testAutomaticGoesThroughTheNodeOnlyWhenRanksShareSomeOfSeveralNodes() throws {
        let cases: [(nodes: [Int], hierarchical: Bool)] = [([2, 2], true), ([3, 1], true), ([4], false), ([1, 1, 1], false)]
        for (nodes, hierarchical) in cases {
            let choices = try gatherFromRanks(size: nodes.reduce(0, +), nodeSizes: nodes) { communicator in
                try communicator.chooseAlgorithm(bytes: 1 << 20)
            }
            XCTAssertEqual(Set(choices), [hierarchical ? .hierarchical : .ring], "nodes \(nodes)")
        }
    }

    func testSplitsGroupByColorOrderByKeyAndFindTheNode() throws {
        let views = try gatherFromRanks(size: 5, nodeSizes: [2, 3]) { communicator -> [Int] in
            // Odd and even ranks, ordered by descending rank; rank 4 stays out.
            let part = try communicator.split(color: communicator.rank == 4 ? nil : communicator.rank % 2,
                                              key: -communicator.rank)
            let node = try communicator.splitByNode()
            var sum = [Float(communicator.rank)]
            try part?.allReduce(&sum)
            return [part?.rank ?? -1, part?.size ?? -1, Int(sum[0]), node.rank, node.size, communicator.localRank]
        }
        XCTAssertEqual(views, [
            [1, 2, 2, 0, 2, 0],  // rank 0: evens {2, 0}
            [1, 2, 4, 1, 2, 1],  // rank 1: odds {3, 1}
            [0, 2, 2, 0, 3, 0],
            [0, 2, 4, 1, 3, 1],
            [-1, -1, 4, 2, 3, 2],
        ])
    }

    /// A rank that never makes the call: its node's ranks wait on its flag and time out naming it.
    func testARankThatNeverArrivesIsNamedByTheTimeout() throws {
        let errors = try gatherFromRanks(size: 4, nodeSizes: [2, 2], timeoutSeconds: 1) { communicator -> String in
            // Every rank learns the topology (collective); then rank 1 stays away.
            XCTAssertEqual(try communicator.chooseAlgorithm(bytes: 4), .hierarchical)
            guard communicator.rank != 1 else { return "" }
            var values = [Float](repeating: 1, count: 100)
            do { try communicator.allReduce(&values) } catch { return "\(error)" }
            return "no error"
        }
        XCTAssertTrue(errors[0].contains("rank 1 did not answer"), errors[0])
    }
}
