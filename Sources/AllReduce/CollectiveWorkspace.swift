import Foundation

/// Which allreduce algorithm runs.
public enum AllReduceAlgorithm: String, Sendable, CaseIterable {
    /// Recursive doubling up to `CollectiveWorkspace.latencyPathMaxBytes`, the ring above.
    case automatic = "auto"
    /// Always the bandwidth-optimal ring (`RingAllReduce`).
    case ring
    /// Always the latency-optimal recursive doubling (`RecursiveDoublingAllReduce`).
    case recursiveDoubling = "recursive-doubling"

    /// Environment variable that overrides the default (`auto`, `ring`, `recursive-doubling`).
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

    private var scratch: UnsafeMutableRawPointer?
    private var scratchBytes = 0

    public init(algorithm: AllReduceAlgorithm, latencyPathMaxBytes: Int = 64 << 10, ringSegmentBytes: Int = 256 << 10) {
        self.algorithm = algorithm
        self.latencyPathMaxBytes = latencyPathMaxBytes
        self.ringSegmentBytes = ringSegmentBytes
    }

    deinit { scratch?.deallocate() }

    /// A new workspace (own scratch) with the same settings, for a duplicated communicator.
    func withSameSettings() -> CollectiveWorkspace {
        CollectiveWorkspace(algorithm: algorithm, latencyPathMaxBytes: latencyPathMaxBytes, ringSegmentBytes: ringSegmentBytes)
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
