import Platform
import XCTest
@testable import Tensor

/// The start-up sgemm check must pass real BLAS and an honest Float naive loop, and catch wrong
/// products.
final class BLASVerificationTests: XCTestCase {
    /// A naive row-major sgemm in Float: a different summation order than any BLAS kernel,
    /// so it shows the tolerance admits honest rounding. `mutate` lets a test break it.
    private func naiveSGEMM(
        dropLastTerm: Bool = false, ignoreTransposeA: Bool = false, ignoreBeta: Bool = false,
        scaleBy factor: Float = 1, touchPadding: Bool = false, nan: Bool = false
    ) -> SGEMMFunction {
        return { ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc in
            let ta = ignoreTransposeA ? false : ta
            for i in 0..<m {
                for j in 0..<n {
                    var s: Float = 0
                    for p in 0..<(dropLastTerm ? k - 1 : k) {
                        s += (ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? b[j * ldb + p] : b[p * ldb + j])
                    }
                    let old = ignoreBeta ? 0 : beta * c[i * ldc + j]
                    c[i * ldc + j] = (alpha * s + old) * factor
                }
                if touchPadding { c[i * ldc + n] += 1 }
            }
            if nan { c[5 * ldc + 7] = .nan }
        }
    }

    func testVerificationPassesBLASAndAnHonestNaiveLoop() {
        let blas = BLASVerification.run()
        XCTAssertTrue(blas.passed, "OpenBLAS core \(BLASRuntime.runningCore): \(blas)")
        XCTAssertLessThan(blas.maxError, 1e-5)
        let naive = BLASVerification.run(sgemm: naiveSGEMM())
        XCTAssertTrue(naive.passed, "\(naive)")
        XCTAssertGreaterThan(naive.maxError, 0, "a Float loop cannot match Double exactly: the check must measure something")
    }

    func testVerificationCatchesWrongProducts() {
        let wrong: [(String, SGEMMFunction)] = [
            ("drops one k term", naiveSGEMM(dropLastTerm: true)),
            ("ignores transposeA", naiveSGEMM(ignoreTransposeA: true)),
            ("ignores beta", naiveSGEMM(ignoreBeta: true)),
            ("off by 0.1%", naiveSGEMM(scaleBy: 1.001)),
            ("writes into C's padding", naiveSGEMM(touchPadding: true)),
            ("produces a NaN", naiveSGEMM(nan: true)),
            ("does nothing", { _, _, _, _, _, _, _, _, _, _, _, _, _ in }),
        ]
        for (what, sgemm) in wrong {
            let result = BLASVerification.run(sgemm: sgemm)
            XCTAssertFalse(result.passed, "a product that \(what) passed: \(result)")
        }
        XCTAssertEqual(BLASVerification.run(sgemm: naiveSGEMM(ignoreTransposeA: true)).worstCase.prefix(3), "A^T")
    }
}
