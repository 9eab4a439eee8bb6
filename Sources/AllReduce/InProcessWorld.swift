import Foundation

/// Threads as ranks, in one process: the single-process test mode. The same collectives and the
/// whole DDP step run over it without mpirun (`swift test`, `ddp train --local-ranks P`).
///
/// Messages go through per-channel FIFO mailboxes guarded by one lock; a receiver blocks on a
/// condition variable (no spinning) until its message arrives, the world fails, or its deadline
/// passes. Sends copy into a pooled buffer and return at once (eager, unbounded buffering), so
/// `exchange` can never deadlock; the buffers are reused, so steady traffic allocates nothing.
public final class InProcessWorld: @unchecked Sendable {
    /// Number of ranks (threads).
    public let size: Int
    /// The node of each rank, as the world was told (`run`'s `nodeSizes`).
    private let nodes: [Int]

    private struct ChannelKey: Hashable {
        var context: Int, source: Int, destination: Int
    }

    /// Raw memory, copied with memcpy (a byte array's generic append is slow in debug builds).
    private struct Storage {
        var memory: UnsafeMutableRawPointer
        var capacity: Int
    }

    private struct Message {
        var tag: Int32
        var storage: Storage
        var length: Int
    }

    /// A FIFO without `removeFirst`'s O(n) shifting: a read index that resets when drained. A
    /// class, so the mailbox dictionary is only read once a channel exists: mutating a value in
    /// place through the dictionary's subscript costs a heap call per access in debug builds.
    private final class MessageQueue {
        var messages: [Message] = []
        var head = 0
        var isEmpty: Bool { head == messages.count }
        func push(_ message: Message) { messages.append(message) }
        func pop() -> Message {
            let message = messages[head]
            head += 1
            if head == messages.count { messages.removeAll(keepingCapacity: true); head = 0 }
            return message
        }
    }

    private let condition = NSCondition()
    // Everything below is guarded by `condition`.
    private var channels: [ChannelKey: MessageQueue] = [:]
    private var contexts: [[Int]: Int] = [[]: 0]
    private var failures: [Int: (rank: Int, reason: String)] = [:]
    private var abortNotice: (rank: Int, message: String)?
    private var firstError: Error?
    private var storagePool: [Storage] = []
    private var sharedMemory: Set<UnsafeMutableRawPointer> = []

    private init(nodeSizes: [Int]) {
        size = nodeSizes.reduce(0, +)
        nodes = nodeSizes.indices.flatMap { Array(repeating: $0, count: nodeSizes[$0]) }
    }

    deinit {
        for memory in sharedMemory { memory.deallocate() }
        for storage in storagePool { storage.memory.deallocate() }
        for queue in channels.values {
            for message in queue.messages[queue.head...] { message.storage.memory.deallocate() }
        }
    }

    /// Runs `body` on `size` threads, one per rank, each with its own communicator; waits for all
    /// of them and rethrows the first error thrown. A rank that throws aborts the world, so the
    /// others' waiting and later calls throw instead of blocking forever. `timeoutSeconds`
    /// bounds every single wait (0: none). `nodeSizes` makes the world look like several nodes
    /// (ranks 0 ..< nodeSizes[0] on the first, and so on; `localRank`, `splitByNode`); by default
    /// all ranks share one node.
    public static func run(size: Int, nodeSizes: [Int]? = nil, timeoutSeconds: Double = 300,
                           _ body: @escaping (any Communicator) throws -> Void) throws {
        guard size >= 1 else { throw CommunicatorError.invalidArgument("InProcessWorld: size must be >= 1 (got \(size))") }
        let nodeSizes = nodeSizes ?? [size]
        guard nodeSizes.allSatisfy({ $0 >= 1 }), nodeSizes.reduce(0, +) == size else {
            throw CommunicatorError.invalidArgument("InProcessWorld: node sizes \(nodeSizes) must be >= 1 and add up to \(size)")
        }
        let algorithm = try AllReduceAlgorithm.fromEnvironment()
        let world = InProcessWorld(nodeSizes: nodeSizes)
        let finished = DispatchGroup()
        for rank in 0..<size {
            let communicator = InProcessCommunicator(
                world: world, members: Array(0..<size), rank: rank, contextPath: [],
                timeoutSeconds: timeoutSeconds, workspace: CollectiveWorkspace(algorithm: algorithm))
            finished.enter()
            let thread = Thread {
                do { try body(communicator) } catch { world.rankFailed(rank, error) }
                finished.leave()
            }
            thread.name = "ddp-rank-\(rank)"
            // Rank bodies run whole training steps; give them a main-thread-sized stack.
            thread.stackSize = 16 << 20
            thread.start()
        }
        finished.wait()
        world.condition.lock()
        let error = world.firstError
        world.condition.unlock()
        if let error { throw error }
    }

    // MARK: used by InProcessCommunicator

    /// The node world rank `rank` is on.
    func node(of rank: Int) -> Int { nodes[rank] }

