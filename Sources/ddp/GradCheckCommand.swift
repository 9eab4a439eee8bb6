import ArgumentParser
import Foundation
import Layers

struct GradCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gradcheck",
        abstract: "Finite-difference check of every layer's backward (inputs and parameters), the loss and the whole model.",
        discussion: "Prints the largest relative error per layer and exits nonzero when any layer fails.")

    @Option(help: ArgumentHelp("A preset or spec string.", discussion: ModelSpec.help)) var model = "fmnist-cnn"
    @Option(help: "Alias of --model for a custom spec string.") var spec: String?
    @Option(help: "Input shape CxHxW.") var input = "1x28x28"
    @Option(help: "Classes (logits).") var classes = 10
    @Option(help: "Batch size of the random batch.") var batch = 2
    @Option(help: "Seed of weights, inputs and probed coordinates.") var seed: UInt64 = 0
    @Option(help: "Largest relative error that passes.") var tolerance = 1e-2
    @Flag(help: "One JSON object per row.") var json = false

    func parsedInput() throws -> [Int] {
        let dims = input.split(separator: "x").compactMap { Int($0) }
        guard dims.count == 3, dims.allSatisfy({ $0 > 0 }) else {
            throw ValidationError("--input must look like 1x28x28 (got \(input))")
        }
        return dims
    }

    func validate() throws {
        _ = try parsedInput()
        if batch < 1 || classes < 2 { throw ValidationError("--batch must be >= 1 and --classes >= 2") }
    }

    func run() throws {
        let net: Model
        do { net = try Model(spec: spec ?? model, inputShape: try parsedInput(), classes: classes, seed: seed) } catch {
            throw ValidationError("\(error)")
        }
        var options = GradientCheckOptions()
        options.tolerance = tolerance
        let rows = GradientCheck.checkAll(net, batch: batch, seed: seed, options: options)
        func fmt(_ x: Double?) -> String { x.map { String(format: "%.2e", $0) } ?? "-" }
        if json {
            for r in rows {
                print(JSONLine.object(["layer": .string(r.name), "kind": .string(r.kind),
                                       "input_rel_error": r.inputError.map(JSONLine.Value.number) ?? .null,
                                       "param_rel_error": r.parameterError.map(JSONLine.Value.number) ?? .null,
                                       "checked": .number(Double(r.checked)), "skipped_kinks": .number(Double(r.skipped)),
                                       "passed": .bool(r.passed)]))
            }
        } else {
            print("gradient check of \(spec ?? model) on a random \(batch)x\(input) batch (tolerance \(tolerance))")
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
        if rows.contains(where: { !$0.passed }) { throw ExitCode(1) }
    }
}
