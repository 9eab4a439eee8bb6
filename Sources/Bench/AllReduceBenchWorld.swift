import AllReduce

/// The MPI world `ddp bench allreduce` measures in: ddp's ring set up as asked, the self-test,
/// the sweep against MPI_Allreduce and the overlap study run in it, and the job ended cleanly
/// (or, on an error, aborted so no rank waits for this one).
public final class AllReduceBenchWorld {
    /// The algorithms `--algorithm` accepts.
    public static let algorithmNames = AllReduceAlgorithm.allCases.map(\.rawValue)

    private let communicator: MPICommunicator
    public var rank: Int { communicator.rank }
    public var size: Int { communicator.size }

    /// Joins the MPI job. `algorithm` (one of `algorithmNames`) forces one allreduce algorithm;
    /// `ringSegmentBytes` sets the ring's segment size, `hierarchyPieceBytes` and
    /// `leaderSegmentBytes` the hierarchical allreduce's piece size and its leaders' segment.
    public init(algorithm: String?, ringSegmentBytes: Int?, hierarchyPieceBytes: Int?, leaderSegmentBytes: Int?) throws {
        communicator = try MPICommunicator()
        if let algorithm {
            guard let chosen = AllReduceAlgorithm(rawValue: algorithm) else {
                throw BenchError("unknown allreduce algorithm \(algorithm)")
            }
            communicator.workspace.algorithm = chosen
        }
        if let ringSegmentBytes { communicator.workspace.ringSegmentBytes = ringSegmentBytes }
        if let hierarchyPieceBytes { communicator.workspace.hierarchyPieceBytes = hierarchyPieceBytes }
        if let leaderSegmentBytes { communicator.workspace.leaderSegmentBytes = leaderSegmentBytes }
    }

    /// Runs `body`, then finalizes MPI. An error other than `passThrough`'s aborts the job first.
    public func run(passThrough: (Error) -> Bool = { _ in false }, _ body: () throws -> Void) throws {
        do {
            try body()
            try communicator.finalize()
        } catch where passThrough(error) {
            try? communicator.finalize()
            throw error
        } catch {
            if communicator.size > 1 { communicator.abort(message: "\(error)") }
            try? communicator.finalize()
            throw error
        }
    }

    /// `AllReduceSelfTest` on this world; the names of the checks that failed.
    public func selfTest(log: (String) -> Void) throws -> [String] {
        try AllReduceSelfTest.run(on: communicator, log: log)
    }

    public func sweep(sizes: [Int], iterations: Int) throws -> [AllReduceMeasurement] {
        try AllReduceBenchmark.run(on: communicator, sizes: sizes, iterations: iterations)
    }

    public func overlapStudy(parameters: Int, backwardSeconds: Double, capsBytes: [Int], steps: Int) throws -> [BucketOverlapStudy.Row] {
        try BucketOverlapStudy.run(on: communicator, parameters: parameters, backwardSeconds: backwardSeconds,
                                   capsBytes: capsBytes, steps: steps)
    }
}
