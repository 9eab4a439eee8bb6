import AllReduce
import Data
import Foundation
import Layers
import Platform
import Tensor

/// One synchronized data-parallel step, shared by `train`, `sanity`, `lr-find` and `bench step`:
/// fill this rank's slice of the global batch, forward, loss, backward with bucketed allreduce,
/// reduce the loss, check it, update. With `accumulate` N > 1 the slice is N micro-batches, each
/// forward and backward on its own with its loss gradient scaled by 1/N, summed on the rank
/// (`GradientAccumulator`); only the last one's backward feeds the allreduce, so a step still
/// makes one allreduce and one update. Given the next micro-batch's indices, it has that batch
/// assembled in the background meanwhile (`BatchPrefetcher`), so the data phase is only the wait
/// for it. Buffers are allocated once here; the step allocates nothing.
public final class TrainingStep {
    /// `stopSignal`: the first of `StopSignal.handled` that reached any rank, else 0; the same on
    /// every rank.
    public struct Outcome { public var loss: Double; public var correct: Double; public var samples: Double; public var stopSignal: Int32 = 0 }
    /// Seconds spent in each phase of the steps since the last `resetTiming`.
    public struct Timing {
        public var data = 0.0, forward = 0.0, backward = 0.0, wait = 0.0, update = 0.0

        /// The rank's own work: every phase but the allreduce wait (`RankTimes`).
        public var compute: Double { data + forward + backward + update }

        /// The time each phase took between two readings.
        static func - (later: Timing, earlier: Timing) -> Timing {
            Timing(data: later.data - earlier.data, forward: later.forward - earlier.forward,
                   backward: later.backward - earlier.backward, wait: later.wait - earlier.wait,
                   update: later.update - earlier.update)
        }

        /// A phase as the timeline names it.
        enum Phase: String { case data, forward, backward, wait = "allreduce wait", update }

        mutating func add(_ seconds: Double, to phase: Phase) {
            switch phase {
            case .data: data += seconds
            case .forward: forward += seconds
            case .backward: backward += seconds
            case .wait: wait += seconds
            case .update: update += seconds
            }
        }
    }

    /// Times the phases of one step back to back: each `lap` ends a phase, adds its time to
    /// `timing` and records it in the timeline.
    private struct StepClock {
        let timeline: Timeline?
        let step: Int
        private var last = MonotonicClock.seconds()

        init(timeline: Timeline?, step: Int) { self.timeline = timeline; self.step = step }

        mutating func lap(_ phase: Timing.Phase, into timing: inout Timing) {
            let now = MonotonicClock.seconds()
            timing.add(now - last, to: phase)
            timeline?.record(phase.rawValue, step: step, from: last, to: now)
            last = now
        }
    }

    let model: Model
    let optimizer: any Optimizer
    let comm: any Communicator
    public let buckets: GradientBuckets
    /// Samples per micro-batch on this rank.
    let batchSize: Int
    /// Micro-batches per step (N).
    let accumulate: Int
    var clipGradNorm: Float = 0
    public private(set) var timing = Timing()
    private let batch: Tensor
    private let labels: UnsafeMutablePointer<Int32>
    /// Made at the first step told its successor.
    private var prefetcher: BatchPrefetcher?
    /// Seconds the background thread has spent assembling batches.
    public var backgroundDataSeconds: Double { prefetcher?.fillSeconds ?? 0 }
    private let loss: SoftmaxCrossEntropy
    /// The micro-batches' gradient sum (nil for N = 1).
    private let accumulator: GradientAccumulator?
    /// What the last micro-batch's backward reports each final range to: the accumulator, then
    /// the buckets. Made once, so the step creates no closure.
    private let gradientReady: (Int) -> Void
    /// [loss x B, correct, B, then per signal of `StopSignal.handled` the ranks it reached], summed.
    private var reduced = [Double](repeating: 0, count: 3 + StopSignal.handled.count)

    /// `batchSize` per micro-batch, `accumulate` micro-batches per step; `labelSmoothing`: the
    /// training loss's (`SoftmaxCrossEntropy`), 0 for the plain one.
    public init(model: Model, optimizer: any Optimizer, comm: any Communicator, batchSize: Int, accumulate: Int = 1,
         bucketCapBytes: Int, overlap: Bool, labelSmoothing: Double = 0) throws {
        precondition(accumulate >= 1, "accumulate \(accumulate) < 1")
        self.model = model; self.optimizer = optimizer; self.comm = comm; self.batchSize = batchSize
        self.accumulate = accumulate
        let buckets = try GradientBuckets(communicator: comm, buffer: model.gradients.data, count: model.parameterCount,
                                          capBytes: bucketCapBytes, overlap: overlap)
        let accumulator = accumulate > 1 ? GradientAccumulator(gradients: model.gradients.data, count: model.parameterCount) : nil
        self.buckets = buckets
        self.accumulator = accumulator
        gradientReady = { offset in
            accumulator?.fold(from: offset)
            buckets.gradientReady(offset)
        }
        batch = Tensor(shape: [batchSize] + model.inputShape)
        labels = .allocate(capacity: batchSize)
        loss = SoftmaxCrossEntropy(classes: model.classes, labelSmoothing: labelSmoothing)
    }

