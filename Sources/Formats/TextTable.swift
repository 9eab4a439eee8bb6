/// Columns of text aligned under each other: how ddp prints a table for a reader (a machine
/// reads the --json lines instead). A left-aligned last column is not padded, so no line ends
/// in spaces.
public struct TextTable: Sendable {
    public enum Alignment: Sendable { case left, right }

    /// One per column.
    public var alignments: [Alignment]
    /// Widths a column keeps even when all its cells are narrower (so a table of short names
    /// lines up with a header or with other tables); missing entries are 0.
    public var minimumWidths: [Int]
    /// Between two columns.
    public var separator: String

    public init(_ alignments: [Alignment], minimumWidths: [Int] = [], separator: String = "  ") {
        self.alignments = alignments
        self.minimumWidths = minimumWidths
        self.separator = separator
    }

    /// The lines of `rows` (a header is a row like any other), every cell as wide as its
    /// column's widest.
    public func lines(_ rows: [[String]]) -> [String] {
        let widths = alignments.indices.map { column in
            max(column < minimumWidths.count ? minimumWidths[column] : 0, rows.map { $0[column].count }.max() ?? 0)
        }
        return rows.map { cells in
            cells.enumerated().map { column, cell in
                let pad = String(repeating: " ", count: widths[column] - cell.count)
                switch alignments[column] {
                case .right: return pad + cell
                case .left: return column == cells.count - 1 ? cell : cell + pad
                }
            }.joined(separator: separator)
        }
    }

    /// `lines(rows)`, one per line.
    public func text(_ rows: [[String]]) -> String { lines(rows).joined(separator: "\n") }
}
