import ArgumentParser
import Bench
import Formats
import Foundation
import Layers

/// `ddp bench conv`: each 3x3 stride-1 padding-1 layer shape of the models, alone, with each
/// convolution algorithm (what `DDP_CONV` can force), forward and backward milliseconds.
struct BenchConvCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conv",
        abstract: "Forward and backward time of the models' 3x3 stride-1 convolution layers, per algorithm.",
        discussion: """
            Shapes: fmnist-cnn's four 3x3 layers and resnet20's stride-1 3x3 layers on 1x28x28 \
            inputs, each timed alone on random data (the input gradient included except for a \
            first layer of one channel). Algorithms that cannot run here (direct without AVX-512, \
            direct-bf16 without AVX512_BF16) \
            are left out. Each figure is the median of the timed passes.
            """)

    @Option(help: "Images per pass.") var batch = 64
    @Option(help: "BLAS and kernel threads (default: cores / ranks on this node).") var threads: Int?
    @Option(help: "Algorithms, comma-separated.") var algorithms = Conv2d.Algorithm.allCases.map(\.rawValue).joined(separator: ",")
    @Option(help: "Minimum seconds of timed passes per shape and algorithm (at least 3 passes).") var minTime = 0.3
    @Flag(help: "Print one JSON object per row instead of a table.") var json = false

    func validate() throws {
        guard batch >= 1 else { throw ValidationError("--batch must be >= 1, got \(batch)") }
        if let t = threads, t < 1 { throw ValidationError("--threads must be >= 1, got \(t)") }
        guard minTime >= 0, minTime.isFinite else { throw ValidationError("--min-time must be >= 0 seconds, got \(minTime)") }
        _ = try chosen()
    }

    private func chosen() throws -> [Conv2d.Algorithm] {
        try algorithms.split(separator: ",").map { name in
            guard let a = Conv2d.Algorithm(rawValue: String(name)) else {
                throw ValidationError("--algorithms: \(name) is not one of "
                    + Conv2d.Algorithm.allCases.map(\.rawValue).joined(separator: ", "))
            }
            return a
        }
    }

    func run() throws {
        if let t = threads { BenchBLAS.setThreads(t) }
        let rows = try ConvolutionBenchmark.run(shapes: ConvolutionBenchmark.modelShapes, algorithms: try chosen(),
                                                batch: batch, minTime: minTime)
        if json {
            for r in rows {
                print(JSONLine.object([
                    ("layer", .string(r.shape.label)), ("in", .number(Double(r.shape.inChannels))),
                    ("out", .number(Double(r.shape.outChannels))), ("side", .number(Double(r.shape.side))),
                    ("stride", .number(Double(r.shape.stride))),
                    ("batch", .number(Double(batch))), ("threads", .number(Double(BenchBLAS.threads))),
                    ("algorithm", .string(r.algorithm.rawValue)), ("forward_s", .number(r.forwardSeconds)),
                    ("backward_s", .number(r.backwardSeconds)),
                ]))
            }
            return
        }
        print("batch \(batch), \(BenchBLAS.threads) thread(s), BLAS \(BenchBLAS.description)")
        func ms(_ s: Double) -> String { String(format: "%.2f", s * 1e3) }
        let table = rows.map { r in
            [r.shape.label, "\(r.shape.inChannels)->\(r.shape.outChannels) \(r.shape.side)x\(r.shape.side)"
                + (r.shape.stride == 1 ? "" : " s\(r.shape.stride)"), r.algorithm.rawValue,
             ms(r.forwardSeconds), ms(r.backwardSeconds), ms(r.forwardSeconds + r.backwardSeconds)]
        }
        print(TextTable([.left, .left, .left, .right, .right, .right])
            .lines([["layer", "shape", "algorithm", "forward ms", "backward ms", "total ms"]] + table)
            .map { "  " + $0 }.joined(separator: "\n"))
    }
}
