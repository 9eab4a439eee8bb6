/// The latency-optimal allreduce for small messages: ceil(log2 P) rounds (plus two when P is not
/// a power of two), each exchanging the whole vector, against the ring's 2(P-1) rounds.
enum RecursiveDoublingAllReduce {
    /// Allreduce of the `count` elements at `values`, in place, over all ranks of `communicator`
    /// (P = its size, at least 2).
    ///
    /// Let p2 be the largest power of two <= P. Ranks p2 ..< P ("extra") first hand their vector
    /// to rank k - p2, which adds it to its own. The p2 ranks then run recursive doubling: in
    /// round m = 1, 2, 4, ..., p2/2 rank k exchanges its whole vector with rank k XOR m and adds
    /// the partner's. Partners compute a + b and b + a, equal bits under IEEE addition, so all
    /// p2 ranks hold identical sums after every round. They divide by P when averaging, then rank
    /// k < P - p2 copies the finished vector back to rank k + p2.
    ///
    ///     P = 6, p2 = 4:   fold 4->0, 5->1 | rounds 0<->1, 2<->3 | 0<->2, 1<->3 | unfold 0->4, 1->5
    static func run(_ communicator: any Communicator, _ values: UnsafeMutableRawPointer, count: Int,
                    kind: ElementKind, op: ReduceOp) throws {
        let ranks = communicator.size, rank = communicator.rank
        let bytes = count &* kind.size
        var powerOfTwo = 1
        while powerOfTwo &* 2 <= ranks { powerOfTwo &*= 2 }
        let extraRanks = ranks &- powerOfTwo

        let call = CollectiveCall(operation: op == .sum ? .doublingSum : .doublingAverage, kind: kind, count: count)
        let tag = call.tag
        let vector = UnsafeMutableRawBufferPointer(start: values, count: bytes)

        if rank >= powerOfTwo {
            let partner = rank &- powerOfTwo
            try communicator.send(UnsafeRawBufferPointer(vector), to: partner, tag: tag)
            let envelope = try communicator.receive(vector, from: partner)
            try call.check(envelope, from: partner, expectedBytes: bytes, on: communicator)
            return
        }

        let scratch = UnsafeMutableRawBufferPointer(start: communicator.workspace.scratch(bytes: bytes), count: bytes)
        if rank < extraRanks {
            let partner = rank &+ powerOfTwo
            let envelope = try communicator.receive(scratch, from: partner)
            try call.check(envelope, from: partner, expectedBytes: bytes, on: communicator)
            ReductionKernel.accumulate(values, scratch.baseAddress!, count: count, kind: kind)
        }
        var distance = 1
        while distance < powerOfTwo {
            let partner = rank ^ distance
            let envelope = try communicator.exchange(
                sending: UnsafeRawBufferPointer(vector), to: partner, tag: tag, receivingInto: scratch, from: partner)
            try call.check(envelope, from: partner, expectedBytes: bytes, on: communicator)
            ReductionKernel.accumulate(values, scratch.baseAddress!, count: count, kind: kind)
            distance &*= 2
        }
        if op == .average { ReductionKernel.divide(values, count: count, by: ranks, kind: kind) }
        if rank < extraRanks {
            try communicator.send(UnsafeRawBufferPointer(vector), to: rank &+ powerOfTwo, tag: tag)
        }
    }
}
