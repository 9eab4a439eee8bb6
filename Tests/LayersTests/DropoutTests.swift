import XCTest
import Layers
import Tensor

/// Dropout: inverted scaling, identity in evaluation, masks from the model's seeded stream.
final class DropoutTests: XCTestCase {
    func testTrainingKeepsAboutOneMinusPAndScales() throws {
        let drop = try Dropout(name: "d", input: .flat(1000), probability: 0.25)
        let store = bind(drop)
        let x = makeTensor([10, 1000], (0..<10_000).map { Float($0 % 7) + 1 })
        let y = drop.forward(x, training: true).array
        let kept = y.indices.filter { y[$0] != 0 }
        XCTAssertEqual(Double(kept.count) / 10_000, 0.75, accuracy: 0.02)
        for i in kept { XCTAssertEqual(y[i], x[i] / 0.75, accuracy: 1e-6) }
        // Backward: the same mask, the same scale.
        let dy = makeTensor([10, 1000], Array(repeating: 1, count: 10_000))
        let dx = Tensor(shape: [10, 1000])
        drop.backward(dy, inputGradient: dx)
        for i in 0..<10_000 { XCTAssertEqual(dx[i], y[i] == 0 ? 0 : 1 / 0.75, accuracy: 1e-6) }
        // Rewinding the generator repeats the mask; not rewinding gives a new one.
        let start = store.context.dropoutRNG
        let again = drop.forward(x, training: true).array
        XCTAssertNotEqual(again, y)
        store.context.dropoutRNG = start
        XCTAssertEqual(drop.forward(x, training: true).array, again)
    }

    func testEvaluationIsIdentity() throws {
        let drop = try Dropout(name: "d", input: .flat(4), probability: 0.5)
        let store = bind(drop)
        let before = store.context.dropoutRNG
        let x = makeTensor([2, 4], [1, 2, 3, 4, 5, 6, 7, 8])
        XCTAssertEqual(drop.forward(x, training: false).array, x.array)
        XCTAssertEqual(store.context.dropoutRNG, before, "evaluation draws nothing")
        let dx = Tensor(shape: [2, 4])
        drop.backward(x, inputGradient: dx)
        XCTAssertEqual(dx.array, x.array)
    }

    /// The checker rewinds the stream before every forward, so the masked function is fixed.
    func testGradientCheck() throws {
        let row = GradientCheck.check(layer: try Dropout(name: "d", input: .map(channels: 2, height: 3, width: 3), probability: 0.5),
                                      batch: 2, seed: 91)
        assertPassed(row)
    }

    func testProbabilityRange() {
        XCTAssertThrowsError(try Dropout(name: "d", input: .flat(4), probability: 1))
        XCTAssertThrowsError(try Dropout(name: "d", input: .flat(4), probability: -0.1))
    }
}
