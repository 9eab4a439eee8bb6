import Foundation
import XCTest
import Layers
import Tensor

/// fmnist-cnn and resnet20 against PyTorch: the same weights and batch (Fixtures/make_reference.py
/// builds them from a formula both sides evaluate), one training forward and backward, then an
/// evaluation forward. Compared: logits, loss, every gradient (sum, norm, sampled entries), the
/// updated running statistics and counters, and the evaluation logits.
final class TorchReferenceTests: XCTestCase {
    /// Entry j of state-dict tensor number k: make_reference.py's `value`, in Double, to Float.
    private func value(_ name: String, _ k: Int, _ j: Int, fanIn: Int) -> Float {
        let s = sin(0.7 * Double(j) + 1.3 * Double(k) + 0.5)
        if name.hasSuffix("running_var") { return Float(1 + 0.5 * abs(s)) }
        if name.hasSuffix("running_mean") || name.hasSuffix("bias") { return Float(0.1 * s) }
        if fanIn == 0 { return Float(1 + 0.2 * s) }
        return Float(s * (3 / Double(fanIn)).squareRoot())
    }

    private struct Summary { let sum: Double, norm: Double, samples: [(Int, Double)] }

    private func summary(_ object: Any?) -> Summary? {
        guard let o = object as? [String: Any], let raw = o["samples"] as? [[Double]] else { return nil }
        let samples = raw.map { (Int($0[0]), $0[1]) }
        return Summary(sum: o["sum"] as! Double, norm: o["norm"] as! Double, samples: samples)
    }

    /// Worst |ours - torch| / scale over a tensor's sum, norm and samples; scale is the tensor's
    /// norm for the sum and norm, and max(|entry|, rms entry) for entries.
    private func worstError(_ ours: [Float], _ torch: Summary) -> Double {
        let values = ours.map(Double.init)
        let norm = values.reduce(0) { $0 + $1 * $1 }.squareRoot(), sum = values.reduce(0, +)
        let rms = max(torch.norm / Double(values.count).squareRoot(), 1e-30)
        var worst = max(abs(sum - torch.sum), abs(norm - torch.norm)) / max(torch.norm, 1e-30)
        for (i, v) in torch.samples { worst = max(worst, abs(values[i] - v) / max(abs(v), rms)) }
        return worst
    }

    func testMatchesPyTorch() throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "torch_reference", withExtension: "json", subdirectory: "Fixtures"))
        let fixture = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        let cases = fixture["cases"] as! [[String: Any]]
        XCTAssertEqual(cases.count, 2)
        for reference in cases {
            let label = reference["model"] as! String
            let shape = reference["input"] as! [Int], batch = reference["batch"] as! Int
            let spec = label == "resnet20" ? "resnet20"
                : ModelSpec.presetSpec("fmnist-cnn")!.replacingOccurrences(of: "drop0.25", with: "drop0")
                    .replacingOccurrences(of: "drop0.5", with: "drop0")
            let model = try Model(spec: spec, inputShape: shape, classes: 10, seed: 1)

            // The fixture's weights and statistics, by state-dict position.
            var state: [String: StateValue] = [:]
            for (k, entry) in model.stateDict().enumerated() {
                switch entry.value {
                case .float:
                    let fanIn = entry.shape.count > 1 ? entry.shape.dropFirst().reduce(1, *) : 0
                    let count = entry.shape.reduce(1, *)
                    state[entry.name] = .float(Tensor(shape: entry.shape, values: (0..<count).map { value(entry.name, k, $0, fanIn: fanIn) }))
                case .int64(let v):
                    state[entry.name] = .int64(v)
                }
            }
            try model.load(state)
            let count = batch * shape.reduce(1, *)
            let x = Tensor(shape: [batch] + shape, values: (0..<count).map { Float(sin(0.37 * Double($0) + 0.1)) })
            let labels = (reference["labels"] as! [Int]).map(Int32.init)

            let loss = SoftmaxCrossEntropy(classes: 10)
            let logits = model.forward(x, training: true)
            let result = loss.forward(logits: logits, labels: labels)
            assertClose(logits.array, (reference["logits"] as! [Double]).map(Float.init), atol: 2e-5, rtol: 1e-4, "\(label) logits")
            XCTAssertEqual(result.loss, reference["loss"] as! Double, accuracy: 1e-5, "\(label) loss")
            model.backward(outputGradient: result.gradient)

            // Every gradient, running statistic and counter.
            let entries = reference["entries"] as! [[String: Any]]
            let ours = model.stateDict()
            XCTAssertEqual(ours.map(\.name), entries.map { $0["name"] as! String })
            let gradients = Dictionary(uniqueKeysWithValues: model.layers.indices.flatMap { model.store.parameterViews(ofLayer: $0) }
                .map { ($0.name, $0.gradient.array) })
            var worstGradient = 0.0, worstStatistic = 0.0
            var worstName = ""
            for (entry, mine) in zip(entries, ours) {
                if let g = summary(entry["gradient"]) {
                    let e = worstError(gradients[mine.name]!, g)
                    if e > worstGradient { worstGradient = e; worstName = mine.name }
                } else if let s = summary(entry) {
                    guard case .float(let t) = mine.value else { return XCTFail("\(mine.name) not float") }
                    worstStatistic = max(worstStatistic, worstError(t.array, s))
                } else if let tracked = entry["int64"] as? Int {
                    guard case .int64(let v) = mine.value else { return XCTFail("\(mine.name) not int64") }
                    XCTAssertEqual(Int(v), tracked, mine.name)
                }
            }
            print("  \(label): worst gradient error \(worstGradient) (\(worstName)), worst running-stat error \(worstStatistic)")
            // Wider when a layer runs F(4x4, 3x3): `convolutionToleranceFactor`.
            XCTAssertLessThan(worstGradient, 5e-4 * convolutionToleranceFactor(model), "\(label) gradients")
            XCTAssertLessThan(worstStatistic, 1e-5, "\(label) running statistics")

            let evalLogits = model.forward(x, training: false)
            assertClose(evalLogits.array, (reference["eval_logits"] as! [Double]).map(Float.init), atol: 2e-5, rtol: 1e-4,
                        "\(label) evaluation logits")
        }
    }
}
