import Data
import Foundation
import Layers
import Tensor

/// `ddp predict`: a checkpoint's model on new inputs, with the preprocessing of its training:
/// each image converted to the model's channels, fitted to its input size (`ImageResize.fit`,
/// a no-op for images of that size) and normalized with the statistics the checkpoint holds,
/// through the same `BatchAssembler` as training.
public enum Prediction {
    /// One input's top classes, most probable first.
    public struct Item: Sendable {
        /// The file, or "FILE:train[i]" / "FILE[i]" for a sample of a packed file or an array.
        public let input: String
        /// The label the input came with (a packed file's samples), if any.
        public let label: Int?
        public let top: [(label: Int, name: String, probability: Double)]
    }

    /// Images per forward pass.
    static let batchSize = 256

    /// Runs the model of `checkpoint` on `inputs` (image files, folders of them, `.npy` arrays
    /// of images, packed files), calling `each` per input in order; returns the files left out
    /// under `skipBad`.
    public static func run(checkpoint: String, inputs: [String], topK: Int, skipBad: Bool,
                           each: (Item) throws -> Void) throws -> [SkippedFile] {
        let (model, info) = try Checkpoint.loadModel(checkpoint: checkpoint)
        guard let normalization = info.normalization else {
            throw TrainError.checkpoint("\(checkpoint) records no input normalization, so its preprocessing is unknown")
        }
        let shape = (channels: info.inputShape[0], height: info.inputShape[1], width: info.inputShape[2])
        var samples = SampleBatch(shape: shape)
        var skipped: [SkippedFile] = []
        func flush() throws {
            guard !samples.names.isEmpty else { return }
            try predict(samples, model: model, normalization: normalization, info: info, topK: topK, each: each)
            samples = SampleBatch(shape: shape)
        }
        for input in inputs {
            for sample in try PredictionInputs.samples(of: input, shape: shape, skipBad: skipBad, skipped: &skipped) {
                samples.append(sample)
                if samples.names.count == batchSize { try flush() }
            }
        }
        try flush()
        return skipped
    }

    /// Inputs of the model's shape, as bytes, waiting for one forward pass.
    struct SampleBatch {
        let shape: (channels: Int, height: Int, width: Int)
        var names: [String] = []
        var labels: [Int?] = []
        var pixels: [UInt8] = []

        mutating func append(_ sample: PredictionInputs.Sample) {
            names.append(sample.name)
            labels.append(sample.label)
            pixels += sample.pixels
        }
    }

    private static func predict(_ batch: SampleBatch, model: Model, normalization: Normalization,
                                info: Checkpoint.ModelInfo, topK: Int, each: (Item) throws -> Void) throws {
        let n = batch.names.count, k = info.classes
        let dataset = Dataset(name: "predict", split: .test, images: batch.pixels, labels: [UInt8](repeating: 0, count: n),
                              channels: batch.shape.channels, height: batch.shape.height, width: batch.shape.width,
                              classes: k, classNames: info.classNames)
        let assembler = try BatchAssembler(dataset: dataset, normalization: normalization)
        let input = Tensor(shape: [n, batch.shape.channels, batch.shape.height, batch.shape.width])
        let labels = UnsafeMutablePointer<Int32>.allocate(capacity: n)
        defer { labels.deallocate() }
        assembler.fill(range: 0..<n, images: input.data, labels: labels)
        let logits = model.forward(input, training: false)
        for i in 0..<n {
            let z = (0..<k).map { Double(logits.data[i * k + $0]) }
            let top = z.max() ?? 0
            let e = z.map { Foundation.exp($0 - top) }
            let sum = e.reduce(0, +)
            // Most probable first; equal probabilities in label order.
            let order = (0..<k).sorted { e[$0] != e[$1] ? e[$0] > e[$1] : $0 < $1 }.prefix(topK)
            try each(Item(input: batch.names[i], label: batch.labels[i],
                          top: order.map { ($0, info.classNames[$0], e[$0] / sum) }))
        }
    }
}