    deinit { labels.deallocate() }

    /// Runs one step on this rank's micro-batches `indices(0)`, ..., `indices(accumulate - 1)`
    /// (sample indices into `batches`' data set). Throws `TrainError.nonFinite` on every rank alike when the reduced loss or the
    /// reduced gradient is not finite; the parameters are then untouched. `stopSignal` (this
    /// rank's pending `StopSignal`, 0 for none) travels in the loss allreduce. `next`, the indices
    /// of the step that follows (its first micro-batch), starts assembling its batch in the background.
    public func run(batches: BatchAssembler, indices: (_ microBatch: Int) -> ArraySlice<Int>, next: ArraySlice<Int>? = nil,
                    rng: inout SeededRNG, lr: Double, position: (epoch: Int, step: Int), timeline: Timeline?, globalStep: Int,
                    stopSignal: Int32 = 0) throws -> Outcome {
        var clock = StepClock(timeline: timeline, step: globalStep)
        var lossSum = 0.0, correct = 0
        for m in 0..<accumulate {
            let last = m == accumulate - 1
            let (images, labels) = assemble(batches, indices(m), next: last ? next : indices(m + 1), rng: &rng)
            clock.lap(.data, into: &timing)
            let result = forward(images, labels)
            clock.lap(.forward, into: &timing)
            lossSum += result.loss * Double(batchSize); correct += result.correct
            if accumulate > 1 { Self.scale(result.gradient, by: 1 / Float(accumulate)) }
            if last {
                model.backward(outputGradient: result.gradient, gradientReady: gradientReady)
            } else {
                model.backward(outputGradient: result.gradient)
                accumulator?.keep(first: m == 0)
            }
            clock.lap(.backward, into: &timing)
        }
        try buckets.finish()
        reduced[0] = lossSum; reduced[1] = Double(correct); reduced[2] = Double(batchSize * accumulate)
        for i in StopSignal.handled.indices { reduced[3 + i] = stopSignal == StopSignal.handled[i] ? 1 : 0 }
        try comm.allReduce(&reduced)
        clock.lap(.wait, into: &timing)

        var stop: Int32 = 0
        for i in StopSignal.handled.indices where reduced[3 + i] > 0 { stop = StopSignal.handled[i]; break }
        let outcome = Outcome(loss: reduced[0] / reduced[2], correct: reduced[1], samples: reduced[2], stopSignal: stop)
        // The reduced loss and gradients are bitwise identical on every rank, so every rank takes
        // this branch together: no rank is left waiting in a collective.
        if !outcome.loss.isFinite || !model.gradients.allFinite() {
            throw TrainError.nonFinite(epoch: position.epoch, step: position.step, lr: lr, loss: outcome.loss,
                                       checkpoint: nil)
        }
        if clipGradNorm > 0 { model.gradients.clipNorm(to: clipGradNorm) }
        optimizer.learningRate = lr
        optimizer.step(parameters: model.parameters.data, gradients: model.gradients.data, count: model.parameterCount)
        clock.lap(.update, into: &timing)
        return outcome
    }

    /// This rank's micro-batch of `indices`: the prefetched one when it was requested, else filled
    /// in line; then the request of `next` (the micro-batch after it), if any.
    private func assemble(_ batches: BatchAssembler, _ indices: ArraySlice<Int>, next: ArraySlice<Int>?,
                          rng: inout SeededRNG) -> (Tensor, UnsafeMutablePointer<Int32>) {
        var images = batch, labels = self.labels
        if let ready = prefetcher?.take(batches, indices: indices, rng: rng) {
            (images, labels, rng) = (ready.slot.images, ready.slot.labels, ready.rng)
        } else {
            batches.fill(indices: indices, rng: &rng, images: batch.data, labels: labels)
        }
        if let next {
            if prefetcher == nil { prefetcher = BatchPrefetcher(batchSize: batchSize, imageShape: model.inputShape) }
            prefetcher!.request(batches, indices: next, rng: rng)
        }
        return (images, labels)
    }

    public func resetTiming() { timing = Timing() }

    /// x *= factor: a micro-batch's loss gradient (B x classes values) made its share of the step's mean.
    private static func scale(_ x: Tensor, by factor: Float) {
        let p = x.data, n = x.count
        var i = 0
        while i < n { p[i] *= factor; i &+= 1 }
    }

    private func forward(_ images: Tensor, _ labels: UnsafeMutablePointer<Int32>) -> SoftmaxCrossEntropy.Result {
        let logits = model.forward(images, training: true)
        return loss.forward(logits: logits, labels: UnsafeBufferPointer(start: labels, count: batchSize))
    }
}
