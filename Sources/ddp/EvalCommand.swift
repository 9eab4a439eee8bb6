import ArgumentParser
import Formats
import Foundation
import Plot
import Training

struct EvalCommand: ParsableCommand, CheckableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a checkpoint on a test set: loss, accuracy per class and the confusion matrix.",
        discussion: """
            Prints the checkpoint evaluated (a run directory's 'latest' resolved) and its step; \
            --save-logits records both in the file's metadata. The data set, its directory and \
            options default to the training run's; another --dataset is evaluated with a warning. \
            --ema evaluates the moving average of the weights that `ddp train --ema` kept \
            (ema.safetensors) instead of the model.
            """)

    @Option(help: "Checkpoint directory, or a run directory (its 'latest').") var checkpoint: String
    @Option(help: "Dataset (default: the one the checkpoint was trained on).") var dataset: String?
    @Option(name: [.customLong("data-dir"), .customLong("data")],
            help: "Directory with the dataset's files, or its file (default: the training run's).") var dataDir: String?
    @Option(parsing: .unconditional, help: "Evaluation batch size per rank.") var batchSize = 500
    @Option(parsing: .unconditional, help: "Run P ranks as threads in this process.") var localRanks = 0
    @Option(help: "Also write every test sample's logits to this safetensors file (one rank).") var saveLogits: String?
    @Option(help: "Also draw the confusion matrix into this SVG file.") var confusion: String?
    @Flag(help: "Evaluate the moving average of the weights (ema.safetensors, from ddp train --ema) instead of the model.")
    var ema = false
    @Flag(help: "Print one JSON object instead of a table.") var json = false

    func validate() throws {
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1 (got \(batchSize))") }
        if let p = World.localRanksProblem(localRanks) { throw ValidationError(p) }
        if let dataset, let p = KnownName.datasetProblem(dataset) { throw ValidationError(p) }
    }

    func check() throws { _ = try CheckpointDirectory.locate(checkpoint, flag: "--checkpoint") }

    func run() throws {
        let code = World.run(localRanks: localRanks, threads: 0, timeout: 300, allreduce: nil) { comm in
            let report = try Evaluation.run(checkpoint: checkpoint, dataset: dataset, dataDir: dataDir,
                                            batchSize: batchSize, logitsPath: saveLogits, average: ema, comm: comm)
            guard comm.rank == 0 else { return }
            if let warning = report.datasetWarning { FileHandle.standardError.write(Data("ddp: warning: \(warning)\n".utf8)) }
            let r = report.result
            if let confusion {
                try ConfusionMatrixChart(title: "Confusion matrix: \(report.checkpoint) on \(report.dataset)",
                                         classNames: report.classNames, counts: r.confusion)
                    .write(to: URL(fileURLWithPath: confusion))
            }
            if json {
                print(Self.jsonLine(report))
            } else {
                print("checkpoint \(report.checkpoint)" + (report.step.map { " (step \($0))" } ?? "")
                      + (ema ? ", the moving average of its weights (\(report.weights))" : ""))
                print(String(format: "  test loss %.4f\n  test accuracy %.2f%% (%d samples of %@)",
                             r.loss.printable, r.accuracy.printable * 100, r.samples, report.dataset))
                print(Self.tables(report))
            }
        }
        if code != 0 { throw ExitCode(code) }
    }

    private static func jsonLine(_ report: Evaluation.Report) -> String {
        let r = report.result
        let k = r.classes
        let rows: [JSONLine.Value] = (0..<k).map { t in .array(r.confusion[(t * k)..<((t + 1) * k)].map { .number(Double($0)) }) }
        let fields: [(String, JSONLine.Value)] = [
            ("test_loss", .number(r.loss)), ("test_acc", .number(r.accuracy)), ("samples", .number(Double(r.samples))),
            ("checkpoint", .string(report.checkpoint)), ("step", report.step.map { .number(Double($0)) } ?? .null),
            ("weights", .string(report.weights)), ("dataset", .string(report.dataset)), ("class_names", .array(report.classNames.map { .string($0) })),
            ("per_class_acc", .array(r.perClass.map { .number($0.accuracy) })),
            ("per_class_samples", .array(r.perClass.map { .number(Double($0.samples)) })),
            ("confusion", .array(rows)),
        ]
        return JSONLine.object(fields)
    }

    /// Per class its accuracy, then the confusion matrix (rows true, columns predicted; columns
    /// numbered by label, the names are in the first table).
    private static func tables(_ report: Evaluation.Report) -> String {
        let r = report.result
        let k = r.classes
        let perClass = r.perClass.enumerated().map { t, c in
            [String(t), report.classNames[t], String(c.samples),
             c.accuracy.isFinite ? String(format: "%.2f%%", 100 * c.accuracy) : "-"]
        }
        let matrix = (0..<k).map { t in [String(t)] + (0..<k).map { String(r.confusion[t * k + $0]) } }
        return (TextTable([.right, .left, .right, .right]).lines([["label", "class", "samples", "accuracy"]] + perClass)
            + ["confusion matrix (rows: true label, columns: predicted label):"]
            + TextTable(Array(repeating: .right, count: k + 1)).lines([["true"] + (0..<k).map(String.init)] + matrix)
            .map { "  " + $0 }).joined(separator: "\n")
    }
}
