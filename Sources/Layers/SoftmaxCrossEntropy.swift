import Foundation
import Tensor

/// Softmax cross-entropy over logits `[N, classes]`, PyTorch's `F.cross_entropy` (mean over the
/// batch): loss = mean_n (logsumexp(z_n) - z_n[label_n]), with logsumexp taken stably as
/// max + log(sum exp(z - max)). Also counts correct predictions (argmax, first on ties) and
/// writes dloss/dlogits = (softmax(z) - onehot(label)) / N into a buffer it owns.
///
/// With label smoothing e (PyTorch's `label_smoothing`) the target is q = (1 - e) onehot + e / K
/// rather than the one-hot vector, so a sample costs
///     -sum_j q_j log softmax(z)_j = logsumexp(z) - (1 - e) z[label] - (e / K) sum_j z_j
/// and dloss/dlogits = (softmax(z) - q) / N. The loss is then lowest at finite logits, so training
/// stops pushing one class's logit up without bound (Szegedy et al., "Rethinking the Inception
/// Architecture for Computer Vision").
public final class SoftmaxCrossEntropy {
    /// What one evaluation of the loss gives.
    public struct Result {
        /// Mean loss over the batch (multiply by the batch size for a sum across shards).
        public let loss: Double
        /// Samples whose largest logit is their label's.
        public let correct: Int
        /// dloss/dlogits `[N, classes]`, owned by the loss object (valid until the next call);
        /// zeros when the gradient was not asked for.
        public let gradient: Tensor
    }

    public let classes: Int
    /// e in [0, 1): the share of the target moved from the label to all classes evenly.
    public let labelSmoothing: Double
    private let gradientBuffer = ActivationBuffer()

    public init(classes: Int, labelSmoothing: Double = 0) {
        precondition(classes > 0, "SoftmaxCrossEntropy needs at least one class")
        precondition(labelSmoothing >= 0 && labelSmoothing < 1, "label smoothing \(labelSmoothing) is outside [0, 1)")
        self.classes = classes
        self.labelSmoothing = labelSmoothing
    }

    /// Loss, correct count and gradient for `logits` [N, classes] and N labels in 0..<classes.
    public func forward(logits: Tensor, labels: UnsafeBufferPointer<Int32>, computeGradient: Bool = true) -> Result {
        evaluate(logits: logits, count: labels.count, computeGradient: computeGradient) { Int(labels[$0]) }
    }

    /// Convenience for labels held in an array.
    public func forward(logits: Tensor, labels: [Int32], computeGradient: Bool = true) -> Result {
        labels.withUnsafeBufferPointer { forward(logits: logits, labels: $0, computeGradient: computeGradient) }
    }

    /// Convenience for labels held in an array of Int.
    public func forward(logits: Tensor, labels: [Int], computeGradient: Bool = true) -> Result {
        labels.withUnsafeBufferPointer { l in
            evaluate(logits: logits, count: l.count, computeGradient: computeGradient) { l[$0] }
        }
    }

    private func evaluate(logits: Tensor, count: Int, computeGradient: Bool, label: (Int) -> Int) -> Result {
        precondition(logits.shape.count == 2 && logits.shape[1] == classes,
                     "logits \(logits.shape) are not [N, \(classes)]")
        let batch = logits.shape[0]
        precondition(count == batch, "\(count) labels for \(batch) logits")
        let gradient = gradientBuffer.tensor(batch: batch, shape: .flat(classes))
        let k = classes
        let invBatch = 1 / Float(batch)
        // At e = 0 these are 1 and 0, and every number below is the plain loss's to the bit.
        let onLabel = 1 - labelSmoothing, spread = labelSmoothing / Double(k)
        let labelGradient = Float(onLabel) * invBatch, spreadGradient = Float(spread) * invBatch
        var total = 0.0
        var correct = 0
        for n in 0..<batch {
            let z = logits.data + n &* k, g = gradient.data + n &* k
            let target = label(n)
            precondition(target >= 0 && target < k, "label \(target) of sample \(n) is outside 0..<\(k)")
            var best = 0
            var top = z[0]
            for j in 1..<max(k, 1) where z[j] > top { top = z[j]; best = j }
            if best == target { correct += 1 }
            var sum = 0.0, zSum = 0.0
            for j in 0..<k { sum += Double(Foundation.exp(z[j] - top)); zSum += Double(z[j]) }
            let logSumExp = Double(top) + Foundation.log(sum)
            // Skipped at e = 0, where an infinite logit of another class (exp gives 0) must not
            // turn 0 * sum into NaN.
            total += logSumExp - onLabel * Double(z[target]) - (spread == 0 ? 0 : spread * zSum)
            if computeGradient {
                let invSum = 1 / sum
                for j in 0..<k { g[j] = Float(Double(Foundation.exp(z[j] - top)) * invSum) * invBatch - spreadGradient }
                g[target] -= labelGradient
            }
        }
        if !computeGradient { gradient.fill(0) }
        return Result(loss: total / Double(batch), correct: correct, gradient: gradient)
    }
}
