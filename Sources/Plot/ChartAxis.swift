/// One axis of a chart panel: what it measures, its scale and its range.
///
/// Ticks are "nice" numbers (1, 2 or 5 times a power of ten) so a reader can interpolate
/// between grid lines at a glance; see `AxisTicks`.
public struct ChartAxis: Sendable, Equatable {
    /// How values map to positions along the axis.
    public enum Scale: String, Sendable {
        /// Equal steps in value are equal distances.
        case linear
        /// Equal ratios are equal distances (learning rates in a range test). Values <= 0 are
        /// not drawn on a log axis.
        case log10
    }

    /// The axis title, with its unit, e.g. "epoch" or "accuracy (%)".
    public var label: String
    public var scale: Scale
    /// A fixed range; nil means "from the data", widened outwards to the nearest ticks.
    public var range: ClosedRange<Double>?
    /// Only whole-number ticks (epochs, steps): no "2.5" on an epoch axis.
    public var integerTicks: Bool

    public init(label: String, scale: Scale = .linear, range: ClosedRange<Double>? = nil,
                integerTicks: Bool = false) {
        self.label = label
        self.scale = scale
        self.range = range
        self.integerTicks = integerTicks
    }
}
