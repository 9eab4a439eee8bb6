/// The bandwidth-optimal allreduce: every rank sends and receives 2(P-1)/P of the buffer, whatever P.
enum RingAllReduce {
    /// Ring allreduce of the `count` elements at `values`, in place, over all ranks of
    /// `communicator` (P = its size, at least 2): a reduce-scatter, then an allgather.
    ///
    /// The buffer is cut into P chunks as even as the count allows: with q = count / P and
    /// r = count % P, chunk c starts at c*q + min(c, r) and holds q + (c < r ? 1 : 0) elements.
    /// With count < P some chunks are empty; their zero-byte messages still travel, because each
    /// message carries the call's tag (`CollectiveCall`) and its length is checked on receipt.
    /// Each rank sends only to its right neighbour and receives only from its left one:
    ///
    ///        +--------+  one chunk  +--------+  one chunk  +--------+
    ///        | rank 0 | ----------> | rank 1 | ----------> | rank 2 |
    ///        +--------+             +--------+             +--------+
    ///            ^                                              |
    ///            +------------------- one chunk ----------------+
    ///
    /// Reduce-scatter, step s = 0 ..< P-1: rank k sends its chunk (k - s) mod P and receives
    /// chunk (k - s - 1) mod P into scratch, then adds it into its own copy of that chunk. After
    /// P-1 steps, rank k holds the complete sum of chunk (k + 1) mod P, its "owned" chunk, which
    /// it divides by P when averaging.
    /// Allgather, step s = 0 ..< P-1: rank k sends chunk (k + 1 - s) mod P and receives chunk
    /// (k - s) mod P straight into the buffer. That is a copy, no arithmetic, so every rank ends
    /// with the owners' exact bits: the result is bitwise identical on all ranks by construction.
    ///
    /// P = 3, chunks a b c; "a10" is a1 + a0 (the receiver's own value first), capitals are the
    /// finished sums A = a210, B = b021, C = c102:
    ///
    ///     step     sends 0->1, 1->2, 2->0    rank 0         rank 1         rank 2
    ///     start                              a0  b0   c0    a1  b1  c1     a2  b2  c2
    ///     RS s=0   a0,   b1,   c2            a0  b0   c02   a10 b1  c1     a2  b21 c2
    ///     RS s=1   c02,  a10,  b21           a0  B    c02   a10 b1  C      A   b21 c2
    ///     AG s=0   B,    C,    A             A   B    c02   a10 B   C      A   b21 C
    ///     AG s=1   A,    B,    C             A   B    C     A   B   C      A   B   C
    ///
    /// Each step moves its chunk in segments of at most `workspace.ringSegmentBytes` (one
    /// exchange each; in the reduce-scatter each segment is added while still in cache). Every
    /// exchange posts its receive before its send (`Communicator.exchange`), so no rank can block
    /// another; the only memory is the communicator's scratch, one segment long and reused.
    static func run(_ communicator: any Communicator, _ values: UnsafeMutableRawPointer, count: Int,
                    kind: ElementKind, op: ReduceOp) throws {
        let ranks = communicator.size, rank = communicator.rank
        let elementSize = kind.size
        let layout = RingLayout(values: values, count: count, ranks: ranks, elementSize: elementSize,
                                segmentBytes: communicator.workspace.ringSegmentBytes)

        let call = CollectiveCall(operation: op == .sum ? .ringSum : .ringAverage, kind: kind, count: count)
        let tag = call.tag
        let right = (rank &+ 1) % ranks, left = (rank &+ ranks &- 1) % ranks
        let scratch = communicator.workspace.scratch(bytes: layout.segmentElements &* elementSize)

        var step = 0
        while step < ranks &- 1 {
            let sendChunk = (rank &- step &+ ranks) % ranks
            let receiveChunk = (rank &- step &- 1 &+ 2 &* ranks) % ranks
            var j = 0
            while j < layout.segments {
                let incoming = layout.segment(receiveChunk, j)
                let envelope = try communicator.exchange(
                    sending: UnsafeRawBufferPointer(layout.segment(sendChunk, j)), to: right, tag: tag,
                    receivingInto: UnsafeMutableRawBufferPointer(start: scratch, count: incoming.count), from: left)
                try call.check(envelope, from: left, expectedBytes: incoming.count, on: communicator)
                ReductionKernel.accumulate(incoming.baseAddress!, scratch, count: incoming.count / elementSize, kind: kind)
                j &+= 1
            }
            step &+= 1
        }

        let owned = (rank &+ 1) % ranks
        if op == .average {
            ReductionKernel.divide(values + layout.chunkStart(owned) &* elementSize, count: layout.chunkCount(owned),
                                   by: ranks, kind: kind)
        }

        step = 0
        while step < ranks &- 1 {
            let sendChunk = (rank &+ 1 &- step &+ ranks) % ranks
            let receiveChunk = (rank &- step &+ ranks) % ranks
            var j = 0
            while j < layout.segments {
                let incoming = layout.segment(receiveChunk, j)
                let envelope = try communicator.exchange(
                    sending: UnsafeRawBufferPointer(layout.segment(sendChunk, j)), to: right, tag: tag,
                    receivingInto: incoming, from: left)
                try call.check(envelope, from: left, expectedBytes: incoming.count, on: communicator)
                j &+= 1
            }
            step &+= 1
        }
    }
}

/// Where `RingAllReduce` cuts the buffer: chunk c of P starts at c*q + min(c, r) (q = count / P,
/// r = count % P) and holds q + (c < r ? 1 : 0) elements. Each step's chunk travels in segments
/// of at most the communicator's `ringSegmentBytes`, every segment of the reduce-scatter reduced
/// as soon as it arrives, while it is still in cache. All chunks are cut at the same offsets
/// (the longest chunk's segment count), so sender and receiver agree on every segment's length;
/// a short chunk's last segment may be empty.
struct RingLayout {
    let values: UnsafeMutableRawPointer
    let elementSize: Int
    let quotient: Int, remainder: Int
    /// Elements per segment, and segments per chunk.
    let segmentElements: Int, segments: Int

    init(values: UnsafeMutableRawPointer, count: Int, ranks: Int, elementSize: Int, segmentBytes: Int) {
        self.values = values
        self.elementSize = elementSize
        quotient = count / ranks
        remainder = count % ranks
        let longest = quotient &+ (remainder > 0 ? 1 : 0)
        let segmentLimit = segmentBytes / elementSize
        segmentElements = segmentLimit > 0 ? min(segmentLimit, max(longest, 1)) : max(longest, 1)
        segments = max(1, (longest &+ segmentElements &- 1) / segmentElements)
    }

    @inline(__always) func chunkStart(_ c: Int) -> Int { c &* quotient &+ min(c, remainder) }
    @inline(__always) func chunkCount(_ c: Int) -> Int { quotient &+ (c < remainder ? 1 : 0) }

    /// Segment j of chunk c.
    @inline(__always) func segment(_ c: Int, _ j: Int) -> UnsafeMutableRawBufferPointer {
        let offset = min(j &* segmentElements, chunkCount(c))
        let length = min(segmentElements, chunkCount(c) &- offset)
        return UnsafeMutableRawBufferPointer(
            start: values + (chunkStart(c) &+ offset) &* elementSize, count: length &* elementSize)
    }
}
