import Tensor

/// Which samples each rank trains on, step by step (DESIGN.md, "Sampler").
///
/// Epoch e uses one permutation `perm` of `0..<count`, identical on every rank because it depends
/// on `(seed, e)` only:
///
///     perm = SeededRNG(seed: DistributedSampler.epochSeed(seed: seed, epoch: e)).permutation(count)
///     epochSeed(seed, e) = seed XOR splitMix64(e)
///
/// where `splitMix64` is SplitMix64's output function (a bijection of UInt64, so two epochs of
/// one run never share a permutation), and `permutation` is `SeededRNG`'s Fisher-Yates. With
/// `shuffle: false`, `perm` is the identity.
///
/// The global batch is G = B * P * N (B = `batchSize` per rank and micro-batch, P = `ranks`,
/// N = `accumulate`, the micro-batches each rank runs before the one allreduce of a step). An
/// epoch has floor(count / G) steps; the tail of fewer than G samples is dropped, not padded.
/// Step s cuts `perm[s*G ..< (s+1)*G]` into P*N micro-batches of B; rank r takes the N
/// consecutive ones `r*N ..< (r+1)*N`, so micro-batch m of rank r is
/// `perm[s*G + (r*N + m)*B ..< s*G + (r*N + m + 1)*B]`:
///
///     perm: | s=0: r0m0 r0m1 r1m0 r1m1 ... | s=1: r0m0 r0m1 r1m0 ... | ... | dropped tail |
///                  <-B-><-B->
///                  <- N*B -->
///                  <--------- G ---------->
///
/// so P ranks x N micro-batches of B see exactly the samples one rank with batch P*N*B sees (and
/// P ranks with batch N*B, each rank the same N*B), no sample twice in an epoch. Cutting by rank
/// first keeps the micro-batches, the groups BatchNorm normalizes, the same for any P and N of
/// one product at one B. The permutation is computed once per epoch and cached; `indices`
/// returns a slice of it without copying.
public final class DistributedSampler {
    /// Samples in the dataset.
    public let count: Int
    /// Samples per rank per micro-batch (B).
    public let batchSize: Int
    /// Micro-batches per rank per step (N).
    public let accumulate: Int
    /// Number of ranks (P).
    public let ranks: Int
    /// This rank, in `0..<ranks`.
    public let rank: Int
    public let seed: UInt64
    public let shuffle: Bool
    /// G = B * P * N.
    public let globalBatchSize: Int
    /// floor(count / G).
    public let stepsPerEpoch: Int

    private var cachedEpoch = -1
    private var cachedPermutation: [Int] = []

    /// Throws `DataError` for a batch size, rank count or accumulation below 1, a rank outside
    /// `0..<ranks`, or a dataset that cannot fill one global batch.
    public init(count: Int, batchSize: Int, ranks: Int, rank: Int, accumulate: Int = 1, seed: UInt64,
                shuffle: Bool = true) throws {
        guard batchSize > 0 else { throw DataError.invalidArgument("batch size must be at least 1 (got \(batchSize))") }
        guard ranks > 0 else { throw DataError.invalidArgument("number of ranks must be at least 1 (got \(ranks))") }
        guard accumulate > 0 else { throw DataError.invalidArgument("accumulation must be at least 1 (got \(accumulate))") }
        guard (0..<ranks).contains(rank) else {
            throw DataError.invalidArgument("rank \(rank) is outside 0..<\(ranks)")
        }
        let (perMicroBatch, overflow) = batchSize.multipliedReportingOverflow(by: ranks)
        let (global, overflowToo) = perMicroBatch.multipliedReportingOverflow(by: accumulate)
        guard !overflow, !overflowToo, count >= global else {
            throw DataError.datasetTooSmall(count: count, batchSize: batchSize, ranks: ranks, accumulate: accumulate)
        }
        self.count = count
        self.batchSize = batchSize
        self.accumulate = accumulate
        self.ranks = ranks
        self.rank = rank
        self.seed = seed
        self.shuffle = shuffle
        self.globalBatchSize = global
        self.stepsPerEpoch = count / global
    }

    /// The dataset indices this rank trains on in micro-batch `microBatch` of `step` of `epoch`
    /// (B of them).
    public func indices(epoch: Int, step: Int, microBatch: Int = 0) -> ArraySlice<Int> {
        precondition(epoch >= 0, "epoch \(epoch) is negative")
        precondition((0..<stepsPerEpoch).contains(step), "step \(step) outside 0..<\(stepsPerEpoch)")
        precondition((0..<accumulate).contains(microBatch), "micro-batch \(microBatch) outside 0..<\(accumulate)")
        if epoch != cachedEpoch {
            cachedPermutation = Self.permutation(count: count, seed: seed, epoch: epoch, shuffle: shuffle)
            cachedEpoch = epoch
        }
        let start = step * globalBatchSize + (rank * accumulate + microBatch) * batchSize
        return cachedPermutation[start..<(start + batchSize)]
    }

    /// The order of epoch `epoch`, the same on every rank.
    public static func permutation(count: Int, seed: UInt64, epoch: Int, shuffle: Bool = true) -> [Int] {
        guard shuffle else { return Array(0..<count) }
        var rng = SeededRNG(seed: epochSeed(seed: seed, epoch: epoch))
        return rng.permutation(count)
    }

    /// The generator seed of epoch `epoch`: `seed XOR splitMix64(epoch)`.
    public static func epochSeed(seed: UInt64, epoch: Int) -> UInt64 {
        mixSeed(seed, UInt64(epoch))
    }

    /// The contiguous part of a `count`-sample evaluation set that `rank` of `ranks` evaluates:
    /// `rank*count/ranks ..< (rank+1)*count/ranks`. Together the ranges cover every sample exactly
    /// once; sizes differ by at most one (a rank may get none when count < ranks).
    public static func evaluationRange(count: Int, rank: Int, ranks: Int) -> Range<Int> {
        precondition(count >= 0 && ranks > 0 && (0..<ranks).contains(rank), "evaluationRange(count: \(count), rank: \(rank), ranks: \(ranks))")
        // count * rank can overflow Int only for absurd sizes; split the product to stay exact.
        func boundary(_ r: Int) -> Int { (count / ranks) * r + (count % ranks) * r / ranks }
        return boundary(rank)..<boundary(rank + 1)
    }
}

/// `seed XOR splitMix64(k)`: a stream seed derived from a base seed and a small counter (epoch,
/// split). SplitMix64's output function is a bijection, so distinct counters give distinct seeds.
func mixSeed(_ seed: UInt64, _ k: UInt64) -> UInt64 {
    var z = k &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return seed ^ (z ^ (z >> 31))
}
