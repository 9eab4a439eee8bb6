import Foundation

/// The algorithm of each convolution of a model as `DDP_CONV=auto` chose it, by the layer's
/// state-dict name ("3", "layer2.0.shortcut.0"), with the timings behind each choice. A run
/// records it in its checkpoints (`TrainConfig.convolutionPlan`) and a resume runs it again.
public struct ConvolutionPlan: Codable, Equatable, Sendable {
    public var algorithms: [String: Conv2d.Algorithm]
    /// Per layer, the timings that chose it ("winograd4 12.3 ms; direct 14.1, im2col 20.2").
    public var timings: [String: String]

    /// The plan of picks `picks[i]` among `candidates[i]` for `convolutions[i]`, with the
    /// `seconds` of every candidate (infinite: it cannot run on some rank, and is not listed).
    public init(convolutions: [Conv2d], candidates: [[Conv2d.Algorithm]], seconds: [[Double]], picks: [Int]) {
        algorithms = [:]; timings = [:]
        for (i, conv) in convolutions.enumerated() {
            let pick = picks[i]
            algorithms[conv.name] = candidates[i][pick]
            let ms = { (j: Int) in String(format: "%.2f", seconds[i][j] * 1000) }
            let others = candidates[i].indices.filter { $0 != pick && seconds[i][$0].isFinite }
                .map { "\(candidates[i][$0].rawValue) \(ms($0))" }
            let rest = others.isEmpty ? " (the only one)" : "; " + others.joined(separator: ", ")
            timings[conv.name] = "\(candidates[i][pick].rawValue) \(ms(pick)) ms" + rest
        }
    }

    /// Puts each of `convolutions` the plan names on its algorithm (before binding); one that
    /// cannot run it here (a resume on another CPU) keeps what it has and says why.
    public func apply(to convolutions: [Conv2d], precision: Precision) {
        for conv in convolutions {
            guard let chosen = algorithms[conv.name] else { continue }
            let variable = ConvolutionRequest.variable
            if ConvolutionChoice.candidates(conv.choiceLayer, precision: precision).contains(chosen) {
                conv.setAlgorithm(chosen, reason: "\(variable)=auto: \(timings[conv.name] ?? chosen.rawValue)")
            } else {
                conv.setAlgorithm(conv.algorithm, reason: conv.algorithmReason + "; \(variable)=auto's \(chosen.rawValue) cannot run here")
            }
        }
    }
}
