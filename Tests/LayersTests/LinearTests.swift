import XCTest
import Layers
import Tensor

/// Linear against a naive matrix product (forward and gradients) and the gradient checker.
final class LinearTests: XCTestCase {
    func testForwardAndBackwardMatchNaive() throws {
        var rng = SeededRNG(seed: 41)
        for (n, fin, fout, hasBias) in [(3, 7, 5, true), (1, 4, 9, false), (6, 33, 10, true)] {
            let fc = try Linear(name: "fc", input: .flat(fin), outFeatures: fout, bias: hasBias)
            let store = bind(fc)
            if hasBias { for j in 0..<fout { store.parameterViews(ofLayer: 0)[1].value[j] = rng.normal() } }
            let p = parameterArrays(store)
            let x = randomValues(n * fin, rng: &rng)
            let y = fc.forward(makeTensor([n, fin], x), training: true)
            var ref = [Float](repeating: 0, count: n * fout)
            for i in 0..<n { for o in 0..<fout {
                var s = Double(hasBias ? p[1][o] : 0)
                for k in 0..<fin { s += Double(x[i * fin + k]) * Double(p[0][o * fin + k]) }
                ref[i * fout + o] = Float(s)
            } }
            XCTAssertEqual(y.shape, [n, fout])
            assertClose(y.array, ref, "linear \(fin)->\(fout) forward")

            let dy = randomValues(n * fout, rng: &rng)
            let dx = Tensor(shape: [n, fin])
            fc.backward(makeTensor([n, fout], dy), inputGradient: dx)
            var dW = [Float](repeating: 0, count: fout * fin), db = [Float](repeating: 0, count: fout)
            var dX = [Float](repeating: 0, count: n * fin)
            for i in 0..<n { for o in 0..<fout {
                let g = dy[i * fout + o]
                db[o] += g
                for k in 0..<fin { dW[o * fin + k] += g * x[i * fin + k]; dX[i * fin + k] += g * p[0][o * fin + k] }
            } }
            let grads = gradientArrays(store)
            assertClose(grads[0], dW, "dW"); assertClose(dx.array, dX, "dx")
            if hasBias { assertClose(grads[1], db, "db") }
        }
    }

    func testGradientCheck() throws {
        assertPassed(GradientCheck.check(layer: try Linear(name: "fc", input: .flat(12), outFeatures: 7), batch: 3, seed: 42))
        assertPassed(GradientCheck.check(layer: try Linear(name: "fc", input: .flat(5), outFeatures: 3, bias: false), batch: 2, seed: 43))
    }

    func testRejectsFeatureMaps() {
        XCTAssertThrowsError(try Linear(name: "5", input: .map(channels: 2, height: 3, width: 3), outFeatures: 4)) {
            XCTAssertTrue("\($0)".contains("flatten or gap"), "\($0)")
        }
    }
}
