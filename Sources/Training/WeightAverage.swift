import AllReduce
import Layers
import Tensor

/// `--ema DECAY`: an exponential moving average of the model's weights, evaluated after every
/// epoch and checkpointed beside the model (`ema.safetensors`).
///
/// After every optimizer step, for the parameters and the BatchNorm running statistics alike,
///
///     average = decay * average + (1 - decay) * current
///
/// starting from the model as training starts. The statistics are averaged too (as timm's
/// `ModelEmaV2` does): averaged weights normalized with the live model's statistics would be
/// normalized with the statistics of other weights. The counters (`num_batches_tracked`) are the
/// model's own.
///
/// Every rank holds the same parameters after every step and blends them by the same code, so
/// every rank's average of them is the same without any communication. Without SyncBN each
/// rank's running statistics see only its shards; the trainer averages the average's statistics
/// across ranks wherever it averages the model's (`averageStatistics`). The blend is linear, so
/// that is the average of the ranks' statistics, up to rounding.
///
/// The update is Float arithmetic element by element in a fixed order: a resumed run that loads
/// the saved average goes on bit for bit.
final class WeightAverage {
    let decay: Float
    /// The averaged parameters, in the layout of `Model.parameters`.
    let parameters: Tensor
    /// The averaged BatchNorm running statistics, in the layout of `Model.buffers`.
    let statistics: Tensor
    /// The model's own values while the average stands in for them (`withAverage`, `load`).
    private let parked: (parameters: Tensor, statistics: Tensor)

    /// An average that starts at `model`'s current weights.
    init(model: Model, decay: Double) {
        precondition(decay > 0 && decay < 1, "EMA decay \(decay) is outside (0, 1)")
        self.decay = Float(decay)
        parameters = Tensor(shape: [model.parameterCount])
        statistics = Tensor(shape: [model.buffers.count])
        parked = (Tensor(shape: [model.parameterCount]), Tensor(shape: [model.buffers.count]))
        parameters.copy(from: model.parameters)
        statistics.copy(from: model.buffers)
    }

    /// One step of the average toward `model`'s current weights; allocates nothing.
    func update(from model: Model) {
        Self.blend(parameters, toward: model.parameters, decay: decay)
        Self.blend(statistics, toward: model.buffers, decay: decay)
    }

    /// Runs `body` with the average in `model`'s place (to evaluate or save it), and puts the
    /// model's own weights back afterwards, also when `body` throws.
    func withAverage<T>(in model: Model, _ body: () throws -> T) rethrows -> T {
        swapIn(model)
        defer { restore(model) }
        return try body()
    }

    /// Makes the average what `fill` loads into `model` (a resumed run's saved average: only the
    /// model knows the names in the file); the model keeps its own weights.
    func load(through model: Model, _ fill: () throws -> Void) rethrows {
        swapIn(model)
        defer { restore(model) }
        try fill()
        parameters.copy(from: model.parameters)
        statistics.copy(from: model.buffers)
    }

    /// Replaces the averaged statistics by their mean over the ranks of `comm`.
    func averageStatistics(comm: any Communicator) throws {
        guard statistics.count > 0 else { return }
        try comm.allReduce(statistics.data, count: statistics.count, op: .average)
    }

    private func swapIn(_ model: Model) {
        parked.parameters.copy(from: model.parameters)
        parked.statistics.copy(from: model.buffers)
        model.parameters.copy(from: parameters)
        model.buffers.copy(from: statistics)
    }

    private func restore(_ model: Model) {
        model.parameters.copy(from: parked.parameters)
        model.buffers.copy(from: parked.statistics)
    }

    /// average = decay * average + (1 - decay) * current, in place.
    static func blend(_ average: Tensor, toward current: Tensor, decay: Float) {
        let a = average.data, c = current.data, keep = 1 - decay
        for i in 0..<average.count { a[i] = decay * a[i] + keep * c[i] }
    }
}
