import Foundation

/// Draws one panel at a given place in the picture.
struct PanelRenderer {
    let panel: ChartPanel
    let left: Double
    let top: Double
    let width: Double
    let height: Double

    static let titleSize = 15.0
    static let subtitleSize = 12.0
    static let legendSize = 12.0
    static let tickSize = 11.0
    static let axisLabelSize = 12.0
    static let legendRowHeight = 18.0
    static let legendSample = 24.0
    static let markerSize = 11.5
    static let markerRowHeight = 16.0
    /// Room left of the plot area for tick labels and the rotated y-axis title.
    static let leftGutter = 72.0
    static let rightGutter = 18.0
    /// Room below the plot area for tick labels and the x-axis title.
    static let bottomGutter = 48.0

    private enum LegendEntry {
        case series(ChartSeries)
        case band(ChartBand)

        var label: String {
            switch self {
            case .series(let s): return s.name
            case .band(let b): return b.label
            }
        }
    }

    func render(into svg: inout SVGWriter) {
        let center = left + width / 2
        var y = top + Self.titleSize + 2
        svg.text("text", [("x", SVGWriter.number(center)), ("y", SVGWriter.number(y)),
                          ("text-anchor", "middle"), ("font-size", SVGWriter.number(Self.titleSize)),
                          ("font-weight", "bold"), ("fill", "#111111")], panel.title)
        y += 6
        if let subtitle = panel.subtitle {
            for line in SVGChart.wrap(subtitle, width: width - 16, size: Self.subtitleSize) {
                y += Self.subtitleSize + 4
                svg.text("text", [("x", SVGWriter.number(center)), ("y", SVGWriter.number(y)),
                                  ("text-anchor", "middle"), ("font-size", SVGWriter.number(Self.subtitleSize)),
                                  ("fill", "#444444")], line)
            }
        }
        y += 8
        y = renderLegend(into: &svg, top: y)

        let plotLeft = left + Self.leftGutter
        let plotRight = left + width - Self.rightGutter
        let xTicks = resolveTicks(panel.xAxis, values: xValues())
        let labels = layoutMarkerLabels(xTicks: xTicks, plotLeft: plotLeft, plotRight: plotRight)
        let rows = labels.map(\.row).max().map { $0 + 1 } ?? 0
        let plotTop = y + 6 + Double(rows) * Self.markerRowHeight
        let plotBottom = top + height - Self.bottomGutter
        let area = PlotArea(left: plotLeft, right: plotRight, top: plotTop, bottom: Swift.max(plotBottom, plotTop + 40),
                            x: xTicks, y: resolveTicks(panel.yAxis, values: yValues()),
                            xScale: panel.xAxis.scale, yScale: panel.yAxis.scale)
        renderAxes(into: &svg, area: area)

        // Everything inside the frame is cut to it here, not by an SVG clip path, which some
        // viewers ignore (lines then ran over the axes and the legend).
        for band in panel.bands { renderBand(band, into: &svg, area: area) }
        for series in panel.series { renderSeriesLines(series, into: &svg, area: area) }
        for marker in panel.markers { renderMarkerLine(marker, into: &svg, area: area) }
        svg.leaf("rect", [("x", SVGWriter.number(area.left)), ("y", SVGWriter.number(area.top)),
                          ("width", SVGWriter.number(area.right - area.left)),
                          ("height", SVGWriter.number(area.bottom - area.top)),
                          ("fill", "none"), ("stroke", "#333333"), ("stroke-width", "1")])
        for series in panel.series { renderSeriesPoints(series, into: &svg, area: area) }
        for marker in panel.markers { renderMarkerPoint(marker, into: &svg, area: area) }
        for label in labels {
            // Row 0 sits just above the plot area, later rows above it.
            let baseline = plotTop - 6 - Double(label.row) * Self.markerRowHeight
            svg.text("text", [("x", SVGWriter.number(label.center)), ("y", SVGWriter.number(baseline)),
                              ("text-anchor", "middle"), ("font-size", SVGWriter.number(Self.markerSize)),
                              ("font-weight", "bold"), ("fill", label.marker.color)], label.marker.label)
        }
    }

    // MARK: Legend

