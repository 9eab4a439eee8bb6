import Platform
import XCTest
@testable import Tensor

/// GEMM against a naive triple loop in Double, for every transpose combination and odd shapes.
final class GEMMTests: XCTestCase {
    private func naive(_ ta: Bool, _ tb: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                       _ a: [Float], _ lda: Int, _ b: [Float], _ ldb: Int, _ beta: Float,
                       _ c: [Float], _ ldc: Int) -> [Float] {
        var out = c
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    let av = ta ? a[p * lda + i] : a[i * lda + p]
                    let bv = tb ? b[j * ldb + p] : b[p * ldb + j]
                    s += Double(av) * Double(bv)
                }
                out[i * ldc + j] = Float(Double(alpha) * s + Double(beta) * Double(c[i * ldc + j]))
            }
        }
        return out
    }

    func testAllTransposesAndOddShapes() {
        check(shapes: [(1, 1, 1), (3, 5, 7), (17, 1, 9), (1, 13, 4), (33, 29, 31), (64, 65, 66), (5, 7, 0)])
    }

    /// Products big enough to be split over the threads, along columns (n >= m) and rows,
    /// into 2 and 3 uneven parts.
    func testProductsSplitOverThreads() {
        let saved = BLASRuntime.threads
        defer { BLASRuntime.setThreads(saved) }
        for threads in [2, 3] {
            BLASRuntime.setThreads(threads)
            XCTAssertGreaterThanOrEqual(2 * 37 * 301 * 97, GEMM.splitAbove)
            check(shapes: [(37, 301, 97), (301, 37, 97)])
        }
    }

    private func check(shapes: [(Int, Int, Int)]) {
        var rng = SeededRNG(seed: 7)
        for (m, n, k) in shapes {
            for ta in [false, true] {
                for tb in [false, true] {
                    // Padded leading dimensions catch stride mix-ups.
                    let lda = (ta ? m : k) + 2, ldb = (tb ? k : n) + 1, ldc = n + 3
                    let a = (0..<((ta ? k : m) * lda)).map { _ in rng.normal() }
                    let b = (0..<((tb ? n : k) * ldb)).map { _ in rng.normal() }
                    let c0 = (0..<(m * ldc)).map { _ in rng.normal() }
                    let (alpha, beta): (Float, Float) = (0.75, -0.5)
                    var c = c0
                    a.withUnsafeBufferPointer { ap in
                        b.withUnsafeBufferPointer { bp in
                            c.withUnsafeMutableBufferPointer { cp in
                                GEMM.multiply(transposeA: ta, transposeB: tb, m: m, n: n, k: k, alpha: alpha,
                                              a: ap.baseAddress!, lda: lda, b: bp.baseAddress!, ldb: ldb,
                                              beta: beta, c: cp.baseAddress!, ldc: ldc)
                            }
                        }
                    }
                    let want = naive(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c0, ldc)
                    var maxErr: Float = 0
                    for i in 0..<m { for j in 0..<n { maxErr = max(maxErr, abs(c[i * ldc + j] - want[i * ldc + j])) } }
                    XCTAssertLessThan(maxErr, 1e-4 * Float(max(k, 1)).squareRoot(),
                                      "m=\(m) n=\(n) k=\(k) ta=\(ta) tb=\(tb)")
                }
            }
        }
    }
}
