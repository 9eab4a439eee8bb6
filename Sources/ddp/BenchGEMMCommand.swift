import ArgumentParser
import Bench
import Foundation

/// `ddp bench gemm`: sgemm GFLOP/s with the kernel this process runs, against a baseline
/// kernel (by default OpenBLAS's generic Prescott, what it falls back to on CPUs it does not
/// know). OpenBLAS fixes its kernel when it loads, so the baseline runs in a child process of
/// this binary started with OPENBLAS_CORETYPE set (`--child` mode, JSON lines on stdout).
struct BenchGEMMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "sgemm GFLOP/s with the running OpenBLAS kernel vs a baseline kernel.",
        discussion: """
            Shapes: square sizes from --sizes, then the products one fmnist-cnn training step \
            makes with a per-rank batch of --batch (im2col with the whole batch side by side: \
            conv forward W[out x in*9] * cols[in*9 x batch*H*W], the weight gradient \
            dY * cols^T, the input gradient W^T * dY; fc1 X * W^T). Each figure is the median \
            of repeated timed runs after one warm-up run.
            """)

    @Option(help: "Square matrix sizes, comma-separated.")
    var sizes = "256,512,1024"

    @Option(help: "Per-rank batch size for the fmnist-cnn shapes (0 skips them).")
    var batch = 64

    @Option(help: "BLAS threads (default: cores / ranks on this node).")
    var threads: Int?

    @Option(help: "OpenBLAS core (OPENBLAS_CORETYPE) of the comparison run.")
    var baselineCore = "Prescott"

    @Flag(help: "Skip the comparison run.")
    var noBaseline = false

    @Option(help: "Minimum seconds of timed runs per shape (at least 3 runs).")
    var minTime = 0.25

    @Flag(help: "Print one JSON object per shape instead of a table.")
    var json = false

    @Flag(help: .hidden)
    var child = false

    func validate() throws {
        _ = try squareSizes()
        guard batch >= 0 else { throw ValidationError("--batch must be >= 0, got \(batch)") }
        if let t = threads, t < 1 { throw ValidationError("--threads must be >= 1, got \(t)") }
        guard minTime >= 0, minTime.isFinite else { throw ValidationError("--min-time must be >= 0 seconds, got \(minTime)") }
        guard !baselineCore.isEmpty, baselineCore.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
            throw ValidationError("--baseline-core must be an OpenBLAS core name such as Prescott or Haswell, got '\(baselineCore)'")
        }
    }

    func run() throws {
        if let t = threads { BenchBLAS.setThreads(t) }
        let shapes = try GEMMShape.benchmarkSet(squares: squareSizes(), batch: batch)
        let core = BenchBLAS.core
        let threadCount = BenchBLAS.threads

        if child {
            // Flush per line so the parent sees progress even if a later shape crashes.
            for shape in shapes {
                let line = GEMMResult(shape: shape, threads: threadCount, core: core, gflops: shape.measure(minTime: minTime))
                print(try line.jsonLine())
                fflush(stdout)
            }
            return
        }

        if !json {
            print("sgemm, \(BenchBLAS.description)")
            if !noBaseline { print("baseline: child process with OPENBLAS_CORETYPE=\(baselineCore), same threads") }
        }
        var results = shapes.map { GEMMResult(shape: $0, threads: threadCount, core: core, gflops: $0.measure(minTime: minTime)) }
        if !noBaseline {
            let baseline = try GEMMResult.baseline(core: baselineCore, arguments: ["bench", "gemm", "--child", "--sizes", sizes, "--batch", String(batch),
                                                                         "--threads", String(threadCount), "--min-time", String(minTime)])
            guard baseline.count == results.count else {
                throw BenchError("baseline run with OPENBLAS_CORETYPE=\(baselineCore) reported \(baseline.count) shapes, expected \(results.count)")
            }
            for i in results.indices {
                results[i].baselineCore = baseline[i].core
                results[i].baselineGflops = baseline[i].gflops
                results[i].speedup = results[i].gflops / baseline[i].gflops
            }
        }
        if json {
            for r in results { print(try r.jsonLine()) }
        } else {
            print(table(results))
        }
    }

    private func squareSizes() throws -> [Int] {
        let parts = sizes.split(separator: ",", omittingEmptySubsequences: false)
        return try parts.map { part in
            guard let n = Int(part.trimmingCharacters(in: .whitespaces)), n > 0 else {
                throw ValidationError("--sizes: '\(part)' is not a positive integer (expected e.g. 256,512,1024)")
            }
            return n
        }
    }

    private func table(_ results: [GEMMResult]) -> String {
        let coreName = results.first?.core ?? "current"
        var header = ["shape", "m", "n", "k", "\(coreName) GFLOP/s"]
        if !noBaseline { header += ["\(results.first?.baselineCore ?? baselineCore) GFLOP/s", "speedup"] }
        var rows = [header]
        for r in results {
            var row = [r.name, String(r.m), String(r.n), String(r.k), String(format: "%.1f", r.gflops)]
            if let b = r.baselineGflops, let s = r.speedup { row += [String(format: "%.1f", b), String(format: "%.2fx", s)] }
            rows.append(row)
        }
        let widths = header.indices.map { c in rows.map { $0.count > c ? $0[c].count : 0 }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { c, cell in
                // Left-align the shape name, right-align numbers.
                let pad = String(repeating: " ", count: widths[c] - cell.count)
                return c == 0 ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
