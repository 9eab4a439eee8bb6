import Formats
import Foundation

/// What the per-epoch train and test losses of a run say: over-fitting (and since when),
/// under-fitting, diverging, or fine so far; with the best test epoch and what to do.
///
/// The rule, on the epochs whose train and test losses are both finite (n of them):
/// 1. Noise. sigma = 1.4826 * MAD(second differences) / sqrt(6): a robust estimate of the
///    epoch-to-epoch noise of a curve. Second differences cancel a straight trend, MAD ignores
///    the few large ones at the steep start, and white noise of std s has second differences of
///    std s * sqrt(6). A change of a loss is "real" when it exceeds
///    tol = max(`noiseMultiple` * sigma, `relativeTolerance` * loss).
/// 2. K, the epoch of minimum test loss: the minimum of the 3-epoch moving average (so one
///    lucky epoch cannot pull it), then the lowest raw epoch next to it. The test loss "has
///    risen" when at least `epochsToConfirm` epochs follow K and the last `epochsToConfirm` all
///    lie above test(K) + tol.
/// 3. Diverging: the train loss is above its minimum by more than tol for the last
///    `epochsToConfirm` epochs and the test loss ended above its minimum too.
/// 4. Over-fitting: the train/test gap g = test loss - train loss widens after having narrowed.
///    N, the epoch of the narrowest gap, is the minimum of |g| found as in 2 (early in a run g is
///    often negative: the train loss is averaged over an epoch of a still-learning model, with
///    dropout on, so it starts above the test loss; narrowest is where the curves meet).
///    - Sustained: at least `epochsToConfirm` epochs follow N and the last `epochsToConfirm`
///      all have g > g0 + gapTol, g0 the median of g at N and its neighbours, gapTol =
///      max(`noiseMultiple` * sigma of g, `gapRelativeTolerance` * test(N)); test above train
///      at the end.
///    - The onset S: the epoch from N on where a hinge "flat, then a rise" fits g best.
///    - Meaningful: from S on the gap grows faster than the test loss falls, i.e. the train loss
///      falls more than twice as fast as the test loss (2 * test - train rises), by
///      `slopeSignificance` standard errors of the least-squares slope. A gap that widens while
///      the test loss falls about as fast is a model converging to a lower train loss, not
///      over-fitting; once most of what the train loss gains no longer shows on the test set, it is.
///    Over-fitting since S; the summary says whether the test loss has also risen (rule 2).
/// 5. Otherwise "under-fitting: still improving" when over the last two epochs both losses
///    fell by more than tol; "under-fitting: both high" when the train loss has stopped
///    falling with a train accuracy below `lowTrainAccuracy`; else "no over-fitting yet".
///
/// The advice follows the learning rates in the log: a run whose LR already decays is not told
/// to use a decaying schedule.
///
/// In a simulation of 15-epoch runs (2000 random seeds per case; the shapes are those of
/// OverfitVerdictTests, train noise half the test noise), this flagged a U-shaped test loss with
/// noise of 6% of the loss in 99.8% of runs, naming the epoch where the curves meet within one
/// epoch in all of them; a flat test loss under a still-falling train loss (noise 5%) in 99.3%,
/// naming the narrowest epoch within one epoch in 89%. On healthy curves that level off (the
/// train loss settling 0.05 below the test loss, so the gap does widen, slowly) it raised a
/// false alarm in 3.3% of runs with test noise of 7% of the loss and 0.9% with 13%: noise that
/// lifts the last test losses while the train loss still creeps down looks like over-fitting.
public struct OverfitVerdict: Sendable, Equatable {
    /// The verdict; the raw value is what `ddp plot --json` prints as "verdict".
    public enum Kind: String, Sendable {
        case overfitting = "over-fitting"
        case noOverfitting = "no over-fitting yet"
        case stillImproving = "under-fitting: still improving"
        case underfitting = "under-fitting: both high"
        case diverging = "diverging"
        case tooFewEpochs = "too few epochs"
    }

    /// Epochs needed after an onset to call it (a rise or widening must last this long).
    public static let epochsToConfirm = 2
    /// A change counts when it exceeds this many noise standard deviations...
    public static let noiseMultiple = 3.0
    /// ...and this fraction of the loss (so a perfectly smooth curve needs a 1% rise).
    public static let relativeTolerance = 0.01
    /// The gap must widen by this fraction of the test loss at least: a gap moving by a few
    /// thousandths of a loss of 0.3 is no finding, even on a smooth curve.
    public static let gapRelativeTolerance = 0.05
    /// A flat train loss with a train accuracy below this is "both high" (under-fitting).
    public static let lowTrainAccuracy = 0.80
    /// The fewest epochs with finite losses that allow a verdict.
    public static let minimumEpochs = 3
    /// The gap must outgrow the test loss's fall by this many standard errors of the slope.
    public static let slopeSignificance = 2.0

