import Foundation
import Formats
import Layers

/// The moving average of `--ema` in a checkpoint: `ema.safetensors` holds it as the model file
/// holds the model (PyTorch state_dict names, the same metadata), with the statistics every rank
/// evaluates; `trainer.safetensors` holds each rank's own statistics of it, which differ in the
/// middle of an epoch without SyncBN, as the model's do.
extension Checkpoint {
    public static let averageFile = "ema.safetensors"
    static let averageStatsTensor = "ema_running_stats"

    /// Whether the checkpoint `dir` holds a moving average.
    public static func hasAverage(_ dir: String) -> Bool {
        FileManager.default.fileExists(atPath: dir + "/" + averageFile)
    }

    /// `--resume` of a run with `--ema`: `average` becomes the saved one, this rank's own
    /// statistics of it included when the run had as many ranks. Whether the run may go on with
    /// this configuration and these ranks was settled by `ResumePlan`.
    static func resumeAverage(from given: String, into average: WeightAverage, model: Model, rank: Int, ranks: Int) throws {
        let dir = try CheckpointDirectory.locate(given, flag: "--resume")
        let path = dir + "/" + averageFile
        guard hasAverage(dir) else {
            throw TrainError.checkpoint("\(dir) holds no \(averageFile), yet its run trained with --ema: the checkpoint is incomplete")
        }
        let file = try readModelFile(dir, averageFile)
        try average.load(through: model) { try load(file.entries, into: model, path: path) }
        // Written by another number of ranks, the file's statistics (the ranks' average) are
        // every rank's.
        let (trainer, saved) = try readTrainer(dir)
        guard saved.ranks == ranks, average.statistics.count > 0 else { return }
        let n = average.statistics.count
        guard let stats = trainer.entries[averageStatsTensor], stats.dtype == .f32, stats.shape == [ranks, n] else {
            let found = trainer.entries[averageStatsTensor].map { "is \($0.dtype.rawValue) \($0.shape)" } ?? "is missing"
            throw TrainError.checkpoint("\(dir)/\(trainerFile): tensor '\(averageStatsTensor)' \(found), expected F32 "
                + "[\(ranks), \(n)] (each rank's BatchNorm statistics of the moving average)")
        }
        let own = try stats.floats()[(rank * n)..<(rank * n + n)]
        own.withUnsafeBufferPointer { average.statistics.data.update(from: $0.baseAddress!, count: n) }
    }
}
