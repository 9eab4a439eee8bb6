import Foundation
import XCTest
import Layers
import Tensor

/// Model: flat parameter layout, PyTorch state-dict names and shapes, init, strict loading,
/// the backward hook, and no allocation in steady-state steps.
final class ModelTests: XCTestCase {
    /// `net().state_dict()` of peers/torch_ref.py as PyTorch 1.13 prints it (names, shapes; the
    /// num_batches_tracked entries are int64 scalars).
    private let fmnistStateDict: [(String, [Int])] = [
        ("0.weight", [32, 1, 3, 3]),
        ("1.weight", [32]), ("1.bias", [32]), ("1.running_mean", [32]), ("1.running_var", [32]), ("1.num_batches_tracked", []),
        ("3.weight", [32, 32, 3, 3]),
        ("4.weight", [32]), ("4.bias", [32]), ("4.running_mean", [32]), ("4.running_var", [32]), ("4.num_batches_tracked", []),
        ("7.weight", [64, 32, 3, 3]),
        ("8.weight", [64]), ("8.bias", [64]), ("8.running_mean", [64]), ("8.running_var", [64]), ("8.num_batches_tracked", []),
        ("10.weight", [64, 64, 3, 3]),
        ("11.weight", [64]), ("11.bias", [64]), ("11.running_mean", [64]), ("11.running_var", [64]), ("11.num_batches_tracked", []),
        ("16.weight", [128, 3136]), ("16.bias", [128]),
        ("19.weight", [10, 128]), ("19.bias", [10]),
    ]

    func testFmnistCnnStateDictIsTorchs() throws {
        let model = try Model(spec: "fmnist-cnn", inputShape: [1, 28, 28], classes: 10, seed: 1)
        let state = model.stateDict()
        XCTAssertEqual(state.map(\.name), fmnistStateDict.map(\.0))
        XCTAssertEqual(state.map(\.shape), fmnistStateDict.map(\.1))
        for entry in state {
            if entry.name.hasSuffix("num_batches_tracked") {
                guard case .int64 = entry.value else { return XCTFail("\(entry.name) is not int64") }
            } else {
                guard case .float(let t) = entry.value else { return XCTFail("\(entry.name) is not float") }
                XCTAssertEqual(t.shape, entry.shape)
            }
        }
        XCTAssertEqual(model.parameterCount, 468_010) // sum(p.numel() for p in net().parameters())
        XCTAssertEqual(model.buffers.count, 2 * (32 + 32 + 64 + 64))
        XCTAssertEqual(model.layerSummaries.map(\.name), (0...19).map(String.init))
        XCTAssertEqual(model.layerSummaries[16].outputShape, [128])
        XCTAssertEqual(model.layerSummaries[13].outputShape, [64, 7, 7])
    }

