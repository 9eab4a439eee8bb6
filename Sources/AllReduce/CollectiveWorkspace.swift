import Foundation

/// Which allreduce algorithm runs.
public enum AllReduceAlgorithm: String, Sendable, CaseIterable, Codable {
    /// `hierarchical` when the ranks span more than one node and some node has more than one of
    /// them (`NodeTopology.favoursHierarchy`), `flat` otherwise.
    case automatic = "auto"
    /// One flat group of all ranks: recursive doubling up to
    /// `CollectiveWorkspace.latencyPathMaxBytes`, the ring above.
    case flat
    /// Through the node first (`HierarchicalAllReduce`): shared memory inside each node, one
    /// leader per node across nodes.
    case hierarchical
    /// Always the flat, bandwidth-optimal ring (`RingAllReduce`).
    case ring
    /// Always the flat, latency-optimal recursive doubling (`RecursiveDoublingAllReduce`).
    case recursiveDoubling = "recursive-doubling"

    /// Environment variable that overrides the default (any raw value: `auto`, `flat`, ...).
    public static let environmentVariable = "DDP_ALLREDUCE_ALGORITHM"

    /// The algorithm `DDP_ALLREDUCE_ALGORITHM` names, `.automatic` when it is unset.
    public static func fromEnvironment() throws -> AllReduceAlgorithm {
        guard let value = ProcessInfo.processInfo.environment[environmentVariable], !value.isEmpty else {
            return .automatic
        }
        guard let algorithm = AllReduceAlgorithm(rawValue: value) else {
            throw CommunicatorError.invalidArgument(
                "\(environmentVariable)=\(value): expected one of "
                    + AllReduceAlgorithm.allCases.map(\.rawValue).joined(separator: ", "))
        }
        return algorithm
    }
}

/// Per-communicator state of the collectives: one scratch buffer, grown when a call needs more
/// and then reused, so steady-state collectives allocate nothing; and the algorithm settings.
public final class CollectiveWorkspace {
    /// The allreduce algorithm (default from `DDP_ALLREDUCE_ALGORITHM`, else automatic).
    public var algorithm: AllReduceAlgorithm
    /// With `.automatic`, messages up to this many bytes take recursive doubling (log2 P rounds
    /// of the whole vector), larger ones the ring (2(P-1) rounds of 1/P of it). Measured under
    /// `mpirun -n 2..4` with `ddp bench allreduce --algorithm` (docs/RESULTS.md, "Allreduce"):
    /// recursive doubling wins up to 64 KiB, the ring from 1 MiB, 256 KiB is a draw.
    public var latencyPathMaxBytes: Int
    /// The ring sends each step's chunk in segments of at most this many bytes and reduces each
    /// as it arrives, while it is still in cache (0: whole chunks). Results do not depend on it;
    /// all ranks must agree on it. 256 KiB fits the 2 MiB L2 per core with room; whole chunks
    /// (`--ring-segment 0`) fell to 0.5-0.8 of MPI_Allreduce at 16-64 MiB with 3 and 4 ranks,
    /// segments kept 1.1-1.9 (docs/RESULTS.md, "Allreduce"); smaller segments cost latency.
    public var ringSegmentBytes: Int

    /// `HierarchicalAllReduce` moves the vector through the node and across nodes in pieces of
    /// at most this many bytes, so the leaders send one piece while the node reduces the next.
    /// Results do not depend on it; all ranks must agree on it. Between 2 namespaces of 2 ranks at
    /// 1 Gbit/s, 256 KiB pieces reached 1.49-1.53x the flat ring's bus bandwidth at 1-16 MiB, 1 MiB
    /// pieces 1.46-1.50x, 4 MiB 1.45-1.50x; on one node 1 MiB pieces are 8% faster at 16 MiB.
    public var hierarchyPieceBytes: Int
    /// The node leaders' ring moves its chunks in segments of at most this many bytes (their
    /// `ringSegmentBytes`). 32 KiB travels eagerly under Open MPI's TCP transport (its eager limit
    /// is 64 KiB with the header), where a larger message first waits for the receiver's reply,
    /// and on a slow link that reply queues behind the bulk data going the other way: at 1 Gbit/s
    /// between 2 namespaces of 2 ranks, 32 KiB segments gave 0.18-0.19 GB/s of bus bandwidth at
    /// 1-16 MiB, 256 KiB 0.17-0.18, whole chunks 0.12-0.17 (docs/RESULTS.md, "Hierarchical allreduce").
    public var leaderSegmentBytes: Int

    /// Where this communicator's ranks sit (made by the first allreduce that asks).
    var topology: NodeTopology?
    private var scratch: UnsafeMutableRawPointer?
    private var scratchBytes = 0

    public init(algorithm: AllReduceAlgorithm, latencyPathMaxBytes: Int = 64 << 10, ringSegmentBytes: Int = 256 << 10,
                hierarchyPieceBytes: Int = 256 << 10, leaderSegmentBytes: Int = 32 << 10) {
        self.algorithm = algorithm
        self.latencyPathMaxBytes = latencyPathMaxBytes
        self.ringSegmentBytes = ringSegmentBytes
        self.hierarchyPieceBytes = hierarchyPieceBytes
        self.leaderSegmentBytes = leaderSegmentBytes
    }

    deinit { scratch?.deallocate() }

    /// A new workspace (own scratch, no topology yet) with the same settings, for a duplicated
    /// communicator.
    func withSameSettings() -> CollectiveWorkspace {
        CollectiveWorkspace(algorithm: algorithm, latencyPathMaxBytes: latencyPathMaxBytes, ringSegmentBytes: ringSegmentBytes,
                            hierarchyPieceBytes: hierarchyPieceBytes, leaderSegmentBytes: leaderSegmentBytes)
    }

    /// At least `bytes` bytes of scratch, 64-byte aligned; valid until the next call.
    func scratch(bytes: Int) -> UnsafeMutableRawPointer {
        if let scratch, bytes <= scratchBytes { return scratch }
        scratch?.deallocate()
        // Grow geometrically so a sequence of slightly larger calls does not reallocate each time.
        let grown = max(bytes, scratchBytes + scratchBytes / 2, 4096)
        let memory = UnsafeMutableRawPointer.allocate(byteCount: grown, alignment: 64)
        scratch = memory
        scratchBytes = grown
        return memory
    }
}
