import Formats
import Foundation
import Layers

/// `ddp gradcheck`: the finite-difference check of a model (every layer, the loss, the whole
/// model) or of one layer built from its spec token, and its table.
public enum GradientCheckRun {
    /// `ddp gradcheck`'s tolerance unless given: 1e-2, and 5e-2 when a convolution runs
    /// F(4x4, 3x3) (the default rule's layers with many channels, or `DDP_CONV`), whose rounding
    /// (about 10x the direct sum's) comes back through resnet20's batch norms as 1-3% of
    /// finite-difference noise in its blocks' input errors (measured; the same factor as the
    /// tests' `convolutionToleranceFactor`), and 5e-2 under bf16, whose gradients are held to the
    /// FP32 function: each product's operands round by up to 2^-7 together, and on entries near
    /// the check's floor (a tenth of the largest), sums of few products that cancel, that
    /// reached 1.2-2.5% (`Conv2dBF16Tests`).
    public static func defaultTolerance(precision: Precision = .fp32, convolutions: [Conv2d]) -> Double {
        precision == .bf16 || convolutions.contains { $0.algorithm == .winograd4 } ? 5e-2 : 1e-2
    }

    /// The rows of the check, what was checked ("fmnist-cnn on a random 2x1x28x28 batch") and the
    /// tolerance it held them to (`defaultTolerance` unless given). A spec or token that cannot
    /// be built throws a `UsageProblem`.
    public static func run(spec: String?, layerToken: String?, input dims: [Int], classes: Int, batch: Int,
                           seed: UInt64, tolerance: Double?,
                           precision: Precision = .fp32) throws -> (subject: String, rows: [GradientCheckRow], tolerance: Double) {
        if let problem = precision.problem { throw UsageProblem(problem) }
        var options = GradientCheckOptions()
        let shape = dims.map(String.init).joined(separator: "x")
        if let token = layerToken {
            let built = try singleLayer(token, dims: dims, classes: classes)
            if precision != .fp32 { built.convolutions.forEach { $0.setPrecision(precision) } }
            options.tolerance = tolerance ?? defaultTolerance(precision: precision, convolutions: built.convolutions)
            return ("layer \(token) on a random \(batch)x\(built.inputShape) batch",
                    [GradientCheck.check(layer: built, batch: batch, seed: seed, options: options)], options.tolerance)
        }
        let spec = spec ?? "fmnist-cnn"
        let net: Model
        do {
            net = try Model(spec: spec, inputShape: dims, classes: classes, seed: seed, options: ModelOptions(precision: precision))
        } catch let e as ModelError {
            throw UsageProblem(KnownName.specProblem(spec, e))
        }
        options.tolerance = tolerance ?? defaultTolerance(precision: precision, convolutions: net.layers.flatMap(\.convolutions))
        return ("\(spec) on a random \(batch)x\(shape) batch", GradientCheck.checkAll(net, batch: batch, seed: seed, options: options),
                options.tolerance)
    }

    /// The layer of `token` on C x H x W maps, or, when it takes only flat features (fc), on
    /// the same C*H*W numbers as flat features: the token alone says which it is.
    private static func singleLayer(_ token: String, dims: [Int], classes: Int) throws -> any Layer {
        do {
            return try ModelSpec.layer(token: token, input: .map(channels: dims[0], height: dims[1], width: dims[2]),
                                       classes: classes)
        } catch let mapError {
            guard let flat = try? ModelSpec.layer(token: token, input: .flat(dims[0] * dims[1] * dims[2]), classes: classes)
            else { throw UsageProblem("\(mapError)") }
            return flat
        }
    }

    /// The table: per row the errors, the comparisons made and skipped, the verdict; then a line
    /// naming what failed.
    public static func table(_ rows: [GradientCheckRow]) -> String {
        func fmt(_ x: Double?) -> String { x.map { String(format: "%.2e", $0.printable) } ?? "-" }
        // The layer column at least 8 wide, so short names line up with other reports.
        let table = TextTable([.left, .left, .left, .right, .right, .left, .left], minimumWidths: [8])
        var lines = table.lines([["layer", "input err", "param err", "checked", "kinks", "verdict", "kind"]]
            + rows.map { r in
                [r.name, fmt(r.inputError), fmt(r.parameterError), String(r.checked), String(r.skipped),
                 r.passed ? "pass" : "FAIL", r.kind]
            })
        let failed = rows.filter { !$0.passed }
        lines.append(failed.isEmpty ? "all \(rows.count) checks pass"
              : "\(failed.count) of \(rows.count) checks FAIL: \(failed.map(\.name).joined(separator: ", ")) — their backward disagrees with finite differences")
        return lines.joined(separator: "\n")
    }

    /// One JSON object per row.
    public static func jsonLines(_ rows: [GradientCheckRow]) -> String {
        rows.map { r in
            JSONLine.object(["layer": .string(r.name), "kind": .string(r.kind),
                             "input_rel_error": r.inputError.map(JSONLine.Value.number) ?? .null,
                             "param_rel_error": r.parameterError.map(JSONLine.Value.number) ?? .null,
                             "checked": .number(Double(r.checked)), "skipped_kinks": .number(Double(r.skipped)),
                             "passed": .bool(r.passed)])
        }.joined(separator: "\n")
    }
}

/// A command line that names something that does not exist or cannot be built: the command
/// line reports it as a usage error (exit 64) in one line.
public struct UsageProblem: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
