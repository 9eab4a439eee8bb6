import AllReduce
import Data
import Formats
import Foundation
import Layers
import Tensor

/// Test-set evaluation: each rank takes a contiguous shard, every sample is counted exactly once,
/// and loss and correct counts are summed across ranks (`evaluate`, what the trainer runs after
/// an epoch). `run` is `ddp eval`: a checkpoint's model on a test set, with the normalization it
/// was trained with.
public enum Evaluation {
    public struct Result: Sendable {
        public var loss: Double
        public var accuracy: Double
        public var samples: Int
        /// confusion[t * classes + p]: samples of true class t predicted as p (the argmax of the
        /// logits, the first on ties, as the accuracy counts them).
        public var confusion: [Int]

        public var classes: Int { Int(Double(confusion.count).squareRoot().rounded()) }

        /// Per class: its samples, and the share of them predicted right (NaN without samples).
        public var perClass: [(samples: Int, accuracy: Double)] {
            (0..<classes).map { t in
                let row = confusion[(t * classes)..<((t + 1) * classes)]
                let n = row.reduce(0, +)
                return (n, n == 0 ? .nan : Double(confusion[t * classes + t]) / Double(n))
            }
        }
    }

    /// `onLogits`, when given, sees every batch's logits [n, classes] in sample order.
    public static func evaluate(model: Model, batches: BatchAssembler, comm: any Communicator,
                                batchSize: Int, onLogits: ((Tensor) -> Void)? = nil) throws -> Result {
        let dataset = batches.dataset
        let range = DistributedSampler.evaluationRange(count: dataset.count, rank: comm.rank, ranks: comm.size)
        let batch = Tensor(shape: [batchSize, dataset.channels, dataset.height, dataset.width])
        let labels = UnsafeMutablePointer<Int32>.allocate(capacity: batchSize)
        defer { labels.deallocate() }
        let loss = SoftmaxCrossEntropy(classes: model.classes)
        let k = model.classes
        // Loss sum, correct, samples, then the confusion counts.
        var sums = [Double](repeating: 0, count: 3 + k * k)
        var start = range.lowerBound
        while start < range.upperBound {
            let n = min(batchSize, range.upperBound - start)
            batch.reshape([n, dataset.channels, dataset.height, dataset.width])
            batches.fill(range: start..<(start + n), images: batch.data, labels: labels)
            let logits = model.forward(batch, training: false)
            onLogits?(logits)
            let r = loss.forward(logits: logits, labels: UnsafeBufferPointer(start: labels, count: n), computeGradient: false)
            sums[0] += r.loss * Double(n); sums[1] += Double(r.correct); sums[2] += Double(n)
            for i in 0..<n {
                let z = logits.data + i * k
                var best = 0, top = z[0]
                for j in 1..<max(k, 1) where z[j] > top { top = z[j]; best = j }
                sums[3 + Int(labels[i]) * k + best] += 1
            }
            start += n
        }
        try comm.allReduce(&sums)
        return Result(loss: sums[0] / max(sums[2], 1), accuracy: sums[1] / max(sums[2], 1), samples: Int(sums[2]),
                      confusion: sums[3...].map { Int($0) })
    }

    public struct Report: Sendable {
        public let result: Result
        /// The checkpoint evaluated (a run directory's `latest` resolved) and its global step
        /// (nil for a checkpoint without trainer state).
        public let checkpoint: String
        public let step: Int?
        /// The weights evaluated: `Checkpoint.modelFile`, or `Checkpoint.averageFile` (`--ema`).
        public let weights: String
        /// The data set evaluated on; `trainedOn` the one the checkpoint was trained on, when known.
        public let dataset: String
        public let trainedOn: String?
        public let classNames: [String]

        /// A warning when the test set is not the training run's.
        public var datasetWarning: String? {
            guard let trainedOn, trainedOn != dataset else { return nil }
            return "evaluating on \(dataset), but \(checkpoint) was trained on \(trainedOn)"
        }
    }

