import ArgumentParser
import Formats
import Foundation
import Layers
import Training

struct GradCheck: ParsableCommand {
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
            """)

    @Option(help: ArgumentHelp("A preset or spec string.", discussion: ModelSpec.help)) var model = "fmnist-cnn"
    @Option(help: "Alias of --model for a custom spec string.") var spec: String?
    @Option(help: "Check this one layer alone: a spec token such as c8k3p1, bn, lrelu0.1, mp2 or fc10.")
    var layer: String?
    @Option(help: "Input shape CxHxW (default: 1x28x28 for a model, 3x8x8 for --layer).") var input: String?
    @Option(help: "Classes (logits; also the width of a bare fc token).") var classes = 10
    @Option(help: "Batch size of the random batch.") var batch = 2
    @Option(help: "Seed of weights, inputs and probed coordinates.") var seed: UInt64 = 0
    @Option(help: "Largest relative error that passes.") var tolerance = 1e-2
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
        if !(tolerance > 0) { throw ValidationError("--tolerance must be > 0 (got \(tolerance))") }
        if layer == nil, let p = KnownName.modelProblem(spec ?? model) { throw ValidationError(p) }
    }

    func run() throws {
        var options = GradientCheckOptions()
        options.tolerance = tolerance
        let rows: [GradientCheckRow]
        let subject: String
        let dims = try parsedInput()
        if let token = layer {
            let built = try singleLayer(token, dims: dims)
            rows = [GradientCheck.check(layer: built, batch: batch, seed: seed, options: options)]
            subject = "layer \(token) on a random \(batch)x\(built.inputShape) batch"
        } else {
            let net: Model
            do { net = try Model(spec: spec ?? model, inputShape: dims, classes: classes, seed: seed) } catch let e as ModelError {
                throw ValidationError(KnownName.specProblem(spec ?? model, e))
            }
            rows = GradientCheck.checkAll(net, batch: batch, seed: seed, options: options)
            subject = "\(spec ?? model) on a random \(batch)x\(inputText) batch"
        }
        if json {
            for r in rows {
                print(JSONLine.object(["layer": .string(r.name), "kind": .string(r.kind),
                                       "input_rel_error": r.inputError.map(JSONLine.Value.number) ?? .null,
                                       "param_rel_error": r.parameterError.map(JSONLine.Value.number) ?? .null,
                                       "checked": .number(Double(r.checked)), "skipped_kinks": .number(Double(r.skipped)),
                                       "passed": .bool(r.passed)]))
            }
        } else {
            print("gradient check of \(subject) (tolerance \(tolerance))")
            printTable(rows)
        }
        if rows.contains(where: { !$0.passed }) { throw ExitCode(2) }
    }

    /// The layer of `token` on C x H x W maps, or, when it takes only flat features (fc), on
    /// the same C*H*W numbers as flat features: the token alone says which it is.
    private func singleLayer(_ token: String, dims: [Int]) throws -> any Layer {
        do {
            return try ModelSpec.layer(token: token, input: .map(channels: dims[0], height: dims[1], width: dims[2]),
                                       classes: classes)
        } catch let mapError {
            guard let flat = try? ModelSpec.layer(token: token, input: .flat(dims[0] * dims[1] * dims[2]), classes: classes)
            else { throw ValidationError("\(mapError)") }
            return flat
        }
    }

    private func printTable(_ rows: [GradientCheckRow]) {
        func fmt(_ x: Double?) -> String { x.map { String(format: "%.2e", $0.printable) } ?? "-" }
        let width = max(8, rows.map(\.name.count).max() ?? 8)
        print("layer".padding(toLength: width, withPad: " ", startingAt: 0) + "  input err  param err  checked  kinks  verdict  kind")
        for r in rows {
            print(r.name.padding(toLength: width, withPad: " ", startingAt: 0)
                  + "  " + fmt(r.inputError).padding(toLength: 9, withPad: " ", startingAt: 0)
                  + "  " + fmt(r.parameterError).padding(toLength: 9, withPad: " ", startingAt: 0)
                  + String(format: "  %7d  %5d  ", r.checked, r.skipped)
                  + (r.passed ? "pass   " : "FAIL   ") + "  " + r.kind)
        }
        let failed = rows.filter { !$0.passed }
        print(failed.isEmpty ? "all \(rows.count) checks pass"
              : "\(failed.count) of \(rows.count) checks FAIL: \(failed.map(\.name).joined(separator: ", ")) — their backward disagrees with finite differences")
    }
}
