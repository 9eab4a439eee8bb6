import Tensor

/// The arithmetic of a model's convolutions (`--precision`).
///
///     fp32   everything in Float32
///     bf16   the 3x3 convolutions on the direct kernels, and 3x3 stride-2 ones, multiply
///            bf16 operands (the activations, output gradients and weights rounded to their
///            top 16 bits) and sum in Float32: forward, input gradient and weight gradient
///            (`BF16DirectConvolution`, `BF16StridedConvolution`). The weights the optimizer updates, the gradients it
///            reads and the allreduce carries, batch norm and its statistics, the linear
///            layers and every other convolution stay Float32.
///
/// This is mixed precision as PyTorch's autocast does it for convolutions, with FP32 master
/// weights; no loss scaling is needed, since bf16 has Float32's exponent range. bf16 needs
/// AVX512_BF16 (Zen 4, Cooper Lake, Sapphire Rapids) and is refused elsewhere (`problem`).
public enum Precision: String, Codable, Sendable, CaseIterable {
    case fp32, bf16

    /// The line that refuses `self` on this process, or nil when it can run.
    public var problem: String? {
        guard self == .bf16, !BF16DirectConvolution.isAvailable else { return nil }
        if BF16DirectConvolution.cpuHasBF16 {
            return "--precision bf16 runs on ddp's AVX-512 kernels, which \(KernelPath.variable)=\(KernelPath.current.rawValue) turns off"
        }
        return "--precision bf16 needs a CPU with AVX512_BF16 (AMD Zen 4, Intel Cooper Lake, Sapphire Rapids or later); "
            + "this one lacks it (ddp info lists its SIMD flags): use --precision fp32"
    }
}
