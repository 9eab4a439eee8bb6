import ArgumentParser
import Foundation
import Training

struct GradCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gradcheck",
        abstract: "Finite-difference check of every layer's backward (inputs and parameters), the loss and the whole model.",
        discussion: """
            Prints the largest relative error per layer and exits with status 2 when any layer fails.

            --layer TOKEN checks one layer alone: the layer of that model-spec token (c8k3p1, bn, \
            lrelu0.1, mp2, fc10, res16s2, ...) on a random batch of --input (default 3x8x8; a layer \
            that takes only flat features, like fc, gets the same C*H*W numbers as flat features), its input \
            and parameter gradients against central differences, with the same table and verdict. \
            This is how a new layer gets checked: give it a spec token in ModelSpec (Sources/Layers/\
            ModelSpec.swift, makeLayer), then run `ddp gradcheck --layer TOKEN`.

            The default tolerance is 0.01, and 0.05 when a layer runs Winograd F(4x4, 3x3) (the \
            default rule's layers with many channels on AVX-512 machines, or DDP_CONV=winograd4 \
            or winograd): its rounding, about 10x the direct sum's, comes back through \
            resnet20's batch norms as finite-difference noise of 1-3% in the residual blocks' \
            input errors (the layers alone pass 0.01). --precision bf16 holds the bf16 passes' \
            gradients to finite differences of the FP32 function, at 0.05 by default: the operands' \
            rounding (up to 2^-7 per product) reaches 1-2.5% on small entries.
            """)

    @Option(help: ArgumentHelp("A preset or spec string.", discussion: ModelCatalog.specHelp)) var model = "fmnist-cnn"
    @Option(help: "Alias of --model for a custom spec string.") var spec: String?
    @Option(help: "Check this one layer alone: a spec token such as c8k3p1, bn, lrelu0.1, mp2 or fc10.")
    var layer: String?
    @Option(help: "Input shape CxHxW (default: 1x28x28 for a model, 3x8x8 for --layer).") var input: String?
    @Option(help: "Classes (logits; also the width of a bare fc token).") var classes = 10
    @Option(help: "Batch size of the random batch.") var batch = 2
    @Option(help: "Seed of weights, inputs and probed coordinates.") var seed: UInt64 = 0
    @Option(help: "Largest relative error that passes (default: 0.01; 0.05 when a layer runs Winograd F(4x4, 3x3), or with --precision bf16).")
    var tolerance: Double?
    @Option(help: "Arithmetic of the convolutions: fp32 or bf16 (the analytic gradients in bf16, the finite differences of the FP32 function).")
    var precision: TrainConfig.Precision = .fp32
    @Flag(help: "One JSON object per row.") var json = false

    private var inputText: String { input ?? (layer == nil ? "1x28x28" : "3x8x8") }

    func parsedInput() throws -> [Int] {
        let dims = inputText.split(separator: "x").compactMap { Int($0) }
        guard dims.count == 3, dims.allSatisfy({ $0 > 0 }) else {
            throw ValidationError("--input must look like 1x28x28 (got \(inputText))")
        }
        return dims
    }

    func validate() throws {
        _ = try parsedInput()
        if batch < 1 || classes < 2 { throw ValidationError("--batch must be >= 1 and --classes >= 2") }
        if layer != nil && spec != nil { throw ValidationError("--layer checks one layer; leave out --spec") }
        if let tolerance, !(tolerance > 0) { throw ValidationError("--tolerance must be > 0 (got \(tolerance))") }
        if layer == nil, let p = KnownName.modelProblem(spec ?? model) { throw ValidationError(p) }
    }

    func run() throws {
        let (subject, rows, tolerance) = try GradientCheckRun.run(spec: layer == nil ? spec ?? model : nil, layerToken: layer,
                                                       input: try parsedInput(), classes: classes, batch: batch, seed: seed,
                                                       tolerance: tolerance, precision: precision)
        if json {
            print(GradientCheckRun.jsonLines(rows))
        } else {
            print("gradient check of \(subject)\(precision == .fp32 ? "" : ", precision \(precision.rawValue)") (tolerance \(tolerance))")
            print(GradientCheckRun.table(rows))
        }
        if rows.contains(where: { !$0.passed }) { throw ExitCode(2) }
    }
}
