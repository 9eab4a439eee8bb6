import Foundation

/// Where mpirun placed this process, read from Open MPI's environment before (and without)
/// `MPI_Init`: lets a plain `ddp train` be a world of one without starting MPI, and lets BLAS
/// threads be chosen (cores / ranks on the node) before anything else runs.
public struct MPILaunchEnvironment: Equatable, Sendable {
    /// Rank in MPI_COMM_WORLD.
    public var rank: Int
    /// Ranks in MPI_COMM_WORLD.
    public var size: Int
    /// Rank among the processes on this node.
    public var localRank: Int
    /// Processes on this node.
    public var localSize: Int

    public init(rank: Int, size: Int, localRank: Int, localSize: Int) {
        self.rank = rank
        self.size = size
        self.localRank = localRank
        self.localSize = localSize
    }

    /// The launch this process belongs to, nil when it was not started by Open MPI's mpirun
    /// (OMPI_COMM_WORLD_SIZE, _RANK, _LOCAL_RANK, _LOCAL_SIZE).
    public static var current: MPILaunchEnvironment? {
        from(ProcessInfo.processInfo.environment)
    }

    /// The launch described by `environment`, nil when it does not name one.
    public static func from(_ environment: [String: String]) -> MPILaunchEnvironment? {
        func value(_ name: String) -> Int? { environment["OMPI_COMM_WORLD_" + name].flatMap { Int($0) } }
        guard let size = value("SIZE"), let rank = value("RANK") else { return nil }
        return MPILaunchEnvironment(rank: rank, size: size, localRank: value("LOCAL_RANK") ?? 0,
                                    localSize: value("LOCAL_SIZE") ?? 1)
    }
}
