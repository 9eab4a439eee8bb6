/// Why a communicator call failed. Every description is one line that names the ranks involved.
public enum CommunicatorError: Error, Equatable, CustomStringConvertible {
    /// An MPI call returned an error code (with `MPI_ERRORS_RETURN` set on our communicators).
    case mpi(call: String, code: Int32, message: String)
    /// `rank` waited `seconds` for `peer` to answer (`operation` says what it was waiting for).
    case timeout(rank: Int, peer: Int, seconds: Double, operation: String)
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
        case let .timeout(rank, peer, seconds, operation):
            return "rank \(rank): rank \(peer) did not answer within \(Self.format(seconds)) s (\(operation)); "
                + "is rank \(peer) stuck, dead or in a different collective?"
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
