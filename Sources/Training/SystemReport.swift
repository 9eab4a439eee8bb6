import AllReduce
import Formats
import Foundation
import Layers
import Platform
import Tensor

/// What this process runs on, as `ddp info` prints it (a table, or one JSON line whose keys are
/// the CodingKeys); known without MPI_Init.
public struct SystemReport: Encodable {
    let mpiLibrary: String
    public let rank: Int
    let ranks: Int
    let localRanks: Int
    let blasLibrary: String
    let blasConfig: String
    let blasCore: String
    let blasCoreSummary: String
    let blasCorrected: Bool
    let blasOriginalCore: String?
    let blasFellBack: Bool
    let blasAttemptedCore: String?
    let blasUserSet: Bool
    let blasAutocoreDisabled: Bool
    let blasVerified: Bool
    let blasVerifyMaxError: Double?
    let blasThreads: Int
    let blasThreadsSource: String
    let convolutions: String
    let kernels: String
    /// What `--precision` can be here.
    let precisions: String
    let cpuModel: String
    let cpuVendor: String
    let cpuFamily: Int?
    let cpuModelNumber: Int?
    let cpuLogical: Int
    let cpuCores: Int?
    let cpuAllowed: Int
    let cpuLevel: String
    let cpuFlags: [String: Bool]
    let cpuSource: String

    enum CodingKeys: String, CodingKey {
        case mpiLibrary = "mpi_library", rank, ranks, localRanks = "local_ranks"
        case blasLibrary = "blas_library", blasConfig = "blas_config", blasCore = "blas_core"
        case blasCoreSummary = "blas_core_summary", blasCorrected = "blas_corrected"
        case blasOriginalCore = "blas_original_core", blasFellBack = "blas_fell_back"
        case blasAttemptedCore = "blas_attempted_core", blasUserSet = "blas_user_set"
        case blasAutocoreDisabled = "blas_autocore_disabled", blasVerified = "blas_verified"
        case blasVerifyMaxError = "blas_verify_max_error", blasThreads = "blas_threads"
        case blasThreadsSource = "blas_threads_source", convolutions, kernels, precisions
        case cpuModel = "cpu_model", cpuVendor = "cpu_vendor", cpuFamily = "cpu_family"
        case cpuModelNumber = "cpu_model_number", cpuLogical = "cpu_logical", cpuCores = "cpu_cores"
        case cpuAllowed = "cpu_allowed", cpuLevel = "cpu_level", cpuFlags = "cpu_flags"
        case cpuSource = "cpu_source"
    }

    public static func current() -> SystemReport {
        let launch = MPILaunchEnvironment.current
        let blas = BLASRuntime.status
        let cpu = CPUInfo.current()
        return SystemReport(
            mpiLibrary: MPILibrary.version(),
            rank: launch?.rank ?? 0, ranks: launch?.size ?? 1, localRanks: launch?.localSize ?? 1,
            blasLibrary: blas.libraryVersion, blasConfig: blas.config, blasCore: blas.coreName,
            blasCoreSummary: blas.coreSummary, blasCorrected: blas.corrected,
            blasOriginalCore: blas.originalCore, blasFellBack: blas.fellBack,
            blasAttemptedCore: blas.attemptedCore, blasUserSet: blas.userSet,
            blasAutocoreDisabled: blas.autoCoreDisabled, blasVerified: blas.verified,
            blasVerifyMaxError: blas.verifyMaxError, blasThreads: blas.threads,
            blasThreadsSource: blas.threadsSource, convolutions: ConvolutionChoice.describe(),
            kernels: KernelPath.describe(), precisions: describePrecisions(),
            cpuModel: cpu.modelName, cpuVendor: cpu.vendor, cpuFamily: cpu.family,
            cpuModelNumber: cpu.model, cpuLogical: cpu.logicalCPUs, cpuCores: cpu.physicalCores,
            cpuAllowed: cpu.allowedCPUs, cpuLevel: BLASKernelLevel(cpu: cpu).description,
            cpuFlags: Dictionary(uniqueKeysWithValues: cpu.relevantFlagStates.map { ($0.flag, $0.present) }),
            cpuSource: cpu.source)
    }

    /// "fp32, bf16 (...)" or "fp32 (bf16: why not)".
    static func describePrecisions() -> String {
        if let problem = Precision.bf16.problem { return "fp32 (not bf16: \(problem.replacingOccurrences(of: "--precision bf16 ", with: "")))" }
        return "fp32, bf16 (--precision bf16: the direct 3x3 kernels multiply bf16 operands with VDPBF16PS, sums in FP32)"
    }

    public func jsonLine() throws -> String { try JSONLine.encode(self) }

    public func table() -> String {
        let flagText = CPUInfo.relevantFlags.map { cpuFlags[$0] == true ? $0 : "-\($0)" }.joined(separator: " ")
        let cpuID = [cpuVendor.isEmpty ? nil : cpuVendor,
                     cpuFamily.map { "family \($0)" }, cpuModelNumber.map { "model \($0)" }]
            .compactMap { $0 }.joined(separator: ", ")
        let errorText = blasVerifyMaxError.map { String(format: "; max scaled error %.1e (tolerance %.0e)", $0, BLASRuntime.verificationTolerance) } ?? ""
        return TextTable([.left, .left], separator: "  ").text([
            ["MPI library", mpiLibrary],
            ["ranks", "\(ranks) (\(localRanks) on this node)"],
            ["BLAS library", blasLibrary],
            ["BLAS core", blasCoreSummary + errorText],
            ["BLAS threads", "\(blasThreads) (\(blasThreadsSource))"],
            ["BLAS config", blasConfig],
            ["kernels", kernels],
            ["convolutions", convolutions],
            ["precisions", precisions],
            ["CPU", cpuModel + (cpuID.isEmpty ? "" : " (\(cpuID))")],
            ["CPU cores", "\(cpuCores.map { "\($0) physical, " } ?? "")\(cpuLogical) logical, \(cpuAllowed) allowed for this process"],
            ["CPU SIMD", "\(cpuLevel): \(flagText)"],
        ])
    }
}
