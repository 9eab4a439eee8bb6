import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
@testable import Plot

/// Collects what an XML parse saw: whether it succeeded, element names, text, attributes.
/// Shared by the Plot tests.
final class SVGInspector: NSObject, XMLParserDelegate {
    var elements: [String] = []
    var texts: [String] = []
    var attributes: [[String: String]] = []
    var error: Error?
    private var text = ""

    static func parse(_ svg: String) -> SVGInspector {
        let inspector = SVGInspector()
        let parser = XMLParser(data: Data(svg.utf8))
        parser.delegate = inspector
        if !parser.parse() { inspector.error = parser.parserError ?? NSError(domain: "xml", code: 1) }
        return inspector
    }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?,
                qualifiedName: String?, attributes: [String: String] = [:]) {
        elements.append(name)
        self.attributes.append(attributes)
        text = ""
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if !trimmed.isEmpty { texts.append(trimmed) }
        text = ""
    }

    func parser(_ parser: XMLParser, parseErrorOccurred parseError: Error) { error = parseError }
}

final class PlotSVGChartTests: XCTestCase {
    private func sampleChart(title: String = "Sample chart") -> SVGChart {
        let epochs = (1...10).map(Double.init)
        let loss = ChartPanel(
            title: "Loss per epoch", subtitle: "lower is better",
            xAxis: ChartAxis(label: "epoch", integerTicks: true), yAxis: ChartAxis(label: "loss"),
            series: [ChartSeries(name: "train loss", x: epochs, y: epochs.map { 1 / $0 }, color: ChartColor.blue),
                     ChartSeries(name: "test loss", x: epochs, y: epochs.map { 0.3 + 0.01 * ($0 - 6) * ($0 - 6) },
                                 color: ChartColor.vermillion, showsPoints: true)],
            markers: [ChartMarker(x: 6, y: 0.3, label: "lowest test loss (epoch 6)", color: ChartColor.green)],
            bands: [ChartBand(from: 6, to: 10, label: "over-fitting", color: ChartColor.vermillion)])
        let accuracy = ChartPanel(
            title: "Accuracy per epoch", xAxis: ChartAxis(label: "epoch"), yAxis: ChartAxis(label: "accuracy (%)"),
            series: [ChartSeries(name: "test accuracy", x: epochs, y: epochs.map { 80 + $0 }, color: ChartColor.green)])
        return SVGChart(title: title, subtitle: "ten epochs", panels: [loss, accuracy],
                        notes: [SVGChart.Note("Verdict: over-fitting since epoch 6.", emphasized: true)])
    }

    func testChartIsWellFormedXMLWithItsLabels() throws {
        let svg = sampleChart().render()
        let parsed = SVGInspector.parse(svg)
        XCTAssertNil(parsed.error, "SVG does not parse: \(String(describing: parsed.error))")
        XCTAssertEqual(parsed.elements.first, "svg")
        for expected in ["Sample chart", "ten epochs", "Loss per epoch", "lower is better", "Accuracy per epoch",
                         "train loss", "test loss", "test accuracy", "epoch", "loss", "accuracy (%)",
                         "lowest test loss (epoch 6)", "over-fitting", "Verdict: over-fitting since epoch 6."] {
            XCTAssertTrue(parsed.texts.contains(expected), "missing text \(expected)")
        }
        // One polyline per series; the test-loss series has a dot per point.
        XCTAssertEqual(parsed.elements.filter { $0 == "polyline" }.count, 3)
        XCTAssertGreaterThanOrEqual(parsed.elements.filter { $0 == "circle" }.count, 10)
    }

    func testRenderingIsDeterministic() {
        XCTAssertEqual(sampleChart().render(), sampleChart().render())
        XCTAssertNotEqual(sampleChart().render(), sampleChart(title: "Other").render())
    }

