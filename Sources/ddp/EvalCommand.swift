import ArgumentParser
import Foundation
import Training

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a checkpoint on a test set: loss and accuracy.")

    @Option(help: "Checkpoint directory, or a run directory (its 'latest').") var checkpoint: String
    @Option(help: "Dataset (default: the one the checkpoint was trained on).") var dataset: String?
    @Option(help: "Directory with the dataset files.") var dataDir: String?
    @Option(parsing: .unconditional, help: "Evaluation batch size per rank.") var batchSize = 500
    @Option(parsing: .unconditional, help: "Run P ranks as threads in this process.") var localRanks = 0
    @Option(help: "Also write every test sample's logits to this safetensors file (one rank).") var saveLogits: String?
    @Flag(help: "Print one JSON object instead of a table.") var json = false

    func validate() throws {
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1 (got \(batchSize))") }
        if let p = World.localRanksProblem(localRanks) { throw ValidationError(p) }
    }

    func run() throws {
        let code = World.run(localRanks: localRanks, threads: 0, timeout: 300) { comm in
            let r = try Evaluation.run(checkpoint: checkpoint, dataset: dataset, dataDir: dataDir,
                                       batchSize: batchSize, logitsPath: saveLogits, comm: comm)
            guard comm.rank == 0 else { return }
            if json {
                print("{\"test_loss\":\(r.loss),\"test_acc\":\(r.accuracy),\"samples\":\(r.samples)}")
            } else {
                print(String(format: "checkpoint %@\n  test loss %.4f\n  test accuracy %.2f%% (%d samples)",
                             checkpoint, r.loss, r.accuracy * 100, r.samples))
            }
        }
        if code != 0 { throw ExitCode(code) }
    }
}
