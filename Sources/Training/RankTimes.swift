import AllReduce
import Foundation
import Plot

/// Each rank's compute and wait seconds over a stretch of steps, gathered to every rank, and the
/// straggler among them, if any.
///
///     step  |<- data + forward + backward ->|<- allreduce wait ->|<- update ->|
///     rank 0 |=========|.........................|==|         compute = "=", wait = "."
///     rank 1 |=========|.........................|==|
///     rank 2 |==============================|....|==|         <- the straggler
///
/// In a synchronous step every rank leaves the allreduce together, so the slowest rank's extra
/// compute shows up as the others' extra wait: compute names the rank that holds the job back,
/// wait only says who paid for it. Compute counts a rank's own work (the wait for its next batch,
/// forward, backward, the update); wait is the allreduce phase, the transfer and the waiting
/// for slower ranks.
///
/// The straggler is the rank with the most compute when that is at least `threshold` (1.2) times
/// the median of the other ranks': against the others rather than all ranks, so that with 2 ranks
/// "20% slower" means 20% slower than the other rank (a median that includes the slow rank would
/// need a 50% gap there). Identical on every rank: it is computed from the same gathered numbers.
public struct RankTimes: Sendable, Equatable {
    public static let threshold = 1.2

    /// Seconds by rank.
    public var compute: [Double]
    public var wait: [Double]

    public init(compute: [Double], wait: [Double]) {
        self.compute = compute; self.wait = wait
    }

    /// Every rank's times, given this rank's; a collective, so every rank calls it at the same step.
    static func gather(_ own: TrainingStep.Timing, comm: any Communicator) throws -> RankTimes {
        let all = try comm.allGather([own.compute, own.wait])
        return RankTimes(compute: all.map { $0[0] }, wait: all.map { $0[1] })
    }

    /// The straggler and its compute as a multiple of the others' median; nil with one rank, with
    /// no time measured, or when no rank is `threshold` times slower.
    public var straggler: (rank: Int, ratio: Double)? {
        guard compute.count > 1, let slowest = compute.indices.max(by: { compute[$0] < compute[$1] }) else { return nil }
        var others = compute
        others.remove(at: slowest)
        let typical = Median.of(others)
        guard typical > 0 else { return nil }
        let ratio = compute[slowest] / typical
        return ratio >= Self.threshold ? (slowest, ratio) : nil
    }

    /// "ranks  compute 41.2 40.9 82.3 s  wait 41.0 41.3 0.2 s  straggler: rank 2 (2.01x the others' compute)".
    public var humanLine: String {
        func seconds(_ values: [Double]) -> String { values.map { String(format: "%.1f", $0) }.joined(separator: " ") }
        var line = "ranks  compute \(seconds(compute)) s  wait \(seconds(wait)) s"
        if let (rank, ratio) = straggler { line += "  " + Self.note(rank: rank, ratio: ratio) + " the others' compute)" }
        return line
    }

    /// What the progress line carries while a straggler is known.
    public var progressNote: String? {
        straggler.map { Self.note(rank: $0.rank, ratio: $0.ratio) + ")" }
    }

    private static func note(rank: Int, ratio: Double) -> String {
        String(format: "straggler: rank %d (%.2fx", rank, ratio)
    }
}

/// Where the trainer stands in timing its ranks: the step timing at the start of the epoch and of
/// the current window of `every` steps, so each report covers its own stretch.
struct RankTimesClock {
    /// Steps per window; 0: only epochs.
    let every: Int
    /// Print and log each window (`--rank-times-every`), or only keep the progress line's note.
    let report: Bool
    private var epochStart = TrainingStep.Timing()
    private var windowStart = TrainingStep.Timing()

    /// Windows for the progress line when none were asked for: often enough to name a straggler
    /// within a few seconds, rare enough (two tiny collectives per window) to cost nothing.
    static let silentEvery = 50

    init(requestedEvery: Int, ranks: Int) {
        report = requestedEvery > 0
        every = requestedEvery > 0 ? requestedEvery : ranks > 1 ? Self.silentEvery : 0
    }

    mutating func startEpoch(_ now: TrainingStep.Timing) { epochStart = now; windowStart = now }

    /// The window's times when `globalStep` ends one, else nil.
    mutating func window(_ now: TrainingStep.Timing, globalStep: Int, comm: any Communicator) throws -> RankTimes? {
        guard every > 0, globalStep % every == 0 else { return nil }
        defer { windowStart = now }
        return try RankTimes.gather(now - windowStart, comm: comm)
    }

    func epoch(_ now: TrainingStep.Timing, comm: any Communicator) throws -> RankTimes {
        try RankTimes.gather(now - epochStart, comm: comm)
    }
}
