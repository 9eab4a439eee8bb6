import CMPI
import Foundation

/// The MPI transport: point-to-point messages on a private duplicate of MPI_COMM_WORLD.
///
/// - Thread level: `MPI_THREAD_MULTIPLE`. With overlap on, `GradientBuckets` allreduces on a
///   communication thread (over its own `duplicate()`) while the training thread may make other
///   calls at the same time (SyncBatchNorm sums, metrics); funnelling every call through one
///   thread would serialize exactly what overlap is for. Open MPI 4.1 provides it; a library that
///   does not is refused at start-up with a clear error.
/// - Errors: `MPI_ERRORS_RETURN` is set on MPI_COMM_WORLD and on every communicator we create;
///   every return code is checked and thrown as `CommunicatorError.mpi` naming the call, except
///   on paths already ending in an error or answering another rank's query, where a failure is
///   handled there (the rank is treated as silent) or reported on stderr (`bestEffort`).
/// - Waits: nonblocking calls completed by `MPI_Test` polling: spinning first, then yielding the
///   CPU between polls, then (after a millisecond) sleeping between them; with a deadline
///   (`timeoutSeconds`) and a look for failure notices from other ranks, which travel on a
///   second private communicator (`signalFailure`).
/// - Timeouts name the silent rank, not the neighbour: in a ring, the rank waiting for a stopped
///   rank's neighbour can time out first. So at the deadline a rank asks the peer it waits for
///   whom that peer waits for, and follows the answers (every waiting rank answers such queries
///   on the second communicator) until a rank does not answer (it is the silent one) or the chain
///   closes on itself (ranks waiting for each other: a deadlock or mismatched calls).
/// - Nodes: `splitByNode` (`MPI_Comm_split_type`), `split` (`MPI_Comm_split`) and
///   `allocateShared` (an MPI-3 shared window, `MPISharedWindow`) give `HierarchicalAllReduce`
///   its node and leader communicators and the node's memory; all are freed at `finalize`.
/// - `MPI_Init` runs once per process (the first `MPICommunicator()`); it also works without
///   mpirun, as a world of one (singleton init).
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    public let localRank: Int
    public let localSize: Int
    public var timeoutSeconds: Double = 300
    public let workspace: CollectiveWorkspace

    /// The communicator our messages travel on.
    let communicator: MPI_Comm
    /// Where failure notices travel, so they never mix with data.
    let control: MPI_Comm
    var failure: CommunicatorError?
    /// Failure notices sent with `MPI_Isend` (and their requests freed): the bytes must outlive
    /// the sends, whose completion nobody waits for.
    var sentNotices: [[UInt8]] = []
    /// Polls spent spinning before a wait starts yielding the CPU: long enough to catch a
    /// neighbour that is a few microseconds behind, short when ranks outnumber cores (then the
    /// peer needs our core to make progress at all).
    let spinPolls: Int
    // Preallocated so waits allocate nothing: [0] the receive, [1] the send of an exchange.
    let requests = UnsafeMutablePointer<MPI_Request?>.allocate(capacity: 2)
    let statuses = UnsafeMutablePointer<MPI_Status>.allocate(capacity: 2)

    /// Per peer, the answer to its last "whom do you wait for" query (`MPI_Isend` needs the bytes
    /// to outlive the call; one slot per asker, who asks once).
    let answers: UnsafeMutablePointer<Int32>

    static let noticeTag: Int32 = 1
    static let queryTag: Int32 = 2
    static let answerTag: Int32 = 3
    /// How long a timed-out rank gives each peer on the wait-for chain to answer its query.
    var answerGraceSeconds: Double { min(timeoutSeconds, 2) }
    static let sleepAfterSeconds = 0.001
    static let sleepMicroseconds: UInt32 = 50

    /// True when this process was started by mpirun (Open MPI's environment says so).
    public static var isLaunchedByMPIRun: Bool { MPILaunchEnvironment.current != nil }

    /// Starts MPI if this process has not yet (MPI_Init_thread with MPI_THREAD_MULTIPLE) and
    /// returns a communicator over all its ranks. Without mpirun this is a world of one.
    public convenience init() throws {
        var initialized: Int32 = 0
        try Self.check(MPI_Initialized(&initialized), "MPI_Initialized")
        var provided: Int32 = 0
        if initialized == 0 {
            try Self.check(MPI_Init_thread(nil, nil, Int32(MPI_THREAD_MULTIPLE), &provided), "MPI_Init_thread")
        } else {
            try Self.check(MPI_Query_thread(&provided), "MPI_Query_thread")
        }
        guard provided >= Int32(MPI_THREAD_MULTIPLE) else {
            throw CommunicatorError.unsupported(
                "the MPI library provides thread level \(provided), ddp needs MPI_THREAD_MULTIPLE (\(MPI_THREAD_MULTIPLE)) "
                    + "for its communication thread; use Open MPI >= 3 or MPICH built with thread support")
        }
        try Self.check(MPI_Comm_set_errhandler(ddp_mpi_comm_world(), ddp_mpi_errors_return()), "MPI_Comm_set_errhandler")
        try Self.checkTagLimit()

        try self.init(try Self.duplicate(ddp_mpi_comm_world()),
                  workspace: CollectiveWorkspace(algorithm: try AllReduceAlgorithm.fromEnvironment()))
    }

    /// Our communicator over `comm` (already ours: duplicated or split, errors returned), with a
    /// control communicator of its own; its node is learnt from MPI.
    private convenience init(_ comm: MPI_Comm, workspace: CollectiveWorkspace) throws {
        var rank: Int32 = 0, size: Int32 = 0
        try Self.check(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank")
        try Self.check(MPI_Comm_size(comm, &size), "MPI_Comm_size")
        // Ranks sharing memory with us are the ones on this node.
        var node: MPI_Comm? = ddp_mpi_comm_null()
        try Self.check(MPI_Comm_split_type(comm, Int32(MPI_COMM_TYPE_SHARED), rank, ddp_mpi_info_null(), &node),
                       "MPI_Comm_split_type")
        var localRank: Int32 = 0, localSize: Int32 = 0
        try Self.check(MPI_Comm_rank(node, &localRank), "MPI_Comm_rank")
        try Self.check(MPI_Comm_size(node, &localSize), "MPI_Comm_size")
        try Self.check(MPI_Comm_free(&node), "MPI_Comm_free")

        self.init(communicator: comm, control: try Self.duplicate(comm), rank: Int(rank), size: Int(size),
                  localRank: Int(localRank), localSize: Int(localSize), workspace: workspace)
    }

    private init(communicator: MPI_Comm, control: MPI_Comm, rank: Int, size: Int, localRank: Int, localSize: Int,
                 workspace: CollectiveWorkspace) {
        self.communicator = communicator
        self.control = control
        self.rank = rank
        self.size = size
        self.localRank = localRank
        self.localSize = localSize
        self.workspace = workspace
        // The node's cores, not this process's affinity mask: mpirun binds small jobs to one core each.
        spinPolls = localSize > sysconf(Int32(_SC_NPROCESSORS_ONLN)) ? 16 : 4000
        requests.initialize(repeating: ddp_mpi_request_null(), count: 2)
        statuses.initialize(repeating: MPI_Status(), count: 2)
        answers = .allocate(capacity: size)
        answers.initialize(repeating: -1, count: size)
    }

    deinit {
        requests.deallocate()
        statuses.deallocate()
        answers.deallocate()
    }

    /// Ends MPI for this process (`MPI_Finalize`): call once, after the last use of every
    /// communicator, on every rank. After a failure, end the job with `abort` instead: MPI_Finalize
    /// may wait for ranks that are gone.
    public func finalize() throws {
        var finalized: Int32 = 0
        try Self.check(MPI_Finalized(&finalized), "MPI_Finalized")
        guard finalized == 0 else { return }
        // Every rank created the same communicators in the same order, so freeing them all here
        // (MPI_Comm_free is collective) matches across ranks. Not after a failure: the other
        // ranks may not get here.
        let created = Self.created.takeAll()
        if failure == nil {
            MPISharedWindow.freeAll(rank: rank)
            for comm in created.reversed() {
                var handle: MPI_Comm? = comm
                Self.bestEffort(MPI_Comm_free(&handle), "MPI_Comm_free", rank: rank)
            }
        }
        try Self.check(MPI_Finalize(), "MPI_Finalize")
    }

    // MARK: Communicator

    public func send(_ bytes: UnsafeRawBufferPointer, to peer: Int, tag: Int32) throws {
        try ready(peer: peer, tag: tag, bytes: bytes.count, call: "MPI_Isend")
        try Self.check(MPI_Isend(bytes.baseAddress, Int32(bytes.count), ddp_mpi_byte(), Int32(peer), tag,
                                 communicator, requests + 1), "MPI_Isend")
        _ = try wait(receive: nil, send: peer, operation: "send")
    }

    public func receive(_ bytes: UnsafeMutableRawBufferPointer, from peer: Int) throws -> Envelope {
        try ready(peer: peer, tag: 0, bytes: bytes.count, call: "MPI_Irecv")
        try Self.check(MPI_Irecv(bytes.baseAddress, Int32(bytes.count), ddp_mpi_byte(), Int32(peer), MPI_ANY_TAG,
                                 communicator, requests), "MPI_Irecv")
        return try wait(receive: peer, send: nil, operation: "receive")!
    }

    public func exchange(sending: UnsafeRawBufferPointer, to destination: Int, tag: Int32,
                         receivingInto: UnsafeMutableRawBufferPointer, from source: Int) throws -> Envelope {
        try ready(peer: source, tag: 0, bytes: receivingInto.count, call: "MPI_Irecv")
        try ready(peer: destination, tag: tag, bytes: sending.count, call: "MPI_Isend")
        try Self.check(MPI_Irecv(receivingInto.baseAddress, Int32(receivingInto.count), ddp_mpi_byte(), Int32(source),
                                 MPI_ANY_TAG, communicator, requests), "MPI_Irecv")
        do {
            try Self.check(MPI_Isend(sending.baseAddress, Int32(sending.count), ddp_mpi_byte(), Int32(destination), tag,
                                     communicator, requests + 1), "MPI_Isend")
        } catch {
            cancel(requests)
            throw error
        }
        return try wait(receive: source, send: destination, operation: "exchange")!
    }

    public func duplicate() throws -> any Communicator {
        try failure.map { throw $0 }
        let data = try Self.duplicate(communicator)
        let copy = MPICommunicator(
            communicator: data, control: try Self.duplicate(data), rank: rank, size: size,
            localRank: localRank, localSize: localSize,
            workspace: workspace.withSameSettings())
        copy.timeoutSeconds = timeoutSeconds
        return copy
    }

    public func splitByNode() throws -> any Communicator {
        try failure.map { throw $0 }
        var node: MPI_Comm? = ddp_mpi_comm_null()
        try Self.check(MPI_Comm_split_type(communicator, Int32(MPI_COMM_TYPE_SHARED), Int32(rank), ddp_mpi_info_null(), &node),
                       "MPI_Comm_split_type")
        return try derived(node!)
    }

    public func split(color: Int?, key: Int) throws -> (any Communicator)? {
        try failure.map { throw $0 }
        if let color, color < 0 { throw CommunicatorError.invalidArgument("split: color must be >= 0 (got \(color))") }
        var part: MPI_Comm? = ddp_mpi_comm_null()
        try Self.check(MPI_Comm_split(communicator, color.map { Int32($0) } ?? MPI_UNDEFINED, Int32(key), &part), "MPI_Comm_split")
        guard color != nil else { return nil }
        return try derived(part!)
    }

    public func allocateShared(byteCount: Int) throws -> any SharedRegion {
        try failure.map { throw $0 }
        let window = try MPISharedWindow(communicator, rank: rank, byteCount: byteCount)
        // A fresh mapping is zero-filled in practice; MPI does not promise it.
        if rank == 0 { window.base.initializeMemory(as: UInt8.self, repeating: 0, count: byteCount) }
        try barrier()
        return window
    }

    /// Ours: a communicator made from this one, with errors returned and freed at `finalize`.
    private func derived(_ comm: MPI_Comm) throws -> MPICommunicator {
        try Self.check(MPI_Comm_set_errhandler(comm, ddp_mpi_errors_return()), "MPI_Comm_set_errhandler")
        Self.created.append(comm)
        let made = try MPICommunicator(comm, workspace: workspace.withSameSettings())
        made.timeoutSeconds = timeoutSeconds
        return made
    }

    public func signalFailure(_ reason: String) {
        guard failure == nil else { return }
        failure = .peerFailed(rank: rank, peer: rank, reason: reason, waitingFor: nil)
        // Short enough to travel eagerly, so the notice is delivered without the sender's help.
        let notice = Array(reason.utf8.prefix(1000))
        sentNotices.append(notice)
        notice.withUnsafeBytes { bytes in
            for peer in 0..<size where peer != rank {
                var request: MPI_Request? = ddp_mpi_request_null()
                // Best effort: if even this fails, the others still end at their timeout.
                if Self.bestEffort(MPI_Isend(bytes.baseAddress, Int32(bytes.count), ddp_mpi_byte(), Int32(peer),
                                             Self.noticeTag, control, &request), "MPI_Isend", rank: rank) {
                    Self.bestEffort(MPI_Request_free(&request), "MPI_Request_free", rank: rank)
                }
            }
        }
    }

    public func abort(message: String) {
        FileHandle.standardError.write(Data("ddp: rank \(rank) aborting the job: \(message)\n".utf8))
        Self.bestEffort(MPI_Abort(communicator, 1), "MPI_Abort", rank: rank)
        exit(1)
    }

    private func ready(peer: Int, tag: Int32, bytes: Int, call: String) throws {
        if let failure { throw failure }
        guard (0..<size).contains(peer) else {
            throw CommunicatorError.invalidArgument("\(call): rank \(peer) is not in this \(size)-rank world")
        }
        guard tag >= 0 && tag < Self.tagLimit else {
            throw CommunicatorError.invalidArgument("\(call): tag \(tag) is outside 0..<\(Self.tagLimit)")
        }
        guard bytes <= Int(Int32.max) else {
            throw CommunicatorError.invalidArgument("\(call): a message of \(bytes) bytes exceeds MPI's 2^31-1 byte count")
        }
    }

    // MARK: MPI helpers

    static func check(_ code: Int32, _ call: String) throws {
        if code != MPI_SUCCESS { throw error(code, call) }
    }

    /// For calls on a path that is already ending in an error (or answering another rank's
    /// query), where throwing would hide the first error: a failure is reported on stderr
    /// instead. Returns whether the call succeeded.
    @discardableResult
    static func bestEffort(_ code: Int32, _ call: String, rank: Int) -> Bool {
        guard code != MPI_SUCCESS else { return true }
        FileHandle.standardError.write(Data("ddp: warning: rank \(rank): \(error(code, call).description)\n".utf8))
        return false
    }

    static func error(_ code: Int32, _ call: String) -> CommunicatorError {
        var text = [CChar](repeating: 0, count: Int(MPI_MAX_ERROR_STRING) + 1)
        var length: Int32 = 0
        let message = MPI_Error_string(code, &text, &length) == MPI_SUCCESS
            ? String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            : "unknown error"
        return .mpi(call: call, code: code, message: message)
    }

    /// A private duplicate of `parent` that returns errors instead of aborting.
    static func duplicate(_ parent: MPI_Comm) throws -> MPI_Comm {
        var copy: MPI_Comm? = ddp_mpi_comm_null()
        try check(MPI_Comm_dup(parent, &copy), "MPI_Comm_dup")
        try check(MPI_Comm_set_errhandler(copy, ddp_mpi_errors_return()), "MPI_Comm_set_errhandler")
        created.append(copy!)
        return copy!
    }

    /// Every communicator `duplicate` made, for `finalize` to free.
    private static let created = CreatedCommunicators()

    /// Collective tags need 30 bits; the MPI standard only promises 15.
    private static func checkTagLimit() throws {
        var value: UnsafeMutableRawPointer?
        var found: Int32 = 0
        try check(MPI_Comm_get_attr(ddp_mpi_comm_world(), Int32(MPI_TAG_UB), &value, &found), "MPI_Comm_get_attr")
        let limit = found != 0 ? Int(value!.load(as: Int32.self)) : 32767
        guard limit >= Int(tagLimit) - 1 else {
            throw CommunicatorError.unsupported("MPI_TAG_UB is \(limit); ddp's collectives need tags up to \(tagLimit - 1)")
        }
    }
}

/// The communicators this process created, in creation order (duplicates may be made from the
/// communication thread's set-up as well as the main thread).
private final class CreatedCommunicators: @unchecked Sendable {
    private let lock = NSLock()
    private var comms: [MPI_Comm] = []

    func append(_ comm: MPI_Comm) { lock.withLock { comms.append(comm) } }

    func takeAll() -> [MPI_Comm] {
        lock.withLock {
            defer { comms.removeAll() }
            return comms
        }
    }
}
