/// What a receive got: the sender's tag and how many bytes landed in the buffer.
public struct Envelope: Equatable, Sendable {
    /// The tag the sender passed to `send` or `exchange`.
    public var tag: Int32
    /// Bytes written into the receive buffer.
    public var byteCount: Int
    /// The message was longer than the buffer; only the first `byteCount` bytes were kept.
    public var truncated: Bool

    public init(tag: Int32, byteCount: Int, truncated: Bool) {
        self.tag = tag
        self.byteCount = byteCount
        self.truncated = truncated
    }
}

/// A group of `size` ranks that exchange raw byte messages: the transport under every
/// collective (allreduce, broadcast, allgather, barrier: see the extensions).
///
/// Channels are FIFO: messages from one rank to another arrive in the order they were sent, and a
/// receive takes the next one whatever its tag (the tag travels with it and is returned, which is
/// how collectives check that all ranks are in the same call). Tags are in `0..<Communicator.tagLimit`.
///
/// One instance is used by one thread at a time; `duplicate()` gives another thread its own
/// channels. Every wait is bounded by `timeoutSeconds` and ends early when another rank reports
/// a failure (`signalFailure`) or aborts, so a rank that stops answering never hangs the others.
public protocol Communicator: AnyObject {
    /// This rank, `0..<size`.
    var rank: Int { get }
    /// Number of ranks.
    var size: Int { get }
    /// This rank's index among the ranks on the same node (BLAS threads = cores / localSize).
    var localRank: Int { get }
    /// Number of ranks on this node.
    var localSize: Int { get }
    /// Longest a single wait for a peer may take before it throws `CommunicatorError.timeout`
    /// naming that peer; 0 waits forever.
    var timeoutSeconds: Double { get set }
    /// Scratch memory and algorithm settings of the collectives run on this communicator.
    var workspace: CollectiveWorkspace { get }

    /// Sends `bytes` to `peer`; returns once the buffer may be reused.
    func send(_ bytes: UnsafeRawBufferPointer, to peer: Int, tag: Int32) throws
    /// Receives the next message from `peer` into `bytes`.
    func receive(_ bytes: UnsafeMutableRawBufferPointer, from peer: Int) throws -> Envelope
    /// Posts the receive from `source` first, then sends to `destination`, and waits for both:
    /// the deadlock-free step of ring and pairwise algorithms.
    func exchange(sending: UnsafeRawBufferPointer, to destination: Int, tag: Int32,
                  receivingInto: UnsafeMutableRawBufferPointer, from source: Int) throws -> Envelope
    /// A new communicator over the same ranks whose messages never mix with this one's; it may
    /// be used from another thread at the same time. Collective: every rank must call it.
    func duplicate() throws -> any Communicator
    /// The ranks of this node (those that can share memory with this one), in rank order: a new
    /// communicator (`MPI_Comm_split_type` with `MPI_COMM_TYPE_SHARED`). Collective.
    func splitByNode() throws -> any Communicator
    /// The ranks that pass the same `color`, ordered by `key` and then by rank: a new
    /// communicator (`MPI_Comm_split`); nil on the ranks that pass a nil color. Collective.
    func split(color: Int?, key: Int) throws -> (any Communicator)?
    /// `byteCount` bytes of memory that every rank of this communicator maps, zero-filled (an
    /// MPI-3 shared window: `MPI_Win_allocate_shared`). Only for a communicator whose ranks share
    /// a node (`splitByNode`). Collective; so is the region's `free()`.
    func allocateShared(byteCount: Int) throws -> any SharedRegion
    /// Tells every other rank that a call on this communicator failed here (`reason` is one
    /// line): their waiting and later calls on it throw `CommunicatorError.peerFailed`, and so do
    /// this rank's later calls. The caller then throws its own error.
    func signalFailure(_ reason: String)
    /// Takes the whole job down. MPI: prints `message` and calls `MPI_Abort`, never returns.
    /// In process: every rank's waiting and later calls (on every communicator of the world,
    /// this rank's too) throw `CommunicatorError.aborted`; it returns, so the caller should then
    /// throw or return.
    func abort(message: String)
}

extension Communicator {
    /// Tags are below 2^30 (MPI only guarantees 32767, Open MPI and MPICH give 2^31 - 1; the
    /// MPI transport checks at start-up). Collectives use tags with bit 29 set.
    public static var tagLimit: Int32 { 1 << 30 }

    /// Sends `count` elements starting at `values` to `peer`.
    public func send<T: CollectiveElement>(_ values: UnsafePointer<T>, count: Int, to peer: Int, tag: Int32) throws {
        try send(UnsafeRawBufferPointer(start: values, count: count &* T.elementKind.size), to: peer, tag: tag)
    }

    /// Receives the next message from `peer` into `count` elements at `values`.
    public func receive<T: CollectiveElement>(_ values: UnsafeMutablePointer<T>, count: Int, from peer: Int) throws -> Envelope {
        try receive(UnsafeMutableRawBufferPointer(start: values, count: count &* T.elementKind.size), from: peer)
    }
}
