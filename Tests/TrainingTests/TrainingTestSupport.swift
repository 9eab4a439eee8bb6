import AllReduce
import Data
import Formats
import Foundation
import Layers
@testable import Training

/// Small, fast runs on the synthetic set: every test here trains for real, through the same
/// Trainer the command line uses, with ranks as threads (the in-process transport).
enum TrainingFixture {
    /// A BatchNorm net without dropout, so P ranks can equal one rank exactly (up to summation order).
    static let bnSpec = "c8k3p1nb-bn-relu-mp2-c16nb-bn-relu-gap-fc"

    static func config(spec: String = bnSpec, batch: Int = 8, epochs: Int = 1, steps: Int = 0) -> TrainConfig {
        var c = TrainConfig()
        c.dataset = "synthetic"
        c.synthetic = SyntheticDataset.Options(trainCount: 256, testCount: 64, channels: 1, height: 12, width: 12,
                                               classes: 4, seed: 3)
        c.model = spec
        c.batchSize = batch
        c.epochs = epochs
        c.maxSteps = steps
        c.lr = 0.05
        // --lr as given at any number of ranks: the tests compare P ranks with one rank at the
        // same global batch, which the linear scaling rule would give P times the LR.
        c.scaleLR = false
        c.schedule = .constant
        c.quiet = true
        c.desyncCheckEvery = 5
        return c
    }

    /// Runs `config` on `ranks` threads; returns rank 0's summary.
    static func train(_ config: TrainConfig, ranks: Int, nodeSizes: [Int]? = nil,
                      convolutions: ConvolutionRequest? = ConvolutionRequest.environment) throws -> TrainSummary {
        try trainAllRanks(config, ranks: ranks, nodeSizes: nodeSizes, convolutions: convolutions)[0]
    }

    /// Runs `config` on `ranks` threads (on nodes of `nodeSizes`, by default one; its
    /// `allreduce` applied as `World.run` does; `convolutions` as `DDP_CONV` would ask, whatever
    /// this process's environment says); returns every rank's summary, in rank order.
    static func trainAllRanks(_ config: TrainConfig, ranks: Int, nodeSizes: [Int]? = nil,
                              convolutions: ConvolutionRequest? = ConvolutionRequest.environment) throws -> [TrainSummary] {
        let lock = NSLock()
        var results = [TrainSummary?](repeating: nil, count: ranks)
        try InProcessWorld.run(size: ranks, nodeSizes: nodeSizes, timeoutSeconds: 60) { comm in
            if let allreduce = config.allreduce { comm.workspace.algorithm = allreduce }
            let trainer = Trainer(config: config, communicator: comm, log: { _ in })
            trainer.convolutionRequest = convolutions
            let s = try trainer.run()
            lock.lock(); results[comm.rank] = s; lock.unlock()
        }
        return results.map { $0! }
    }

    static func temporaryDirectory(_ name: String) -> String {
        let dir = NSTemporaryDirectory() + "ddp-\(name)-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    static func maxAbsoluteDifference(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count)
        return zip(a, b).map { abs(Double($0) - Double($1)) }.max() ?? 0
    }

    static func maxRelativeDifference(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count)
        var worst = 0.0
        for (x, y) in zip(a, b) {
            let d = abs(Double(x) - Double(y)) / max(abs(Double(x)), abs(Double(y)), 1e-3)
            worst = max(worst, d)
        }
        return worst
    }
}

/// Checkpoints as an older ddp wrote them, made from new ones.
enum OlderCheckpoint {
    /// Removes `keys` from the configuration `trainer.safetensors` records (settings an older
    /// version did not have), leaving every tensor as it was.
    static func dropConfigKeys(_ keys: [String], in checkpoint: String) throws {
        let path = checkpoint + "/" + Checkpoint.trainerFile
        let file = try SafeTensors.read(path: path)
        var metadata = file.metadata
        var config = try JSONSerialization.jsonObject(with: Data((metadata["config"] ?? "").utf8)) as? [String: Any] ?? [:]
        for key in keys { config[key] = nil }
        metadata["config"] = String(decoding: try JSONSerialization.data(withJSONObject: config, options: .sortedKeys), as: UTF8.self)
        try SafeTensors.write(file.names.map { (name: $0, entry: file.entries[$0]!) }, metadata: metadata, to: path)
    }
}
