import CKernels
import Foundation

/// Which code runs ddp's hot loops on this process: its own AVX-512 kernels (CKernels: the 3x3
/// convolution, batch norm's passes, 2x2 max pooling, the SGD update) or the portable code a
/// CPU without AVX-512 runs (im2col + BLAS, Swift loops). Chosen once, at the first use.
///
/// `DDP_KERNELS=portable` forces the portable code where the AVX-512 kernels could run, so the
/// path of an older node is tested and measured on any machine; `DDP_KERNELS=avx512` insists on
/// the kernels (refused by `validateEnvironment` where the CPU lacks them). Both paths compute
/// the same functions; they differ in rounding (the order of sums), except the SGD update,
/// which is bit-identical on both. Mixed clusters stay in lock-step for that reason: every rank
/// applies the same allreduced gradient with the same update, whichever path computed its share.
public enum KernelPath: String, Sendable, CaseIterable {
    case avx512, portable

    public static let variable = "DDP_KERNELS"

    /// The path this process runs.
    public static let current: KernelPath = choose(requested: ProcessInfo.processInfo.environment[variable],
                                                   cpuHasAVX512: cpuHasAVX512).path

    /// Whether this CPU can run the AVX-512 kernels (AVX-512 F, which implies FMA).
    public static let cpuHasAVX512 = ddp_avx512_available() != 0

    /// True when ddp's own AVX-512 kernels run.
    public static var usesAVX512: Bool { current == .avx512 }

    /// The path for a `DDP_KERNELS` value on a CPU, and why; `error` is set for a value that is
    /// not a path or that asks for kernels the CPU lacks (the path then falls back to portable).
    public static func choose(requested: String?, cpuHasAVX512: Bool) -> (path: KernelPath, reason: String, error: String?) {
        let auto: KernelPath = cpuHasAVX512 ? .avx512 : .portable
        let cpu = cpuHasAVX512 ? "this CPU has AVX-512" : "no AVX-512 on this CPU"
        guard let requested, !requested.isEmpty else { return (auto, cpu, nil) }
        guard let path = KernelPath(rawValue: requested) else {
            return (auto, cpu, "\(variable) must be one of \(allCases.map(\.rawValue).joined(separator: ", ")) (got '\(requested)')")
        }
        if path == .avx512 && !cpuHasAVX512 {
            return (.portable, cpu, "\(variable)=avx512 asks for AVX-512 kernels, but this CPU has no AVX-512 (unset it, or use portable)")
        }
        return (path, "\(variable)=\(requested)", nil)
    }

    /// Throws the line to print when `DDP_KERNELS` is set to something this process cannot do.
    public static func validateEnvironment() throws {
        if let error = choose(requested: ProcessInfo.processInfo.environment[variable], cpuHasAVX512: cpuHasAVX512).error {
            throw KernelPathError(message: error)
        }
    }

    /// One line for `ddp info` and the start banner, e.g. "avx512 (this CPU has AVX-512)".
    public static func describe() -> String {
        let reason = choose(requested: ProcessInfo.processInfo.environment[variable], cpuHasAVX512: cpuHasAVX512).reason
        switch current {
        case .avx512: return "avx512: ddp's AVX-512 kernels for 3x3 convolutions, batch norm, 2x2 max pooling, SGD (\(reason))"
        case .portable: return "portable: im2col + BLAS and Swift loops (\(reason))"
        }
    }
}

/// A `DDP_KERNELS` value this process cannot honour.
public struct KernelPathError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
