import AllReduce
import Data
import Foundation
import Layers
import Platform
import Tensor

/// One synchronized data-parallel step, shared by `train`, `sanity`, `lr-find` and `bench step`:
/// fill this rank's slice of the global batch, forward, loss, backward with bucketed allreduce,
/// reduce the loss, check it, update. Buffers are allocated once here; the step allocates nothing.
public final class TrainingStep {
    /// `stopSignal`: the first of `StopSignal.handled` that reached any rank, else 0; the same on
    /// every rank.
    public struct Outcome { public var loss: Double; public var correct: Double; public var samples: Double; public var stopSignal: Int32 = 0 }
    public struct Timing { public var data = 0.0, forward = 0.0, backward = 0.0, wait = 0.0, update = 0.0 }

    let model: Model
    let optimizer: any Optimizer
    let comm: any Communicator
    public let buckets: GradientBuckets
    let batchSize: Int
    var clipGradNorm: Float = 0
    public private(set) var timing = Timing()
    private let batch: Tensor
    private let labels: UnsafeMutablePointer<Int32>
    private let loss: SoftmaxCrossEntropy
    /// [loss x B, correct, B, then per signal of `StopSignal.handled` the ranks it reached], summed.
    private var reduced = [Double](repeating: 0, count: 3 + StopSignal.handled.count)

    public init(model: Model, optimizer: any Optimizer, comm: any Communicator, batchSize: Int,
         bucketCapBytes: Int, overlap: Bool) throws {
        self.model = model; self.optimizer = optimizer; self.comm = comm; self.batchSize = batchSize
        buckets = try GradientBuckets(communicator: comm, buffer: model.gradients.data, count: model.parameterCount,
                                      capBytes: bucketCapBytes, overlap: overlap)
        batch = Tensor(shape: [batchSize] + model.inputShape)
        labels = .allocate(capacity: batchSize)
        loss = SoftmaxCrossEntropy(classes: model.classes)
    }

    deinit { labels.deallocate() }

    /// Runs one step on `indices` of `dataset`. Throws `TrainError.nonFinite` on every rank alike
    /// when the reduced loss or the reduced gradient is not finite; the parameters are then untouched.
    /// `stopSignal` (this rank's pending `StopSignal`, 0 for none) travels in the loss allreduce.
    public func run(batches: BatchAssembler, indices: ArraySlice<Int>, rng: inout SeededRNG, lr: Double, position: (epoch: Int, step: Int),
             timeline: Timeline?, globalStep: Int, stopSignal: Int32 = 0) throws -> Outcome {
        var t0 = MonotonicClock.seconds()
        batches.fill(indices: indices, rng: &rng, images: batch.data, labels: labels)
        var t1 = MonotonicClock.seconds(); timing.data += t1 - t0; timeline?.record("data", step: globalStep, from: t0, to: t1)

        let result = forward()
        t0 = MonotonicClock.seconds(); timing.forward += t0 - t1; timeline?.record("forward", step: globalStep, from: t1, to: t0)

        model.backward(outputGradient: result.gradient, gradientReady: { [buckets] in buckets.gradientReady($0) })
        t1 = MonotonicClock.seconds(); timing.backward += t1 - t0; timeline?.record("backward", step: globalStep, from: t0, to: t1)
        try buckets.finish()
        reduced[0] = result.loss * Double(batchSize); reduced[1] = Double(result.correct); reduced[2] = Double(batchSize)
        for i in StopSignal.handled.indices { reduced[3 + i] = stopSignal == StopSignal.handled[i] ? 1 : 0 }
        try comm.allReduce(&reduced)
        t0 = MonotonicClock.seconds(); timing.wait += t0 - t1; timeline?.record("allreduce wait", step: globalStep, from: t1, to: t0)

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
        t1 = MonotonicClock.seconds(); timing.update += t1 - t0; timeline?.record("update", step: globalStep, from: t0, to: t1)
        return outcome
    }

    public func resetTiming() { timing = Timing() }

    private func forward() -> SoftmaxCrossEntropy.Result {
        let logits = model.forward(batch, training: true)
        return loss.forward(logits: logits, labels: UnsafeBufferPointer(start: labels, count: batchSize))
    }
}
