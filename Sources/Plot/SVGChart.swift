import Formats
import Foundation

/// A picture of one or more line-chart panels side by side, with a title and notes below,
/// written as a standalone SVG file (no scripts, no external fonts or styles).
///
/// ```
/// +--------------------------------------------------------------+
/// |                title  /  subtitle                            |
/// | +-------------------------+  +-------------------------+     |
/// | | panel title, subtitle   |  | panel title, subtitle   |     |
/// | | legend                  |  | legend                  |     |
/// | | [plot area]             |  | [plot area]             |     |
/// | | ticks, axis label       |  | ticks, axis label       |     |
/// | +-------------------------+  +-------------------------+     |
/// | notes (verdict, advice), wrapped to the picture width        |
/// +--------------------------------------------------------------+
/// ```
///
/// The output depends only on the chart's values: the same chart gives the same bytes.
/// Text is measured with an estimated glyph width (no font access), generous enough for
/// DejaVu Sans, the widest common sans-serif.
public struct SVGChart: Sendable, Equatable {
    /// A paragraph under the panels; emphasised notes are bold and coloured.
    public struct Note: Sendable, Equatable {
        public var text: String
        public var emphasized: Bool
        public var color: String

        public init(_ text: String, emphasized: Bool = false, color: String = "#222222") {
            self.text = text
            self.emphasized = emphasized
            self.color = color
        }
    }

    /// Why an SVG file could not be written; the description is one line naming the path.
    public struct WriteError: Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "cannot write the chart to \(path): \(reason)" }
    }

    public var title: String
    public var subtitle: String?
    /// Drawn left to right.
    public var panels: [ChartPanel]
    public var notes: [Note]
    /// The size of each panel in pixels (SVG user units), axes and legend included.
    public var panelWidth: Double
    public var panelHeight: Double

    public init(title: String, subtitle: String? = nil, panels: [ChartPanel], notes: [Note] = [],
                panelWidth: Double = 560, panelHeight: Double = 420) {
        self.title = title
        self.subtitle = subtitle
        self.panels = panels
        self.notes = notes
        self.panelWidth = panelWidth
        self.panelHeight = panelHeight
    }

    /// Writes `render()` to `url` atomically (a temporary file renamed into place).
    public func write(to url: URL) throws {
        do {
            try Data(render().utf8).write(to: url, options: .atomic)
        } catch {
            throw WriteError(path: url.path, reason: error.systemReason)
        }
    }

    // MARK: Layout constants (pixels)

    static let fontFamily = "DejaVu Sans, Verdana, Helvetica, Arial, sans-serif"
    /// Average glyph width as a fraction of the font size; DejaVu Sans averages about 0.6.
    static let glyphWidth = 0.6
    static let margin = 16.0
    static let panelGap = 16.0
    static let noteSize = 13.0
    static let noteLineHeight = 19.0

    static func textWidth(_ text: String, size: Double) -> Double {
        Double(text.count) * size * glyphWidth
    }

    /// Greedy word wrap to lines no wider than `width` pixels at font `size`.
    static func wrap(_ text: String, width: Double, size: Double) -> [String] {
        let maxCharacters = Swift.max(10, Int(width / (size * glyphWidth)))
        var lines: [String] = []
        var line = ""
        for word in text.split(separator: " ", omittingEmptySubsequences: true) {
            if line.isEmpty {
                line = String(word)
            } else if line.count + 1 + word.count <= maxCharacters {
                line += " " + word
            } else {
                lines.append(line)
                line = String(word)
            }
        }
        if !line.isEmpty || lines.isEmpty { lines.append(line) }
        return lines
    }

    /// The complete SVG document.
    public func render() -> String {
        let count = Double(Swift.max(panels.count, 1))
        let width = 2 * Self.margin + count * panelWidth + (count - 1) * Self.panelGap
        let titleLines = Self.wrap(title, width: width - 2 * Self.margin, size: 20)
        let subtitleLines = subtitle.map { Self.wrap($0, width: width - 2 * Self.margin, size: 13) } ?? []
        var y = Self.margin
        let titleTop = y
        y += Double(titleLines.count) * 26 + Double(subtitleLines.count) * 18 + 10
        let panelsTop = y
        y += panelHeight + 12
        let noteLines = notes.map { ($0, Self.wrap($0.text, width: width - 2 * Self.margin, size: Self.noteSize)) }
        let notesTop = y
        y += Double(noteLines.reduce(0) { $0 + $1.1.count }) * Self.noteLineHeight + Self.margin
        let height = y.rounded(.up)

        var svg = SVGWriter.document(width: width, height: height, title: title, fontFamily: Self.fontFamily)

        var lineY = titleTop + 20
        for line in titleLines {
            svg.text("text", [("x", SVGWriter.number(width / 2)), ("y", SVGWriter.number(lineY)),
                              ("text-anchor", "middle"), ("font-size", "20"), ("font-weight", "bold"),
                              ("fill", "#111111")], line)
            lineY += 26
        }
        lineY -= 6
        for line in subtitleLines {
            svg.text("text", [("x", SVGWriter.number(width / 2)), ("y", SVGWriter.number(lineY)),
                              ("text-anchor", "middle"), ("font-size", "13"), ("fill", "#444444")], line)
            lineY += 18
        }

        for (index, panel) in panels.enumerated() {
            let left = Self.margin + Double(index) * (panelWidth + Self.panelGap)
            PanelRenderer(panel: panel, left: left, top: panelsTop,
                          width: panelWidth, height: panelHeight).render(into: &svg)
        }

        lineY = notesTop + Self.noteSize
        for (note, lines) in noteLines {
            for line in lines {
                var attributes = [("x", SVGWriter.number(Self.margin)), ("y", SVGWriter.number(lineY)),
                                  ("font-size", SVGWriter.number(Self.noteSize)), ("fill", note.color)]
                if note.emphasized { attributes.append(("font-weight", "bold")) }
                svg.text("text", attributes, line)
                lineY += Self.noteLineHeight
            }
        }
        svg.close("svg")
        return svg.markup
    }
}
