import AllReduce
import Data
import Layers

/// `ddp eval`: a checkpoint's model on a test set, with the normalization it was trained with.
public enum Evaluation {
    /// With `logitsPath`, also writes the logits of every test sample (safetensors, "logits"
    /// [N, classes], "labels" [N]) so other tools (PyTorch) can compare predictions; one rank only.
    public static func run(checkpoint: String, dataset: String?, dataDir: String?, batchSize: Int,
                           logitsPath: String? = nil, comm: any Communicator) throws -> Evaluator.Result {
        if logitsPath != nil && comm.size > 1 {
            throw AgreedFailure(description: "--save-logits needs a single rank (it writes one file of all samples)",
                                printHere: comm.rank == 0)
        }
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
        var logits: [Float] = []
        let result = try Evaluator.evaluate(model: model, batches: batches, comm: comm, batchSize: batchSize,
                                            onLogits: logitsPath == nil ? nil : { logits += $0.buffer })
        if let logitsPath {
            try SafeTensors.write([
                (name: "logits", entry: try SafeTensorEntry(floats: logits, shape: [test.count, info.classes])),
                (name: "labels", entry: try SafeTensorEntry(int64s: test.labels.map { Int64($0) }, shape: [test.count])),
            ], metadata: ["checkpoint": checkpoint, "dataset": name], to: logitsPath)
        }
        return result
    }
}
