import ArgumentParser
import Bench
import Formats
import Foundation

/// `ddp bench allreduce`: our allreduce against MPI_Allreduce per message size, a self-check
/// against it (`--verify`), and the gradient-bucket overlap study (`--overlap-study`).
struct BenchAllReduceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allreduce",
        abstract: "Our ring allreduce vs MPI_Allreduce per message size (run under mpirun -n P).",
        discussion: """
            For each size: warm-up, then per iteration our allreduce and MPI_Allreduce (Float sum, \
            in place) on the same data, each after a barrier; reported is the median over \
            iterations of the slowest rank's time, the bus bandwidth 2(P-1)/P * bytes / time, and \
            ratio = our bus bandwidth / MPI's. Only rank 0 prints.
            """)

    @Option(help: "Message sizes in bytes, comma-separated; K, M, G suffixes are powers of 1024.")
    var sizes = "4K,64K,1M,16M"

    @Option(help: "Timed iterations per size.")
    var iterations = 20

    @Option(help: "Our algorithm: auto, flat, hierarchical, ring or recursive-doubling (default: $DDP_ALLREDUCE_ALGORITHM, else auto).")
    var algorithm: String?

    @Option(help: "Ring segment size in bytes (K, M suffixes; 0: whole chunks).")
    var ringSegment: String?

    @Option(help: "Hierarchical allreduce: piece size in bytes (K, M suffixes).")
    var hierarchyPiece: String?

    @Option(help: "Hierarchical allreduce: the node leaders' ring segment in bytes (K, M suffixes; 0: whole chunks).")
    var leaderSegment: String?

    @Flag(help: "Print one JSON object per line instead of a table.")
    var json = false

    @Flag(help: "Instead of timing, check our collectives against MPI_Allreduce on rank-dependent data; exit 1 on a mismatch.")
    var verify = false

    @Flag(help: "Instead of the size sweep, time a simulated backward with gradient buckets, overlap off and on.")
    var overlapStudy = false

    @Option(help: "Overlap study: parameters of the simulated model (fmnist-cnn's layer shapes, scaled).")
    var parameters = 1_200_000

    @Option(help: "Overlap study: compute time of the simulated backward, milliseconds.")
    var backwardMs = 20.0

    @Option(help: "Overlap study: bucket caps in bytes, comma-separated (K, M suffixes).")
    var bucketCaps = "256K,1M,4M"

    func validate() throws {
        _ = try Self.parseSizes(sizes, option: "--sizes")
        _ = try Self.parseSizes(bucketCaps, option: "--bucket-caps")
        if let ringSegment { _ = try Self.parseSizes(ringSegment, option: "--ring-segment") }
        if let leaderSegment { _ = try Self.parseSizes(leaderSegment, option: "--leader-segment") }
        if let hierarchyPiece, try Self.parseSizes(hierarchyPiece, option: "--hierarchy-piece")[0] < 1 {
            throw ValidationError("--hierarchy-piece must be at least 1 byte")
        }
        guard iterations >= 1 else { throw ValidationError("--iterations must be >= 1 (got \(iterations))") }
        guard parameters >= 1 else { throw ValidationError("--parameters must be >= 1 (got \(parameters))") }
        guard backwardMs >= 0 else { throw ValidationError("--backward-ms must be >= 0 (got \(backwardMs))") }
        if let algorithm, !AllReduceBenchWorld.algorithmNames.contains(algorithm) {
            throw ValidationError("--algorithm \(algorithm): expected one of "
                + AllReduceBenchWorld.algorithmNames.joined(separator: ", "))
        }
    }

    func run() throws {
        let world = try AllReduceBenchWorld(
            algorithm: algorithm, ringSegmentBytes: try ringSegment.map { try Self.parseSizes($0, option: "--ring-segment")[0] },
            hierarchyPieceBytes: try hierarchyPiece.map { try Self.parseSizes($0, option: "--hierarchy-piece")[0] },
            leaderSegmentBytes: try leaderSegment.map { try Self.parseSizes($0, option: "--leader-segment")[0] })
        let printer = world.rank == 0
        try world.run(passThrough: { $0 is ExitCode }) {
            if verify {
                let failures = try world.selfTest { if printer { print($0) } }
                if !failures.isEmpty { throw ExitCode.failure }
            } else if overlapStudy {
                let rows = try world.overlapStudy(parameters: parameters, backwardSeconds: backwardMs / 1000,
                                                  capsBytes: try Self.parseSizes(bucketCaps, option: "--bucket-caps"),
                                                  steps: iterations)
                if printer { printStudy(rows, ranks: world.size) }
            } else {
                let results = try world.sweep(sizes: try Self.parseSizes(sizes, option: "--sizes"), iterations: iterations)
                if printer { printSweep(results) }
            }
        }
    }

    private func printSweep(_ results: [AllReduceMeasurement]) {
        if json {
            for r in results {
                print(JSONLine.object([
                    "ranks": .number(Double(r.ranks)), "bytes": .number(Double(r.bytes)), "algorithm": .string(r.algorithm.rawValue),
                    "ring_us": Self.rounded(r.ringSeconds * 1e6, 1), "mpi_us": Self.rounded(r.mpiSeconds * 1e6, 1),
                    "ring_busbw_GBps": Self.rounded(r.ringBusBandwidth / 1e9, 3),
                    "mpi_busbw_GBps": Self.rounded(r.mpiBusBandwidth / 1e9, 3), "ratio": Self.rounded(r.ratio, 3),
                ]))
            }
            return
        }
        guard let first = results.first else { return }
        print("allreduce, \(first.ranks) ranks, Float sum in place; median over \(iterations) iterations of the slowest rank")
        print(Self.table([["bytes", "algorithm", "ours us", "MPI us", "ours GB/s", "MPI GB/s", "ratio"]] + results.map { r in
            [String(r.bytes), r.algorithm.rawValue, Self.fixed(r.ringSeconds * 1e6, 1),
             Self.fixed(r.mpiSeconds * 1e6, 1), Self.fixed(r.ringBusBandwidth / 1e9, 3),
             Self.fixed(r.mpiBusBandwidth / 1e9, 3), Self.fixed(r.ratio, 2)]
        }))
    }

    private func printStudy(_ rows: [BucketOverlapStudy.Row], ranks: Int) {
        if json {
            for r in rows {
                print(JSONLine.object([
                    "ranks": .number(Double(ranks)), "parameters": .number(Double(parameters)),
                    "cap_bytes": .number(Double(r.capBytes)), "buckets": .number(Double(r.buckets)),
                    "mode": .string(r.mode.rawValue), "step_ms": Self.rounded(r.stepSeconds * 1e3, 3),
                    "comm_ms": Self.rounded(r.communicationSeconds * 1e3, 3), "wait_ms": Self.rounded(r.waitSeconds * 1e3, 3),
                ]))
            }
            return
        }
        print("gradient buckets, \(ranks) ranks, \(parameters) parameters, simulated backward \(backwardMs) ms; "
            + "medians over \(iterations) steps of the slowest rank")
        print(Self.table([["cap bytes", "buckets", "mode", "step ms", "comm ms", "wait ms"]] + rows.map { r in
            [String(r.capBytes), String(r.buckets), r.mode.rawValue, Self.fixed(r.stepSeconds * 1e3, 3),
             Self.fixed(r.communicationSeconds * 1e3, 3), Self.fixed(r.waitSeconds * 1e3, 3)]
        }))
    }

    /// "4K,1M" -> [4096, 1048576].
    static func parseSizes(_ text: String, option: String) throws -> [Int] {
        let sizes = try text.split(separator: ",").map { part -> Int in
            let token = part.trimmingCharacters(in: .whitespaces).uppercased()
            let scale: Int
            switch token.last {
            case "K": scale = 1 << 10
            case "M": scale = 1 << 20
            case "G": scale = 1 << 30
            default: scale = 1
            }
            let digits = scale == 1 ? token : String(token.dropLast())
            guard let value = Int(digits), value >= 0, (value * scale) % 4 == 0 else {
                throw ValidationError("\(option): '\(part)' is not a size in bytes that is a multiple of 4 (e.g. 4K, 1M, 4096)")
            }
            return value * scale
        }
        guard !sizes.isEmpty else { throw ValidationError("\(option): expected at least one size") }
        return sizes
    }

    /// `value` to `digits` decimals for a JSON line (null when not finite).
    private static func rounded(_ value: Double, _ digits: Int) -> JSONLine.Value {
        let scale = pow(10, Double(digits))
        return .number((value * scale).rounded() / scale)
    }

    private static func fixed(_ value: Double, _ digits: Int) -> String {
        value.isFinite ? String(format: "%.\(digits)f", value) : "null"
    }

    /// Numbers right-aligned in 11 columns, the second column (a name) left-aligned in 20.
    private static func table(_ rows: [[String]]) -> String {
        let columns = rows.first?.count ?? 0
        return TextTable((0..<columns).map { $0 == 1 ? .left : .right },
                         minimumWidths: (0..<columns).map { $0 == 1 ? 20 : 11 }, separator: " ").text(rows)
    }
}