    public let kind: Kind
    /// The epoch over-fitting started (the onset S above, where the gap starts to widen from its
    /// narrowest); only for `.overfitting`.
    public let overfitEpoch: Int?
    /// The epoch of minimum test loss when the test loss has risen since (K above); only for
    /// `.overfitting`.
    public let testRiseEpoch: Int?
    /// The epoch the train loss started to rise; only for `.diverging`.
    public let divergenceEpoch: Int?
    /// The epoch of minimum test loss (K above) and that loss.
    public let minTestLossEpoch: Int?
    public let minTestLoss: Double?
    /// The epoch of highest test accuracy (the earliest on ties) and that accuracy (0...1):
    /// where early stopping would have stopped.
    public let bestTestEpoch: Int?
    public let bestTestAccuracy: Double?
    /// One sentence: the verdict and the numbers behind it.
    public let summary: String
    /// One sentence: what to do about it.
    public let advice: String

    /// Judges the per-epoch records of a run (in any order; sorted by epoch here).
    public init(epochs records: [MetricsLog.Epoch]) {
        let sorted = records.sorted { $0.epoch < $1.epoch }
        // max(by:) keeps the first of equal elements: ties go to the earliest epoch.
        let best = sorted.filter { $0.testAccuracy.isFinite }.max { $0.testAccuracy < $1.testAccuracy }
        bestTestEpoch = best?.epoch
        bestTestAccuracy = best?.testAccuracy

        let usable = sorted.filter { $0.trainLoss.isFinite && $0.testLoss.isFinite }
        let finding: Finding
        if usable.count >= Self.minimumEpochs {
            let curves = Curves(usable, best: best)
            minTestLossEpoch = curves.epochs[curves.k]
            minTestLoss = curves.test[curves.k]
            finding = Self.diverging(curves) ?? Self.overfitting(curves)
                ?? Self.levelled(curves, rates: sorted.map(\.learningRate))
        } else {
            let minimum = usable.min { $0.testLoss < $1.testLoss }
            minTestLossEpoch = minimum?.epoch
            minTestLoss = minimum?.testLoss
            // Epochs enough, losses not (a PyTorch peer's lines carry test accuracy alone):
            // more epochs would not help, logged losses would.
            let lossesMissing = sorted.count >= Self.minimumEpochs
            finding = Finding(kind: .tooFewEpochs,
                              summary: "too few epochs to judge over-fitting: \(usable.count) with train and test loss, "
                                  + "need at least \(Self.minimumEpochs)"
                                  + (lossesMissing ? " (\(sorted.count) epochs logged, the others without both losses)" : ""),
                              advice: (lossesMissing ? "log the train and test loss of every epoch" : "train for more epochs")
                                  + "; \(Self.bestText(best))")
        }
        kind = finding.kind
        overfitEpoch = finding.overfitEpoch
        testRiseEpoch = finding.testRiseEpoch
        divergenceEpoch = finding.divergenceEpoch
        summary = finding.summary
        advice = finding.advice
    }

    /// What may still lower a levelled-off test loss, by what the logged learning rates show:
    /// a schedule that already decayed the LR, a constant LR, or no LR in the log.
    static func scheduleAdvice(_ rates: [Double]) -> String {
        let finite = rates.filter(\.isFinite)
        guard finite.count >= 2, let peak = finite.max(), let final = finite.last, peak > 0 else {
            return "more epochs or a decaying learning rate (--schedule cosine or onecycle) may still lower the test loss"
        }
        if final <= 0.5 * peak {
            return "the learning rate already decays (\(Self.rate(peak)) at its peak, \(Self.rate(final)) at the end): "
                + "more epochs (the schedule stretches with --epochs) or a bigger model may still lower the test loss"
        }
        if finite.allSatisfy({ Swift.abs($0 - peak) <= 0.01 * peak }) {
            return "the learning rate was constant (\(Self.rate(peak))): a decaying schedule (--schedule cosine, "
                + "step or onecycle) usually lowers the test loss further"
        }
        return "more epochs, ending at a lower learning rate, may still lower the test loss"
    }

    // MARK: Rules

    /// Rule 4: the index where a sustained, meaningful widening of the gap test - train starts,
    /// or nil when the gap has not widened so; `narrowest` is the index of the smallest |gap|.
    static func wideningStart(train: [Double], test: [Double], gap: [Double], narrowest: Int) -> Int? {
        let n = test.count, last = n - 1, confirm = epochsToConfirm
        guard last - narrowest >= confirm, gap[last] > 0 else { return nil }
        let gapTolerance = Swift.max(noiseMultiple * noise(gap), gapRelativeTolerance * test[narrowest])
        // The narrowest level: the median of N and its neighbours, so one noisy epoch cannot set
        // it and a neighbour already widening cannot lift it.
        let baseline = Median.of(Array(gap[Swift.max(0, narrowest - 1)...Swift.min(last, narrowest + 1)]))
        guard ((n - confirm)...last).allSatisfy({ gap[$0] > baseline + gapTolerance }) else { return nil }
        let start = hingeStart(gap, from: narrowest, latest: last - confirm)
        // The rise from the onset on, as fitted, must itself clear the tolerance: a gap that crept
        // up early and sits still at the end is no widening now.
        guard slope(gap[start...]) * Double(last - start) > gapTolerance else { return nil }
        // Meaningful: from the start on, the gap grows faster than the test loss falls, i.e.
        // 2 * test - train rises; by `slopeSignificance` standard errors of its least-squares
        // slope (every epoch of the stretch counts, not two noisy end points).
        let h = zip(test, train).map { 2 * $0 - $1 }
        let k = Double(last - start + 1)
        let standardError = noise(h) / (k * (k * k - 1) / 12).squareRoot()
        return slope(h[start...]) > slopeSignificance * standardError ? start : nil
    }

