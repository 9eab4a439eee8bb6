import AllReduce
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
///                   flat(b, P, link), the algorithm training picks for b over P ranks:
///                   ring                2 (P - 1) (alpha + (b / P) / beta)     b > the latency path
///                   recursive doubling  (floor(log2 P) + 2 [P not a power of 2]) (alpha + b / beta)
///                   with alpha, beta the latency and bandwidth of the slowest link of the ring:
///                   between nodes when N > 1, inside a node otherwise (ping-pong, measured);
///                   or, through the node first (`HierarchicalAllReduce`: automatic when N > 1
///                   and R > 1, or forced):
///                   hierarchical        max(flat(b, N, between nodes), node(b)) + fill(b)
///                   node(b) = 3 transfer(b) inside a node (copy in, add, copy out: the work of
///                   the node, hidden behind the leaders' allreduce when there is one), fill(b) =
///                   2 transfer(min(b, piece)) inside a node (the first piece's copy and the last
///                   one's, which nothing hides); for N = 1 only node(b)
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
    /// The allreduce training runs (`--allreduce`): automatic goes through the node when N > 1
    /// and R > 1; ring and recursive doubling are forced flat.
    public var algorithm: AllReduceAlgorithm
    /// `CollectiveWorkspace.hierarchyPieceBytes`.
    public var pieceBytes: Int

    public init(computeByThreads: [Int: Double], coresPerNode: Double, sharedCores: Bool, batchSize: Int,
                bucketBytes: [Int], latencyPathMaxBytes: Int, intraNode: Link?, interNode: Link?,
                algorithm: AllReduceAlgorithm = .automatic, pieceBytes: Int = 256 << 10) {
        self.computeByThreads = computeByThreads
        self.coresPerNode = coresPerNode
        self.sharedCores = sharedCores
        self.batchSize = batchSize
        self.bucketBytes = bucketBytes
        self.latencyPathMaxBytes = latencyPathMaxBytes
        self.intraNode = intraNode
        self.interNode = interNode
        self.algorithm = algorithm
        self.pieceBytes = pieceBytes
    }

    /// Whether training goes through the node first in `layout`.
    public func throughNode(_ layout: Layout) -> Bool {
        switch algorithm {
        case .hierarchical: return true
        case .automatic: return layout.nodes > 1 && layout.ranksPerNode > 1
        case .flat, .ring, .recursiveDoubling: return false
        }
    }

    /// The prediction for `layout`, or why there is none (a link that was not measured).
    public func predict(_ layout: Layout) -> Result<Prediction, ScalingError> {
        let cores = sharedCores ? coresPerNode / Double(layout.nodes) : coresPerNode
        let threads = max(1, Int((cores / Double(layout.ranksPerNode)).rounded(.down)))
        let measured = computeByThreads.keys.filter { $0 <= threads }.max() ?? 1
        guard let alone = computeByThreads[measured] else { return .failure(.noCompute) }
        let compute = alone * max(1, Double(layout.ranksPerNode * measured) / cores)
        var allreduce = 0.0
        if layout.ranks > 1 && throughNode(layout) {
            if layout.ranksPerNode > 1 && intraNode == nil { return .failure(.noIntraNodeLink) }
            if layout.nodes > 1 && interNode == nil { return .failure(.noInterNodeLink) }
            allreduce = bucketBytes.reduce(0) { $0 + hierarchicalSeconds(bytes: $1, layout: layout) }
        } else if layout.ranks > 1 {
            guard let link = layout.nodes > 1 ? interNode : intraNode else {
                return .failure(layout.nodes > 1 ? .noInterNodeLink : .noIntraNodeLink)
            }
            allreduce = bucketBytes.reduce(0) { $0 + flatSeconds(bytes: $1, ranks: layout.ranks, link: link) }
        }
        return .success(Prediction(layout: layout, threadsPerRank: measured, computeSeconds: compute,
                                   allreduceSeconds: allreduce,
                                   imagesPerSecond: Double(layout.ranks * batchSize) / (compute + allreduce)))
    }

    /// One flat allreduce of `bytes` over `ranks` ranks by the algorithm training would pick.
    func flatSeconds(bytes: Int, ranks: Int, link: Link) -> Double {
        switch algorithm {
        case .ring: return Self.allreduceSeconds(bytes: bytes, ranks: ranks, link: link, latencyPathMaxBytes: -1)
        case .recursiveDoubling: return Self.allreduceSeconds(bytes: bytes, ranks: ranks, link: link, latencyPathMaxBytes: .max)
        case .automatic, .flat, .hierarchical:
            return Self.allreduceSeconds(bytes: bytes, ranks: ranks, link: link, latencyPathMaxBytes: latencyPathMaxBytes)
        }
    }

    /// One allreduce of `bytes` through the node first (the leaders' part flat over the nodes);
    /// needs `intraNode` when R > 1 and `interNode` when N > 1.
    func hierarchicalSeconds(bytes: Int, layout: Layout) -> Double {
        var node = 0.0, fill = 0.0, leaders = 0.0
        if layout.ranksPerNode > 1, let intra = intraNode {
            node = 3 * intra.transfer(Double(bytes))
            fill = layout.nodes > 1 ? 2 * intra.transfer(Double(min(bytes, pieceBytes))) : 0
        }
        if layout.nodes > 1, let inter = interNode {
            leaders = Self.allreduceSeconds(bytes: bytes, ranks: layout.nodes, link: inter, latencyPathMaxBytes: latencyPathMaxBytes)
        }
        return max(leaders, node) + fill
    }

    /// One allreduce of `bytes` over `ranks` ranks in one flat group: recursive doubling up to
    /// `latencyPathMaxBytes`, the ring above.
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
