import XCTest
import Layers
import Tensor

/// The residual block against the composition of the naive references, its names, and the checker.
final class BasicBlockTests: XCTestCase {
    private func relu(_ v: [Float]) -> [Float] { v.map { max(0, $0) } }

    func testForwardMatchesComposedReferences() throws {
        var rng = SeededRNG(seed: 121)
        // (in, out, stride, size): identity shortcut, then projection with stride 2.
        for (cin, cout, stride, size) in [(4, 4, 1, 6), (3, 5, 2, 7)] {
            let n = 2
            let block = try BasicBlock(name: "b", input: .map(channels: cin, height: size, width: size), outChannels: cout, stride: stride)
            let store = bind(block)
            var p: [String: [Float]] = [:]
            for (name, value, _) in store.parameterViews(ofLayer: 0) {
                if name.hasSuffix("bn1.weight") || name.hasSuffix("bn2.weight") || name.hasSuffix("1.weight") && name.contains("shortcut") {
                    for i in 0..<value.count { value[i] = 1 + 0.3 * rng.normal() }
                } else if name.contains("bias") {
                    for i in 0..<value.count { value[i] = 0.5 * rng.normal() }
                }
                p[name] = value.array
            }
            let x = randomValues(n * cin * size * size, rng: &rng)
            let y = block.forward(makeTensor([cin, n, size, size], channelMajor(x, n: n, c: cin, hw: size * size)), training: true)

            let c1 = naiveConv(x: x, n: n, c: cin, h: size, w: size, weight: p["b.conv1.weight"]!, bias: nil, outC: cout, k: 3, stride: stride, pad: 1)
            let b1 = naiveBatchNorm(x: c1.y, n: n, c: cout, hw: c1.oh * c1.ow, gamma: p["b.bn1.weight"]!, beta: p["b.bn1.bias"]!)
            let c2 = naiveConv(x: relu(b1.y), n: n, c: cout, h: c1.oh, w: c1.ow, weight: p["b.conv2.weight"]!, bias: nil, outC: cout, k: 3, stride: 1, pad: 1)
            let b2 = naiveBatchNorm(x: c2.y, n: n, c: cout, hw: c2.oh * c2.ow, gamma: p["b.bn2.weight"]!, beta: p["b.bn2.bias"]!)
            var shortcut = x
            if stride != 1 || cin != cout {
                let s = naiveConv(x: x, n: n, c: cin, h: size, w: size, weight: p["b.shortcut.0.weight"]!, bias: nil, outC: cout, k: 1, stride: stride, pad: 0)
                shortcut = naiveBatchNorm(x: s.y, n: n, c: cout, hw: s.oh * s.ow, gamma: p["b.shortcut.1.weight"]!, beta: p["b.shortcut.1.bias"]!).y
            }
            let expected = relu(zip(b2.y, shortcut).map { $0 + $1 })
            XCTAssertEqual(y.shape, [cout, n, c2.oh, c2.ow])
            assertClose(batchMajor(y.array, n: n, c: cout, hw: c2.oh * c2.ow), expected, atol: 2e-5, rtol: 1e-4,
                        "block \(cin)->\(cout) s\(stride)")
        }
    }

    func testStateNamesFollowTheTorchModule() throws {
        let identity = try BasicBlock(name: "layer1.0", input: .map(channels: 16, height: 8, width: 8), outChannels: 16)
        XCTAssertEqual(identity.stateSpecs.map(\.name), [
            "conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked",
            "conv2.weight", "bn2.weight", "bn2.bias", "bn2.running_mean", "bn2.running_var", "bn2.num_batches_tracked"])
        let projection = try BasicBlock(name: "layer2.0", input: .map(channels: 16, height: 8, width: 8), outChannels: 32, stride: 2)
        XCTAssertEqual(Array(projection.stateSpecs.map(\.name).suffix(6)), [
            "shortcut.0.weight", "shortcut.1.weight", "shortcut.1.bias", "shortcut.1.running_mean",
            "shortcut.1.running_var", "shortcut.1.num_batches_tracked"])
        XCTAssertEqual(projection.stateSpecs.first { $0.name == "shortcut.0.weight" }?.shape, [32, 16, 1, 1])
        XCTAssertEqual(projection.outputShape, .map(channels: 32, height: 4, width: 4))
    }

    func testGradientChecks() throws {
        assertPassed(GradientCheck.check(layer: try BasicBlock(name: "identity", input: .map(channels: 3, height: 5, width: 5), outChannels: 3),
                                         batch: 2, seed: 122))
        assertPassed(GradientCheck.check(layer: try BasicBlock(name: "projection", input: .map(channels: 2, height: 6, width: 6), outChannels: 4, stride: 2),
                                         batch: 2, seed: 123))
    }
}
