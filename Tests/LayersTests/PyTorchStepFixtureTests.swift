import Formats
import Foundation
import XCTest
import Tensor
@testable import Layers

/// The fixtures of scripts/fixtures/make_fixtures.py, written by PyTorch 1.13: one batch, logits,
/// loss, every gradient, BN statistics after a forward, and the state after 3 SGD steps
/// (momentum 0.9, Nesterov, weight decay 5e-4). The initial state is not stored: `FixtureInit`
/// recomputes it. Large gradients and updates are stored as Double statistics of the whole tensor
/// (sum, sum of squares, max |x|) plus 512 sampled elements; everything else whole.
/// Each comparison is relative to the reference tensor's max |x| and prints its worst value.
/// Tolerances (scripts/fixtures/README.md): 2e-5 for the forward, 1e-4 for gradients, 1e-3 for
/// the update after three steps (Float32 rounding of two implementations that sum in different
/// orders; the update is a small difference of weights and carries their cancellation error).
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

    /// The largest of each kind of difference, for the printed summary.
    private struct Worst {
        var values: [String: Double] = [:]
        mutating func note(_ key: String, _ value: Double) { values[key] = max(values[key] ?? 0, value) }
        subscript(key: String) -> Double { values[key] ?? 0 }
    }

    private func check(spec: String, fixture: String) throws {
        let f = try FixtureFiles.load(fixture)
        let seed = try XCTUnwrap(UInt64(f.metadata["seed"] ?? ""), "fixture seed")
        let model = try Model(spec: spec, inputShape: [1, 28, 28], classes: 10, seed: 0)
        let torchState = try fixtureStateDict(f)
        XCTAssertEqual(model.stateDict().map(\.name), torchState.map(\.name), "state-dict names and order")
        XCTAssertEqual(model.stateDict().map(\.shape), torchState.map(\.shape), "state-dict shapes")
        var worst = Worst()

        // The initial state from the formula; its statistics must be the fixture's (rounding of
        // the Double sums only), or the formula differs from make_fixtures.py's.
        var initial: [String: StateValue] = [:], initialValues: [String: [Float]] = [:]
        for entry in model.stateDict() {
            guard case .float = entry.value else { initial[entry.name] = .int64(0); continue }
            let values = FixtureInit.values(seed: seed, name: entry.name, shape: entry.shape)
            let want = try f.entry("init_stats." + entry.name).doubles()
            let got = FixtureStatistics.of(values.map(Double.init))
            XCTAssertEqual(got[2], want[2], "initial \(entry.name): max |x|")
            XCTAssertEqual(got[0], want[0], accuracy: 1e-12 * Double(values.count) * got[2], "initial \(entry.name): sum")
            XCTAssertEqual(got[1], want[1], accuracy: 1e-12 * got[1], "initial \(entry.name): sum of squares")
            initial[entry.name] = .float(Tensor(shape: entry.shape, values: values))
            initialValues[entry.name] = values
        }
        XCTAssertEqual(initialValues.count, f.names.filter { $0.hasPrefix("init_stats.") }.count, "initial entries")
        try model.load(initial)
        let xEntry = try f.entry("x")
        let x = Tensor(shape: xEntry.shape, values: try xEntry.floats())
        let labels = try f.entry("y").int64s().map { Int32($0) }
        let loss = SoftmaxCrossEntropy(classes: 10)

        let evalLogits = model.forward(x, training: false).array.map(Double.init)
        worst.note("eval logits", FixtureStatistics.maxRelative(evalLogits, try f.entry("eval_logits").floats().map(Double.init)))
        let logits = model.forward(x, training: true)
        worst.note("logits", FixtureStatistics.maxRelative(logits.array.map(Double.init), try f.entry("logits").floats().map(Double.init)))
        let result = loss.forward(logits: logits, labels: labels)
        let wantLoss = Double(try f.entry("loss").floats()[0])
        print("\(fixture): eval logits \(worst["eval logits"]), train logits \(worst["logits"]), loss \(result.loss) vs \(wantLoss)")
        XCTAssertLessThan(worst["eval logits"], 2e-5)
        XCTAssertLessThan(worst["logits"], 2e-5)
        XCTAssertEqual(result.loss, wantLoss, accuracy: 2e-5 * max(1, abs(wantLoss)))

        model.backward(outputGradient: result.gradient)
        var parameterNames: [String] = []
        for entry in model.stateDict() {
            guard case .float(let view) = entry.value else { continue }
            if f.entries["grad." + entry.name] != nil {
                parameterNames.append(entry.name)
                let offset = view.data - model.parameters.data
                let grad = UnsafeBufferPointer(start: model.gradients.data + offset, count: view.count).map(Double.init)
                let d = try FixtureStatistics.compare(grad, group: "grad", name: entry.name, in: f)
                XCTAssertLessThan(d.elements, 1e-4, "gradient of \(entry.name): sampled elements")
                XCTAssertLessThan(d.statistics, 1e-4, "gradient of \(entry.name): sum, norm, max")
                worst.note("grad", d.elements); worst.note("grad stats", d.statistics)
            } else if f.entries["after_fwd." + entry.name] != nil {
                let want = try f.entry("after_fwd." + entry.name).floats().map(Double.init)
                let d = FixtureStatistics.maxRelative(view.array.map(Double.init), want)
                XCTAssertLessThan(d, 2e-5, "\(entry.name) after one forward")
                worst.note("running stats", d)
            }
        }
        XCTAssertEqual(parameterNames.count, f.names.filter { $0.hasPrefix("grad.") }.count, "parameters compared")
        print("\(fixture): gradients within \(worst["grad"]) (elements) and \(worst["grad stats"]) (sum, norm, max); "
              + "BN running stats within \(worst["running stats"])")

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
        // Compared as the update (after - before) relative to its own largest magnitude: relative
        // to the weights, a wrong update would hide in the weights' size. Wider when a layer
        // runs F(4x4, 3x3) (`convolutionToleranceFactor`).
        let updateTolerance = 1e-3 * convolutionToleranceFactor(model)
        for entry in model.stateDict() {
            switch entry.value {
            case .float(let view):
                let before = try XCTUnwrap(initialValues[entry.name])
                let update = zip(view.array, before).map { Double($0) - Double($1) }
                if parameterNames.contains(entry.name) {
                    let d = try FixtureStatistics.compare(update, group: "update", name: entry.name, in: f)
                    XCTAssertLessThan(d.elements, updateTolerance, "\(entry.name): update of 3 SGD steps, sampled elements")
                    XCTAssertLessThan(d.statistics, updateTolerance, "\(entry.name): update of 3 SGD steps, sum, norm, max")
                    worst.note("update", d.elements); worst.note("update stats", d.statistics)
                } else {
                    let after = try f.entry("step3." + entry.name).floats()
                    let want = zip(after, before).map { Double($0) - Double($1) }
                    let d = FixtureStatistics.maxRelative(update, want)
                    XCTAssertLessThan(d, updateTolerance, "\(entry.name): change over 3 forwards")
                    worst.note("update", d)
                }
            case .int64(let n):
                XCTAssertEqual(n, try f.entry("step3." + entry.name).int64s()[0], entry.name)
            }
        }
        print("\(fixture): updates of 3 SGD steps within \(worst["update"]) (elements, of max |update|) "
              + "and \(worst["update stats"]) (sum, norm, max)")
    }
}

