/// One rank's view of an `InProcessWorld` (or of a group split from it): the transport that lets
/// `swift test` run every collective and the whole DDP step with threads as ranks.
final class InProcessCommunicator: Communicator {
    /// This rank in the group.
    let rank: Int
    var size: Int { members.count }
    /// Among the group's ranks on this rank's node (the world's `nodeSizes`).
    let localRank: Int
    let localSize: Int
    var timeoutSeconds: Double
    let workspace: CollectiveWorkspace

    private let world: InProcessWorld
    /// The world rank of each rank of the group, in group order.
    private let members: [Int]
    private let contextPath: [Int]
    private let context: Int
    /// Communicators derived from this one so far (duplicates and splits): each one's path.
    private var derived = 0

    init(world: InProcessWorld, members: [Int], rank: Int, contextPath: [Int], timeoutSeconds: Double,
         workspace: CollectiveWorkspace) {
        self.world = world
        self.members = members
        self.rank = rank
        self.contextPath = contextPath
        context = world.context(for: contextPath)
        self.timeoutSeconds = timeoutSeconds
        self.workspace = workspace
        let node = world.node(of: members[rank])
        let nodeMembers = members.filter { world.node(of: $0) == node }
        localRank = nodeMembers.firstIndex(of: members[rank])!
        localSize = nodeMembers.count
    }

    func send(_ bytes: UnsafeRawBufferPointer, to peer: Int, tag: Int32) throws {
        try validate(peer: peer, tag: tag, operation: "send")
        try world.post(bytes, tag: tag, context: context, from: members[rank], to: members[peer])
    }

    func receive(_ bytes: UnsafeMutableRawBufferPointer, from peer: Int) throws -> Envelope {
        try validate(peer: peer, tag: 0, operation: "receive")
        return try world.take(into: bytes, context: context, from: members[peer], to: members[rank],
                              timeoutSeconds: timeoutSeconds, operation: "receive")
    }

    /// Sends are buffered, so sending first and then waiting is the same as posting the receive
    /// first: neither side can block the other.
    func exchange(sending: UnsafeRawBufferPointer, to destination: Int, tag: Int32,
                  receivingInto: UnsafeMutableRawBufferPointer, from source: Int) throws -> Envelope {
        try validate(peer: destination, tag: tag, operation: "exchange")
        try validate(peer: source, tag: 0, operation: "exchange")
        try world.post(sending, tag: tag, context: context, from: members[rank], to: members[destination])
        return try world.take(into: receivingInto, context: context, from: members[source], to: members[rank],
                              timeoutSeconds: timeoutSeconds, operation: "exchange")
    }

    func duplicate() throws -> any Communicator {
        derived += 1
        return InProcessCommunicator(world: world, members: members, rank: rank, contextPath: contextPath + [derived, -1],
                                     timeoutSeconds: timeoutSeconds, workspace: workspace.withSameSettings())
    }

    func splitByNode() throws -> any Communicator {
        try split(color: world.node(of: members[rank]), key: rank)!
    }

    /// Every rank learns every rank's color and key (an allgather), so all members of a color
    /// derive the same group, ordered by key and then rank, and the same context path.
    func split(color: Int?, key: Int) throws -> (any Communicator)? {
        if let color, color < 0 { throw CommunicatorError.invalidArgument("split: color must be >= 0 (got \(color))") }
        let all = try allGather([Int64(color ?? -1), Int64(key)])
        derived += 1
        guard let color else { return nil }
        let group = (0..<size).filter { all[$0][0] == Int64(color) }.sorted { (all[$0][1], $0) < (all[$1][1], $1) }
        return InProcessCommunicator(world: world, members: group.map { members[$0] }, rank: group.firstIndex(of: rank)!,
                                     contextPath: contextPath + [derived, color], timeoutSeconds: timeoutSeconds,
                                     workspace: workspace.withSameSettings())
    }

    /// The group's rank 0 allocates; the others learn the address (threads share it) by broadcast.
    func allocateShared(byteCount: Int) throws -> any SharedRegion {
        var address = [Int64(0)]
        if rank == 0 { address[0] = Int64(Int(bitPattern: world.allocateShared(byteCount: byteCount))) }
        try broadcast(&address)
        return InProcessSharedRegion(base: UnsafeMutableRawPointer(bitPattern: Int(address[0]))!, byteCount: byteCount,
                                     owner: self, world: world)
    }

    func signalFailure(_ reason: String) {
        world.fail(context: context, rank: members[rank], reason: reason)
    }

    func abort(message: String) {
        world.abort(rank: members[rank], message: message)
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

/// Memory of an `InProcessWorld` that the ranks of a group share (as threads, at one address).
final class InProcessSharedRegion: SharedRegion {
    let base: UnsafeMutableRawPointer
    let byteCount: Int
    private let owner: InProcessCommunicator
    private let world: InProcessWorld

    init(base: UnsafeMutableRawPointer, byteCount: Int, owner: InProcessCommunicator, world: InProcessWorld) {
        self.base = base
        self.byteCount = byteCount
        self.owner = owner
        self.world = world
    }

    /// After a barrier nobody uses the memory any more; the group's rank 0 releases it.
    func free() throws {
        try owner.barrier()
        if owner.rank == 0 { world.freeShared(base) }
    }
}
