/// How noisy a run's per-step loss is relative to its trend, and a hint when it is very noisy.
///
/// Method: the trend is a centred moving median of `window` steps (robust to single spikes,
/// exact on straight stretches). At each interior step (half a window away from both ends,
/// where the window is complete) the residual is (loss - trend) / max(trend, `levelFloor`): the relative
/// deviation of one batch's loss from where the run is. `ratio` is the root mean square of
/// those residuals: 0.3 means a typical step's loss is 30% off its trend.
///
/// Thresholds:
/// - `ratio >= hintThreshold` (0.5): very noisy; a typical batch's loss is off by half of the
///   loss itself, so single steps say little and the update direction is mostly noise.
///   A larger batch averages more samples per step (noise falls as 1/sqrt(batch)); a lower
///   learning rate keeps the weights from jittering around the trend.
/// - Residuals are divided by at least `levelFloor` (0.01 nats of cross-entropy): once the
///   model fits its batches, large relative jitter of a near-zero loss is no reason to act.
/// - Fewer than `minimumCount` finite losses: no estimate (nil).
///
/// Tested on synthetic sequences: a smooth exponential decay gives a ratio near 0, 5%
/// multiplicative noise about 0.05, and heavy noise (60%) a ratio near 0.6 and the hint.
public struct LossNoise: Sendable, Equatable {
    /// The ratio from which `hint` is given.
    public static let hintThreshold = 0.5
    /// Residuals are relative to at least this level (a near-zero loss is not "noisy").
    public static let levelFloor = 0.01
    /// The fewest finite losses that give an estimate.
    public static let minimumCount = 20

    /// The number of finite losses analysed.
    public let count: Int
    /// The moving-median window (odd).
    public let window: Int
    /// RMS of (loss - trend) / max(trend, levelFloor) over the interior steps.
    public let ratio: Double
    /// The median of the trend over the interior steps: the typical loss level.
    public let trendLevel: Double
    /// How much the trend fell from the first to the last interior step (negative: it rose).
    public let trendDrop: Double

    /// Whether `ratio` reaches `hintThreshold`.
    public var isVeryNoisy: Bool { ratio >= Self.hintThreshold }

    /// The advice for a user, or nil when the noise is not a problem.
    public var hint: String? {
        guard isVeryNoisy else { return nil }
        let ratioText = (ratio * 100).rounded() / 100
        return "the per-step loss is very noisy relative to its trend (noise/trend ratio \(ratioText); "
            + "\(Self.hintThreshold) and above is very noisy): a larger batch (--batch-size) or a lower "
            + "learning rate (--lr) would help"
    }

    /// Analyses per-step losses in step order; non-finite values are skipped.
    /// - Parameter window: the moving-median width, made odd; default: a tenth of the count,
    ///   clamped to 5...51 (long enough to average noise, short enough to follow the trend).
    /// - Returns: nil when fewer than `minimumCount` finite losses remain.
    public init?<Losses: Sequence>(losses: Losses, window: Int? = nil) where Losses.Element: BinaryFloatingPoint {
        let values = losses.map { Double($0) }.filter(\.isFinite)
        let n = values.count
        guard n >= Self.minimumCount else { return nil }
        var width = window ?? Swift.min(51, Swift.max(5, n / 10))
        width = Swift.max(3, Swift.min(width, n / 2))
        if width % 2 == 0 { width -= 1 }
        let half = width / 2

        var trend: [Double] = []
        var squares = 0.0
        var scratch = [Double](repeating: 0, count: width)
        for i in half..<(n - half) {
            for k in 0..<width { scratch[k] = values[i - half + k] }
            scratch.sort()
            let median = scratch[half]
            trend.append(median)
            let relative = (values[i] - median) / Swift.max(median, Self.levelFloor)
            squares += relative * relative
        }
        self.count = n
        self.window = width
        self.ratio = (squares / Double(trend.count)).squareRoot()
        self.trendLevel = Median.of(trend)
        self.trendDrop = trend[0] - trend[trend.count - 1]
    }
}
