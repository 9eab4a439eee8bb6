import Foundation

/// Maps data values to pixel positions inside a panel's plot area.
struct PlotArea {
    let left: Double
    let right: Double
    let top: Double
    let bottom: Double
    let x: AxisTicks
    let y: AxisTicks
    let xScale: ChartAxis.Scale
    let yScale: ChartAxis.Scale

    private static func fraction(_ value: Double, _ ticks: AxisTicks, _ scale: ChartAxis.Scale) -> Double {
        switch scale {
        case .linear:
            return (value - ticks.lower) / (ticks.upper - ticks.lower)
        case .log10:
            return log10(value / ticks.lower) / log10(ticks.upper / ticks.lower)
        }
    }

    func xPosition(_ value: Double) -> Double {
        left + Self.fraction(value, x, xScale) * (right - left)
    }

    func yPosition(_ value: Double) -> Double {
        bottom - Self.fraction(value, y, yScale) * (bottom - top)
    }

    /// Whether a pixel position lies in the area (half a pixel of slack for rounding).
    func contains(_ point: (x: Double, y: Double)) -> Bool {
        point.x >= left - 0.5 && point.x <= right + 0.5 && point.y >= top - 0.5 && point.y <= bottom + 0.5
    }

    /// The pieces of a polyline (pixel positions) inside the area, each of at least two points:
    /// every segment is cut where it crosses the frame, and a line that leaves the area and
    /// comes back makes two pieces.
    func clip(_ line: [(x: Double, y: Double)]) -> [[(x: Double, y: Double)]] {
        var pieces: [[(x: Double, y: Double)]] = []
        var piece: [(x: Double, y: Double)] = []
        func close() {
            if piece.count >= 2 { pieces.append(piece) }
            piece = []
        }
        for (a, b) in zip(line, line.dropFirst()) {
            guard let (p, q) = clip(from: a, to: b) else { close(); continue }
            if let last = piece.last, last != p { close() }
            if piece.isEmpty { piece = [p] }
            piece.append(q)
            if q != b { close() }
        }
        close()
        return pieces
    }

    /// The part of the segment a-b inside the area (Liang-Barsky), or nil when none is.
    private func clip(from a: (x: Double, y: Double), to b: (x: Double, y: Double)) -> ((x: Double, y: Double), (x: Double, y: Double))? {
        let dx = b.x - a.x, dy = b.y - a.y
        var enter = 0.0, leave = 1.0
        // For each edge: p < 0 where the segment heads inside, q the distance to that edge.
        for (p, q) in [(-dx, a.x - left), (dx, right - a.x), (-dy, a.y - top), (dy, bottom - a.y)] {
            if p == 0 {
                if q < 0 { return nil }
                continue
            }
            let t = q / p
            if p < 0 { enter = Swift.max(enter, t) } else { leave = Swift.min(leave, t) }
            if enter > leave { return nil }
        }
        let p = enter == 0 ? a : (a.x + enter * dx, a.y + enter * dy)
        let q = leave == 1 ? b : (a.x + leave * dx, a.y + leave * dy)
        return (p, q)
    }
}
