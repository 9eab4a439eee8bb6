import CBLAS
import Platform

/// The one door to BLAS: every matrix product in ddp goes through here.
public enum GEMM {
    /// C = alpha * op(A) * op(B) + beta * C, all row-major.
    ///
    /// op(A) is m x k, op(B) is k x n, C is m x n. `lda`, `ldb`, `ldc` are the row strides of
    /// A, B and C as stored (so for a transposed A stored k x m, lda >= m).
    @inline(__always)
    public static func multiply(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            // BLAS would only scale C; keep the definition exact without calling it.
            for i in 0..<m {
                let row = c + i * ldc
                for j in 0..<n { row[j] = beta == 0 ? 0 : beta * row[j] }
            }
            return
        }
        let ta = transposeA ? CblasTrans : CblasNoTrans, tb = transposeB ? CblasTrans : CblasNoTrans
        // OpenBLAS runs single-threaded (see BLASRuntime.threads): the product is split over
        // ddp's threads instead, along the longer side of C, rows or columns, when it is big
        // enough to pay for the hand-off.
        let threads = 2 &* m &* n &* k >= splitAbove ? BLASRuntime.threads : 1
        if n >= m {
            Parallel.forEach(count: n, threads: threads) { _, columns in
                let j = columns.lowerBound
                cblas_sgemm(CblasRowMajor, ta, tb, Int32(m), Int32(columns.count), Int32(k), alpha, a, Int32(lda),
                            b + (transposeB ? j &* ldb : j), Int32(ldb), beta, c + j, Int32(ldc))
            }
        } else {
            Parallel.forEach(count: m, threads: threads) { _, rows in
                let i = rows.lowerBound
                cblas_sgemm(CblasRowMajor, ta, tb, Int32(rows.count), Int32(n), Int32(k), alpha,
                            a + (transposeA ? i : i &* lda), Int32(lda), b, Int32(ldb), beta, c + i &* ldc, Int32(ldc))
            }
        }
    }

    /// `count` independent products C_i = op(A_i) op(B_i) + beta C_i, operand i at `a + i * strideA`,
    /// `b + i * strideB`, `c + i * strideC` (the same sizes and strides otherwise): the batched
    /// products of the Winograd transform domain. Each product is too small to split well, so
    /// the threads take whole products instead (each result is still one sgemm's, whatever the
    /// thread count). `threads: 1` keeps them on the calling thread, for a caller that shares
    /// out its work itself.
    public static func multiplyBatch(
        count: Int, transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int, strideA: Int, b: UnsafePointer<Float>, ldb: Int, strideB: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, strideC: Int, threads: Int = BLASRuntime.threads
    ) {
        if count == 0 || m == 0 || n == 0 { return }
        let threads = 2 &* m &* n &* k &* count >= splitAbove ? threads : 1
        let ta = transposeA ? CblasTrans : CblasNoTrans, tb = transposeB ? CblasTrans : CblasNoTrans
        Parallel.forEach(count: count, threads: threads) { _, products in
            for i in products {
                if k == 0 {
                    multiply(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: 0, a: a, lda: lda, b: b,
                             ldb: ldb, beta: beta, c: c + i &* strideC, ldc: ldc)
                    continue
                }
                cblas_sgemm(CblasRowMajor, ta, tb, Int32(m), Int32(n), Int32(k), 1, a + i &* strideA, Int32(lda),
                            b + i &* strideB, Int32(ldb), beta, c + i &* strideC, Int32(ldc))
            }
        }
    }

    /// Products of fewer FLOPs run whole on the calling thread.
    static let splitAbove = 1 << 21
}
