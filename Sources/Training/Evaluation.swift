import AllReduce
import Data
import Layers

/// `ddp eval`: a checkpoint's model on a test set, with the normalization it was trained with.
public enum Evaluation {
    public static func run(checkpoint: String, dataset: String?, dataDir: String?, batchSize: Int,
                           comm: any Communicator) throws -> Evaluator.Result {
        let (model, info) = try World.agree(comm) { try Checkpoint.loadModel(checkpoint: checkpoint) }
        let name = dataset ?? info.dataset ?? "fashion-mnist"
        let test = try World.agree(comm) {
            try DatasetLoader.load(name: name, dataDir: dataDir, split: .test)
        }
        guard [test.channels, test.height, test.width] == info.inputShape, test.classes <= info.classes else {
            throw AgreedFailure(description: "\(name) images are \(test.channels)x\(test.height)x\(test.width) with "
                + "\(test.classes) classes, but the checkpoint's model takes \(info.inputShape.map(String.init).joined(separator: "x")) "
                + "with \(info.classes)", printHere: comm.rank == 0)
        }
        let normalization = try info.normalization ?? World.agree(comm) {
            Normalization.statistics(of: try DatasetLoader.load(name: name, dataDir: dataDir, split: .train))
        }
        let batches = try BatchAssembler(dataset: test, normalization: normalization)
        return try Evaluator.evaluate(model: model, batches: batches, comm: comm, batchSize: batchSize)
    }
}
