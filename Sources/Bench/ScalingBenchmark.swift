import AllReduce
import Foundation
import Platform
import Training

/// `ddp bench scaling`: measures what `ScalingModel` needs, in the launch it runs in.
///
///     1. compute   rank 0 alone (the others wait) runs training steps of the model in a world
///                  of one at 1, 2, ... BLAS threads up to its node's cores: c(T)
///     2. links     ping-pong of 8 bytes (latency) and 4 MiB (bandwidth) between rank 0 and the
///                  first rank on its node (intra-node link) and the first rank on another node
///                  (inter-node link), each pair alone; nodes told apart by host name
///     3. gradient  the bucket sizes training would allreduce (--bucket-cap-mb) and the
///                  largest message that takes recursive doubling
public enum ScalingBenchmark {
    public struct Measured: Sendable {
        public var model: ScalingModel
        public var nodes: Int
        public var ranks: Int
        public var parameterCount: Int
    }

    /// Collective: every rank calls it; the result is rank 0's (others get theirs unfilled).
    public static func measure(config: TrainConfig, coresPerNode: Double, sharedCores: Bool, steps: Int,
                               comm: any Communicator) throws -> Measured {
        let maxThreads = max(1, CPUInfo.current().cores)
        var compute: [Int: Double] = [:]
        var parameters = 0
        let before = BenchBLAS.threads
        if comm.rank == 0 {
            for threads in 1...maxThreads {
                BenchBLAS.setThreads(threads)
                try InProcessWorld.run(size: 1) { alone in
                    let r = try StepBenchmark.run(config: config, warmup: 3, steps: steps, threads: threads, comm: alone)
                    compute[threads] = r.computeSeconds
                    parameters = r.parameterCount
                }
            }
            BenchBLAS.setThreads(before)
        }
        try comm.barrier()

        let hosts = try comm.allGather(ProcessInfo.processInfo.hostName)
        let nodes = Set(hosts).count
        let intraPeer = (1..<comm.size).first { hosts[$0] == hosts[0] }
        let interPeer = (1..<comm.size).first { hosts[$0] != hosts[0] }
        let intra = try intraPeer.flatMap { try link(to: $0, comm: comm) }
        let inter = try interPeer.flatMap { try link(to: $0, comm: comm) }

        let buckets = GradientBuckets.ranges(count: parameters, capBytes: Int(config.bucketCapMB * 1_048_576))
            .map { $0.count * MemoryLayout<Float>.size }
        let model = ScalingModel(computeByThreads: compute, coresPerNode: coresPerNode, sharedCores: sharedCores,
                                 batchSize: config.batchSize, bucketBytes: buckets,
                                 latencyPathMaxBytes: comm.workspace.latencyPathMaxBytes,
                                 intraNode: intra, interNode: inter, algorithm: comm.workspace.algorithm,
                                 pieceBytes: comm.workspace.hierarchyPieceBytes)
        return Measured(model: model, nodes: nodes, ranks: comm.size, parameterCount: parameters)
    }

    /// Latency and bandwidth between rank 0 and `peer`, measured by those two alone; nil on
    /// other ranks.
    static func link(to peer: Int, comm: any Communicator) throws -> ScalingModel.Link? {
        try comm.barrier()
        let latency = try oneWaySeconds(bytes: 8, repeats: 50, peer: peer, comm: comm)
        let big = 4 << 20
        let transfer = try oneWaySeconds(bytes: big, repeats: 8, peer: peer, comm: comm)
        try comm.barrier()
        guard comm.rank == 0, let latency, let transfer else { return nil }
        return ScalingModel.Link(latencySeconds: latency, bytesPerSecond: Double(big) / max(transfer - latency, 1e-9))
    }

    /// Median of half a round trip of `bytes` between rank 0 and `peer` (rank 0's figure; nil
    /// elsewhere). Ranks other than the two do nothing.
    static func oneWaySeconds(bytes: Int, repeats: Int, peer: Int, comm: any Communicator) throws -> Double? {
        guard comm.rank == 0 || comm.rank == peer else { return nil }
        var buffer = [UInt8](repeating: 0, count: bytes)
        let tag: Int32 = 4242
        var halves: [Double] = []
        try buffer.withUnsafeMutableBytes { b in
            for i in 0..<(repeats + 2) {
                let start = MonotonicClock.seconds()
                if comm.rank == 0 {
                    try comm.send(UnsafeRawBufferPointer(b), to: peer, tag: tag)
                    _ = try comm.receive(b, from: peer)
                } else {
                    _ = try comm.receive(b, from: 0)
                    try comm.send(UnsafeRawBufferPointer(b), to: 0, tag: tag)
                }
                if i >= 2 { halves.append((MonotonicClock.seconds() - start) / 2) }   // two warm-up rounds
            }
        }
        return comm.rank == 0 ? Median.of(halves) : nil
    }
}