    /// Lays the legend out in centred rows; returns the y below it.
    private func renderLegend(into svg: inout SVGWriter, top: Double) -> Double {
        let entries = panel.series.filter { !$0.name.isEmpty }.map(LegendEntry.series)
            + panel.bands.filter { !$0.label.isEmpty }.map(LegendEntry.band)
        if entries.isEmpty { return top }
        let itemGap = 18.0
        let available = width - 16
        func itemWidth(_ entry: LegendEntry) -> Double {
            Self.legendSample + 6 + SVGChart.textWidth(entry.label, size: Self.legendSize)
        }
        var rows: [[LegendEntry]] = [[]]
        var rowWidth = 0.0
        for entry in entries {
            let w = itemWidth(entry)
            if !rows[rows.count - 1].isEmpty && rowWidth + itemGap + w > available {
                rows.append([])
                rowWidth = 0
            }
            rowWidth += (rows[rows.count - 1].isEmpty ? 0 : itemGap) + w
            rows[rows.count - 1].append(entry)
        }
        var y = top
        for row in rows {
            let total = row.map(itemWidth).reduce(0, +) + itemGap * Double(row.count - 1)
            var x = left + (width - total) / 2
            let mid = y + Self.legendRowHeight / 2
            for entry in row {
                switch entry {
                case .series(let s):
                    var attributes = [("x1", SVGWriter.number(x)), ("y1", SVGWriter.number(mid)),
                                      ("x2", SVGWriter.number(x + Self.legendSample)), ("y2", SVGWriter.number(mid)),
                                      ("stroke", s.color), ("stroke-width", SVGWriter.number(Swift.max(s.lineWidth, 1.5))),
                                      ("stroke-opacity", SVGWriter.number(Swift.max(s.opacity, 0.5)))]
                    if let dash = s.dash { attributes.append(("stroke-dasharray", dash)) }
                    svg.leaf("line", attributes)
                    if s.showsPoints {
                        svg.leaf("circle", [("cx", SVGWriter.number(x + Self.legendSample / 2)), ("cy", SVGWriter.number(mid)),
                                            ("r", "3"), ("fill", s.color)])
                    }
                case .band(let b):
                    svg.leaf("rect", [("x", SVGWriter.number(x + 4)), ("y", SVGWriter.number(mid - 7)),
                                      ("width", SVGWriter.number(Self.legendSample - 8)), ("height", "14"),
                                      ("fill", b.color), ("fill-opacity", "0.18"), ("stroke", b.color),
                                      ("stroke-opacity", "0.5")])
                }
                svg.text("text", [("x", SVGWriter.number(x + Self.legendSample + 6)), ("y", SVGWriter.number(mid)),
                                  ("dy", "0.35em"), ("font-size", SVGWriter.number(Self.legendSize)),
                                  ("fill", "#222222")], entry.label)
                x += itemWidth(entry) + itemGap
            }
            y += Self.legendRowHeight
        }
        return y
    }

    // MARK: Axes

    private func drawable(_ value: Double, _ scale: ChartAxis.Scale) -> Bool {
        value.isFinite && (scale == .linear || value > 0)
    }

    private func xValues() -> [Double] {
        var values = panel.series.flatMap { s in
            zip(s.x, s.y).filter { drawable($0.0, panel.xAxis.scale) && drawable($0.1, panel.yAxis.scale) }.map(\.0)
        }
        values += panel.markers.map(\.x).filter { drawable($0, panel.xAxis.scale) }
        return values
    }

    private func yValues() -> [Double] {
        var values = panel.series.filter(\.affectsYRange).flatMap { s in
            zip(s.x, s.y).filter { drawable($0.0, panel.xAxis.scale) && drawable($0.1, panel.yAxis.scale) }.map(\.1)
        }
        values += panel.markers.compactMap(\.y).filter { drawable($0, panel.yAxis.scale) }
        return values
    }

    private func resolveTicks(_ axis: ChartAxis, values: [Double]) -> AxisTicks {
        let low = values.min() ?? (axis.scale == .log10 ? 1e-4 : 0)
        let high = values.max() ?? 1
        return AxisTicks.resolve(axis, dataMin: low, dataMax: high)
    }