/// The fixture's metadata `state_dict`: torch's state-dict names and shapes, in order.
func fixtureStateDict(_ file: SafeTensorsFile) throws -> [(name: String, shape: [Int])] {
    let text = try XCTUnwrap(file.metadata["state_dict"], "metadata state_dict")
    let pairs = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[Any]])
    return try pairs.map { (try XCTUnwrap($0[0] as? String), try XCTUnwrap($0[1] as? [Int])) }
}

/// The comparisons of the step fixtures (the same measures as make_fixtures.py).
enum FixtureStatistics {
    /// [sum, sum of squares, max |x|], accumulated in Double.
    static func of(_ values: [Double]) -> [Double] {
        var sum = 0.0, squares = 0.0, largest = 0.0
        for v in values { sum += v; squares += v * v; largest = max(largest, abs(v)) }
        return [sum, squares, largest]
    }

    /// max |got - want| / max |want|.
    static func maxRelative(_ got: [Double], _ want: [Double]) -> Double {
        precondition(got.count == want.count, "tensor sizes differ: \(got.count) vs \(want.count)")
        let scale = want.map(abs).max() ?? 0
        var worst = 0.0
        for (a, b) in zip(got, want) { worst = max(worst, abs(a - b)) }
        return worst / (scale > 0 ? scale : 1)
    }

    /// make_fixtures.py's stats_error: sums and norms in units of sqrt(count) * max |want| (the
    /// growth of a sum of `count` independent rounding errors), max |x| in units of itself.
    static func statisticsError(_ got: [Double], _ want: [Double], count: Int) -> Double {
        let scale = want[2] > 0 ? want[2] : 1, spread = Double(count).squareRoot() * scale
        return max(abs(got[0] - want[0]) / spread, abs(got[1].squareRoot() - want[1].squareRoot()) / spread,
                   abs(got[2] - want[2]) / scale)
    }

    /// A whole flat tensor against `<group>.<name>` (the whole reference, or its elements at
    /// `sample.<name>`) and `<group>_stats.<name>`: the worst element relative to the whole
    /// reference's max |x|, and `statisticsError`.
    static func compare(_ got: [Double], group: String, name: String,
                        in file: SafeTensorsFile) throws -> (elements: Double, statistics: Double) {
        let stats = try file.entry("\(group)_stats.\(name)").doubles()
        let entry = try file.entry("\(group).\(name)")
        let want = entry.dtype == .f64 ? try entry.doubles() : try entry.floats().map(Double.init)
        let indices = try file.entries["sample." + name].map { try $0.int64s().map { Int($0) } } ?? Array(got.indices)
        precondition(indices.count == want.count, "\(name): \(want.count) reference values for \(indices.count) indices")
        var worst = 0.0
        for (i, w) in zip(indices, want) { worst = max(worst, abs(got[i] - w)) }
        let scale = stats[2] > 0 ? stats[2] : 1
        return (worst / scale, statisticsError(of(got), stats, count: got.count))
    }
}
