import XCTest
@testable import Tensor

/// The AVX-512 batch-norm passes against the `Elementwise` loops they replace, on lengths that
/// leave vector tails (the kernels mask them) and with and without the fused ReLU's mask and a
/// residual. Sums agree to rounding (different lane counts), elementwise results to an ulp or
/// two (fused multiply-adds), the ReLU mask exactly.
final class BatchNormKernelTests: XCTestCase {
    private let counts = [1, 15, 16, 17, 511, 512, 513, 5000]

    private func random(_ n: Int, _ rng: inout SeededRNG, offset: Float = 0) -> [Float] {
        (0..<n).map { _ in rng.normal() + offset }
    }

    override func setUpWithError() throws {
        try XCTSkipUnless(BatchNormKernel.isAvailable, "the portable kernel path (\(KernelPath.describe())): only the Elementwise loops run")
    }

    func testShiftedSums() {
        var rng = SeededRNG(seed: 1)
        for n in counts {
            let x = random(n, &rng, offset: 3)
            let fast = BatchNormKernel.shiftedSums(x, shift: x[0], count: n)
            let slow = BatchNormKernel.shiftedSums(x, shift: x[0], count: n, scalar: true)
            XCTAssertEqual(fast.sum, slow.sum, accuracy: 1e-5 * Double(n), "n \(n)")
            XCTAssertEqual(fast.squares, slow.squares, accuracy: 1e-6 * max(1, slow.squares), "n \(n)")
        }
    }

    func testGradientSumsWithAndWithoutMask() {
        var rng = SeededRNG(seed: 2)
        for n in counts {
            let dy = random(n, &rng), x = random(n, &rng), y = random(n, &rng)
            for mask in [nil, y] {
                let fast = BatchNormKernel.gradientSums(dy, x, shift: 0.25, mask: mask, count: n)
                let slow = BatchNormKernel.gradientSums(dy, x, shift: 0.25, mask: mask, count: n, scalar: true)
                XCTAssertEqual(fast.sum, slow.sum, accuracy: 1e-5 * Double(n), "n \(n)")
                XCTAssertEqual(fast.dot, slow.dot, accuracy: 1e-5 * Double(n), "n \(n)")
            }
            // All masked out: exactly zero.
            let none = [Float](repeating: -1, count: n)
            let zero = BatchNormKernel.gradientSums(dy, x, shift: 0.25, mask: none, count: n)
            XCTAssertEqual(zero.sum, 0); XCTAssertEqual(zero.dot, 0)
        }
    }

    func testNormalizeAndInputGradient() {
        var rng = SeededRNG(seed: 3)
        for n in counts {
            let x = random(n, &rng), r = random(n, &rng), dy = random(n, &rng)
            for relu in [false, true] {
                for residual in [nil, r] {
                    var fast = [Float](repeating: .nan, count: n + 1), slow = fast
                    BatchNormKernel.normalize(x, residual: residual, &fast, count: n, a: 1.7, b: -0.3, relu: relu)
                    BatchNormKernel.normalize(x, residual: residual, &slow, count: n, a: 1.7, b: -0.3, relu: relu,
                                              scalar: true)
                    XCTAssertTrue(fast[n].isNaN, "wrote past the end")
                    for i in 0..<n { XCTAssertEqual(fast[i], slow[i], accuracy: 1e-6 * max(1, abs(slow[i]))) }
                    if relu { XCTAssertEqual(fast.prefix(n).map { $0 > 0 }, slow.prefix(n).map { $0 > 0 }) }
                }
            }
            for mask in [nil, r] {
                var fast = [Float](repeating: .nan, count: n + 1), slow = fast
                BatchNormKernel.inputGradient(dy, x, mask: mask, a: 0.8, k1: -0.05, k0: 0.01, &fast, count: n)
                BatchNormKernel.inputGradient(dy, x, mask: mask, a: 0.8, k1: -0.05, k0: 0.01, &slow, count: n, scalar: true)
                XCTAssertTrue(fast[n].isNaN, "wrote past the end")
                for i in 0..<n { XCTAssertEqual(fast[i], slow[i], accuracy: 1e-6 * max(1, abs(slow[i]))) }
            }
        }
    }

    /// The ReLU's gate recomputed from x (a x + b > 0) passes exactly the values the fused
    /// forward let through: the same sums and input gradient, bit for bit, as gating by its
    /// output, including values that land on 0 (x = 0.5 with a = 2, b = -1).
    func testReLUGateFromTheInputIsTheOutputsGate() {
        var rng = SeededRNG(seed: 11)
        let (a, b): (Float, Float) = (2, -1)
        for n in counts {
            var x = random(n, &rng, offset: 0.5)
            for i in stride(from: 0, to: n, by: 3) { x[i] = 0.5 }
            let dy = random(n, &rng)
            var y = [Float](repeating: 0, count: n)
            BatchNormKernel.normalize(x, residual: nil, &y, count: n, a: a, b: b, relu: true)
            let gated = BatchNormKernel.reluGradientSums(dy, x, a: a, b: b, shift: 0.25, count: n)
            let masked = BatchNormKernel.gradientSums(dy, x, shift: 0.25, mask: y, count: n)
            XCTAssertEqual(gated.sum.bitPattern, masked.sum.bitPattern, "n \(n)")
            XCTAssertEqual(gated.dot.bitPattern, masked.dot.bitPattern, "n \(n)")
            var fromInput = [Float](repeating: .nan, count: n), fromOutput = [Float](repeating: .nan, count: n)
            BatchNormKernel.reluInputGradient(dy, x, b: b, a: a, k1: 0.125, k0: -0.5, &fromInput, count: n)
            BatchNormKernel.inputGradient(dy, x, mask: y, a: a, k1: 0.125, k0: -0.5, &fromOutput, count: n)
            XCTAssertEqual(fromInput.map(\.bitPattern), fromOutput.map(\.bitPattern), "n \(n)")
        }
    }
}
