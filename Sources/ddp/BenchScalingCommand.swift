import ArgumentParser
import Bench
import Formats
import Foundation
import Platform
import Training

struct BenchScalingCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scaling",
        abstract: "Predicts images/s and efficiency for N nodes x R ranks from this node's compute and the links' ping-pong.",
        discussion: """
            Launch it the way the links should be measured: across 2 nodes with 2 ranks on one of \
            them (e.g. scripts/launch.sh -n 4 --hostfile H -- bench scaling) measures both the link \
            inside a node and the one between nodes. The model is in Sources/Bench/ScalingModel.swift.
            """)

    @OptionGroup var common: ModelDataOptions
    @Option(help: "Timed steps per compute measurement.") var steps = 15
    @Option(help: "Layouts to predict, NODESxRANKS, comma-separated.")
    var layouts = "1x1,1x2,2x1,2x2,4x1,4x2,8x1,8x2"
    @Option(parsing: .unconditional, help: "Cores of a node (default: this one's).") var nodeCores: Double?
    @Flag(help: "The nodes share this machine's cores (network namespaces acting as hosts).") var sharedCores = false
    @Option(parsing: .unconditional, help: "Gradient bucket size in MiB, as in `ddp train`.") var bucketCapMb = 4.0
    @Flag(help: "JSON lines: one with the measurements, one per layout.") var json = false

    func validate() throws {
        if let problem = config().problem() { throw ValidationError(problem) }
        if parsedLayouts() == nil { throw ValidationError("--layouts expects NODESxRANKS entries such as 2x4, comma-separated (got '\(layouts)')") }
        if let nodeCores, !(nodeCores > 0) { throw ValidationError("--node-cores must be > 0 (got \(nodeCores))") }
    }

    func config() -> TrainConfig {
        var config = common.config
        config.bucketCapMB = bucketCapMb
        return config
    }

    func parsedLayouts() -> [ScalingModel.Layout]? {
        let list = layouts.split(separator: ",").map { ScalingModel.Layout(String($0)) }
        return list.isEmpty || list.contains(where: { $0 == nil }) ? nil : list.compactMap { $0 }
    }

    func run() throws {
        let config = config(), layouts = parsedLayouts() ?? []
        let cores = nodeCores ?? Double(CPUInfo.current().cores)
        let code = World.run(localRanks: common.localRanks ?? 0, threads: common.threads ?? 0, timeout: 300,
                             allreduce: common.allreduce) { comm in
            let m = try ScalingBenchmark.measure(config: config, coresPerNode: cores, sharedCores: sharedCores,
                                                 steps: steps, comm: comm)
            guard comm.rank == 0 else { return }
            if json { printJSON(m, layouts) } else { printTable(m, layouts) }
        }
        if code != 0 { throw ExitCode(code) }
    }

    /// How the layout's allreduce runs: "hierarchical" or "flat".
    private func allreduceName(_ model: ScalingModel, _ layout: ScalingModel.Layout) -> String {
        model.throughNode(layout) ? "hierarchical" : "flat"
    }

    private func linkText(_ link: ScalingModel.Link?) -> String {
        guard let link else { return "not measured" }
        return String(format: "latency %.1f us, bandwidth %.0f MB/s", link.latencySeconds * 1e6, link.bytesPerSecond / 1e6)
    }

    private func printTable(_ m: ScalingBenchmark.Measured, _ layouts: [ScalingModel.Layout]) {
        let model = m.model
        print("model \(config().model), batch \(model.batchSize) per rank, \(m.parameterCount) parameters in "
              + "\(model.bucketBytes.count) bucket(s); measured on \(m.ranks) rank(s), \(m.nodes) node(s)")
        print("compute alone: " + model.computeByThreads.keys.sorted().map {
            String(format: "%d thread(s) %.1f ms", $0, model.computeByThreads[$0]! * 1e3)
        }.joined(separator: ", ") + String(format: "; node cores %g%@", model.coresPerNode, sharedCores ? ", shared by all nodes" : ""))
        print("link inside a node: \(linkText(model.intraNode))")
        print("link between nodes: \(linkText(model.interNode))")
        var rows = [["layout", "ranks", "threads", "allreduce", "compute ms", "allreduce ms", "step ms", "images/s", "efficiency"]]
        var unavailable: [String] = []
        for layout in layouts {
            switch model.predict(layout) {
            case .success(let p):
                rows.append([layout.description, "\(layout.ranks)", "\(p.threadsPerRank)", allreduceName(model, layout),
                             String(format: "%.1f", p.computeSeconds * 1e3),
                             String(format: "%.1f", p.allreduceSeconds * 1e3), String(format: "%.1f", p.stepSeconds * 1e3),
                             String(format: "%.0f", p.imagesPerSecond), String(format: "%.0f%%", p.efficiency * 100)])
            case .failure(let why):
                rows.append([layout.description, "\(layout.ranks)", "", "", "", "", "", "n/a", ""])
                if !unavailable.contains(why.description) { unavailable.append(why.description) }
            }
        }
        print(TextTable([.left, .right, .right, .left, .right, .right, .right, .right, .right]).lines(rows).joined(separator: "\n"))
        for why in unavailable { print("n/a: \(why)") }
    }

    private func printJSON(_ m: ScalingBenchmark.Measured, _ layouts: [ScalingModel.Layout]) {
        let model = m.model
        func link(_ l: ScalingModel.Link?) -> JSONLine.Value {
            guard let l else { return .null }
            return .object([("latency_s", .number(l.latencySeconds)), ("bytes_per_s", .number(l.bytesPerSecond))])
        }
        print(JSONLine.object([
            ("event", .string("measured")), ("model", .string(config().model)), ("batch_size", .number(Double(model.batchSize))),
            ("ranks", .number(Double(m.ranks))), ("nodes", .number(Double(m.nodes))),
            ("compute_s_by_threads", .object(model.computeByThreads.keys.sorted().map { ("\($0)", .number(model.computeByThreads[$0]!)) })),
            ("node_cores", .number(model.coresPerNode)), ("shared_cores", .bool(sharedCores)),
            ("bucket_bytes", .array(model.bucketBytes.map { .number(Double($0)) })),
            ("intra_node", link(model.intraNode)), ("inter_node", link(model.interNode)),
        ]))
        for layout in layouts {
            var fields: [(String, JSONLine.Value)] = [("event", .string("prediction")), ("layout", .string(layout.description)),
                                                      ("ranks", .number(Double(layout.ranks))),
                                                      ("allreduce", .string(allreduceName(model, layout)))]
            switch model.predict(layout) {
            case .success(let p):
                fields += [("threads", .number(Double(p.threadsPerRank))), ("compute_s", .number(p.computeSeconds)),
                           ("allreduce_s", .number(p.allreduceSeconds)), ("step_s", .number(p.stepSeconds)),
                           ("images_per_s", .number(p.imagesPerSecond)), ("efficiency", .number(p.efficiency))]
            case .failure(let why):
                fields.append(("unavailable", .string(why.description)))
            }
            print(JSONLine.object(fields))
        }
    }
}
