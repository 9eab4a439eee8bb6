import Tensor
import XCTest
@testable import Layers

/// `DDP_CONV=auto`: the candidates it times, the timing, and a plan applied to a model.
final class ConvolutionTunerTests: XCTestCase {
    private func layer(k: Int = 3, s: Int = 1, p: Int = 1, c: Int = 16, out: Int = 16) -> ConvolutionChoice.Layer {
        .init(kernelSize: k, stride: s, padding: p, inChannels: c, outChannels: out, height: 14, width: 14)
    }

    /// Every algorithm that can run a layer, the default rule's first; bf16 moves the direct one.
    func testCandidatesAreWhatCanRun() {
        func candidates(_ l: ConvolutionChoice.Layer, _ precision: Precision = .fp32, direct: Bool = true) -> [Conv2d.Algorithm] {
            ConvolutionChoice.candidates(l, precision: precision, directAvailable: direct, bf16Available: direct)
        }
        XCTAssertEqual(candidates(layer()), [.direct, .winograd4, .winograd2, .im2col])
        XCTAssertEqual(candidates(layer(c: 32, out: 32)), [.winograd4, .direct, .winograd2, .im2col])
        XCTAssertEqual(candidates(layer(), direct: false), [.im2col, .winograd4, .winograd2])
        XCTAssertEqual(candidates(layer(out: 5)), [.im2col, .winograd4, .winograd2])
        XCTAssertEqual(candidates(layer(s: 2)), [.direct, .im2col])
        XCTAssertEqual(candidates(layer(s: 2), direct: false), [.im2col])
        XCTAssertEqual(candidates(layer(k: 1, p: 0)), [.im2col])
        XCTAssertEqual(candidates(layer(), .bf16), [.directBF16, .winograd4, .winograd2, .im2col])
        XCTAssertEqual(candidates(layer(c: 1), .bf16), [.direct, .winograd4, .winograd2, .im2col], "one channel stays FP32")
    }

    func testFastestTakesTheFirstOfEqualTimes() {
        XCTAssertEqual(ConvolutionTuner.fastest([3, 1, 2]), 1)
        XCTAssertEqual(ConvolutionTuner.fastest([2, 5, 2]), 0)
        XCTAssertEqual(ConvolutionTuner.fastest([.infinity, 4]), 1)
    }

    /// Each candidate of each layer is timed (a real pass: finite and positive), layers of one
    /// shape once, and the plan built from the times names the least of each row.
    func testMeasureTimesEveryCandidateAndThePlanTakesTheLeast() throws {
        let input = FeatureShape.map(channels: 1, height: 8, width: 8)
        let layers = try ModelSpec.layers(for: "c8nb-bn-relu-c8nb-bn-relu-c8nb-bn-relu-c8k1s2nb-gap-fc", input: input, classes: 3)
        let convolutions = layers.flatMap(\.convolutions)
        let candidates = convolutions.map { ConvolutionChoice.candidates($0.choiceLayer, precision: .fp32) }
        let seconds = try ConvolutionTuner.measure(convolutions, candidates: candidates, first: layers.first as? Conv2d,
                                                   batch: 4, minTime: 0.001)
        XCTAssertEqual(seconds.map(\.count), candidates.map(\.count))
        for row in seconds { for s in row { XCTAssertTrue(s > 0 && s.isFinite, "\(seconds)") } }
        XCTAssertEqual(seconds[1], seconds[2], "the second and third layers have one shape: timed once")
        XCTAssertEqual(candidates[3], [.im2col], "1x1 stride 2: the only candidate")

        let picks = seconds.map(ConvolutionTuner.fastest)
        let plan = ConvolutionPlan(convolutions: convolutions, candidates: candidates, seconds: seconds, picks: picks)
        for (i, conv) in convolutions.enumerated() {
            let chosen = try XCTUnwrap(plan.algorithms[conv.name])
            XCTAssertEqual(seconds[i][candidates[i].firstIndex(of: chosen)!], seconds[i].min()!)
            XCTAssertTrue(plan.timings[conv.name]!.hasPrefix(chosen.rawValue + " "), plan.timings[conv.name]!)
        }
    }

    /// A model built with a plan runs it, and it computes what the same algorithms asked for one
    /// by one compute; an algorithm a layer cannot run leaves the layer on its own choice.
    func testAModelRunsItsPlan() throws {
        let spec = "c8nb-bn-relu-c8nb-bn-relu-c8s2nb-gap-fc"
        var plan = ConvolutionPlan(convolutions: [], candidates: [], seconds: [], picks: [])
        plan.algorithms = ["0": .im2col, "3": .winograd4, "6": .winograd2]
        let model = try Model(spec: spec, inputShape: [1, 8, 8], classes: 3, seed: 1, options: ModelOptions(convolutionPlan: plan))
        let runs = Dictionary(uniqueKeysWithValues: model.convolutionRuns.map { ($0.layer, $0) })
        XCTAssertEqual(runs["0"]?.algorithm, .im2col)
        XCTAssertEqual(runs["3"]?.algorithm, .winograd4)
        XCTAssertTrue(runs["3"]!.reason.hasPrefix("DDP_CONV=auto: "), runs["3"]!.reason)
        XCTAssertEqual(runs["6"]?.algorithm, Conv2d.Algorithm.direct == ConvolutionChoice.candidates(
            model.layers[6].convolutions[0].choiceLayer, precision: .fp32)[0] ? .direct : .im2col,
                       "stride 2 cannot run Winograd: the layer keeps its own choice")
        XCTAssertTrue(runs["6"]!.reason.hasSuffix("DDP_CONV=auto's winograd2 cannot run here"), runs["6"]!.reason)
        XCTAssertEqual(model.convolutionPlan, plan)

        // The same algorithms asked for per layer: the same logits, bit for bit.
        let input = FeatureShape.map(channels: 1, height: 8, width: 8)
        let layers = try ModelSpec.layers(for: spec, input: input, classes: 3)
        for conv in layers.flatMap(\.convolutions) {
            if conv.name == "0" { conv.setAlgorithm(.im2col, reason: "asked") }
            if conv.name == "3" { conv.setAlgorithm(.winograd4, reason: "asked") }
        }
        let twin = Model(layers: layers, spec: spec, inputShape: [1, 8, 8], classes: 3, seed: 1, weightInit: .standard)
        var rng = SeededRNG(seed: 5)
        let x = Tensor(shape: [4, 1, 8, 8])
        for i in 0..<x.count { x[i] = rng.normal() }
        XCTAssertEqual(model.forward(x, training: false).array, twin.forward(x, training: false).array)
    }
}