    private func renderAxes(into svg: inout SVGWriter, area: PlotArea) {
        svg.open("g", [("stroke", "#e3e3e3"), ("stroke-width", "1")])
        for value in area.x.minor {
            let x = area.xPosition(value)
            svg.leaf("line", [("x1", SVGWriter.number(x)), ("y1", SVGWriter.number(area.top)),
                              ("x2", SVGWriter.number(x)), ("y2", SVGWriter.number(area.bottom)),
                              ("stroke-opacity", "0.5")])
        }
        for value in area.y.minor {
            let y = area.yPosition(value)
            svg.leaf("line", [("x1", SVGWriter.number(area.left)), ("y1", SVGWriter.number(y)),
                              ("x2", SVGWriter.number(area.right)), ("y2", SVGWriter.number(y)),
                              ("stroke-opacity", "0.5")])
        }
        for value in area.x.values {
            let x = area.xPosition(value)
            svg.leaf("line", [("x1", SVGWriter.number(x)), ("y1", SVGWriter.number(area.top)),
                              ("x2", SVGWriter.number(x)), ("y2", SVGWriter.number(area.bottom))])
        }
        for value in area.y.values {
            let y = area.yPosition(value)
            svg.leaf("line", [("x1", SVGWriter.number(area.left)), ("y1", SVGWriter.number(y)),
                              ("x2", SVGWriter.number(area.right)), ("y2", SVGWriter.number(y))])
        }
        svg.close("g")

        svg.open("g", [("font-size", SVGWriter.number(Self.tickSize)), ("fill", "#333333")])
        for (value, label) in zip(area.x.values, area.x.labels) {
            let x = area.xPosition(value)
            svg.leaf("line", [("x1", SVGWriter.number(x)), ("y1", SVGWriter.number(area.bottom)),
                              ("x2", SVGWriter.number(x)), ("y2", SVGWriter.number(area.bottom + 4)),
                              ("stroke", "#333333")])
            svg.text("text", [("x", SVGWriter.number(x)), ("y", SVGWriter.number(area.bottom + 17)),
                              ("text-anchor", "middle")], label)
        }
        for (value, label) in zip(area.y.values, area.y.labels) {
            let y = area.yPosition(value)
            svg.leaf("line", [("x1", SVGWriter.number(area.left - 4)), ("y1", SVGWriter.number(y)),
                              ("x2", SVGWriter.number(area.left)), ("y2", SVGWriter.number(y)),
                              ("stroke", "#333333")])
            svg.text("text", [("x", SVGWriter.number(area.left - 7)), ("y", SVGWriter.number(y)),
                              ("dy", "0.35em"), ("text-anchor", "end")], label)
        }
        svg.close("g")

        let xLabelY = area.bottom + 38
        svg.text("text", [("x", SVGWriter.number((area.left + area.right) / 2)), ("y", SVGWriter.number(xLabelY)),
                          ("text-anchor", "middle"), ("font-size", SVGWriter.number(Self.axisLabelSize)),
                          ("fill", "#111111")], panel.xAxis.label)
        let yLabelX = left + 16
        let yLabelY = (area.top + area.bottom) / 2
        svg.text("text", [("x", SVGWriter.number(yLabelX)), ("y", SVGWriter.number(yLabelY)),
                          ("text-anchor", "middle"), ("font-size", SVGWriter.number(Self.axisLabelSize)),
                          ("fill", "#111111"),
                          ("transform", "rotate(-90 \(SVGWriter.number(yLabelX)) \(SVGWriter.number(yLabelY)))")],
                 panel.yAxis.label)
    }

    // MARK: Content

    private func renderBand(_ band: ChartBand, into svg: inout SVGWriter, area: PlotArea) {
        guard drawable(band.from, panel.xAxis.scale), drawable(band.to, panel.xAxis.scale) else { return }
        let a = Swift.max(area.xPosition(Swift.min(band.from, band.to)), area.left)
        let b = Swift.min(area.xPosition(Swift.max(band.from, band.to)), area.right)
        guard b > a else { return }
        svg.leaf("rect", [("x", SVGWriter.number(a)), ("y", SVGWriter.number(area.top)),
                          ("width", SVGWriter.number(b - a)), ("height", SVGWriter.number(area.bottom - area.top)),
                          ("fill", band.color), ("fill-opacity", "0.12")])
    }

    /// The pixel positions of a series, split at undrawable points so a gap shows as a gap.
    private func segments(of series: ChartSeries, area: PlotArea) -> [[(x: Double, y: Double)]] {
        var segments: [[(x: Double, y: Double)]] = [[]]
        for (x, y) in zip(series.x, series.y) {
            if drawable(x, panel.xAxis.scale) && drawable(y, panel.yAxis.scale) {
                segments[segments.count - 1].append((area.xPosition(x), area.yPosition(y)))
            } else if !segments[segments.count - 1].isEmpty {
                segments.append([])
            }
        }
        return segments
    }

