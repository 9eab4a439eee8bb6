import ArgumentParser
import Foundation
import Training

/// `ddp info`: what this process runs on. Everything here is known without MPI_Init, so it
/// works alone or under mpirun (where rank 0 reports unless --all-ranks is given). With
/// `--model M`, the layers of a model instead.
struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Show the MPI library, ranks, BLAS kernel and threads, ddp's kernel path, and the CPU.",
        discussion: """
            The BLAS core line says whether ddp corrected OpenBLAS's kernel choice at start-up \
            (set OPENBLAS_CORETYPE yourself to choose, or DDP_BLAS_AUTOCORE=0 to keep OpenBLAS's \
            own choice) and whether the start-up sgemm check passed. The convolutions line says \
            whether 3x3 layers run ddp's direct AVX-512 kernels (and Winograd F(4x4, 3x3) on the stride-1 \
            layers with many channels, where it measured faster); DDP_CONV=direct|winograd|winograd2|winograd4|im2col \
            forces one algorithm wherever it can run (winograd: F(4x4, 3x3), F(2x2, 3x3) under 4x4 images). \
            The kernels line says which code runs convolutions, batch norm, pooling and the SGD \
            update: ddp's AVX-512 kernels or the portable code of a CPU without them \
            (DDP_KERNELS=portable forces it, e.g. to test or time an older node's path). The precisions \
            line says whether --precision bf16 can run here (it needs AVX512_BF16).

            --model M prints the model's layers instead: each layer's state-dict name, kind, output \
            shape per sample and parameters, the convolution algorithm each layer runs, and the totals (for a training run's own data: \
            ddp train --summary).
            """)

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    @Flag(help: "Under mpirun, report from every rank instead of rank 0 only.")
    var allRanks = false

    @Option(help: ArgumentHelp("Print this model's layers: a preset or a spec string.", discussion: ModelCatalog.specHelp))
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
        let report = SystemReport.current()
        guard allRanks || report.rank == 0 else { return }
        print(json ? try report.jsonLine() : report.table())
    }
}
