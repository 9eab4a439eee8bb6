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

    /// Label smoothing 0.1 against PyTorch's definition of `F.cross_entropy(z, y,
    /// label_smoothing=0.1)` (target (1 - e) onehot + e / K, mean over the batch), evaluated in
    /// float64 with NumPy and rounded to 8 digits.
    func testLabelSmoothingMatchesPyTorchsDefinition() {
        let z: [Float] = [1.5, -0.5, 0.25, 2.0, 0.0, 3.0, -1.0, 0.5, -2.0, 0.5, 0.5, 1.0]
        let labels: [Int32] = [3, 0, 2]
        let result = SoftmaxCrossEntropy(classes: 4, labelSmoothing: 0.1).forward(logits: makeTensor([3, 4], z), labels: labels)
        XCTAssertEqual(result.loss, 1.72821997, accuracy: 1e-6)
        let expected: [Float] = [0.10022445, 0.00635836, 0.02276899, -0.12935181, -0.29390465, 0.28147444,
                                 -0.00302532, 0.01545554, -0.00099935, 0.08101286, -0.21898714, 0.13897363]
        assertClose(result.gradient.array, expected, atol: 1e-7, rtol: 1e-5, "dlogits")
        XCTAssertEqual(result.correct, 1, "smoothing changes the loss, not which class is predicted")
        // Smoothing 0 is the plain loss and gradient, to the bit.
        let plain = SoftmaxCrossEntropy(classes: 4).forward(logits: makeTensor([3, 4], z), labels: labels)
        let plainLoss = plain.loss, plainGradient = plain.gradient.array
        let zero = SoftmaxCrossEntropy(classes: 4, labelSmoothing: 0).forward(logits: makeTensor([3, 4], z), labels: labels)
        XCTAssertEqual(zero.loss, plainLoss)
        XCTAssertEqual(zero.gradient.array, plainGradient)
    }

    func testGradientCheck() {
        assertPassed(GradientCheck.checkLoss(classes: 10, batch: 4, seed: 112))
    }
}