    /// The lines, cut where they leave the plot area (a background series may run off the axis).
    private func renderSeriesLines(_ series: ChartSeries, into svg: inout SVGWriter, area: PlotArea) {
        var attributes = [("fill", "none"), ("stroke", series.color),
                          ("stroke-width", SVGWriter.number(series.lineWidth)),
                          ("stroke-linejoin", "round"), ("stroke-linecap", "round")]
        if series.opacity < 1 { attributes.append(("stroke-opacity", SVGWriter.number(series.opacity))) }
        if let dash = series.dash { attributes.append(("stroke-dasharray", dash)) }
        svg.open("g", [("class", "series"), ("data-name", series.name)])
        for segment in segments(of: series, area: area).flatMap({ area.clip($0) }) {
            let points = segment.map { "\(SVGWriter.number($0.x)),\(SVGWriter.number($0.y))" }.joined(separator: " ")
            svg.leaf("polyline", [("points", points)] + attributes)
        }
        svg.close("g")
    }

    /// The dots, drawn over the frame so a point on the edge of the plot shows whole; points
    /// outside the plot area are left out. A lone point between gaps always gets its dot.
    private func renderSeriesPoints(_ series: ChartSeries, into svg: inout SVGWriter, area: PlotArea) {
        let dots = segments(of: series, area: area).filter { series.showsPoints || $0.count == 1 }
            .flatMap { $0 }.filter(area.contains)
        if dots.isEmpty { return }
        svg.open("g", [("class", "points"), ("data-name", series.name)])
        for (x, y) in dots {
            svg.leaf("circle", [("cx", SVGWriter.number(x)), ("cy", SVGWriter.number(y)), ("r", "3"),
                                ("fill", series.color), ("fill-opacity", SVGWriter.number(series.opacity)),
                                ("stroke", "#ffffff"), ("stroke-width", "1")])
        }
        svg.close("g")
    }

    private func renderMarkerLine(_ marker: ChartMarker, into svg: inout SVGWriter, area: PlotArea) {
        guard drawable(marker.x, panel.xAxis.scale) else { return }
        let x = area.xPosition(marker.x)
        guard area.contains((x, area.top)) else { return }
        svg.leaf("line", [("x1", SVGWriter.number(x)), ("y1", SVGWriter.number(area.top)),
                          ("x2", SVGWriter.number(x)), ("y2", SVGWriter.number(area.bottom)),
                          ("stroke", marker.color), ("stroke-width", "1.5"), ("stroke-dasharray", "5 4")])
    }

    /// The ring around a marked point, like the dots drawn unclipped when inside the area.
    private func renderMarkerPoint(_ marker: ChartMarker, into svg: inout SVGWriter, area: PlotArea) {
        guard drawable(marker.x, panel.xAxis.scale), let value = marker.y, drawable(value, panel.yAxis.scale) else { return }
        let point = (x: area.xPosition(marker.x), y: area.yPosition(value))
        guard area.contains(point) else { return }
        svg.leaf("circle", [("cx", SVGWriter.number(point.x)), ("cy", SVGWriter.number(point.y)),
                            ("r", "6.5"), ("fill", "none"), ("stroke", marker.color), ("stroke-width", "2.5")])
    }

    /// A marker label's place in the strip above the plot area.
    private struct MarkerLabel {
        let marker: ChartMarker
        let center: Double
        let row: Int
    }

    /// Centres each marker's label over its line (kept inside the panel) and stacks labels
    /// that would overlap into rows, so labels never cover the data or each other.
    private func layoutMarkerLabels(xTicks: AxisTicks, plotLeft: Double, plotRight: Double) -> [MarkerLabel] {
        let probe = PlotArea(left: plotLeft, right: plotRight, top: 0, bottom: 1, x: xTicks, y: xTicks,
                             xScale: panel.xAxis.scale, yScale: .linear)
        let placed = panel.markers.filter { drawable($0.x, panel.xAxis.scale) && !$0.label.isEmpty }
            .map { (marker: $0, x: probe.xPosition($0.x)) }
            .sorted { $0.x < $1.x }
        var rowEnds: [Double] = []
        var labels: [MarkerLabel] = []
        for (marker, x) in placed {
            // Bold text runs about 10% wider than the regular estimate.
            let half = SVGChart.textWidth(marker.label, size: Self.markerSize) * 1.1 / 2
            let center = Swift.min(Swift.max(x, left + 4 + half), left + width - 4 - half)
            let row = rowEnds.firstIndex { $0 + 10 <= center - half } ?? rowEnds.count
            if row == rowEnds.count { rowEnds.append(0) }
            rowEnds[row] = center + half
            labels.append(MarkerLabel(marker: marker, center: center, row: row))
        }
        return labels
    }
}
