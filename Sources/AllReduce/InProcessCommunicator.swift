/// One rank's view of an `InProcessWorld`: the transport that lets `swift test` run every
/// collective and the whole DDP step with threads as ranks.
final class InProcessCommunicator: Communicator {
    let rank: Int
    var size: Int { world.size }
    /// All ranks share the process, hence the node.
    var localRank: Int { rank }
    var localSize: Int { world.size }
    var timeoutSeconds: Double
    let workspace: CollectiveWorkspace

    private let world: InProcessWorld
    private let contextPath: [Int]
    private let context: Int
    private var duplicates = 0

    init(world: InProcessWorld, rank: Int, contextPath: [Int], context: Int, timeoutSeconds: Double,
         workspace: CollectiveWorkspace) {
        self.world = world
        self.rank = rank
        self.contextPath = contextPath
        self.context = context
        self.timeoutSeconds = timeoutSeconds
        self.workspace = workspace
    }

    func send(_ bytes: UnsafeRawBufferPointer, to peer: Int, tag: Int32) throws {
        try validate(peer: peer, tag: tag, operation: "send")
        try world.post(bytes, tag: tag, context: context, from: rank, to: peer)
    }

    func receive(_ bytes: UnsafeMutableRawBufferPointer, from peer: Int) throws -> Envelope {
        try validate(peer: peer, tag: 0, operation: "receive")
        return try world.take(into: bytes, context: context, from: peer, to: rank,
                              timeoutSeconds: timeoutSeconds, operation: "receive")
    }

    /// Sends are buffered, so sending first and then waiting is the same as posting the receive
    /// first: neither side can block the other.
    func exchange(sending: UnsafeRawBufferPointer, to destination: Int, tag: Int32,
                  receivingInto: UnsafeMutableRawBufferPointer, from source: Int) throws -> Envelope {
        try validate(peer: destination, tag: tag, operation: "exchange")
        try validate(peer: source, tag: 0, operation: "exchange")
        try world.post(sending, tag: tag, context: context, from: rank, to: destination)
        return try world.take(into: receivingInto, context: context, from: source, to: rank,
                              timeoutSeconds: timeoutSeconds, operation: "exchange")
    }

    func duplicate() throws -> any Communicator {
        let path = contextPath + [duplicates]
        duplicates += 1
        return InProcessCommunicator(
            world: world, rank: rank, contextPath: path, context: world.context(for: path),
            timeoutSeconds: timeoutSeconds,
            workspace: workspace.withSameSettings())
    }

    func signalFailure(_ reason: String) {
        world.fail(context: context, rank: rank, reason: reason)
    }

    func abort(message: String) {
        world.abort(rank: rank, message: message)
    }

    private func validate(peer: Int, tag: Int32, operation: String) throws {
        guard (0..<size).contains(peer) else {
            throw CommunicatorError.invalidArgument("\(operation): rank \(peer) is not in this \(size)-rank world")
        }
        guard tag >= 0 && tag < Self.tagLimit else {
            throw CommunicatorError.invalidArgument("\(operation): tag \(tag) is outside 0..<\(Self.tagLimit)")
        }
    }
}
