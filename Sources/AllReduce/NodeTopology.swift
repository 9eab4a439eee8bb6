/// Where the ranks of a communicator sit, for `HierarchicalAllReduce`: the ranks of this node,
/// the node leaders (each node's lowest rank), and the node's shared memory. Learnt by the
/// communicator's first allreduce that needs it, on every rank at once (it makes communicators,
/// so it is collective).
final class NodeTopology {
    /// This node's ranks (`splitByNode`), in rank order; its rank 0 is the node's leader.
    let node: any Communicator
    /// The leaders of all nodes, in rank order; nil on the other ranks.
    let leaders: (any Communicator)?
    /// Nodes the communicator spans.
    let nodeCount: Int
    /// Ranks of the communicator.
    let size: Int
    /// The communicator's rank of each rank of `node` (errors name ranks as the user knows them).
    let nodeMembers: [Int]
    /// The node's shared memory (`HierarchicalAllReduce.Region` lays it out); nil until a call
    /// needs it, replaced by a larger one when a call needs more.
    private(set) var region: (any SharedRegion)?
    /// Pieces the node has finished in `region`: its flags count pieces from 0 onwards.
    var finishedPieces = 0

    init(_ communicator: any Communicator) throws {
        node = try communicator.splitByNode()
        leaders = try communicator.split(color: node.rank == 0 ? 0 : nil, key: communicator.rank)
        // Neither may go through the hierarchy again.
        node.workspace.algorithm = .flat
        leaders?.workspace.algorithm = .flat
        leaders?.workspace.ringSegmentBytes = communicator.workspace.leaderSegmentBytes
        var nodes = [Int64(leaders?.size ?? 0)]
        try node.broadcast(&nodes)
        nodeCount = Int(nodes[0])
        size = communicator.size
        nodeMembers = try node.allGather([Int64(communicator.rank)]).map { Int($0[0]) }
    }

    /// The hierarchy pays when the ranks span several nodes and some node holds more than one:
    /// then the slow links between nodes carry each byte once per node instead of once per rank
    /// at the node's edge of the ring.
    var favoursHierarchy: Bool { nodeCount > 1 && nodeCount < size }

    /// A region of at least `byteCount` bytes: the current one, or (on every rank of the node at
    /// once, since they all ask for the same size) a fresh zero-filled one, at least half as large
    /// again as the last, so that slowly growing calls do not reallocate every time.
    func region(byteCount: Int) throws -> any SharedRegion {
        if let region, region.byteCount >= byteCount { return region }
        let grown = max(byteCount, (region?.byteCount ?? 0) * 3 / 2)
        try region?.free()
        region = nil
        let fresh = try node.allocateShared(byteCount: grown)
        region = fresh
        finishedPieces = 0
        return fresh
    }
}