    func testTextIsEscaped() {
        let title = "loss < 1 & acc > 0.9 \"quoted\" 'single' \u{1}"
        let parsed = SVGInspector.parse(sampleChart(title: title).render())
        XCTAssertNil(parsed.error)
        // The control character is dropped (XML 1.0 forbids it); the rest survives the round trip.
        XCTAssertTrue(parsed.texts.contains("loss < 1 & acc > 0.9 \"quoted\" 'single'"), "\(parsed.texts.prefix(3))")
    }

    func testWriteCreatesTheFileAndReportsBadPaths() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("plot-\(UUID().uuidString).svg")
        defer { try? FileManager.default.removeItem(at: url) }
        try sampleChart().write(to: url)
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), sampleChart().render())
        let bad = URL(fileURLWithPath: "/nonexistent-dir-\(UUID().uuidString)/x.svg")
        XCTAssertThrowsError(try sampleChart().write(to: bad)) { error in
            XCTAssertTrue("\(error)".contains(bad.path), "\(error)")
        }
    }

    /// A background series beyond the y range (early step losses far above the epoch curves, late
    /// ones below) is cut at the frame, without relying on the viewer to honour a clip path: every
    /// point of every line lies inside the frame, the points where it crosses lie on it, and a
    /// line that leaves and comes back is two lines.
    func testALineBeyondTheAxesIsCutAtTheFrame() throws {
        // Above the axis, inside, above, inside, below: two pieces.
        let panel = ChartPanel(title: "loss", xAxis: ChartAxis(label: "epoch"), yAxis: ChartAxis(label: "loss"),
                               series: [ChartSeries(name: "steps", x: [0, 1, 2, 3, 4], y: [10, 0.4, 10, 0.4, -10],
                                                    color: ChartColor.skyBlue, affectsYRange: false),
                                        ChartSeries(name: "epochs", x: [0, 4], y: [0.3, 0.5], color: ChartColor.blue)])
        let parsed = SVGInspector.parse(SVGChart(title: "t", panels: [panel]).render())
        XCTAssertNil(parsed.error)
        XCTAssertFalse(parsed.elements.contains("clipPath"))
        let frame = try XCTUnwrap(parsed.attributes.first { $0["fill"] == "none" && $0["stroke"] == "#333333" })
        let left = Double(frame["x"]!)!, top = Double(frame["y"]!)!
        let right = left + Double(frame["width"]!)!, bottom = top + Double(frame["height"]!)!
        let lines = parsed.attributes.compactMap { $0["points"] }.map { points in
            points.split(separator: " ").map { pair in pair.split(separator: ",").map { Double($0)! } }
        }
        for line in lines {
            for p in line {
                XCTAssertTrue(p[0] >= left - 0.01 && p[0] <= right + 0.01 && p[1] >= top - 0.01 && p[1] <= bottom + 0.01,
                              "\(p) outside the frame \(left)...\(right) x \(top)...\(bottom)")
            }
        }
        func onTop(_ p: [Double]?) -> Bool { p.map { abs($0[1] - top) < 0.01 } ?? false }
        func onBottom(_ p: [Double]?) -> Bool { p.map { abs($0[1] - bottom) < 0.01 } ?? false }
        XCTAssertEqual(lines.count, 3, "two pieces of the step line, one epoch line: \(lines)")
        XCTAssertEqual(lines[0].count, 3)
        XCTAssertTrue(onTop(lines[0].first) && onTop(lines[0].last), "in from the top and out again: \(lines[0])")
        XCTAssertTrue(onTop(lines[1].first) && onBottom(lines[1].last), "in from the top, out at the bottom: \(lines[1])")
    }

    func testNonFiniteValuesBreakTheLine() {
        let panel = ChartPanel(title: "gap", xAxis: ChartAxis(label: "x"), yAxis: ChartAxis(label: "y"),
                               series: [ChartSeries(name: "s", x: [1, 2, 3, 4, 5, 6], y: [1, 2, .nan, 4, 5, .infinity],
                                                    color: ChartColor.blue)])
        let parsed = SVGInspector.parse(SVGChart(title: "t", panels: [panel]).render())
        XCTAssertNil(parsed.error)
        let polylines = parsed.attributes.compactMap { $0["points"] }
        XCTAssertEqual(polylines.count, 2)
        XCTAssertEqual(polylines.map { $0.split(separator: " ").count }, [2, 2])
    }

    func testLogAxisChartHasDecadeLabelsAndDropsNonPositiveValues() {
        let rates = (0...40).map { pow(10, -5 + Double($0) / 8) }  // 1e-5 ... 1e0
        let panel = ChartPanel(title: "LR range test", xAxis: ChartAxis(label: "learning rate", scale: .log10),
                               yAxis: ChartAxis(label: "loss"),
                               series: [ChartSeries(name: "loss", x: [0] + rates, y: [9] + rates.map { 2 - log10($0) / 10 },
                                                    color: ChartColor.blue)],
                               markers: [ChartMarker(x: 0.01, label: "suggested 0.01", color: ChartColor.green)])
        let parsed = SVGInspector.parse(SVGChart(title: "lr", panels: [panel]).render())
        XCTAssertNil(parsed.error)
        for label in ["1e-5", "1e-4", "0.001", "0.01", "0.1", "1", "suggested 0.01"] {
            XCTAssertTrue(parsed.texts.contains(label), "missing \(label)")
        }
        // x = 0 cannot sit on a log axis: 41 of the 42 points are drawn.
        XCTAssertEqual(parsed.attributes.compactMap { $0["points"] }.first?.split(separator: " ").count, 41)
    }

    func testCloseMarkersGetSeparateLabelRows() {
        let panel = ChartPanel(title: "m", xAxis: ChartAxis(label: "epoch"), yAxis: ChartAxis(label: "y"),
                               series: [ChartSeries(name: "s", x: [1, 10], y: [0, 1], color: ChartColor.blue)],
                               markers: [ChartMarker(x: 5, label: "first marker label", color: ChartColor.green),
                                         ChartMarker(x: 5.5, label: "second marker label", color: ChartColor.orange),
                                         ChartMarker(x: 9.5, label: "far", color: ChartColor.gray)])
        let svg = SVGChart(title: "t", panels: [panel]).render()
        func baseline(of label: String) -> String? {
            guard let line = svg.split(separator: "\n").first(where: { $0.contains(">\(label)</text>") }),
                  let range = line.range(of: #" y="[0-9.]+""#, options: .regularExpression) else { return nil }
            return String(line[range])
        }
        XCTAssertNotNil(baseline(of: "first marker label"))
        XCTAssertNotEqual(baseline(of: "first marker label"), baseline(of: "second marker label"))
        XCTAssertEqual(baseline(of: "first marker label"), baseline(of: "far"), "a distant label shares the first row")
    }

    // MARK: Ticks

    func testLinearTicksAreNiceAndCoverTheData() {
        let ticks = AxisTicks.linear(dataMin: 0.23, dataMax: 0.87, fixed: nil, integer: false)
        XCTAssertEqual(ticks.lower, 0.2, accuracy: 1e-12)
        XCTAssertEqual(ticks.upper, 0.9, accuracy: 1e-12)
        XCTAssertEqual(ticks.labels, ["0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9"])

        let epochs = AxisTicks.linear(dataMin: 1, dataMax: 15, fixed: nil, integer: true)
        XCTAssertEqual(epochs.labels, ["0", "2", "4", "6", "8", "10", "12", "14", "16"])
        let few = AxisTicks.linear(dataMin: 1, dataMax: 3, fixed: nil, integer: true)
        XCTAssertEqual(few.labels, ["1", "2", "3"], "no fractional epochs")

        let negative = AxisTicks.linear(dataMin: -0.004, dataMax: 0.011, fixed: nil, integer: false)
        XCTAssertEqual(negative.labels, ["-0.005", "0.000", "0.005", "0.010", "0.015"])

        let single = AxisTicks.linear(dataMin: 5, dataMax: 5, fixed: nil, integer: false)
        XCTAssertLessThan(single.lower, 5)
        XCTAssertGreaterThan(single.upper, 5)
    }

    func testFixedAndExtremeRanges() {
        let fixed = AxisTicks.linear(dataMin: -5, dataMax: 50, fixed: 0...3, integer: false)
        XCTAssertEqual(fixed.lower, 0)
        XCTAssertEqual(fixed.upper, 3)
        XCTAssertEqual(fixed.labels, ["0.0", "0.5", "1.0", "1.5", "2.0", "2.5", "3.0"])
        let huge = AxisTicks.linear(dataMin: -1e308, dataMax: 1e308, fixed: nil, integer: false)
        XCTAssertLessThanOrEqual(huge.values.count, 11)
        let empty = AxisTicks.linear(dataMin: .nan, dataMax: .nan, fixed: nil, integer: false)
        XCTAssertEqual(empty.labels.first, "0.0")
        let badLog = AxisTicks.log10(dataMin: -1, dataMax: 0, fixed: nil)
        XCTAssertGreaterThan(badLog.lower, 0)
    }

    func testNiceStepRoundsToOneTwoFive() {
        let cases: [(Double, Double)] = [(0.13, 0.1), (0.16, 0.2), (0.29, 0.2), (0.31, 0.5), (0.69, 0.5), (0.71, 1),
                                         (1.4, 1), (2.8, 2), (3.5, 5), (7.5, 10), (140, 100), (260, 200)]
        for (raw, nice) in cases {
            XCTAssertEqual(AxisTicks.niceStep(raw), nice, accuracy: nice * 1e-12, "niceStep(\(raw))")
        }
    }

    func testLogTicks() {
        let wide = AxisTicks.log10(dataMin: 3e-6, dataMax: 0.7, fixed: nil)
        XCTAssertEqual(wide.lower, 2e-6, accuracy: 1e-18)
        XCTAssertEqual(wide.upper, 1, accuracy: 1e-12)
        XCTAssertEqual(wide.labels, ["1e-5", "1e-4", "0.001", "0.01", "0.1", "1"])
        XCTAssertTrue(wide.minor.contains { abs($0 - 5e-3) < 1e-15 })

        let narrow = AxisTicks.log10(dataMin: 0.012, dataMax: 0.9, fixed: nil)
        XCTAssertEqual(narrow.labels, ["0.01", "0.02", "0.05", "0.1", "0.2", "0.5", "1"])

        let inside = AxisTicks.log10(dataMin: 0.31, dataMax: 0.44, fixed: nil)
        XCTAssertGreaterThanOrEqual(inside.values.count, 3, "\(inside.labels)")
        XCTAssertTrue(inside.values.allSatisfy { $0 >= inside.lower && $0 <= inside.upper })

        XCTAssertEqual(AxisTicks.logLabel(2e-4), "2e-4")
        XCTAssertEqual(AxisTicks.logLabel(5e-3), "0.005")
        XCTAssertEqual(AxisTicks.logLabel(5e-5), "5e-5")
        XCTAssertEqual(AxisTicks.logLabel(1e6), "1e6")
        XCTAssertEqual(AxisTicks.logLabel(20), "20")
    }

    func testNumbersAreCompactAndNeverNegativeZero() {
        XCTAssertEqual(SVGWriter.number(12.5), "12.5")
        XCTAssertEqual(SVGWriter.number(3), "3")
        XCTAssertEqual(SVGWriter.number(-0.001), "0")
        XCTAssertEqual(SVGWriter.number(1.004), "1")
        XCTAssertEqual(SVGWriter.number(-2.256), "-2.26")
    }
}
