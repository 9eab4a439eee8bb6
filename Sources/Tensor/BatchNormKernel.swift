import CKernels

/// Batch normalization's passes over one channel (Layers' `BatchNorm2d`): on the AVX-512 kernel
/// path (`KernelPath`) the CKernels versions (16 lanes, fused multiply-adds), elsewhere the
/// `Elementwise` loops (8 lanes, the baseline x86-64 or ARM build). The two agree to rounding: both sum in Float
/// lanes over blocks of 512 values and add the block totals in Double. `scalar: true` takes
/// the `Elementwise` loops anyway (tests compare the two).
public enum BatchNormKernel {
    public static var isAvailable: Bool { KernelPath.usesAVX512 }

    /// Sum of (x - shift) and sum of (x - shift)^2, in one pass.
    public static func shiftedSums(_ x: UnsafePointer<Float>, shift: Float, count: Int,
                                   scalar: Bool = false) -> (sum: Double, squares: Double) {
        guard isAvailable && !scalar else { return Elementwise.shiftedSums(x, shift: shift, count: count) }
        var sums = (0.0, 0.0)
        withUnsafeMutableBytes(of: &sums) { ddp_bn_shifted_sums(x, count, shift, $0.baseAddress!.assumingMemoryBound(to: Double.self)) }
        return sums
    }

    /// y = [max(0,] a x + b [+ residual][)].
    public static func normalize(_ x: UnsafePointer<Float>, residual: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>,
                                 count: Int, a: Float, b: Float, relu: Bool, scalar: Bool = false) {
        if isAvailable && !scalar {
            ddp_bn_normalize(x, residual, y, count, a, b, relu ? 1 : 0)
            return
        }
        if let r = residual {
            if relu {
                for i in 0..<count { let v = x[i] * a + b + r[i]; y[i] = v > 0 ? v : 0 }
            } else {
                for i in 0..<count { y[i] = x[i] * a + b + r[i] }
            }
        } else if relu {
            for i in 0..<count { let v = x[i] * a + b; y[i] = v > 0 ? v : 0 }
        } else {
            for i in 0..<count { y[i] = x[i] * a + b }
        }
    }

    /// Sum of g and sum of (x - shift) * g, where g = dy, masked (dy where mask > 0, else 0)
    /// when a fused ReLU's output is given.
    public static func gradientSums(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, shift: Float,
                                    mask: UnsafePointer<Float>?, count: Int, scalar: Bool = false) -> (sum: Double, dot: Double) {
        guard isAvailable && !scalar else {
            return Elementwise.sumAndShiftedDot(dy, x, shift: shift, mask: mask, count: count)
        }
        var sums = (0.0, 0.0)
        withUnsafeMutableBytes(of: &sums) {
            ddp_bn_gradient_sums(dy, x, mask, count, shift, $0.baseAddress!.assumingMemoryBound(to: Double.self))
        }
        return sums
    }

    /// `gradientSums` behind a fused ReLU whose gate is recomputed from x: g = dy where
    /// a x + b > 0, the forward's own fused multiply-add in `normalize` (without a residual, the
    /// same a and b), so exactly the values the ReLU let through, without reading its output.
    /// AVX-512 path only (`isAvailable`).
    public static func reluGradientSums(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, a: Float, b: Float,
                                        shift: Float, count: Int) -> (sum: Double, dot: Double) {
        precondition(isAvailable, "BatchNormKernel: the ReLU's gate is recomputed on the AVX-512 path only")
        var sums = (0.0, 0.0)
        withUnsafeMutableBytes(of: &sums) {
            ddp_bn_relu_gradient_sums(dy, x, count, a, b, shift, $0.baseAddress!.assumingMemoryBound(to: Double.self))
        }
        return sums
    }

    /// `inputGradient` with g as in `reluGradientSums` (the ReLU's a x + b, its a the same as
    /// dx's). AVX-512 path only.
    public static func reluInputGradient(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, b: Float, a: Float,
                                         k1: Float, k0: Float, _ dx: UnsafeMutablePointer<Float>, count: Int) {
        precondition(isAvailable, "BatchNormKernel: the ReLU's gate is recomputed on the AVX-512 path only")
        ddp_bn_relu_input_gradient(dy, x, count, b, a, k1, k0, dx)
    }

    /// dx = a g + k1 x + k0, g as in `gradientSums`.
    public static func inputGradient(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, mask: UnsafePointer<Float>?,
                                     a: Float, k1: Float, k0: Float, _ dx: UnsafeMutablePointer<Float>, count: Int,
                                     scalar: Bool = false) {
        guard isAvailable && !scalar else {
            Elementwise.batchNormInputGradient(outputGradient: dy, input: x, mask: mask, a: a, k1: k1, k0: k0,
                                               inputGradient: dx, count: count)
            return
        }
        ddp_bn_input_gradient(dy, x, mask, count, a, k1, k0, dx)
    }
}
