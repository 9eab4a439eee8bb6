import ArgumentParser
import Formats
import Foundation
import Training

struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Classify new inputs with a checkpoint's model: the top classes, named, with their probabilities.",
        discussion: """
            INPUTS are image files (PNG, JPEG), folders of them (every image below, in sorted \
            order), .npy arrays of images, or packed files (ddp pack). Each input gets the \
            preprocessing of training: converted to the model's channels, resized to cover its \
            input size and centre-cropped (images of that size are untouched), normalized with \
            the statistics the checkpoint holds.
            """)

    @Option(help: "Checkpoint directory, or a run directory (its 'latest').") var checkpoint: String
    @Argument(help: "Image files, folders, .npy arrays or packed files.") var inputs: [String]
    @Option(parsing: .unconditional, help: "Classes to show per input (default 3).") var top = 3
    @Flag(help: "Skip files that are no image or cannot be decoded (named at the end) instead of stopping.") var skipBad = false
    @Flag(help: "Print one JSON object per input instead of a table.") var json = false

    func validate() throws {
        if top < 1 { throw ValidationError("--top must be at least 1 (got \(top))") }
        if inputs.isEmpty { throw ValidationError("give at least one input: an image, a folder, an .npy array or a packed file") }
    }

    func run() throws {
        let skipped = try Prediction.run(checkpoint: checkpoint, inputs: inputs, topK: top, skipBad: skipBad) { item in
            if json {
                let top: [JSONLine.Value] = item.top.map {
                    .object([("label", .number(Double($0.label))), ("class", .string($0.name)), ("probability", .number($0.probability))])
                }
                var fields: [(String, JSONLine.Value)] = [("input", .string(item.input)), ("top", .array(top))]
                if let label = item.label { fields.append(("true_label", .number(Double(label)))) }
                print(JSONLine.object(fields))
            } else {
                let classes = item.top.map { String(format: "%@ %.1f%%", $0.name, 100 * $0.probability) }.joined(separator: ", ")
                print("\(item.input): \(classes)" + (item.label.map { " (labelled \($0))" } ?? ""))
            }
        }
        if !skipped.isEmpty {
            FileHandle.standardError.write(Data(("ddp: skipped \(skipped.count) file\(skipped.count == 1 ? "" : "s") (--skip-bad):\n"
                + skipped.map { "  \($0.path): \($0.reason)\n" }.joined()).utf8))
        }
    }
}
