/// The collectives, built on the point-to-point primitives of any transport. Every rank must
/// make the same calls in the same order with the same lengths (checked: `CollectiveCall`).
extension Communicator {
    // MARK: allreduce

    /// Sums (or averages) `count` elements at `values` over all ranks, in place. The result is
    /// bitwise identical on every rank. The algorithm is `chooseAlgorithm`'s: through the node
    /// first when ranks share nodes (`HierarchicalAllReduce`), else the ring (`RingAllReduce`)
    /// for large messages and recursive doubling for small ones.
    public func allReduce<T: ReducibleElement>(_ values: UnsafeMutablePointer<T>, count: Int, op: ReduceOp = .sum) throws {
        try allReduce(UnsafeMutableRawPointer(values), count: count, kind: T.elementKind, op: op)
    }

    /// Sums (or averages) `values` over all ranks, in place (metrics, small vectors).
    public func allReduce<T: ReducibleElement>(_ values: inout [T], op: ReduceOp = .sum) throws {
        let count = values.count
        try values.withUnsafeMutableBufferPointer { buffer in
            try allReduce(UnsafeMutableRawPointer(buffer.baseAddress), count: count, kind: T.elementKind, op: op)
        }
    }

    func allReduce(_ values: UnsafeMutableRawPointer?, count: Int, kind: ElementKind, op: ReduceOp) throws {
        guard count >= 0 else { throw CommunicatorError.invalidArgument("allReduce: count must be >= 0 (got \(count))") }
        guard size > 1 else { return }
        // An empty array has no address; a zero-count call still has to meet the other ranks.
        var placeholder: UInt64 = 0
        try withUnsafeMutableBytes(of: &placeholder) { fallback in
            let base = values ?? fallback.baseAddress!
            switch try chooseAlgorithm(bytes: count &* kind.size) {
            case .hierarchical: try HierarchicalAllReduce.run(self, try topology(), base, count: count, kind: kind, op: op)
            case .ring: try RingAllReduce.run(self, base, count: count, kind: kind, op: op)
            case .recursiveDoubling, .flat, .automatic:
                try RecursiveDoublingAllReduce.run(self, base, count: count, kind: kind, op: op)
            }
        }
    }

    /// The algorithm a message of `bytes` takes: `.hierarchical`, `.ring` or
    /// `.recursiveDoubling`. With `.automatic`, the first call learns where the ranks sit
    /// (`NodeTopology`), so it is collective the first time.
    public func chooseAlgorithm(bytes: Int) throws -> AllReduceAlgorithm {
        switch workspace.algorithm {
        case .automatic:
            return try topology().favoursHierarchy ? .hierarchical : flatAlgorithm(bytes: bytes)
        case .flat: return flatAlgorithm(bytes: bytes)
        case .hierarchical, .ring, .recursiveDoubling: return workspace.algorithm
        }
    }

    private func flatAlgorithm(bytes: Int) -> AllReduceAlgorithm {
        bytes <= workspace.latencyPathMaxBytes ? .recursiveDoubling : .ring
    }

    /// One line for a banner: which allreduce the ranks run and why, e.g. "hierarchical: shared
    /// memory within each node, one leader per node across nodes (auto, 4 ranks on 2 nodes)".
    /// Collective the first time (it learns where the ranks sit).
    public func allReduceSummary() throws -> String {
        guard size > 1 else { return "none (one rank)" }
        let topology = try topology()
        let placement = "\(size) ranks on \(topology.nodeCount) node\(topology.nodeCount == 1 ? "" : "s")"
        let flat = "flat: recursive doubling up to \(workspace.latencyPathMaxBytes >> 10) KiB, the ring above"
        let hierarchical = "hierarchical: shared memory within each node, one leader per node across nodes"
        switch workspace.algorithm {
        case .automatic: return (topology.favoursHierarchy ? hierarchical : flat) + " (auto, \(placement))"
        case .flat: return flat + " (forced, \(placement))"
        case .hierarchical: return hierarchical + " (forced, \(placement))"
        case .ring, .recursiveDoubling: return "\(workspace.algorithm.rawValue) for every message (forced, \(placement))"
        }
    }

    /// Where this communicator's ranks sit, learnt on first use (collective then).
    func topology() throws -> NodeTopology {
        if let known = workspace.topology { return known }
        let topology = try NodeTopology(self)
        workspace.topology = topology
        return topology
    }

    // MARK: broadcast

    /// Copies `count` elements at `values` on rank `root` to `values` on every other rank
    /// (binomial tree: ceil(log2 P) rounds; used once at start for parameters and buffers).
    public func broadcast<T: CollectiveElement>(_ values: UnsafeMutablePointer<T>, count: Int, root: Int = 0) throws {
        try broadcast(UnsafeMutableRawPointer(values), count: count, kind: T.elementKind, root: root)
    }

    /// Replaces `values` on every rank with rank `root`'s; all ranks must pass the same count.
    public func broadcast<T: CollectiveElement>(_ values: inout [T], root: Int = 0) throws {
        let count = values.count
        try values.withUnsafeMutableBufferPointer { buffer in
            try broadcast(UnsafeMutableRawPointer(buffer.baseAddress), count: count, kind: T.elementKind, root: root)
        }
    }

