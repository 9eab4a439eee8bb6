import Tensor

/// The gradients of the micro-batches of one optimizer step (`--accumulate N`, PyTorch's
/// `no_sync`), summed on this rank so that the ranks allreduce once per step, not once per
/// micro-batch.
///
/// `backward` overwrites the model's gradient buffer, so the sum lives beside it:
///
///     micro-batch 0 .. N-2:   backward -> gradients;  keep(first:)  sum  = gradients (or +=)
///     micro-batch N-1:        backward -> gradients;  as each layer's range becomes final,
///                             fold(from:) adds sum into it, then the bucket allreduce takes it
///
/// Folding range by range, in the order backward finishes them, lets the last micro-batch's
/// buckets be reduced while its backward still runs, as without accumulation. The caller scales
/// each micro-batch's loss gradient by 1/N, so the total is the mean over all N micro-batches.
/// One allocation, at construction; nothing per step.
final class GradientAccumulator {
    private let gradients: UnsafeMutablePointer<Float>
    private let sum: UnsafeMutablePointer<Float>
    private let count: Int
    /// `gradients[folded..<count]` hold the step's total in the last micro-batch.
    private var folded: Int

    /// Accumulates into a buffer beside `gradients[0..<count]` (the model's flat gradients).
    init(gradients: UnsafeMutablePointer<Float>, count: Int) {
        self.gradients = gradients
        self.count = count
        sum = .allocate(capacity: max(count, 1))
        folded = count
    }

    deinit { sum.deallocate() }

    /// After the backward of a micro-batch before the last: the first one starts the sum.
    func keep(first: Bool) {
        if first {
            sum.update(from: gradients, count: count)
        } else {
            Elementwise.add(sum, gradients, sum, count: count)
        }
        folded = count
    }

    /// In the last micro-batch's backward, when `gradients[offset..<count]` are final: adds the
    /// sum into the part of them not yet folded. Offsets never increase within a backward.
    func fold(from offset: Int) {
        guard offset < folded else { return }
        Elementwise.add(gradients + offset, sum + offset, gradients + offset, count: folded - offset)
        folded = offset
    }
}
