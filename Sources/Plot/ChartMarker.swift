/// A highlighted position in a panel: a vertical line at `x` with a label, and optionally a
/// ringed point at (x, y), e.g. "best test accuracy 91.2% (epoch 9)" or "suggested LR".
public struct ChartMarker: Sendable, Equatable {
    public var x: Double
    /// A ringed point on the line, when the marker points at one value.
    public var y: Double?
    public var label: String
    public var color: String

    public init(x: Double, y: Double? = nil, label: String, color: String) {
        self.x = x
        self.y = y
        self.label = label
        self.color = color
    }
}
