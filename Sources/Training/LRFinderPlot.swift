import Foundation
import Plot

/// The LR range test's picture: raw and smoothed loss against a log LR axis, with the suggested
/// LR and the loss minimum marked.
public enum LRFinderPlot {
    public static func chart(_ r: LRFinder.Result, title: String) -> SVGChart {
        let lrs = r.points.map(\.lr)
        let best = r.points.min { $0.smoothed < $1.smoothed }
        // Keep the y range on the interesting part: from the lowest loss to a bit above the start.
        let top = max((r.points.first?.smoothed ?? 1) * 1.25, (best?.smoothed ?? 0) + 0.1)
        let panel = ChartPanel(
            title: "training loss while the learning rate grows",
            subtitle: "lower is better; train at about a tenth of the LR where the loss bottoms out",
            xAxis: ChartAxis(label: "learning rate (log scale)", scale: .log10),
            yAxis: ChartAxis(label: "training loss", range: 0...top),
            series: [
                ChartSeries(name: "loss per step", x: lrs, y: r.points.map(\.loss), color: ChartColor.gray,
                            lineWidth: 1, opacity: 0.5, affectsYRange: false),
                ChartSeries(name: "smoothed loss", x: lrs, y: r.points.map(\.smoothed), color: ChartColor.blue),
            ],
            markers: [
                ChartMarker(x: r.suggested, label: String(format: "suggested %.3g", r.suggested), color: ChartColor.green),
                ChartMarker(x: r.minimumLR, y: best?.smoothed, label: String(format: "minimum at %.3g", r.minimumLR),
                            color: ChartColor.vermillion),
            ])
        let note = SVGChart.Note(String(format: "Suggested learning rate: %.3g (a tenth of the LR at the smoothed minimum). "
            + "%@", r.suggested, r.diverged ? "The loss diverged at the right end, as it should." :
            "The loss did not diverge: widen the sweep with --end-lr."), emphasized: true)
        return SVGChart(title: title, panels: [panel], notes: [note])
    }

    public static func write(_ r: LRFinder.Result, title: String, to path: String) throws {
        try chart(r, title: title).write(to: URL(fileURLWithPath: path))
    }
}
