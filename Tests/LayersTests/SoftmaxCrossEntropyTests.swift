import Foundation
import XCTest
import Layers
import Tensor

/// Softmax cross-entropy against the formula in Double, stability, accuracy count, gradients.
final class SoftmaxCrossEntropyTests: XCTestCase {
    func testMatchesFormulaAndCountsCorrect() {
        var rng = SeededRNG(seed: 111)
        let (n, k) = (5, 4)
        let z = randomValues(n * k, rng: &rng, scale: 2)
        let labels: [Int32] = [0, 3, 1, 1, 2]
        let loss = SoftmaxCrossEntropy(classes: k)
        let result = loss.forward(logits: makeTensor([n, k], z), labels: labels)
        var total = 0.0, correct = 0, grad = [Float]()
        for i in 0..<n {
            let row = z[(i * k)..<((i + 1) * k)].map(Double.init)
            let sum = row.map { Foundation.exp($0) }.reduce(0, +)
            total += Foundation.log(sum) - row[Int(labels[i])]
            if row.firstIndex(of: row.max()!)! == Int(labels[i]) { correct += 1 }
            for j in 0..<k { grad.append(Float((Foundation.exp(row[j]) / sum - (j == Int(labels[i]) ? 1 : 0)) / Double(n))) }
        }
        XCTAssertEqual(result.loss, total / Double(n), accuracy: 1e-6)
        XCTAssertEqual(result.correct, correct)
        assertClose(result.gradient.array, grad, atol: 1e-7, rtol: 1e-5, "dlogits")
        // [Int] labels give the same.
        XCTAssertEqual(loss.forward(logits: makeTensor([n, k], z), labels: labels.map(Int.init)).loss, result.loss)
    }

    func testHugeLogitsStayFinite() {
        let loss = SoftmaxCrossEntropy(classes: 3)
        let result = loss.forward(logits: makeTensor([2, 3], [1000, 0, -1000, -1000, 1000, 999]), labels: [0 as Int32, 2])
        // Sample 0 is certain and right (loss 0); sample 1: log(1 + e^-1) + 1.
        XCTAssertEqual(result.loss, (0 + (1 + Foundation.log(1 + Foundation.exp(-1.0)))) / 2, accuracy: 1e-6)
        XCTAssertEqual(result.correct, 1)
        XCTAssertTrue(result.gradient.array.allSatisfy { $0.isFinite })
    }

    func testGradientCheck() {
        assertPassed(GradientCheck.checkLoss(classes: 10, batch: 4, seed: 112))
    }
}
