/// How a global batch G is shared out: P ranks x `batchSize` per micro-batch x `accumulate`
/// micro-batches per step, G = P x B x N.
///
/// `--resume` on any number of ranks keeps the run's G, so the sample stream, the steps of an
/// epoch, the schedule and the learning rate go on as they were (`ResumePlan`). What the command
/// line leaves open is derived, for P ranks:
///
///     --batch-size B --accumulate N   as given (a new G is the caller's to allow or refuse)
///     --batch-size B                  N = G / (P x B)
///     --accumulate N                  B = G / (P x N)
///     neither                         N as recorded, B = G / (P x N): 4 x 64 on 2 ranks is 2 x 128;
///                                     when P x N does not divide G, the fewest micro-batches
///                                     whose B is no larger than the recorded one
///
/// and there is no split when no whole B and N make G (4 x 64 = 256 on 3 ranks).
public struct BatchSplit: Equatable, Sendable {
    public var batchSize: Int
    public var accumulate: Int

    public init(batchSize: Int, accumulate: Int) {
        self.batchSize = batchSize
        self.accumulate = accumulate
    }

    /// G = ranks x batchSize x accumulate, nil when that overflows.
    public func globalBatch(ranks: Int) -> Int? {
        let (perMicroBatch, overflow) = ranks.multipliedReportingOverflow(by: batchSize)
        let (global, overflowToo) = perMicroBatch.multipliedReportingOverflow(by: accumulate)
        return overflow || overflowToo ? nil : global
    }

    /// The split of `global` samples over `ranks` by the table above, given `batchSize` and
    /// `accumulate` when the command line gave them; `recorded` is the split of the run resumed.
    /// nil when no whole split makes `global`, or a value given is below 1.
    public static func derive(global: Int, ranks: Int, batchSize: Int?, accumulate: Int?,
                              recorded: BatchSplit) -> BatchSplit? {
        precondition(global > 0 && ranks > 0, "BatchSplit.derive(global: \(global), ranks: \(ranks))")
        guard (batchSize ?? 1) >= 1, (accumulate ?? 1) >= 1 else { return nil }
        switch (batchSize, accumulate) {
        case let (b?, n?):
            return BatchSplit(batchSize: b, accumulate: n)
        case let (b?, nil):
            return whole(global, ranks, b).map { BatchSplit(batchSize: b, accumulate: $0) }
        case let (nil, n?):
            return whole(global, ranks, n).map { BatchSplit(batchSize: $0, accumulate: n) }
        case (nil, nil):
            if let b = whole(global, ranks, recorded.accumulate) { return BatchSplit(batchSize: b, accumulate: recorded.accumulate) }
            guard global % ranks == 0 else { return nil }
            // N = G / P gives B = 1, so a split no larger than the recorded B always exists here.
            let perRank = global / ranks
            let n = (1...perRank).first { perRank % $0 == 0 && perRank / $0 <= recorded.batchSize }!
            return BatchSplit(batchSize: perRank / n, accumulate: n)
        }
    }

    /// global / (ranks x factor) when that is a whole number of at least 1, else nil.
    private static func whole(_ global: Int, _ ranks: Int, _ factor: Int) -> Int? {
        let (divisor, overflow) = ranks.multipliedReportingOverflow(by: factor)
        guard !overflow, divisor > 0, global % divisor == 0 else { return nil }
        return global / divisor
    }
}
