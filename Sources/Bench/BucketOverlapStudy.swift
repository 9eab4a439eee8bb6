import AllReduce
import Layers
import Platform
/// Does overlapping bucket allreduces with backward pay? A simulated backward of fmnist-cnn's
/// layer shapes (scaled to a parameter count) with real CPU work per layer, timed three ways.
///
/// The work is a fixed amount of arithmetic calibrated once on this rank, not a clock-based
/// wait: a communication thread that steals CPU from backward must show up as a longer step.
public enum BucketOverlapStudy {
    public enum Mode: String, Sendable {
        /// Backward alone, no gradient exchange: the floor.
        case computeOnly = "compute-only"
        /// Buckets allreduced after backward (`overlap: false`).
        case sequential
        /// Buckets allreduced on the communication thread during backward (`overlap: true`).
        case overlapped
    }

    public struct Row: Sendable {
        public var capBytes: Int
        public var buckets: Int
        public var mode: Mode
        /// Medians over steps of the slowest rank.
        public var stepSeconds: Double
        public var communicationSeconds: Double
        public var waitSeconds: Double
    }

    /// fmnist-cnn's layers that hold parameters, in forward order, built from the model itself:
    /// their parameter counts and their work in multiply-adds per sample of the forward pass
    /// (backward is about twice that for every layer alike, so the shares are what matters).
    /// Convolutions and linear layers count their products; BatchNorm, elementwise, counts its
    /// activations.
    static func fmnistLayers() throws -> [(parameters: Int, work: Double)] {
        let model = try Model(spec: "fmnist-cnn", inputShape: [1, 28, 28], classes: 10, seed: 0)
        let offsets = model.store.parameterOffsets
        return model.layers.indices.compactMap { i in
            let parameters = offsets[i + 1] - offsets[i]
            guard parameters > 0 else { return nil }
            let layer = model.layers[i]
            return (parameters, Double((layer as? ProductLayer)?.multiplyAddsPerSample ?? layer.activationsPerSample))
        }
    }

    /// Collective. For each cap and mode, `steps` timed steps after two untimed ones, the
    /// configurations taking turns step by step.
    public static func run(on communicator: any Communicator, parameters: Int, backwardSeconds: Double,
                           capsBytes: [Int], steps: Int) throws -> [Row] {
        let layers = try fmnistLayers()
        guard parameters >= layers.count, steps >= 1, backwardSeconds >= 0 else {
            throw CommunicatorError.invalidArgument(
                "overlap study: need parameters >= \(layers.count), steps >= 1, backward time >= 0")
        }
        // Layer offsets in the flat buffer, scaled to `parameters`.
        let scale = Double(parameters) / Double(layers.map(\.parameters).reduce(0, +))
        var offsets = [0]
        for layer in layers.dropLast() { offsets.append(offsets.last! + max(1, Int(Double(layer.parameters) * scale))) }
        let totalWork = layers.map(\.work).reduce(0, +)
        let compute = CalibratedWork()
        let units = layers.map { compute.units(forSeconds: backwardSeconds * $0.work / totalWork) }

        let gradients = UnsafeMutablePointer<Float>.allocate(capacity: parameters)
        defer { gradients.deallocate() }
        gradients.update(repeating: Float(communicator.rank + 1), count: parameters)

        func backward(_ buckets: GradientBuckets?) {
            for layer in layers.indices.reversed() {
                compute.perform(units[layer])
                buckets?.gradientReady(offsets[layer])
            }
        }

        // Every configuration takes one step in turn, round after round, so that load from
        // other processes, which comes and goes, falls on all of them alike.
        var configurations: [(mode: Mode, capBytes: Int, buckets: GradientBuckets?)] = [(.computeOnly, 0, nil)]
        for cap in capsBytes {
            for mode in [Mode.sequential, .overlapped] {
                configurations.append((mode, cap, try GradientBuckets(
                    communicator: communicator, buffer: gradients, count: parameters, capBytes: cap,
                    overlap: mode == .overlapped)))
            }
        }
        var stepTimes = Array(repeating: [Double](), count: configurations.count)
        var commTimes = stepTimes, waitTimes = stepTimes
        for round in 0..<(steps + 2) {
            for (k, configuration) in configurations.enumerated() {
                try communicator.barrier()
                let start = MonotonicClock.seconds()
                backward(configuration.buckets)
                try configuration.buckets?.finish()
                let elapsed = MonotonicClock.seconds() - start
                guard round >= 2 else { continue }
                stepTimes[k].append(elapsed)
                commTimes[k].append(configuration.buckets?.lastStep.communicationSeconds ?? 0)
                waitTimes[k].append(configuration.buckets?.lastStep.waitSeconds ?? 0)
            }
        }
        return try configurations.enumerated().map { k, configuration in
            Row(capBytes: configuration.capBytes, buckets: configuration.buckets?.ranges.count ?? 0,
                mode: configuration.mode,
                stepSeconds: try Median.ofSlowestRank(stepTimes[k], communicator),
                communicationSeconds: try Median.ofSlowestRank(commTimes[k], communicator),
                waitSeconds: try Median.ofSlowestRank(waitTimes[k], communicator))
        }
    }
}

/// A fixed amount of floating-point work, calibrated in units per second on this thread.
private final class CalibratedWork {
    private let values = UnsafeMutablePointer<Float>.allocate(capacity: 1024)
    private let unitsPerSecond: Double

    init() {
        values.initialize(repeating: 1, count: 1024)
        // Double the trial until it lasts 10 ms (timer resolution stops mattering), then keep the
        // fastest of five such trials: on a shared machine the slow ones measured other processes.
        var units = 16
        while true {
            let start = MonotonicClock.seconds()
            Self.run(values, units)
            if MonotonicClock.seconds() - start > 0.01 { break }
            units *= 2
        }
        var best = 0.0
        for _ in 0..<5 {
            let start = MonotonicClock.seconds()
            Self.run(values, units)
            best = max(best, Double(units) / (MonotonicClock.seconds() - start))
        }
        unitsPerSecond = best
    }

    deinit { values.deallocate() }

    func units(forSeconds seconds: Double) -> Int { Int((seconds * unitsPerSecond).rounded()) }

    func perform(_ units: Int) { Self.run(values, units) }

    /// One unit: 1024 multiply-adds over a 4 KiB array that stays in L1, like a GEMM's inner loop.
    private static func run(_ values: UnsafeMutablePointer<Float>, _ units: Int) {
        for _ in 0..<units {
            var i = 0
            while i < 1024 { values[i] = values[i] * 0.999_9 + 0.000_1; i &+= 1 }
        }
    }
}
