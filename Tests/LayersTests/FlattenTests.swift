import XCTest
import Layers
import Tensor

/// Flatten gives PyTorch's per-sample (c, h, w) order from channel-major maps.
final class FlattenTests: XCTestCase {
    func testOrderMatchesTorchFlatten() {
        var rng = SeededRNG(seed: 101)
        let (n, c, h, w) = (3, 2, 2, 3)
        let flatten = Flatten(name: "f", input: .map(channels: c, height: h, width: w))
        bind(flatten)
        let x = randomValues(n * c * h * w, rng: &rng) // NCHW: flattening it row by row is torch's order
        let y = flatten.forward(makeTensor([c, n, h, w], channelMajor(x, n: n, c: c, hw: h * w)), training: true)
        XCTAssertEqual(y.shape, [n, c * h * w])
        XCTAssertEqual(y.array, x)
        let dx = Tensor(shape: [c, n, h, w])
        flatten.backward(makeTensor([n, c * h * w], x), inputGradient: dx)
        XCTAssertEqual(batchMajor(dx.array, n: n, c: c, hw: h * w), x)
    }

    func testFlatInputPassesThrough() {
        let flatten = Flatten(name: "f", input: .flat(5))
        XCTAssertTrue(flatten.passesInputThrough)
        let x = makeTensor([2, 5], (0..<10).map(Float.init))
        XCTAssertTrue(flatten.forward(x, training: true) === x)
    }

    func testGradientCheck() {
        assertPassed(GradientCheck.check(layer: Flatten(name: "f", input: .map(channels: 3, height: 2, width: 2)), batch: 2, seed: 102))
    }
}
