import XCTest
import Tensor

/// `clipNorm`, the arithmetic behind `ddp train --clip-grad-norm`.
final class TensorReductionsTests: XCTestCase {
    private func tensor(_ values: [Float]) -> Tensor {
        let t = Tensor(shape: [values.count])
        for (i, v) in values.enumerated() { t[i] = v }
        return t
    }

    private func norm(_ t: Tensor) -> Double { (0..<t.count).reduce(0.0) { $0 + Double(t[$1]) * Double(t[$1]) }.squareRoot() }

    func testAboveTheLimitScalesToTheLimitKeepingTheDirection() {
        let values: [Float] = [3, -4, 12, 0, 0.5]  // norm sqrt(169.25) = 13.0096...
        let t = tensor(values)
        let before = t.clipNorm(to: 2)
        XCTAssertEqual(Double(before), 169.25.squareRoot(), accuracy: 1e-5)
        // torch's rule scales by max / (norm + 1e-6): the result is the limit to within 1e-6 / norm.
        XCTAssertEqual(norm(t), 2, accuracy: 2e-6)
        for (i, v) in values.enumerated() {
            XCTAssertEqual(Double(t[i]), Double(v) * 2 / 169.25.squareRoot(), accuracy: 1e-6, "element \(i)")
        }
    }

    func testBelowTheLimitLeavesTheTensorAlone() {
        let values: [Float] = [0.3, -0.4, 0.1]
        let t = tensor(values)
        XCTAssertEqual(Double(t.clipNorm(to: 1)), 0.26.squareRoot(), accuracy: 1e-6)
        XCTAssertEqual((0..<t.count).map { t[$0] }, values, "bit for bit")
        // Also a limit only just above the norm.
        _ = t.clipNorm(to: Float(0.26.squareRoot()) * 1.0001)
        XCTAssertEqual((0..<t.count).map { t[$0] }, values)
    }
}
