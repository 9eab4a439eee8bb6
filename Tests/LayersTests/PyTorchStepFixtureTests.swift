import XCTest
import Tensor
@testable import Layers

/// The fixture of scripts/fixtures/make_fixtures.py, written by PyTorch 1.13: initial weights, a
/// batch, logits, loss, every gradient, BN statistics after a forward, and every state-dict entry
/// after 3 SGD steps (momentum 0.9, Nesterov, weight decay 5e-4). Each comparison prints its
/// largest difference relative to the tensor's scale. Tolerances (scripts/fixtures/README.md):
/// 2e-5 for the forward, 1e-4 for gradients, 1e-3 after three steps (Float32 rounding of two
/// implementations that sum in different orders, amplified by each update).
final class PyTorchStepFixtureTests: XCTestCase {
    // fmnist-cnn with its two Dropouts at p = 0, as in the fixture; same layer indices and names.
    private let fmnistNoDropout = "c32k3p1nb-bn-relu-c32k3p1nb-bn-relu-mp2-c64k3p1nb-bn-relu-c64k3p1nb-bn-relu-mp2-"
        + "flatten-drop0-fc128-relu-drop0-fc"

    func testFmnistCNNAgainstPyTorch() throws {
        try check(spec: fmnistNoDropout, fixture: "fmnist_cnn")
    }

    func testResNet20AgainstPyTorch() throws {
        try check(spec: "resnet20", fixture: "resnet20")
    }

    private func relativeDifference(_ got: UnsafeBufferPointer<Float>, _ want: [Float]) -> Double {
        XCTAssertEqual(got.count, want.count)
        let scale = want.map { abs(Double($0)) }.max() ?? 0
        var worst = 0.0
        for (a, b) in zip(got, want) { worst = max(worst, abs(Double(a) - Double(b))) }
        return worst / max(scale, 1e-12)
    }

    private func check(spec: String, fixture: String) throws {
        let f = try FixtureFiles.load(fixture)
        let model = try Model(spec: spec, inputShape: [1, 28, 28], classes: 10, seed: 0)
        var initial: [String: StateValue] = [:]
        for name in f.names where name.hasPrefix("init.") {
            let entry = try f.entry(name)
            let key = String(name.dropFirst(5))
            initial[key] = entry.dtype == .i64 ? .int64(try entry.int64s()[0])
                : .float(Tensor(shape: entry.shape, values: try entry.floats()))
        }
        try model.load(initial)
        let xEntry = try f.entry("x")
        let x = Tensor(shape: xEntry.shape, values: try xEntry.floats())
        let labels = try f.entry("y").int64s().map { Int32($0) }
        let loss = SoftmaxCrossEntropy(classes: 10)

        let evalLogits = model.forward(x, training: false)
        let dEval = relativeDifference(UnsafeBufferPointer(evalLogits.buffer), try f.entry("eval_logits").floats())
        let logits = model.forward(x, training: true)
        let dLogits = relativeDifference(UnsafeBufferPointer(logits.buffer), try f.entry("logits").floats())
        let result = loss.forward(logits: logits, labels: labels)
        let wantLoss = Double(try f.entry("loss").floats()[0])
        print("\(fixture): eval logits \(dEval), train logits \(dLogits), loss \(result.loss) vs \(wantLoss)")
        XCTAssertLessThan(dEval, 2e-5)
        XCTAssertLessThan(dLogits, 2e-5)
        XCTAssertEqual(result.loss, wantLoss, accuracy: 2e-5 * max(1, abs(wantLoss)))

        model.backward(outputGradient: result.gradient)
        var worstGrad = 0.0, worstStats = 0.0
        for entry in model.stateDict() {
            guard case .float(let view) = entry.value else { continue }
            if f.entries["grad." + entry.name] != nil {
                let offset = view.data - model.parameters.data
                let grad = UnsafeBufferPointer(start: model.gradients.data + offset, count: view.count)
                let d = relativeDifference(grad, try f.entry("grad." + entry.name).floats())
                XCTAssertLessThan(d, 1e-4, "gradient of \(entry.name)")
                worstGrad = max(worstGrad, d)
            } else if f.entries["after_fwd." + entry.name] != nil {
                let d = relativeDifference(UnsafeBufferPointer(view.buffer), try f.entry("after_fwd." + entry.name).floats())
                XCTAssertLessThan(d, 2e-5, "\(entry.name) after one forward")
                worstStats = max(worstStats, d)
            }
        }
        print("\(fixture): every gradient within \(worstGrad), BN running stats within \(worstStats)")

        // Three SGD steps on the same batch; step 1 uses the gradients just checked.
        let sgd = try SGD(count: model.parameterCount, learningRate: 0.01, momentum: 0.9, weightDecay: 5e-4, nesterov: true)
        let wantLosses = try f.entry("losses").floats()
        for step in 0..<3 {
            if step > 0 {
                let r = loss.forward(logits: model.forward(x, training: true), labels: labels)
                XCTAssertEqual(r.loss, Double(wantLosses[step]), accuracy: 1e-3 * max(1, Double(abs(wantLosses[step]))),
                               "loss of forward \(step + 1)")
                model.backward(outputGradient: r.gradient)
            }
            sgd.step(parameters: model.parameters.data, gradients: model.gradients.data, count: model.parameterCount)
        }
        var worstStep = 0.0
        for entry in model.stateDict() {
            switch entry.value {
            case .float(let view):
                let d = relativeDifference(UnsafeBufferPointer(view.buffer), try f.entry("step3." + entry.name).floats())
                XCTAssertLessThan(d, 1e-3, "\(entry.name) after 3 SGD steps")
                worstStep = max(worstStep, d)
            case .int64(let n):
                XCTAssertEqual(n, try f.entry("step3." + entry.name).int64s()[0], entry.name)
            }
        }
        print("\(fixture): every state-dict entry after 3 SGD steps within \(worstStep)")
    }
}
