import Foundation

/// The prediction of `ddp bench scaling`: a training step's time, images/s and efficiency for
/// N nodes x R ranks, from what one launch measured.
///
///     step(N, R)  = compute(R) + allreduce(P = N R)
///
///     compute(R)  = c(T) * max(1, R T / C)          T = max(1, floor(C / R)) BLAS threads per rank
///                                                   C = cores per node, c(T) = one rank's compute
///                                                   per step alone at T threads (data, forward,
///                                                   backward, update; measured)
///     allreduce   = sum over the gradient's buckets of b bytes (--bucket-cap-mb, as in training):
///                   ring                2 (P - 1) (alpha + (b / P) / beta)     b > the latency path
///                   recursive doubling  (floor(log2 P) + 2 [P not a power of 2]) (alpha + b / beta)
///                   with alpha, beta the latency and bandwidth of the slowest link of the ring:
///                   between nodes when N > 1, inside a node otherwise (ping-pong, measured)
///     images/s    = P B / step(N, R)                B = the batch per rank
///     efficiency  = compute(R) / step(N, R)         images/s over N nodes' worth of compute alone
///
/// The ring's 2 (P - 1) transfers of b / P move in lockstep, every rank sending to the next, so
/// each transfer takes as long as the slowest link it crosses; with the ranks of a node
/// consecutive (mpirun's default), N > 1 links cross nodes and each carries one transfer per
/// round. `sharedCores`: the nodes are network namespaces of one machine (the test cluster) and
/// share its cores, C = cores / N.
public struct ScalingModel: Sendable {
    public struct Link: Sendable, Equatable {
        public var latencySeconds: Double
        public var bytesPerSecond: Double
        public init(latencySeconds: Double, bytesPerSecond: Double) {
            self.latencySeconds = latencySeconds
            self.bytesPerSecond = bytesPerSecond
        }
        /// Seconds to move `bytes` once.
        func transfer(_ bytes: Double) -> Double { latencySeconds + bytes / bytesPerSecond }
    }

    public struct Layout: Sendable, Equatable, CustomStringConvertible {
        public var nodes: Int
        public var ranksPerNode: Int
        public init(nodes: Int, ranksPerNode: Int) { self.nodes = nodes; self.ranksPerNode = ranksPerNode }
        public var ranks: Int { nodes * ranksPerNode }
        public var description: String { "\(nodes)x\(ranksPerNode)" }

        /// "2x4": 2 nodes of 4 ranks.
        public init?(_ text: String) {
            let parts = text.split(separator: "x")
            guard parts.count == 2, let n = Int(parts[0]), let r = Int(parts[1]), n >= 1, r >= 1 else { return nil }
            self.init(nodes: n, ranksPerNode: r)
        }
    }

    public struct Prediction: Sendable {
        public var layout: Layout
        public var threadsPerRank: Int
        public var computeSeconds: Double
        public var allreduceSeconds: Double
        public var stepSeconds: Double { computeSeconds + allreduceSeconds }
        public var imagesPerSecond: Double
        public var efficiency: Double { computeSeconds / stepSeconds }
    }

    /// One rank's compute seconds per step alone, by BLAS threads (1 ... the node's cores).
    public var computeByThreads: [Int: Double]
    public var coresPerNode: Double
    public var sharedCores: Bool
    public var batchSize: Int
    /// Bytes of each gradient bucket.
    public var bucketBytes: [Int]
    /// Buckets up to this size take recursive doubling, larger ones the ring.
    public var latencyPathMaxBytes: Int
    public var intraNode: Link?
    public var interNode: Link?

    public init(computeByThreads: [Int: Double], coresPerNode: Double, sharedCores: Bool, batchSize: Int,
                bucketBytes: [Int], latencyPathMaxBytes: Int, intraNode: Link?, interNode: Link?) {
        self.computeByThreads = computeByThreads
        self.coresPerNode = coresPerNode
        self.sharedCores = sharedCores
        self.batchSize = batchSize
        self.bucketBytes = bucketBytes
        self.latencyPathMaxBytes = latencyPathMaxBytes
        self.intraNode = intraNode
        self.interNode = interNode
    }

    /// The prediction for `layout`, or why there is none (a link that was not measured).
    public func predict(_ layout: Layout) -> Result<Prediction, ScalingError> {
        let cores = sharedCores ? coresPerNode / Double(layout.nodes) : coresPerNode
        let threads = max(1, Int((cores / Double(layout.ranksPerNode)).rounded(.down)))
        let measured = computeByThreads.keys.filter { $0 <= threads }.max() ?? 1
        guard let alone = computeByThreads[measured] else { return .failure(.noCompute) }
        let compute = alone * max(1, Double(layout.ranksPerNode * measured) / cores)
        var allreduce = 0.0
        if layout.ranks > 1 {
            guard let link = layout.nodes > 1 ? interNode : intraNode else {
                return .failure(layout.nodes > 1 ? .noInterNodeLink : .noIntraNodeLink)
            }
            allreduce = bucketBytes.reduce(0) { $0 + Self.allreduceSeconds(bytes: $1, ranks: layout.ranks, link: link,
                                                                        latencyPathMaxBytes: latencyPathMaxBytes) }
        }
        return .success(Prediction(layout: layout, threadsPerRank: measured, computeSeconds: compute,
                                   allreduceSeconds: allreduce,
                                   imagesPerSecond: Double(layout.ranks * batchSize) / (compute + allreduce)))
    }

    /// One allreduce of `bytes` over `ranks` ranks by the algorithm training would pick.
    public static func allreduceSeconds(bytes: Int, ranks: Int, link: Link, latencyPathMaxBytes: Int) -> Double {
        guard ranks > 1 else { return 0 }
        if bytes <= latencyPathMaxBytes {
            var rounds = 0
            while 2 << rounds <= ranks { rounds += 1 }      // floor(log2 P) exchanges of the whole vector
            if ranks & (ranks - 1) != 0 { rounds += 2 }     // the extra ranks' fold and unfold
            return Double(rounds) * link.transfer(Double(bytes))
        }
        return Double(2 * (ranks - 1)) * link.transfer(Double(bytes) / Double(ranks))
    }

    public enum ScalingError: Error, Sendable, CustomStringConvertible {
        case noCompute, noIntraNodeLink, noInterNodeLink
        public var description: String {
            switch self {
            case .noCompute: return "no compute time was measured"
            case .noIntraNodeLink: return "no two ranks of one node were measured (launch R >= 2 ranks on a node)"
            case .noInterNodeLink: return "no two nodes were measured (launch across >= 2 nodes)"
            }
        }
    }
}