    private func broadcast(_ values: UnsafeMutableRawPointer?, count: Int, kind: ElementKind, root: Int) throws {
        guard count >= 0 else { throw CommunicatorError.invalidArgument("broadcast: count must be >= 0 (got \(count))") }
        guard (0..<size).contains(root) else {
            throw CommunicatorError.invalidArgument("broadcast: root \(root) is not a rank of this \(size)-rank world")
        }
        let call = CollectiveCall(operation: .broadcast, kind: kind, count: count)
        let bytes = count &* kind.size
        let buffer = UnsafeMutableRawBufferPointer(start: values, count: bytes)
        // Ranks renumbered so the root is 0; rank v receives from v minus its lowest set bit and
        // forwards to v + m for every power of two m below that bit.
        let virtualRank = (rank &- root &+ size) % size
        var mask = 1
        while mask < size {
            if virtualRank & mask != 0 {
                let parent = (virtualRank &- mask &+ root) % size
                let envelope = try receive(buffer, from: parent)
                try call.check(envelope, from: parent, expectedBytes: bytes, on: self)
                break
            }
            mask <<= 1
        }
        mask >>= 1
        while mask > 0 {
            if virtualRank &+ mask < size {
                try send(UnsafeRawBufferPointer(buffer), to: (virtualRank &+ mask &+ root) % size, tag: call.tag)
            }
            mask >>= 1
        }
    }

    // MARK: allgather

    /// Every rank's `values` (lengths may differ), indexed by rank, on every rank.
    public func allGather<T: CollectiveElement>(_ values: [T]) throws -> [[T]] {
        // Round 1: the lengths. Round 2: the values, each rank's block at its offset.
        var lengths = [Int64](repeating: 0, count: size)
        lengths[rank] = Int64(values.count)
        try lengths.withUnsafeMutableBytes { bytes in
            try ringAllGather(bytes.baseAddress!, blockBytes: { _ in 8 }, byteOffset: { $0 * 8 },
                              call: CollectiveCall(operation: .allGatherLengths, kind: T.elementKind, count: 1))
        }
        let counts = lengths.map { Int($0) }
        var offsets = [Int](repeating: 0, count: size + 1)
        for r in 0..<size { offsets[r + 1] = offsets[r] + counts[r] }
        let elementSize = T.elementKind.size
        let gathered = UnsafeMutableRawPointer.allocate(byteCount: max(offsets[size] * elementSize, 1), alignment: 16)
        defer { gathered.deallocate() }
        values.withUnsafeBytes { own in
            if own.count > 0 { (gathered + offsets[rank] * elementSize).copyMemory(from: own.baseAddress!, byteCount: own.count) }
        }
        try ringAllGather(gathered, blockBytes: { counts[$0] * elementSize }, byteOffset: { offsets[$0] * elementSize },
                          call: CollectiveCall(operation: .allGatherData, kind: T.elementKind, count: offsets[size]))
        let typed = gathered.bindMemory(to: T.self, capacity: offsets[size])
        return (0..<size).map { Array(UnsafeBufferPointer(start: typed + offsets[$0], count: counts[$0])) }
    }

    /// Every rank's string, indexed by rank (configuration checks).
    public func allGather(_ string: String) throws -> [String] {
        try allGather(Array(string.utf8)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Ring allgather of per-rank blocks laid out in rank order at `base`: in step s, rank k
    /// forwards block (k - s) mod P to its right neighbour and receives block (k - s - 1) mod P.
    private func ringAllGather(_ base: UnsafeMutableRawPointer, blockBytes: (Int) -> Int,
                               byteOffset offset: (Int) -> Int, call: CollectiveCall) throws {
        let right = (rank + 1) % size, left = (rank + size - 1) % size
        for step in 0..<(size - 1) {
            let sendBlock = (rank - step + size) % size
            let receiveBlock = (rank - step - 1 + 2 * size) % size
            let envelope = try exchange(
                sending: UnsafeRawBufferPointer(start: base + offset(sendBlock), count: blockBytes(sendBlock)),
                to: right, tag: call.tag,
                receivingInto: UnsafeMutableRawBufferPointer(start: base + offset(receiveBlock), count: blockBytes(receiveBlock)),
                from: left)
            try call.check(envelope, from: left, expectedBytes: blockBytes(receiveBlock), on: self)
        }
    }

    // MARK: barrier

    /// Returns on each rank once every rank has entered it (dissemination barrier: in round
    /// m = 1, 2, 4, ... rank k signals rank k + m and waits for rank k - m; ceil(log2 P) rounds).
    public func barrier() throws {
        let call = CollectiveCall(operation: .barrier, kind: .uint8, count: 0)
        var token: UInt8 = 0
        try withUnsafeMutableBytes(of: &token) { token in
            var distance = 1
            while distance < size {
                let from = (rank - distance + size) % size
                let envelope = try exchange(
                    sending: UnsafeRawBufferPointer(rebasing: token[0..<0]), to: (rank + distance) % size, tag: call.tag,
                    receivingInto: UnsafeMutableRawBufferPointer(rebasing: token[0..<0]), from: from)
                try call.check(envelope, from: from, expectedBytes: 0, on: self)
                distance *= 2
            }
        }
    }
}
