import ArgumentParser
import Foundation
import Tensor

/// `ddp bench gemm`: sgemm GFLOP/s with the kernel this process runs, against a baseline
/// kernel (by default OpenBLAS's generic Prescott, what it falls back to on CPUs it does not
/// know). OpenBLAS fixes its kernel when it loads, so the baseline runs in a child process of
/// this binary started with OPENBLAS_CORETYPE set (`--child` mode, JSON lines on stdout).
struct BenchGEMM: ParsableCommand {
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
        if let t = threads { BLASRuntime.setThreads(t) }
        let shapes = try GEMMShape.benchmarkSet(squares: squareSizes(), batch: batch)
        let core = BLASRuntime.status.coreName
        let threadCount = BLASRuntime.status.threads

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
            print("sgemm, \(BLASRuntime.describe())")
            if !noBaseline { print("baseline: child process with OPENBLAS_CORETYPE=\(baselineCore), same threads") }
        }
        var results = shapes.map { GEMMResult(shape: $0, threads: threadCount, core: core, gflops: $0.measure(minTime: minTime)) }
        if !noBaseline {
            let baseline = try runBaseline(threads: threadCount)
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

    /// The same shapes in a child process of this binary under the baseline kernel. The
    /// child gets OPENBLAS_CORETYPE as if the user had set it (ddp's re-exec marker removed),
    /// so it neither corrects nor re-executes.
    private func runBaseline(threads: Int) throws -> [GEMMResult] {
        let executable = URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
        var environment = ProcessInfo.processInfo.environment
        environment[BLASRuntime.coreTypeVariable] = baselineCore
        environment[BLASRuntime.markerVariable] = nil
        let process = Process()
        process.executableURL = executable
        process.arguments = ["bench", "gemm", "--child", "--sizes", sizes, "--batch", String(batch),
                             "--threads", String(threads), "--min-time", String(minTime)]
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            throw BenchError("baseline run (\(executable.path) with OPENBLAS_CORETYPE=\(baselineCore)) failed with status \(process.terminationStatus)")
        }
        let decoder = JSONDecoder()
        return try String(decoding: data, as: UTF8.self).split(separator: "\n").map { line in
            do {
                return try decoder.decode(GEMMResult.self, from: Data(line.utf8))
            } catch {
                throw BenchError("baseline run printed an unreadable line: \(line)")
            }
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

/// One row of `ddp bench gemm --json`; the JSON keys are its CodingKeys.
struct GEMMResult: Codable {
    var name: String
    var m: Int, n: Int, k: Int
    var transA: Bool, transB: Bool
    var threads: Int
    var core: String
    var gflops: Double
    var baselineCore: String?
    var baselineGflops: Double?
    var speedup: Double?

    enum CodingKeys: String, CodingKey {
        case name, m, n, k, transA = "trans_a", transB = "trans_b", threads, core, gflops
        case baselineCore = "baseline_core", baselineGflops = "baseline_gflops", speedup
    }

    init(shape: GEMMShape, threads: Int, core: String, gflops: Double) {
        (name, m, n, k, transA, transB) = (shape.name, shape.m, shape.n, shape.k, shape.transposeA, shape.transposeB)
        self.threads = threads
        self.core = core
        self.gflops = gflops
    }

    func jsonLine() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}

/// A product C[m x n] = op(A)[m x k] * op(B)[k x n] to time.
struct GEMMShape {
    var name: String
    var m: Int, n: Int, k: Int
    var transposeA = false, transposeB = false

    /// Squares, then the fmnist-cnn products at a per-rank batch (28x28 and 14x14 feature
    /// maps, 3x3 kernels, im2col columns of the whole batch side by side).
    static func benchmarkSet(squares: [Int], batch: Int) -> [GEMMShape] {
        var shapes = squares.map { GEMMShape(name: "square \($0)", m: $0, n: $0, k: $0) }
        guard batch > 0 else { return shapes }
        let p28 = batch * 28 * 28, p14 = batch * 14 * 14
        shapes += [
            GEMMShape(name: "conv1 fwd", m: 32, n: p28, k: 9),
            GEMMShape(name: "conv2 fwd", m: 32, n: p28, k: 288),
            GEMMShape(name: "conv2 wgrad", m: 32, n: 288, k: p28, transposeB: true),
            GEMMShape(name: "conv2 dgrad", m: 288, n: p28, k: 32, transposeA: true),
            GEMMShape(name: "conv4 fwd", m: 64, n: p14, k: 576),
            GEMMShape(name: "fc1 fwd", m: batch, n: 128, k: 3136, transposeB: true),
        ]
        return shapes
    }

    /// Median GFLOP/s (2mnk flops per product) over timed runs after one warm-up: at least
    /// 3 runs, more until `minTime` seconds have passed, at most 200.
    func measure(minTime: Double) -> Double {
        let (rowsA, lda) = transposeA ? (k, m) : (m, k)
        let (rowsB, ldb) = transposeB ? (n, k) : (k, n)
        let a = Tensor(shape: [rowsA, lda]), b = Tensor(shape: [rowsB, ldb]), c = Tensor(shape: [m, n])
        var rng = SeededRNG(seed: 1)
        for t in [a, b] { for i in 0..<t.count { t.data[i] = rng.uniform() - 0.5 } }
        let product = {
            GEMM.multiply(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                          a: a.data, lda: lda, b: b.data, ldb: ldb, c: c.data, ldc: n)
        }
        product()
        let clock = ContinuousClock()
        var seconds: [Double] = []
        let start = clock.now
        while seconds.count < 3 || (seconds.count < 200 && (clock.now - start).seconds < minTime) {
            seconds.append(clock.measure(product).seconds)
        }
        seconds.sort()
        let median = seconds.count % 2 == 1
            ? seconds[seconds.count / 2]
            : (seconds[seconds.count / 2 - 1] + seconds[seconds.count / 2]) / 2
        return 2 * Double(m) * Double(n) * Double(k) / median / 1e9
    }
}

/// A benchmark that could not complete, in one line.
struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension Duration {
    fileprivate var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) * 1e-18
    }
}