    /// Zero-filled, 64-byte aligned memory that lives until `freeShared` or the world's end.
    func allocateShared(byteCount: Int) -> UnsafeMutableRawPointer {
        let memory = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 1))
        condition.lock()
        sharedMemory.insert(memory)
        condition.unlock()
        return memory
    }

    func freeShared(_ memory: UnsafeMutableRawPointer) {
        condition.lock()
        let removed = sharedMemory.remove(memory)
        condition.unlock()
        removed?.deallocate()
    }

    /// The id of the context (channel namespace) a communicator with this duplication path uses;
    /// every rank calling `duplicate()` in the same order arrives at the same path, hence id.
    func context(for path: [Int]) -> Int {
        condition.lock()
        defer { condition.unlock() }
        if let id = contexts[path] { return id }
        let id = contexts.count
        contexts[path] = id
        return id
    }

    /// After an abort (a rank's body threw) sends still go through and messages already sent are
    /// still received, as under MPI: a rank finishing the collective its peer finished before
    /// throwing reaches the same decision instead of an echo of the abort. Only a wait for a
    /// message that cannot come any more throws. A failed context refuses both at once.
    func post(_ bytes: UnsafeRawBufferPointer, tag: Int32, context: Int, from source: Int, to destination: Int) throws {
        condition.lock()
        if failures[context] != nil, let error = failure(context: context, rank: source, waitingFor: nil) {
            condition.unlock(); throw error
        }
        // The smallest pooled buffer that fits: messages of mixed sizes (segments, small
        // collectives) must neither trade small buffers for large ones on every call nor tie up
        // large ones with small messages.
        var best = -1
        var i = 0
        while i < storagePool.count {
            if storagePool[i].capacity >= bytes.count && (best < 0 || storagePool[i].capacity < storagePool[best].capacity) {
                best = i
            }
            i += 1
        }
        var storage: Storage? = best >= 0 ? storagePool.remove(at: best) : nil
        condition.unlock()

        if storage == nil {
            let capacity = max(bytes.count, 64)
            storage = Storage(memory: .allocate(byteCount: capacity, alignment: 64), capacity: capacity)
        }
        if bytes.count > 0 { storage!.memory.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }

        condition.lock()
        let key = ChannelKey(context: context, source: source, destination: destination)
        let queue: MessageQueue
        if let existing = channels[key] {
            queue = existing
        } else {
            queue = MessageQueue()
            channels[key] = queue
        }
        queue.push(Message(tag: tag, storage: storage!, length: bytes.count))
        condition.broadcast()
        condition.unlock()
    }

    func take(into bytes: UnsafeMutableRawBufferPointer, context: Int, from source: Int, to destination: Int,
              timeoutSeconds: Double, operation: String) throws -> Envelope {
        let key = ChannelKey(context: context, source: source, destination: destination)
        let deadline = timeoutSeconds > 0 ? Date(timeIntervalSinceNow: timeoutSeconds) : nil
        condition.lock()
        let message: Message
        while true {
            if failures[context] == nil, let queue = channels[key], !queue.isEmpty {
                message = queue.pop()
                break
            }
            if let error = failure(context: context, rank: destination, waitingFor: source) { condition.unlock(); throw error }
            if let deadline {
                if Date() >= deadline {
                    condition.unlock()
                    let error = CommunicatorError.timeout(
                        rank: destination, peer: source, seconds: timeoutSeconds, operation: operation)
                    fail(context: context, rank: destination, reason: error.description)
                    throw error
                }
                _ = condition.wait(until: deadline)
            } else {
                condition.wait()
            }
        }
        condition.unlock()

        let kept = min(message.length, bytes.count)
        if kept > 0 { bytes.baseAddress!.copyMemory(from: message.storage.memory, byteCount: kept) }
        let envelope = Envelope(tag: message.tag, byteCount: kept, truncated: message.length > bytes.count)

        condition.lock()
        storagePool.append(message.storage)
        condition.unlock()
        return envelope
    }

    /// Marks `context` failed by `rank` (the first report wins) and wakes every waiter.
    func fail(context: Int, rank: Int, reason: String) {
        condition.lock()
        if failures[context] == nil { failures[context] = (rank, reason) }
        condition.broadcast()
        condition.unlock()
    }

    /// Fails every context of the world on behalf of `rank` and wakes every waiter.
    func abort(rank: Int, message: String) {
        condition.lock()
        if abortNotice == nil { abortNotice = (rank, message) }
        condition.broadcast()
        condition.unlock()
    }

    // MARK: private

    private static func isEcho(_ error: Error) -> Bool {
        switch error as? CommunicatorError {
        case .aborted?, .peerFailed?: return true
        default: return false
        }
    }

    /// What a call of `rank` on `context` must throw now, if anything. Caller holds the lock.
    private func failure(context: Int, rank: Int, waitingFor: Int?) -> CommunicatorError? {
        if let failed = failures[context] {
            return .peerFailed(rank: rank, peer: failed.rank, reason: failed.reason,
                               waitingFor: failed.rank == rank ? nil : waitingFor)
        }
        if let notice = abortNotice { return .aborted(rank: notice.rank, message: notice.message) }
        return nil
    }

    /// A rank's body threw: remember the error and abort the world so nobody waits on it.
    /// The error kept is the first cause: another rank's echo of a failure (`aborted`,
    /// `peerFailed`) may be recorded first, but a genuine error replaces it.
    private func rankFailed(_ rank: Int, _ error: Error) {
        condition.lock()
        if firstError == nil || (Self.isEcho(firstError!) && !Self.isEcho(error)) { firstError = error }
        condition.unlock()
        abort(rank: rank, message: "\(error)")
    }
}
