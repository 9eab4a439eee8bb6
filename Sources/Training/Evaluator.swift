import AllReduce
import Data
import Layers
import Tensor

/// Test-set evaluation: each rank takes a contiguous shard, every sample is counted exactly once,
/// and loss and correct counts are summed across ranks.
public enum Evaluator {
    public struct Result: Sendable { public var loss: Double; public var accuracy: Double; public var samples: Int }

    /// `onLogits`, when given, sees every batch's logits [n, classes] in sample order.
    public static func evaluate(model: Model, batches: BatchAssembler, comm: any Communicator,
                                batchSize: Int, onLogits: ((Tensor) -> Void)? = nil) throws -> Result {
        let dataset = batches.dataset
        let range = DistributedSampler.evaluationRange(count: dataset.count, rank: comm.rank, ranks: comm.size)
        let batch = Tensor(shape: [batchSize, dataset.channels, dataset.height, dataset.width])
        let labels = UnsafeMutablePointer<Int32>.allocate(capacity: batchSize)
        defer { labels.deallocate() }
        let loss = SoftmaxCrossEntropy(classes: model.classes)
        var sums = [0.0, 0.0, 0.0]
        var start = range.lowerBound
        while start < range.upperBound {
            let n = min(batchSize, range.upperBound - start)
            batch.reshape([n, dataset.channels, dataset.height, dataset.width])
            batches.fill(range: start..<(start + n), images: batch.data, labels: labels)
            let logits = model.forward(batch, training: false)
            onLogits?(logits)
            let r = loss.forward(logits: logits, labels: UnsafeBufferPointer(start: labels, count: n), computeGradient: false)
            sums[0] += r.loss * Double(n); sums[1] += Double(r.correct); sums[2] += Double(n)
            start += n
        }
        try comm.allReduce(&sums)
        return Result(loss: sums[0] / max(sums[2], 1), accuracy: sums[1] / max(sums[2], 1), samples: Int(sums[2]))
    }
}
