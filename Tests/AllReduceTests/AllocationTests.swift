import AllReduce
import CAllocationCounter
import XCTest

/// "No allocation per call", measured: after one round of calls has sized the communicator's
/// scratch buffer (and the in-process transport's mailboxes), allreduces (ring with segments, ring on whole chunks, recursive doubling) and
/// broadcasts make no heap call per call on any rank. CAllocationCounter counts each rank
/// thread's own calls, so this covers the algorithms and the in-process transport beneath them.
final class AllocationTests: XCTestCase {
    static let rounds = 40
    /// The algorithms allocate nothing; the in-process transport buffers eagerly, so when a rank
    /// runs further ahead than ever before its mailbox and buffer pool grow once to the new
    /// high-water mark. That depends on thread timing, not on the calls: a handful over 120
    /// calls, where one allocation per call would be 120 and more.
    static let transportSlack = 8

    func testCollectivesAllocateNothingAfterTheFirstCall() throws {
        let count = 100_003  // not divisible by 3: uneven chunks
        for algorithm in [AllReduceAlgorithm.ring, .recursiveDoubling] {
            for segment in [0, 4096] {
                let counts = try gatherFromRanks(size: 3) { communicator -> AllocationCounts in
                    communicator.workspace.algorithm = algorithm
                    communicator.workspace.ringSegmentBytes = segment
                    let values = UnsafeMutablePointer<Float>.allocate(capacity: count)
                    defer { values.deallocate() }
                    values.initialize(repeating: Float(communicator.rank + 1), count: count)
                    func calls() throws {
                        try communicator.allReduce(values, count: count, op: .average)
                        try communicator.allReduce(values, count: 7)
                        try communicator.broadcast(values, count: count, root: 2)
                    }
                    // The first round sizes the scratch and the transport's mailboxes and buffers.
                    try calls()
                    try communicator.barrier()
                    allocation_counting_begin()
                    var round = 0
                    while round < Self.rounds { try calls(); round += 1 }
                    return allocation_counting_end()
                }
                print("\(algorithm), segment \(segment): heap calls per rank over \(Self.rounds) rounds of 3 collectives:",
                      counts.map { "\($0.allocations)/\($0.frees)" }.joined(separator: " "))
                for (rank, c) in counts.enumerated() {
                    XCTAssertLessThanOrEqual(c.allocations, Self.transportSlack,
                                             "\(algorithm), segment \(segment): rank \(rank) allocated")
                }
            }
        }
    }
}