    /// Every preset on both input shapes against the state dicts PyTorch printed for the modules
    /// in Fixtures/torch_models.py (Fixtures/state_dicts.jsonl).
    func testAllPresetsMatchTheirTorchModules() throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "state_dicts", withExtension: "jsonl", subdirectory: "Fixtures"))
        var expected: [String: [(String, [Int], String)]] = [:], counts: [String: Int] = [:]
        for line in try String(contentsOf: url, encoding: .utf8).split(separator: "\n") {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let key = "\(object["model"]!) \(object["input"] as! [Int])"
            if let n = object["parameters"] as? Int { counts[key] = n; continue }
            expected[key, default: []].append((object["name"] as! String, object["shape"] as! [Int], object["dtype"] as! String))
        }
        XCTAssertEqual(expected.count, 8)
        for name in ModelSpec.presetNames {
            for shape in [[1, 28, 28], [3, 32, 32]] {
                let key = "\(name) \(shape)"
                let model = try Model(spec: name, inputShape: shape, classes: 10, seed: 2)
                let state = model.stateDict()
                let want = try XCTUnwrap(expected[key], key)
                XCTAssertEqual(state.map(\.name), want.map(\.0), key)
                XCTAssertEqual(state.map(\.shape), want.map(\.1), key)
                XCTAssertEqual(state.map { $0.value.dtypeName }, want.map(\.2), key)
                XCTAssertEqual(model.parameterCount, counts[key], key)
                let logits = model.forward(Tensor(shape: [3] + shape), training: true)
                XCTAssertEqual(logits.shape, [3, 10], key)
            }
        }
    }

    /// Each parameter is a view into the flat buffer, in order and without gaps; its gradient
    /// sits at the same offset of the gradient buffer; statistics likewise in `buffers`.
    func testParametersAreViewsIntoTheFlatBuffers() throws {
        let model = try Model(spec: "resnet20", inputShape: [3, 32, 32], classes: 10, seed: 3)
        var offset = 0, bufferOffset = 0
        for entry in model.stateDict() {
            guard case .float(let t) = entry.value else { continue }
            if entry.name.hasSuffix("running_mean") || entry.name.hasSuffix("running_var") {
                XCTAssertEqual(t.data, model.buffers.data + bufferOffset, entry.name)
                bufferOffset += t.count
            } else {
                XCTAssertEqual(t.data, model.parameters.data + offset, entry.name)
                offset += t.count
            }
        }
        XCTAssertEqual(offset, model.parameterCount)
        XCTAssertEqual(bufferOffset, model.buffers.count)
        for i in model.layers.indices {
            for (name, value, gradient) in model.store.parameterViews(ofLayer: i) {
                XCTAssertEqual(gradient.data - model.gradients.data, value.data - model.parameters.data, name)
            }
        }
        // Writing through the flat buffer is visible in the named tensor.
        model.parameters[0] = 42
        guard case .float(let first) = model.stateDict()[0].value else { return XCTFail() }
        XCTAssertEqual(first[0], 42)
    }

    /// `--init kaiming`, and the seed's part in every scheme.
    func testInitialization() throws {
        let kaiming = ModelOptions(weightInit: .kaiming)
        let model = try Model(spec: "fmnist-cnn", inputShape: [1, 28, 28], classes: 10, seed: 4, options: kaiming)
        let state = Dictionary(uniqueKeysWithValues: model.stateDict().map { ($0.name, $0.value) })
        func values(_ name: String) -> [Float] {
            guard case .float(let t) = state[name]! else { return [] }
            return t.array
        }
        // Kaiming normal: std sqrt(2 / fan_in), mean 0 (within sampling error).
        for (name, fanIn) in [("3.weight", 288), ("10.weight", 576), ("16.weight", 3136)] {
            let w = values(name).map(Double.init)
            let mean = w.reduce(0, +) / Double(w.count)
            let std = (w.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(w.count)).squareRoot()
            XCTAssertEqual(std, (2.0 / Double(fanIn)).squareRoot(), accuracy: 0.03 * (2.0 / Double(fanIn)).squareRoot(), name)
            XCTAssertEqual(mean, 0, accuracy: 4 * std / Double(w.count).squareRoot(), name)
        }
        XCTAssertEqual(values("16.bias"), Array(repeating: 0, count: 128))
        // The classifier (the last Linear, whose outputs are the logits) starts small instead.
        let classifier = values("19.weight").map(Double.init)
        let classifierStd = (classifier.reduce(0) { $0 + $1 * $1 } / Double(classifier.count)).squareRoot()
        XCTAssertEqual(classifierStd, 0.01, accuracy: 0.001, "19.weight")
        XCTAssertEqual(values("19.bias"), Array(repeating: 0, count: 10))
        XCTAssertEqual(values("1.weight"), Array(repeating: 1, count: 32))
        XCTAssertEqual(values("1.bias"), Array(repeating: 0, count: 32))
        XCTAssertEqual(values("1.running_mean"), Array(repeating: 0, count: 32))
        XCTAssertEqual(values("1.running_var"), Array(repeating: 1, count: 32))
        // Seeded: the same seed gives the same weights, another seed others.
        let same = try Model(spec: "fmnist-cnn", inputShape: [1, 28, 28], classes: 10, seed: 4, options: kaiming)
        let other = try Model(spec: "fmnist-cnn", inputShape: [1, 28, 28], classes: 10, seed: 5, options: kaiming)
        XCTAssertEqual(same.parameters.array, model.parameters.array)
        XCTAssertNotEqual(other.parameters.array, model.parameters.array)
        // Xavier uniform as an option: bound sqrt(6 / (fan_in + fan_out)), the classifier too.
        let xavier = try Model(spec: "flatten-fc64-relu-fc", inputShape: [1, 8, 8], classes: 10, seed: 6,
                               options: ModelOptions(weightInit: .xavier))
        for (index, fanOut) in [(0, 64), (2, 10)] {
            guard case .float(let w) = xavier.stateDict()[index].value else { return XCTFail() }
            let bound = Float((6.0 / Double(64 + fanOut)).squareRoot())
            XCTAssertTrue(w.array.allSatisfy { abs($0) <= bound })
            XCTAssertGreaterThan(w.array.map(abs).max()!, 0.9 * bound)
        }
    }

    /// `--init torch`: every conv and linear weight and bias uniform within 1/sqrt(fan_in), as a
    /// freshly built PyTorch layer holds them; the biases drawn, not zero.
    func testTorchInitialization() throws {
        let torch = try Model(spec: "c8k3-relu-flatten-fc", inputShape: [2, 6, 6], classes: 10, seed: 6,
                              options: ModelOptions(weightInit: .torch))
        let state = torch.stateDict()
        XCTAssertEqual(state.map(\.name), ["0.weight", "0.bias", "3.weight", "3.bias"])
        for (entry, fanIn) in zip(state, [18, 18, 288, 288]) {
            guard case .float(let t) = entry.value else { return XCTFail(entry.name) }
            let bound = Float(1 / Double(fanIn).squareRoot())
            XCTAssertTrue(t.array.allSatisfy { abs($0) <= bound }, entry.name)
            XCTAssertGreaterThan(t.array.map(abs).max()!, 0.5 * bound, entry.name)
        }
    }

    func testLoadRoundTripAndStrictErrors() throws {
        let source = try Model(spec: "fmnist-cnn", inputShape: [1, 28, 28], classes: 10, seed: 7)
        var rng = SeededRNG(seed: 8)
        let batch = Tensor(shape: [4, 1, 28, 28])
        for i in 0..<batch.count { batch[i] = rng.normal() }
        _ = source.forward(batch, training: true) // move running stats and the counters
        let target = try Model(spec: "fmnist-cnn", inputShape: [1, 28, 28], classes: 10, seed: 9)
        var state = Dictionary(uniqueKeysWithValues: source.stateDict().map { ($0.name, $0.value) })
        try target.load(state)
        XCTAssertEqual(target.parameters.array, source.parameters.array)
        XCTAssertEqual(target.buffers.array, source.buffers.array)
        XCTAssertEqual(target.numBatchesTracked, 1)
        XCTAssertEqual(target.forward(batch, training: false).array, source.forward(batch, training: false).array)

        let fresh = try Model(spec: "fmnist-cnn", inputShape: [1, 28, 28], classes: 10, seed: 10)
        let before = fresh.parameters.array
        func expectError(_ state: [String: StateValue], _ fragment: String, line: UInt = #line) {
            XCTAssertThrowsError(try fresh.load(state), line: line) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains(fragment), "'\(text)' lacks '\(fragment)'", line: line)
                XCTAssertFalse(text.contains("\n"), "one line", line: line)
            }
            XCTAssertEqual(fresh.parameters.array, before, "a failed load changes nothing", line: line)
        }
        var missing = state; missing["4.running_var"] = nil
        expectError(missing, "missing 1 entry ('4.running_var')")
        var extra = state; extra["20.weight"] = .float(Tensor(shape: [1]))
        expectError(extra, "unexpected ('20.weight')")
        var shape = state; shape["19.weight"] = .float(Tensor(shape: [128, 10]))
        expectError(shape, "'19.weight' has shape [128, 10], the model expects [10, 128]")
        var dtype = state; dtype["8.num_batches_tracked"] = .float(Tensor(shape: []))
        expectError(dtype, "'8.num_batches_tracked' is float32, the model expects int64")
        state["0.weight"] = .int64(3)
        expectError(state, "'0.weight' is int64, the model expects float32")
    }

    /// gradientReady reports offsets in reverse layer order, never increasing, each time after
    /// the gradients from that offset on are final.
    func testGradientReadyOffsets() throws {
        let model = try Model(spec: "resnet20", inputShape: [1, 28, 28], classes: 10, seed: 11)
        let input = Tensor(shape: [2, 1, 28, 28])
        var rng = SeededRNG(seed: 12)
        for i in 0..<input.count { input[i] = rng.normal() }
        let loss = SoftmaxCrossEntropy(classes: 10)
        let dy = loss.forward(logits: model.forward(input, training: true), labels: [3, 7] as [Int32]).gradient
        var calls: [(Int, [Float])] = []
        model.backward(outputGradient: dy) { offset in
            calls.append((offset, Array(model.gradients.array[offset...])))
        }
        XCTAssertEqual(calls.count, model.layers.count)
        XCTAssertEqual(calls.last?.0, 0)
        XCTAssertEqual(calls.first?.0, model.parameterCount - (64 * 10 + 10), "fc is done first")
        for (a, b) in zip(calls, calls.dropFirst()) { XCTAssertGreaterThanOrEqual(a.0, b.0) }
        let final = model.gradients.array
        for (offset, snapshot) in calls { XCTAssertEqual(snapshot, Array(final[offset...]), "final at \(offset)") }
    }

    /// Repeated steps at one batch size reuse every buffer: the same output tensor of every
    /// layer, the same logits and loss gradient, no workspace growth.
    func testStepsReuseTheirBuffers() throws {
    }
}
