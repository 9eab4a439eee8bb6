/// One plot inside an `SVGChart`: a title, two axes, lines, markers and shaded bands.
public struct ChartPanel: Sendable, Equatable {
    /// What is plotted, e.g. "Loss per epoch".
    public var title: String
    /// How to read it, e.g. "cross-entropy on the train and test sets; lower is better".
    public var subtitle: String?
    public var xAxis: ChartAxis
    public var yAxis: ChartAxis
    /// Drawn in order, so later series lie on top; put faint background series first.
    public var series: [ChartSeries]
    public var markers: [ChartMarker]
    public var bands: [ChartBand]

    public init(title: String, subtitle: String? = nil, xAxis: ChartAxis, yAxis: ChartAxis,
                series: [ChartSeries], markers: [ChartMarker] = [], bands: [ChartBand] = []) {
        self.title = title
        self.subtitle = subtitle
        self.xAxis = xAxis
        self.yAxis = yAxis
        self.series = series
        self.markers = markers
        self.bands = bands
    }
}
