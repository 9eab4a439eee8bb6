/// A shaded vertical band from `from` to `to` along the x axis, e.g. the epochs in which a
/// run over-fits. Drawn behind the series; its label goes to the legend.
public struct ChartBand: Sendable, Equatable {
    public var from: Double
    public var to: Double
    public var label: String
    public var color: String

    public init(from: Double, to: Double, label: String, color: String) {
        self.from = from
        self.to = to
        self.label = label
        self.color = color
    }
}
