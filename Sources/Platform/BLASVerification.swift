/// The outcome of the start-up sgemm check (`BLASVerification.run`, in Tensor, which owns GEMM).
public struct BLASVerification: Equatable, Sendable {
    /// Largest |C - reference| / (|alpha| * sum_p |a_ip * b_pj| + |beta * c0_ij|) over all
    /// four transpose cases; infinity if a product wrote outside C's m x n block.
    public var maxError: Double
    /// `maxError <= BLASRuntime.verificationTolerance`.
    public var passed: Bool
    /// The transpose case with the largest error, e.g. "A^T B".
    public var worstCase: String

    public init(maxError: Double, passed: Bool, worstCase: String) {
        self.maxError = maxError; self.passed = passed; self.worstCase = worstCase
    }
}
