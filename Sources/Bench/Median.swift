import AllReduce

/// The middle of a set of timings: what every benchmark reports (robust to the stray slow run of
/// a shared machine); the mean of the middle two for an even count, NaN for none.
enum Median {
    static func of(_ xs: [Double]) -> Double {
        guard !xs.isEmpty else { return .nan }
        let s = xs.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// Collective. Per iteration the slowest rank's time (a collective or a synchronized step is
    /// as fast as its last rank), then the median over iterations.
    static func ofSlowestRank(_ times: [Double], _ communicator: any Communicator) throws -> Double {
        let all = try communicator.allGather(times)
        return of(times.indices.map { i in all.map { $0[i] }.max()! })
    }
}
