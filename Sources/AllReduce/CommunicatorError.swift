/// Why a communicator call failed. Every description is one line that names the ranks involved.
public enum CommunicatorError: Error, Equatable, CustomStringConvertible {
    /// An MPI call returned an error code (with `MPI_ERRORS_RETURN` set on our communicators).
    case mpi(call: String, code: Int32, message: String)
    /// `rank` waited `seconds` (`operation` says for what) and `peer` did not answer: the peer it
    /// waited for, or the end of the chain `via` of ranks each waiting for the next.
    case timeout(rank: Int, peer: Int, seconds: Double, operation: String, via: [Int] = [])
    /// `rank` timed out, and the ranks of `cycle` all wait for each other, the last for the first.
    case deadlock(rank: Int, cycle: [Int], operation: String)
    /// Ranks called different collectives, or the same one with different lengths or types.
    case collectiveMismatch(rank: Int, peer: Int, mine: String, theirs: String)
    /// Another rank (`peer`) reported that a call on this communicator failed there, while this
    /// rank was waiting for `waitingFor` (nil: not waiting). `peer == rank`: this rank's own
    /// earlier failure, repeated by a later call.
    case peerFailed(rank: Int, peer: Int, reason: String, waitingFor: Int?)
    /// `rank` aborted the world (in-process transport; MPI's abort ends the job instead).
    case aborted(rank: Int, message: String)
    /// A caller passed something that cannot work (negative count, rank out of range, ...).
    case invalidArgument(String)
    /// The MPI library or the environment does not offer what ddp needs.
    case unsupported(String)
    /// A self-check (benchmark, `--verify`) found a wrong result.
    case wrongResult(String)

    public var description: String {
        switch self {
        case let .mpi(call, code, message):
            return "\(call) failed with MPI error \(code): \(message)"
        case let .timeout(rank, peer, seconds, operation, via):
            let chain = via.isEmpty ? ""
                : "; rank \(rank) waits for " + via.map { "rank \($0), which waits for " }.joined() + "rank \(peer)"
            return "rank \(rank): rank \(peer) did not answer within \(Self.format(seconds)) s (\(operation)\(chain)); "
                + "is rank \(peer) stuck, dead or in a different collective?"
        case let .deadlock(rank, cycle, operation):
            let ring = (cycle + [cycle[0]]).map { "rank \($0)" }.joined(separator: " -> ")
            return "rank \(rank): ranks wait for each other (\(ring), \(operation)); "
                + "do they call different collectives, or in a different order?"
        case let .collectiveMismatch(rank, peer, mine, theirs):
            return "collective mismatch: rank \(rank) called \(mine) but rank \(peer) called \(theirs); "
                + "every rank must make the same collective calls with the same lengths"
        case let .peerFailed(rank, peer, reason, _) where rank == peer:
            return "rank \(rank): communicator unusable after its earlier failure: \(reason)"
        case let .peerFailed(rank, peer, reason, waitingFor?):
            // Names whom this rank waited for: when a rank times out on a neighbour that was
            // itself waiting, this is how the chain back to the silent rank shows.
            return "rank \(rank): stopped while waiting for rank \(waitingFor) because rank \(peer) failed: \(reason)"
        case let .peerFailed(rank, peer, reason, nil):
            return "rank \(rank): stopped because rank \(peer) failed: \(reason)"
        case let .aborted(rank, message):
            return "rank \(rank) aborted the job: \(message)"
        case let .invalidArgument(message), let .unsupported(message), let .wrongResult(message):
            return message
        }
    }

    private static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
    }
}
