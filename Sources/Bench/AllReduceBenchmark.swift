import AllReduce
import Platform
/// One message size of `ddp bench allreduce`: our allreduce and `MPI_Allreduce` on the same
/// data in the same run.
public struct AllReduceMeasurement: Sendable {
    public var ranks: Int
    public var bytes: Int
    /// The algorithm our call took at this size.
    public var algorithm: AllReduceAlgorithm
    /// Median over iterations of the slowest rank's time, seconds.
    public var ringSeconds: Double
    public var mpiSeconds: Double

    /// Bus bandwidth, bytes/s: 2(P-1)/P * bytes / time (the nccl-tests convention: what each
    /// link carries in a bandwidth-optimal allreduce, comparable across rank counts).
    public var ringBusBandwidth: Double { Self.busBandwidth(ranks: ranks, bytes: bytes, seconds: ringSeconds) }
    public var mpiBusBandwidth: Double { Self.busBandwidth(ranks: ranks, bytes: bytes, seconds: mpiSeconds) }
    /// Ours relative to MPI's: MPI time / our time (= our bus bandwidth / MPI's; > 1 is faster).
    public var ratio: Double { mpiSeconds / ringSeconds }

    static func busBandwidth(ranks: Int, bytes: Int, seconds: Double) -> Double {
        2 * Double(ranks - 1) / Double(ranks) * Double(bytes) / seconds
    }
}

/// Times our allreduce against `MPI_Allreduce` (Float sum, in place).
public enum AllReduceBenchmark {
    /// For each size in bytes (a multiple of 4): `warmup` untimed calls of each, then
    /// `iterations` timed pairs, each call after a barrier and on freshly filled data (rank + 1,
    /// so the result is checked exactly), ours and MPI's in alternating order so load from other
    /// processes hits both alike. Collective; every rank gets the same results.
    public static func run(on communicator: MPICommunicator, sizes: [Int], iterations: Int,
                           warmup: Int = 3) throws -> [AllReduceMeasurement] {
        guard iterations >= 1, warmup >= 0 else {
            throw CommunicatorError.invalidArgument("bench: iterations must be >= 1 and warm-up >= 0")
        }
        if let bad = sizes.first(where: { $0 < 0 || $0 % 4 != 0 }) {
            throw CommunicatorError.invalidArgument("bench: size \(bad) bytes is not a non-negative multiple of 4 (Float)")
        }
        let reference = try ReferenceAllReduce(over: communicator)
        return try sizes.map { bytes in
            try measure(bytes: bytes, communicator: communicator, reference: reference,
                        iterations: iterations, warmup: warmup)
        }
    }

    private static func measure(bytes: Int, communicator: MPICommunicator, reference: ReferenceAllReduce,
                                iterations: Int, warmup: Int) throws -> AllReduceMeasurement {
        let count = bytes / 4
        let ours = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        let theirs = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        defer { ours.deallocate(); theirs.deallocate() }
        let mine = Float(communicator.rank + 1)

        func timeOurs() throws -> Double {
            ours.update(repeating: mine, count: count)
            try communicator.barrier()
            let start = MonotonicClock.seconds()
            try communicator.allReduce(ours, count: count, op: .sum)
            return MonotonicClock.seconds() - start
        }
        func timeTheirs() throws -> Double {
            theirs.update(repeating: mine, count: count)
            try communicator.barrier()
            let start = MonotonicClock.seconds()
            try reference.allReduce(theirs, count: count)
            return MonotonicClock.seconds() - start
        }

        for _ in 0..<warmup { _ = try timeOurs(); _ = try timeTheirs() }
        var oursTimes = [Double](repeating: 0, count: iterations)
        var theirsTimes = [Double](repeating: 0, count: iterations)
        for i in 0..<iterations {
            if i % 2 == 0 {
                oursTimes[i] = try timeOurs(); theirsTimes[i] = try timeTheirs()
            } else {
                theirsTimes[i] = try timeTheirs(); oursTimes[i] = try timeOurs()
            }
        }
        // rank + 1 summed over ranks is an exact small integer in Float.
        let expected = Float(communicator.size * (communicator.size + 1) / 2)
        if let i = (0..<count).first(where: { ours[$0] != expected || theirs[$0] != expected }) {
            throw CommunicatorError.wrongResult(
                "bench: wrong sum at element \(i) of \(count): ours \(ours[i]), MPI \(theirs[i]), expected \(expected)")
        }
        return AllReduceMeasurement(
            ranks: communicator.size, bytes: bytes, algorithm: try communicator.chooseAlgorithm(bytes: bytes),
            ringSeconds: try Median.ofSlowestRank(oursTimes, communicator),
            mpiSeconds: try Median.ofSlowestRank(theirsTimes, communicator))
    }
}
