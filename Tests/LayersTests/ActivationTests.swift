import Foundation
import XCTest
import Layers
import Tensor

/// ReLU, LeakyReLU, Tanh, Sigmoid against their formulas (in Double) and the gradient checker.
final class ActivationTests: XCTestCase {
    private func run(_ layer: any Layer, _ x: [Float], _ dy: [Float]) -> (y: [Float], dx: [Float]) {
        bind(layer)
        let y = layer.forward(makeTensor([x.count, 1], x), training: true).array
        let dx = Tensor(shape: [x.count, 1])
        layer.backward(makeTensor([x.count, 1], dy), inputGradient: dx)
        return (y, dx.array)
    }

    func testFormulas() throws {
        var rng = SeededRNG(seed: 81)
        var x = randomValues(64, rng: &rng, scale: 3)
        x += [0, -0, 40, -40, 1e-8, -1e-8]
        let dy = randomValues(x.count, rng: &rng)
        let shape = FeatureShape.flat(1)

        let relu = run(ReLU(name: "r", input: shape), x, dy)
        XCTAssertEqual(relu.y, x.map { max(0, $0) })
        XCTAssertEqual(relu.dx, zip(x, dy).map { $0 > 0 ? $1 : 0 })

        let leaky = run(try LeakyReLU(name: "l", input: shape, slope: 0.1), x, dy)
        XCTAssertEqual(leaky.y, x.map { $0 > 0 ? $0 : 0.1 * $0 })
        XCTAssertEqual(leaky.dx, zip(x, dy).map { $0 > 0 ? $1 : 0.1 * $1 })

        let tanh = run(SmoothActivation(.tanh, name: "t", input: shape), x, dy)
        assertClose(tanh.y, x.map { Float(Foundation.tanh(Double($0))) }, atol: 1e-7, rtol: 1e-6, "tanh")
        assertClose(tanh.dx, zip(x, dy).map { let t = Foundation.tanh(Double($0)); return Float(Double($1) * (1 - t * t)) },
                    atol: 1e-7, rtol: 1e-5, "tanh'")

        let sigmoid = run(SmoothActivation(.sigmoid, name: "s", input: shape), x, dy)
        let s = x.map { 1 / (1 + Foundation.exp(-Double($0))) }
        assertClose(sigmoid.y, s.map(Float.init), atol: 1e-7, rtol: 1e-6, "sigmoid")
        assertClose(sigmoid.dx, zip(s, dy).map { Float(Double($1) * $0 * (1 - $0)) }, atol: 1e-7, rtol: 1e-5, "sigmoid'")
        XCTAssertTrue(sigmoid.y.allSatisfy { $0.isFinite }, "no overflow at +-40")
    }

    func testGradientChecks() throws {
        let map = FeatureShape.map(channels: 2, height: 3, width: 3)
        assertPassed(GradientCheck.check(layer: ReLU(name: "relu", input: map), batch: 2, seed: 82))
        assertPassed(GradientCheck.check(layer: try LeakyReLU(name: "lrelu", input: map, slope: 0.2), batch: 2, seed: 83))
        assertPassed(GradientCheck.check(layer: SmoothActivation(.tanh, name: "tanh", input: .flat(10)), batch: 3, seed: 84))
        assertPassed(GradientCheck.check(layer: SmoothActivation(.sigmoid, name: "sigmoid", input: .flat(10)), batch: 3, seed: 85))
    }

    /// Inputs within the step of 0 are skipped by the checker, not reported as failures.
    func testReLUKinksAreSkipped() {
        let x = makeTensor([8, 1], [0.001, -0.002, 0.5, -0.5, 0.004, 1, -1, 0])
        let row = GradientCheck.check(layer: ReLU(name: "relu", input: .flat(1)), batch: 8, seed: 86, input: x)
        assertPassed(row)
        XCTAssertEqual(row.skipped, 4)
        XCTAssertEqual(row.checked, 4)
    }

    func testLeakySlopeRange() {
        XCTAssertThrowsError(try LeakyReLU(name: "x", input: .flat(1), slope: -0.1))
        XCTAssertThrowsError(try LeakyReLU(name: "x", input: .flat(1), slope: 1))
    }
}