    /// Robust noise estimate of an epoch curve (rule 1); 0 with fewer than three points.
    static func noise(_ values: [Double]) -> Double {
        guard values.count >= 3 else { return 0 }
        let second = (1..<(values.count - 1)).map { (i: Int) -> Double in
            let curvature: Double = values[i - 1] - 2 * values[i]
            return curvature + values[i + 1]
        }
        let center = Median.of(second)
        return 1.4826 * Median.of(second.map { Swift.abs($0 - center) }) / 6.0.squareRoot()
    }

    /// Index of the minimum (rule 2): argmin of the centred 3-point mean, then the lowest raw
    /// value among it and its neighbours (the earliest on ties).
    static func minimumIndex(_ values: [Double]) -> Int {
        let n = values.count
        let smoothed = (0..<n).map { i -> Double in
            let window = values[Swift.max(0, i - 1)...Swift.min(n - 1, i + 1)]
            return window.reduce(0, +) / Double(window.count)
        }
        let center = smoothed.indices.min { smoothed[$0] < smoothed[$1] }!
        return (Swift.max(0, center - 1)...Swift.min(n - 1, center + 1)).min { values[$0] < values[$1] }!
    }

    /// Where a widening that ends the curve starts (rule 4): the m in from...latest whose hinge
    /// "flat up to m, then a rise" fits values[from...] best in least squares (the earliest on
    /// ties). The rise is a parabola a + b x + c x^2 in x = epochs since m, so a widening that
    /// speeds up (a U-shaped test loss) is not read as starting late. More robust than a
    /// threshold on single noisy epochs.
    static func hingeStart(_ values: [Double], from: Int, latest: Int) -> Int {
        guard latest > from else { return from }
        let y = Array(values[from...])
        let my = y.reduce(0, +) / Double(y.count)
        func residual(_ m: Int) -> Double {
            let x = (from..<values.count).map { Double(Swift.max(0, $0 - m)) }
            let q = x.map { $0 * $0 }
            let mx = x.reduce(0, +) / Double(x.count), mq = q.reduce(0, +) / Double(q.count)
            let xc = x.map { $0 - mx }, qc = q.map { $0 - mq }, yc = y.map { $0 - my }
            func dot(_ u: [Double], _ v: [Double]) -> Double { zip(u, v).reduce(0) { $0 + $1.0 * $1.1 } }
            let (sxx, sxq, sqq) = (dot(xc, xc), dot(xc, qc), dot(qc, qc))
            let (sxy, sqy) = (dot(xc, yc), dot(qc, yc))
            // x takes at least the values 0, 1, 2 (m <= latest = last - 2): x and x^2 are independent.
            let det = sxx * sqq - sxq * sxq
            let b = (sxy * sqq - sqy * sxq) / det, c = (sqy * sxx - sxy * sxq) / det
            return (0..<y.count).reduce(0) { $0 + pow(yc[$1] - b * xc[$1] - c * qc[$1], 2) }
        }
        return (from...latest).min { residual($0) < residual($1) }!
    }

    /// Least-squares slope per epoch of consecutive epochs' values.
    static func slope(_ values: ArraySlice<Double>) -> Double {
        let n = Double(values.count)
        guard values.count >= 2 else { return 0 }
        let mx = Double(values.startIndex + values.endIndex - 1) / 2, my = values.reduce(0, +) / n
        var sxx = 0.0, sxy = 0.0
        for i in values.indices { sxx += (Double(i) - mx) * (Double(i) - mx); sxy += (Double(i) - mx) * (values[i] - my) }
        return sxy / sxx
    }

    // MARK: Formatting

    static func loss(_ value: Double) -> String {
        Swift.abs(value) >= 0.01 || value == 0 ? String(format: "%.3f", value.printable) : String(format: "%.2e", value.printable)
    }

    /// A train/test gap: three decimals, signed (it is often a few thousandths either side of 0).
    static func gap(_ value: Double) -> String { String(format: "%.3f", value.printable) }

    static func rate(_ value: Double) -> String { String(format: "%.3g", value.printable) }

    static func percent(_ fraction: Double) -> String {
        String(format: "%.2f%%", fraction.printable * 100)
    }

    /// "-4.1%" style relative change from `from` to `to`.
    static func change(_ from: Double, _ to: Double) -> String {
        from == 0 ? "\(loss(from)) -> \(loss(to))" : String(format: "%+.1f%%", (to - from) / Swift.abs(from) * 100)
    }
}
