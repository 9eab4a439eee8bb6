import AllReduce
import ArgumentParser
import Foundation
import Layers
import Platform
import Tensor
import Training

/// `ddp info`: what this process runs on. Everything here is known without MPI_Init, so it
/// works alone or under mpirun (where rank 0 reports unless --all-ranks is given). With
/// `--model M`, the layers of a model instead.
struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Show the MPI library, ranks, BLAS kernel and threads, ddp's kernel path, and the CPU.",
        discussion: """
            The BLAS core line says whether ddp corrected OpenBLAS's kernel choice at start-up \
            (set OPENBLAS_CORETYPE yourself to choose, or DDP_BLAS_AUTOCORE=0 to keep OpenBLAS's \
            own choice) and whether the start-up sgemm check passed. The convolutions line says \
            whether 3x3 layers run ddp's direct AVX-512 kernels (DDP_CONV=im2col forces im2col + BLAS). \
            The kernels line says which code runs convolutions, batch norm, pooling and the SGD \
            update: ddp's AVX-512 kernels or the portable code of a CPU without them \
            (DDP_KERNELS=portable forces it, e.g. to test or time an older node's path).

            --model M prints the model's layers instead: each layer's state-dict name, kind, output \
            shape per sample and parameters, and the totals (for a training run's own data: \
            ddp train --summary).
            """)

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    @Flag(help: "Under mpirun, report from every rank instead of rank 0 only.")
    var allRanks = false

    @Option(help: ArgumentHelp("Print this model's layers: a preset or a spec string.", discussion: ModelSpec.help))
    var model: String?

    @Option(help: "With --model: the input shape CxHxW.")
    var input = "1x28x28"

    @Option(help: "With --model: the number of classes.")
    var classes: Int = 10

    private var inputShape: [Int]? {
        let dims = input.split(separator: "x").compactMap { Int($0) }
        return dims.count == 3 && dims.allSatisfy { $0 > 0 } ? dims : nil
    }

    func validate() throws {
        guard inputShape != nil else { throw ValidationError("--input must look like 1x28x28 (got \(input))") }
        if classes < 2 { throw ValidationError("--classes must be at least 2 (got \(classes))") }
        if let model, let p = KnownName.modelProblem(model) { throw ValidationError(p) }
    }

    func run() throws {
        if let model {
            let built = try ModelTable.build(model, input: inputShape!, classes: classes)
            print(json ? ModelTable.jsonLines(built) : ModelTable.text(built))
            return
        }
        let report = InfoReport.current()
        guard allRanks || report.rank == 0 else { return }
        print(json ? try report.jsonLine() : report.table())
    }
}

/// The facts `ddp info` prints; the JSON keys are its CodingKeys.
private struct InfoReport: Encodable {
    let mpiLibrary: String
    let rank: Int
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
        case blasThreadsSource = "blas_threads_source", convolutions, kernels
        case cpuModel = "cpu_model", cpuVendor = "cpu_vendor", cpuFamily = "cpu_family"
        case cpuModelNumber = "cpu_model_number", cpuLogical = "cpu_logical", cpuCores = "cpu_cores"
        case cpuAllowed = "cpu_allowed", cpuLevel = "cpu_level", cpuFlags = "cpu_flags"
        case cpuSource = "cpu_source"
    }

    static func current() -> InfoReport {
        let env = ProcessInfo.processInfo.environment
        let blas = BLASRuntime.status
        let cpu = CPUInfo.current()
        return InfoReport(
            mpiLibrary: MPILibrary.version(),
            rank: env["OMPI_COMM_WORLD_RANK"].flatMap { Int($0) } ?? 0,
            ranks: env["OMPI_COMM_WORLD_SIZE"].flatMap { Int($0) } ?? 1,
            localRanks: env["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap { Int($0) } ?? 1,
            blasLibrary: blas.libraryVersion, blasConfig: blas.config, blasCore: blas.coreName,
            blasCoreSummary: blas.coreSummary, blasCorrected: blas.corrected,
            blasOriginalCore: blas.originalCore, blasFellBack: blas.fellBack,
            blasAttemptedCore: blas.attemptedCore, blasUserSet: blas.userSet,
            blasAutocoreDisabled: blas.autoCoreDisabled, blasVerified: blas.verified,
            blasVerifyMaxError: blas.verifyMaxError, blasThreads: blas.threads,
            blasThreadsSource: blas.threadsSource, convolutions: DirectConvolution.describe(),
            kernels: KernelPath.describe(),
            cpuModel: cpu.modelName, cpuVendor: cpu.vendor, cpuFamily: cpu.family,
            cpuModelNumber: cpu.model, cpuLogical: cpu.logicalCPUs, cpuCores: cpu.physicalCores,
            cpuAllowed: cpu.allowedCPUs, cpuLevel: BLASKernelLevel(cpu: cpu).description,
            cpuFlags: Dictionary(uniqueKeysWithValues: cpu.relevantFlagStates.map { ($0.flag, $0.present) }),
            cpuSource: cpu.source)
    }

    func jsonLine() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    func table() -> String {
        let flagText = CPUInfo.relevantFlags.map { cpuFlags[$0] == true ? $0 : "-\($0)" }.joined(separator: " ")
        let cpuID = [cpuVendor.isEmpty ? nil : cpuVendor,
                     cpuFamily.map { "family \($0)" }, cpuModelNumber.map { "model \($0)" }]
            .compactMap { $0 }.joined(separator: ", ")
        let errorText = blasVerifyMaxError.map { String(format: "; max scaled error %.1e (tolerance %.0e)", $0, BLASRuntime.verificationTolerance) } ?? ""
        let rows: [(String, String)] = [
            ("MPI library", mpiLibrary),
            ("ranks", "\(ranks) (\(localRanks) on this node)"),
            ("BLAS library", blasLibrary),
            ("BLAS core", blasCoreSummary + errorText),
            ("BLAS threads", "\(blasThreads) (\(blasThreadsSource))"),
            ("BLAS config", blasConfig),
            ("kernels", kernels),
            ("convolutions", convolutions),
            ("CPU", cpuModel + (cpuID.isEmpty ? "" : " (\(cpuID))")),
            ("CPU cores", "\(cpuCores.map { "\($0) physical, " } ?? "")\(cpuLogical) logical, \(cpuAllowed) allowed for this process"),
            ("CPU SIMD", "\(cpuLevel): \(flagText)"),
        ]
        let width = rows.map(\.0.count).max() ?? 0
        return rows.map { $0.0.padding(toLength: width + 2, withPad: " ", startingAt: 0) + $0.1 }
            .joined(separator: "\n")
    }
}
