import Foundation

/// `ddp eval --confusion FILE.svg`: the confusion matrix as a picture. Rows are the true
/// classes, columns the predicted ones; each cell shows its count and is shaded by the share
/// of its row (so a class with few samples reads as clearly as one with many), the diagonal in
/// blue, mistakes in vermillion. Each row ends with the class's accuracy. Like `SVGChart`, the
/// same matrix gives the same bytes.
public struct ConfusionMatrixChart: Sendable {
    public var title: String
    public var classNames: [String]
    /// counts[t * classes + p]: samples of true class t predicted as p.
    public var counts: [Int]

    public init(title: String, classNames: [String], counts: [Int]) {
        precondition(counts.count == classNames.count * classNames.count, "a \(classNames.count)-class matrix needs \(classNames.count * classNames.count) counts")
        self.title = title
        self.classNames = classNames
        self.counts = counts
    }

    static let cell = 44.0
    static let fontSize = 12.0

    /// The complete SVG document.
    public func render() -> String {
        let k = classNames.count
        let labelWidth = min(220, (classNames.map { SVGChart.textWidth($0, size: Self.fontSize) }.max() ?? 0) + 12)
        let left = SVGChart.margin + 24 + labelWidth + 8, top = SVGChart.margin + 48 + labelWidth
        let width = left + Double(k) * Self.cell + 80 + SVGChart.margin
        let height = top + Double(k) * Self.cell + SVGChart.margin + 24
        var svg = SVGWriter.document(width: width, height: height, title: title, fontFamily: SVGChart.fontFamily)
        svg.text("text", [("x", SVGWriter.number(SVGChart.margin)), ("y", SVGWriter.number(SVGChart.margin + 16)),
                          ("font-size", "18"), ("font-weight", "bold")], title)
        svg.text("text", [("x", SVGWriter.number(left + Double(k) * Self.cell / 2)), ("y", SVGWriter.number(SVGChart.margin + 36)),
                          ("font-size", "13"), ("text-anchor", "middle")], "predicted class")
        let middle = top + Double(k) * Self.cell / 2
        svg.text("text", [("x", "0"), ("y", "0"), ("font-size", "13"), ("text-anchor", "middle"),
                          ("transform", "translate(\(SVGWriter.number(SVGChart.margin + 12)),\(SVGWriter.number(middle))) rotate(-90)")],
                 "true class")
        for (j, name) in classNames.enumerated() {
            let x = left + (Double(j) + 0.5) * Self.cell
            svg.text("text", [("x", "0"), ("y", "0"), ("font-size", SVGWriter.number(Self.fontSize)),
                              ("transform", "translate(\(SVGWriter.number(x + 4)),\(SVGWriter.number(top - 6))) rotate(-60)")], name)
        }
        for t in 0..<k {
            let row = counts[(t * k)..<((t + 1) * k)]
            let total = row.reduce(0, +)
            let y = top + Double(t) * Self.cell
            svg.text("text", [("x", SVGWriter.number(left - 8)), ("y", SVGWriter.number(y + Self.cell / 2 + 4)),
                              ("font-size", SVGWriter.number(Self.fontSize)), ("text-anchor", "end")], classNames[t])
            for p in 0..<k {
                let n = counts[t * k + p]
                let share = total == 0 ? 0 : Double(n) / Double(total)
                let x = left + Double(p) * Self.cell
                svg.leaf("rect", [("x", SVGWriter.number(x)), ("y", SVGWriter.number(y)),
                                  ("width", SVGWriter.number(Self.cell - 1)), ("height", SVGWriter.number(Self.cell - 1)),
                                  ("fill", t == p ? ChartColor.blue : ChartColor.vermillion),
                                  ("fill-opacity", SVGWriter.number(n == 0 ? 0.04 : 0.1 + 0.9 * share))])
                svg.text("text", [("x", SVGWriter.number(x + Self.cell / 2)), ("y", SVGWriter.number(y + Self.cell / 2 + 4)),
                                  ("font-size", "11"), ("text-anchor", "middle"),
                                  ("fill", share > 0.55 ? "#ffffff" : "#222222")], String(n))
            }
            let accuracy = total == 0 ? "-" : String(format: "%.1f%%", 100 * Double(counts[t * k + t]) / Double(total))
            svg.text("text", [("x", SVGWriter.number(left + Double(k) * Self.cell + 8)),
                              ("y", SVGWriter.number(y + Self.cell / 2 + 4)), ("font-size", "12")], accuracy)
        }
        svg.close("svg")
        return svg.markup
    }

    /// Writes `render()` to `url` atomically.
    public func write(to url: URL) throws {
        do {
            try Data(render().utf8).write(to: url, options: .atomic)
        } catch {
            throw SVGChart.WriteError(path: url.path, reason: error.systemReason)
        }
    }
}
