import Platform

/// A row-major sgemm with `GEMM.multiply`'s parameters, in its order: transposeA, transposeB,
/// m, n, k, alpha, a, lda, b, ldb, beta, c, ldc. `BLASVerification.run` takes one so a test can
/// hand it a deliberately wrong product.
public typealias SGEMMFunction = (
    Bool, Bool, Int, Int, Int, Float, UnsafePointer<Float>, Int, UnsafePointer<Float>, Int, Float,
    UnsafeMutablePointer<Float>, Int
) -> Void

extension BLASVerification {
    /// Checks a 67 x 71 x 73 sgemm (odd sizes so no kernel's blocking divides them; padded
    /// leading dimensions; alpha 0.75, beta -0.5) in all four transpose cases against a naive
    /// Double loop, and that nothing outside C's m x n block was written.
    public static func run(sgemm: SGEMMFunction = {
        GEMM.multiply(transposeA: $0, transposeB: $1, m: $2, n: $3, k: $4, alpha: $5,
                      a: $6, lda: $7, b: $8, ldb: $9, beta: $10, c: $11, ldc: $12)
    }) -> BLASVerification {
        let m = 67, n = 71, k = 73
        let alpha: Float = 0.75, beta: Float = -0.5
        var rng = SeededRNG(seed: 0x0B1A_5C0E)
        var worst = 0.0
        var worstCase = "A B"
        for transposeA in [false, true] {
            for transposeB in [false, true] {
                let lda = (transposeA ? m : k) + 3, rowsA = transposeA ? k : m
                let ldb = (transposeB ? k : n) + 3, rowsB = transposeB ? n : k
                let ldc = n + 3
                let a = (0..<(rowsA * lda)).map { _ in 2 * rng.uniform() - 1 }
                let b = (0..<(rowsB * ldb)).map { _ in 2 * rng.uniform() - 1 }
                let c0 = (0..<(m * ldc)).map { _ in 2 * rng.uniform() - 1 }
                var c = c0
                a.withUnsafeBufferPointer { ap in
                    b.withUnsafeBufferPointer { bp in
                        c.withUnsafeMutableBufferPointer { cp in
                            sgemm(transposeA, transposeB, m, n, k, alpha, ap.baseAddress!, lda,
                                  bp.baseAddress!, ldb, beta, cp.baseAddress!, ldc)
                        }
                    }
                }
                let error = a.withUnsafeBufferPointer { ap in
                    b.withUnsafeBufferPointer { bp in
                        c.withUnsafeBufferPointer { cp in
                            c0.withUnsafeBufferPointer { c0p in
                                scaledError(m: m, n: n, k: k, alpha: alpha, beta: beta,
                                            a: ap, lda: lda, transposeA: transposeA,
                                            b: bp, ldb: ldb, transposeB: transposeB,
                                            c: cp, c0: c0p, ldc: ldc)
                            }
                        }
                    }
                }
                if error > worst {
                    worst = error
                    worstCase = (transposeA ? "A^T " : "A ") + (transposeB ? "B^T" : "B")
                }
            }
        }
        return BLASVerification(maxError: worst, passed: worst <= BLASRuntime.verificationTolerance, worstCase: worstCase)
    }

    /// Max over C of the error against the Double reference, scaled by the magnitude of the
    /// terms summed; infinity for NaN or for a write into C's padding.
    private static func scaledError(
        m: Int, n: Int, k: Int, alpha: Float, beta: Float,
        a: UnsafeBufferPointer<Float>, lda: Int, transposeA: Bool,
        b: UnsafeBufferPointer<Float>, ldb: Int, transposeB: Bool,
        c: UnsafeBufferPointer<Float>, c0: UnsafeBufferPointer<Float>, ldc: Int
    ) -> Double {
        let al = Double(alpha), be = Double(beta)
        var worst = 0.0
        for i in 0..<m {
            for j in 0..<ldc {
                let index = i &* ldc &+ j
                if j >= n {
                    if c[index].bitPattern != c0[index].bitPattern { return .infinity }
                    continue
                }
                var sum = 0.0, magnitude = 0.0
                for p in 0..<k {
                    let av = Double(transposeA ? a[p &* lda &+ i] : a[i &* lda &+ p])
                    let bv = Double(transposeB ? b[j &* ldb &+ p] : b[p &* ldb &+ j])
                    sum += av * bv
                    magnitude += abs(av * bv)
                }
                let reference = al * sum + be * Double(c0[index])
                let scale = abs(al) * magnitude + abs(be * Double(c0[index]))
                let error = abs(Double(c[index]) - reference) / max(scale, .leastNormalMagnitude)
                if error.isNaN { return .infinity }
                worst = max(worst, error)
            }
        }
        return worst
    }
}
