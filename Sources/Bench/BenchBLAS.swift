import Platform

/// The BLAS a benchmark runs on, as its report names it, and the one setting a benchmark
/// changes (`--threads`).
public enum BenchBLAS {
    /// One line: library, core, threads and where they came from.
    public static var description: String { BLASRuntime.describe() }
    public static var core: String { BLASRuntime.status.coreName }
    public static var threads: Int { BLASRuntime.status.threads }
    public static func setThreads(_ n: Int) { BLASRuntime.setThreads(n) }
}
