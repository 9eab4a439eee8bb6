import Data
import Formats
import Foundation
import Layers

/// A model's layers as a table, as Keras' `model.summary()` and torchinfo print them: each layer's
/// state-dict name, kind, what its convolutions run, output shape per sample and parameters,
/// then the totals (`ddp train --summary`, `ddp info --model M`).
public enum ModelTable {
    public static func text(_ model: Model) -> String {
        let rows = model.layerSummaries.map {
            [$0.name, $0.kind, $0.algorithm, shape($0.outputShape), grouped($0.parameterCount)]
        }
        let header = ["layer", "kind", "algorithm", "output shape", "parameters"]
        // Names, kinds, algorithms and shapes left-aligned; counts right-aligned.
        let table = TextTable([.left, .left, .left, .left, .right])
        let bytes = Double(model.parameterCount * MemoryLayout<Float>.size) / 1_048_576
        return (["model \(model.spec) on \(shape(model.inputShape)) inputs, \(model.classes) classes"]
            + table.lines([header] + rows) + [
            "total: \(grouped(model.parameterCount)) trainable parameters (\(String(format: "%.2f", bytes)) MiB as float32)"
                + (model.buffers.count > 0 ? ", \(grouped(model.buffers.count)) BatchNorm statistics" : ""),
        ]).joined(separator: "\n")
    }

    /// One JSON object per layer, then one with the totals.
    public static func jsonLines(_ model: Model) -> String {
        (model.layerSummaries.map { row in
            JSONLine.object(["layer": .string(row.name), "kind": .string(row.kind), "algorithm": .string(row.algorithm),
                             "output_shape": .array(row.outputShape.map { .number(Double($0)) }),
                             "parameters": .number(Double(row.parameterCount))])
        } + [JSONLine.object(["model": .string(model.spec), "input_shape": .array(model.inputShape.map { .number(Double($0)) }),
                              "classes": .number(Double(model.classes)), "parameters": .number(Double(model.parameterCount)),
                              "buffers": .number(Double(model.buffers.count))])]).joined(separator: "\n")
    }

    /// The model `config` trains, built for the shape and classes of its data (from the test
    /// split: the same shape, and the smaller file to read), read as training reads it (image
    /// size, validation split, layout).
    public static func model(for config: TrainConfig) throws -> Model {
        let test = try DatasetLoader.load(name: config.dataset, dataDir: config.dataDir, split: .test, synthetic: config.synthetic,
                                          options: config.sourceOptions)
        return try build(config.model, input: [test.channels, test.height, test.width], classes: test.classes)
    }

    /// `spec` for `input` and `classes`; a spec that cannot be built is a usage error.
    public static func build(_ spec: String, input: [Int], classes: Int) throws -> Model {
        do { return try Model(spec: spec, inputShape: input, classes: classes, seed: 0) } catch let e as ModelError {
            throw UsageProblem("--model: " + KnownName.specProblem(spec, e))
        }
    }

    private static func shape(_ dims: [Int]) -> String { dims.map(String.init).joined(separator: "x") }

    /// 421642 -> "421,642".
    private static func grouped(_ n: Int) -> String {
        var digits = String(n)
        var out = ""
        while digits.count > 3 {
            out = "," + digits.suffix(3) + out
            digits.removeLast(3)
        }
        return digits + out
    }
}
