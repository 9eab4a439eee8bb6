import ArgumentParser
import Bench
import Formats
import Foundation
import Training

struct BenchStepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "step",
        abstract: "Images/s of full training steps and the compute / communication split.",
        discussion: "Run under mpirun (or --local-ranks) for the data-parallel figure; every rank takes --batch-size.")

    @OptionGroup var common: ModelDataOptions
    @Option(help: "Untimed steps first.") var warmup = 5
    @Option(help: "Timed steps.") var steps = 40
    @Option(help: "Micro-batches of --batch-size per rank and optimizer step, as in `ddp train`.") var accumulate = 1
    @Flag(help: "Also time every layer, forward and backward (rank 0, mean per step).") var layers = false
    @Option(parsing: .unconditional, help: "Gradient bucket size in MiB, as in `ddp train`.") var bucketCapMb = 4.0
    @Flag(inversion: .prefixedNo, help: "Overlap bucket allreduce with the rest of backward, as in `ddp train`.") var overlap = false
    @Flag(help: "One JSON object.") var json = false

    func validate() throws {
        if let problem = config().problem() { throw ValidationError(problem) }
    }

    func config() -> TrainConfig {
        var config = common.config
        config.bucketCapMB = bucketCapMb
        config.overlap = overlap
        config.accumulate = accumulate
        return config
    }

    func run() throws {
        let config = config()
        let code = World.run(localRanks: common.localRanks ?? 0, threads: common.threads ?? 0, timeout: 300,
                             allreduce: common.allreduce) { comm in
            let r = try StepBenchmark.run(config: config, warmup: warmup, steps: steps,
                                          threads: BenchBLAS.threads, layers: layers, comm: comm)
            guard comm.rank == 0 else { return }
            if json {
                var fields: [(String, JSONLine.Value)] = [
                    ("model", .string(r.model)), ("ranks", .number(Double(r.ranks))),
                    ("batch_size", .number(Double(r.batchSize))), ("accumulate", .number(Double(r.accumulate))),
                    ("threads", .number(Double(r.threads))),
                    ("images_per_s", .number(r.imagesPerSecond)), ("compute_s", .number(r.computeSeconds)),
                    ("comm_s", .number(r.commSeconds)), ("step_s", .number(r.stepSeconds)),
                    ("data_s", .number(r.phaseSeconds.data)), ("data_background_s", .number(r.backgroundDataSeconds)),
                    ("forward_s", .number(r.phaseSeconds.forward)),
                    ("backward_s", .number(r.phaseSeconds.backward)), ("update_s", .number(r.phaseSeconds.update)),
                    ("gflops_per_rank", .number(r.gflopsPerRank)), ("cpu_s", .number(r.cpuSeconds)),
                    ("images_per_cpu_s", .number(r.imagesPerCPUSecond)),
                    ("blas_core", .string(BenchBLAS.core)),
                    ("buckets", .number(Double(r.buckets))), ("overlap", .bool(r.overlap)),
                ]
                if layers {
                    fields.append(("layers", .array(r.layerTimes.map { t in
                        .object([("layer", .string(t.layer)), ("algorithm", .string(t.algorithm)), ("forward_s", .number(t.forwardSeconds)),
                                 ("backward_s", .number(t.backwardSeconds))])
                    })))
                }
                print(JSONLine.object(fields))
            } else {
                print(String(format: """
                    model %@, %d rank(s) x batch %d%@, %d BLAS thread(s) per rank, BLAS %@
                      %.1f images/s   step %.2f ms = compute %.2f ms + allreduce wait %.2f ms (medians)
                      gradient: %d bucket(s), overlap with backward %@
                      compute: data %.2f ms, forward %.2f ms, backward %.2f ms, update %.2f ms (medians)
                      data: %.3f ms waited per step (%.1f%% of the step), %.2f ms assembled in the background (mean)
                      %.1f GFLOP/s per rank (%.1f MFLOP per sample, forward + backward)
                      %.1f images per CPU-second (step CPU time %.2f ms per rank, median)
                    """, r.model, r.ranks, r.batchSize, r.accumulate > 1 ? " x \(r.accumulate) micro-batches per step" : "", r.threads,
                    BenchBLAS.description, r.imagesPerSecond,
                    r.stepSeconds * 1e3, r.computeSeconds * 1e3, r.commSeconds * 1e3, r.buckets, r.overlap ? "on" : "off",
                    r.phaseSeconds.data * 1e3, r.phaseSeconds.forward * 1e3, r.phaseSeconds.backward * 1e3,
                    r.phaseSeconds.update * 1e3, r.phaseSeconds.data * 1e3, 100 * r.phaseSeconds.data / max(r.stepSeconds, 1e-12),
                    r.backgroundDataSeconds * 1e3, r.gflopsPerRank,
                    r.flopsPerSample / 1e6, r.imagesPerCPUSecond, r.cpuSeconds * 1e3))
                if layers { print(Self.layerTable(r.layerTimes)) }
            }
        }
        if code != 0 { throw ExitCode(code) }
    }

    /// Per-layer milliseconds per step, forward and backward, in layer order, with what each
    /// layer's convolutions run and its share of the total.
    static func layerTable(_ times: [StepBenchmark.LayerTime]) -> String {
        let total = times.reduce(0) { $0 + $1.forwardSeconds + $1.backwardSeconds }
        func ms(_ seconds: Double) -> String { String(format: "%.2f", seconds * 1e3) }
        let rows = times.map { t in
            [t.layer.count > 48 ? String(t.layer.prefix(47)) + "~" : t.layer, t.algorithm, ms(t.forwardSeconds), ms(t.backwardSeconds),
             String(format: "%.1f%%", 100 * (t.forwardSeconds + t.backwardSeconds) / max(total, 1e-12))]
        }
        let sums = ["all layers", "", ms(times.reduce(0) { $0 + $1.forwardSeconds }),
                    ms(times.reduce(0) { $0 + $1.backwardSeconds }), ""]
        // The layer column as wide as the longest name shown, so runs of different models line up.
        return TextTable([.left, .left, .right, .right, .right], minimumWidths: [48])
            .lines([["layer", "algorithm", "forward ms", "backward ms", "share"]] + rows + [sums])
            .map { "  " + $0 }.joined(separator: "\n")
    }
}