    /// The data set, its directory and (synthetic) options default to the training run's. With
    /// `logitsPath`, also writes the logits of every test sample (safetensors, "logits"
    /// [N, classes], "labels" [N]; the checkpoint and its step in the metadata) so other tools
    /// (PyTorch) can compare predictions; one rank only. `average`: the moving average of the
    /// weights the run kept with `--ema` rather than the model.
    public static func run(checkpoint: String, dataset: String?, dataDir: String?, batchSize: Int,
                           logitsPath: String? = nil, average: Bool = false, comm: any Communicator) throws -> Report {
        if logitsPath != nil && comm.size > 1 {
            throw AgreedFailure(description: "--save-logits needs a single rank (it writes one file of all samples)",
                                printHere: comm.rank == 0)
        }
        let dir = try World.agree(comm) { try CheckpointDirectory.locate(checkpoint, flag: "") }
        let weights = average ? Checkpoint.averageFile : Checkpoint.modelFile
        let (model, info) = try World.agree(comm) {
            if average && !Checkpoint.hasAverage(dir) {
                throw TrainError.checkpoint("\(dir) holds no \(Checkpoint.averageFile): its run kept no moving average "
                    + "of the weights (ddp train --ema DECAY keeps one); leave out --ema to evaluate the model")
            }
            return try Checkpoint.loadModel(checkpoint: dir, file: weights)
        }
        // A checkpoint of the model alone (no trainer state) still evaluates, on the data set its
        // model file names.
        let run = try? Checkpoint.savedRun(dir, flag: "--checkpoint")
        let trainedOn = run?.config.dataset ?? info.dataset
        let name = dataset ?? trainedOn ?? "fashion-mnist"
        let sameData = name == run?.config.dataset
        let directory = dataDir ?? (sameData ? run?.config.dataDir : nil)
        let synthetic = sameData ? run?.config.synthetic ?? SyntheticDataset.Options() : SyntheticDataset.Options()
        // The training run's image size and validation split, so its test set is the one evaluated;
        // images of another data set are fitted to the model's input.
        var options = sameData ? run?.config.sourceOptions ?? SourceOptions()
            : SourceOptions(imageSize: try? ImageSize(height: info.inputShape[1], width: info.inputShape[2]))
        // Image folders: the model's channels, so only the split evaluated is decoded (a model of
        // other channels than 1 or 3 meets the shape check below instead).
        if [1, 3].contains(info.inputShape[0]) { options.channels = info.inputShape[0] }
        let test = try World.agree(comm) {
            try DatasetLoader.load(name: name, dataDir: directory, split: .test, synthetic: synthetic, options: options)
        }
        guard [test.channels, test.height, test.width] == info.inputShape, test.classes <= info.classes else {
            throw AgreedFailure(description: "\(name) images are \(test.channels)x\(test.height)x\(test.width) with "
                + "\(test.classes) classes, but the checkpoint's model takes \(info.inputShape.map(String.init).joined(separator: "x")) "
                + "with \(info.classes)", printHere: comm.rank == 0)
        }
        let normalization = try info.normalization ?? World.agree(comm) {
            Normalization.of(try DatasetLoader.load(name: name, dataDir: directory, split: .train,
                                                                synthetic: synthetic, options: options))
        }
        let batches = try BatchAssembler(dataset: test, normalization: normalization)
        var logits: [Float] = []
        let result = try evaluate(model: model, batches: batches, comm: comm, batchSize: batchSize,
                                            onLogits: logitsPath == nil ? nil : { logits += $0.buffer })
        if let logitsPath {
            var metadata = ["checkpoint": dir, "dataset": name, "weights": weights]
            if let step = run?.globalStep { metadata["step"] = "\(step)" }
            try SafeTensors.write([
                (name: "logits", entry: try SafeTensorEntry(floats: logits, shape: [test.count, info.classes])),
                (name: "labels", entry: try SafeTensorEntry(int64s: test.labels.map { Int64($0) }, shape: [test.count])),
            ], metadata: metadata, to: logitsPath)
        }
        return Report(result: result, checkpoint: dir, step: run?.globalStep, weights: weights, dataset: name,
                      trainedOn: trainedOn, classNames: info.classNames)
    }
}
