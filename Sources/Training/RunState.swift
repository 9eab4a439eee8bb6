import Tensor

/// Where a run is: what resume restores besides the model's parameters and the optimizer.
struct RunState {
    var epoch = 0
    var stepInEpoch = 0
    var globalStep = 0
    var dropoutRNG: SeededRNG
    var augmentRNG: SeededRNG
    /// Seconds trained before this process started (a resumed run's `elapsed_s` continues from it).
    var elapsed = 0.0
    /// The current epoch's figures so far, so a mid-epoch resume reports the whole epoch.
    var epochTotals = EpochTotals()
    /// This rank's own BatchNorm running statistics from a checkpoint written by as many ranks;
    /// nil when there were none (then every rank starts from the model file's, rank 0's copy).
    var ownRunningStats: [Float]? = nil

    /// Per-rank streams, so ranks crop their shards differently; the dropout stream is rank 0's
    /// on every rank when `masks` is `.shared`.
    init(rank: Int, seed: UInt64, masks: TrainConfig.DropoutMasks) {
        dropoutRNG = SeededRNG(seed: seed &* 0x9E37_79B9 &+ 0x1000 &+ UInt64(masks.streamRank(of: rank)))
        augmentRNG = SeededRNG(seed: seed &* 0x9E37_79B9 &+ 0x2000 &+ UInt64(rank))
    }

    func rngWords() -> [UInt64] { dropoutRNG.stateWords + augmentRNG.stateWords }
}

/// Running sums of one epoch's train loss and accuracy, over all ranks (every rank holds the
/// same: they come out of the step's allreduce).
struct EpochTotals {
    /// Sum of loss x samples over the epoch's steps.
    var loss = 0.0
    var correct = 0.0
    var samples = 0.0
    /// Each step's global loss, for the loss-noise hint at the epoch's end.
    var stepLosses: [Double] = []

    mutating func add(loss: Double, correct: Double, samples: Double) {
        self.loss += loss * samples; self.correct += correct; self.samples += samples
        stepLosses.append(loss)
    }

    var meanLoss: Double { loss / max(samples, 1) }
    var accuracy: Double { correct / max(samples, 1) }
}
