/// One line in a chart panel: a name for the legend, its points and how it is drawn.
///
/// Points with a non-finite coordinate (and, on a log axis, non-positive ones) are not drawn
/// and break the line, so a missing value shows as a gap rather than a false segment.
public struct ChartSeries: Sendable, Equatable {
    /// The legend text, e.g. "test loss".
    public var name: String
    public var x: [Double]
    public var y: [Double]
    /// Any SVG colour, e.g. "#0072B2"; `SVGChart.palette` holds a colour-blind-safe set.
    public var color: String
    /// Stroke width in pixels.
    public var lineWidth: Double
    /// An SVG dash pattern such as "6 4"; nil for a solid line.
    public var dash: String?
    /// 1 is opaque; a low value makes a faint background series (e.g. per-step loss).
    public var opacity: Double
    /// A dot at every point: useful for per-epoch values, noise for thousands of steps.
    public var showsPoints: Bool
    /// False for a background series that should not stretch the y axis (e.g. early per-step
    /// losses far above the per-epoch curves); what falls outside is clipped. The x axis
    /// always covers every series.
    public var affectsYRange: Bool

    /// - Precondition: `x` and `y` have the same count.
    public init(name: String, x: [Double], y: [Double], color: String, lineWidth: Double = 2,
                dash: String? = nil, opacity: Double = 1, showsPoints: Bool = false, affectsYRange: Bool = true) {
        precondition(x.count == y.count, "ChartSeries \(name): \(x.count) x values but \(y.count) y values")
        self.name = name
        self.x = x
        self.y = y
        self.color = color
        self.lineWidth = lineWidth
        self.dash = dash
        self.opacity = opacity
        self.showsPoints = showsPoints
        self.affectsYRange = affectsYRange
    }
}
