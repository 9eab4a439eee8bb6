import Formats
import Foundation
import Platform
import Tensor

/// One row of `ddp bench gemm --json`; the JSON keys are its CodingKeys.
public struct GEMMResult: Codable, Sendable {
    public var name: String
    public var m: Int, n: Int, k: Int
    public var transA: Bool, transB: Bool
    public var threads: Int
    public var core: String
    public var gflops: Double
    public var baselineCore: String?
    public var baselineGflops: Double?
    public var speedup: Double?

    enum CodingKeys: String, CodingKey {
        case name, m, n, k, transA = "trans_a", transB = "trans_b", threads, core, gflops
        case baselineCore = "baseline_core", baselineGflops = "baseline_gflops", speedup
    }

    public init(shape: GEMMShape, threads: Int, core: String, gflops: Double) {
        (name, m, n, k, transA, transB) = (shape.name, shape.m, shape.n, shape.k, shape.transposeA, shape.transposeB)
        self.threads = threads
        self.core = core
        self.gflops = gflops
    }

    public func jsonLine() throws -> String { try JSONLine.encode(self) }
}

extension GEMMResult {
    /// The results of `arguments` (a `ddp bench gemm --child` command line) run by a child
    /// process of this binary under the OpenBLAS kernel `core`. The child gets OPENBLAS_CORETYPE
    /// as if the user had set it (ddp's re-exec marker removed), so it neither corrects nor
    /// re-executes.
    public static func baseline(core baselineCore: String, arguments: [String]) throws -> [GEMMResult] {
        let executable = URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
        var environment = ProcessInfo.processInfo.environment
        environment[BLASRuntime.coreTypeVariable] = baselineCore
        environment[BLASRuntime.markerVariable] = nil
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
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
}

/// A product C[m x n] = op(A)[m x k] * op(B)[k x n] to time.
public struct GEMMShape: Sendable {
    public var name: String
    public var m: Int, n: Int, k: Int
    public var transposeA = false, transposeB = false

    /// Squares, then the fmnist-cnn products at a per-rank batch (28x28 and 14x14 feature
    /// maps, 3x3 kernels, im2col columns of the whole batch side by side).
    public static func benchmarkSet(squares: [Int], batch: Int) -> [GEMMShape] {
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
    public func measure(minTime: Double) -> Double {
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
        var seconds: [Double] = []
        let start = MonotonicClock.seconds()
        while seconds.count < 3 || (seconds.count < 200 && MonotonicClock.seconds() - start < minTime) {
            let t = MonotonicClock.seconds()
            product()
            seconds.append(MonotonicClock.seconds() - t)
        }
        return 2 * Double(m) * Double(n) * Double(k) / Median.of(seconds) / 1e9
    }
}

/// A benchmark that could not complete, in one line.
public struct BenchError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
