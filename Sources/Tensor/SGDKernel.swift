import CKernels

/// The SGD update of Layers' `SGD`, vectorized with fused multiply-adds (CKernels) on the
/// AVX-512 kernel path (`KernelPath`). Bit-identical to the element-at-a-time loop: every
/// operation is the same single rounding (fmaf there, vfmadd here); only the libm call per
/// operation is gone.
public enum SGDKernel {
    public static var isAvailable: Bool { KernelPath.usesAVX512 }

    /// One step over n parameters; the arguments mean what `SGD.step` computes from its settings
    /// (nil: no weight decay, no momentum).
    public static func step(parameters p: UnsafeMutablePointer<Float>, gradients g: UnsafePointer<Float>,
                            momentumBuffer buffer: UnsafeMutablePointer<Float>, count n: Int,
                            negativeLearningRate: Float, weightDecay: Float?, momentum: Float?, keep: Float,
                            firstStep: Bool, nesterov: Bool) {
        ddp_sgd_step(p, g, buffer, n, negativeLearningRate, weightDecay ?? 0, weightDecay != nil ? 1 : 0,
                     momentum ?? 0, momentum != nil ? 1 : 0, keep, firstStep ? 1 : 0, nesterov ? 1 : 0)
    }
}
