import AllReduce
import Data
import Foundation
import Layers
import Platform
import Tensor
import Training

/// `ddp bench step`: images/s of full training steps (allreduce included) and where the time goes.
public enum StepBenchmark {
    public struct Result: Sendable {
        public var model: String
        public var ranks: Int
        public var batchSize: Int
        /// Micro-batches of `batchSize` per rank and optimizer step (`--accumulate`).
        public var accumulate = 1
        public var threads: Int
        public var imagesPerSecond: Double   // global: all ranks' images (every micro-batch) per second
        public var computeSeconds: Double    // per step: data + forward + backward + update (median)
        /// Per step, medians: the wait for the batch (assembled in the background while the step
        /// before ran, as in training), forward with the loss, backward, optimizer update (with
        /// the gradient check for NaN/Inf).
        public var phaseSeconds: (data: Double, forward: Double, backward: Double, update: Double) = (0, 0, 0, 0)
        /// Per step, the mean time the background thread spent assembling a batch.
        public var backgroundDataSeconds = 0.0
        public var commSeconds: Double       // per step: waiting for the allreduce after backward (median)
        public var stepSeconds: Double       // per step, wall (median of the slowest rank)
        public var gflopsPerRank: Double     // achieved FLOP/s of the matrix products per rank
        public var flopsPerSample: Double    // matrix-product FLOPs of forward + backward
        /// Per step: CPU seconds of this rank's process (median), all its threads. Under load
        /// (a shared machine) this stays near the unloaded step time where wall time does not.
        public var cpuSeconds: Double
        /// Global images per CPU-second: all ranks' images over the CPU time they spent. Ranks
        /// run as threads of one process (`--local-ranks`) share one process clock.
        public var imagesPerCPUSecond: Double
        /// With `layers`: rank 0's mean seconds per step of each top-level layer.
        public var layerTimes: [LayerTime] = []
        /// Gradient buckets per step and whether they overlapped backward.
        public var buckets = 1
        public var overlap = false
        /// Trainable parameters: the gradient's length.
        public var parameterCount = 0
    }

    public struct LayerTime: Sendable {
        public var layer: String
        /// What the layer's convolutions run (`ConvolutionRun.cell`), empty for other layers.
        public var algorithm: String
        public var forwardSeconds: Double
        public var backwardSeconds: Double
    }

    /// Mean seconds per step of each top-level layer, with what its convolutions run.
    private static func meanLayerTimes(_ p: LayerProfile, model: Model) -> [LayerTime] {
        p.names.indices.map { i in
            LayerTime(layer: p.names[i],
                      algorithm: ConvolutionRun.cell(model.layers[i].convolutionRuns, layer: model.layers[i].name),
                      forwardSeconds: p.forwardSeconds[i] / Double(max(1, p.forwardPasses)),
                      backwardSeconds: p.backwardSeconds[i] / Double(max(1, p.backwardPasses)))
        }
    }

    /// `layers`: also time every top-level layer (two clock reads per layer and pass).
    public static func run(config: TrainConfig, warmup: Int, steps: Int, threads: Int, layers: Bool = false,
                           comm: any Communicator) throws -> Result {
        let data = try World.agree(comm) { try TrainingData(config: config) }
        let model = try data.replica(config, comm: comm)
        let optimizer = try SGD(count: model.parameterCount, learningRate: 0.01, momentum: 0.9,
                                weightDecay: 5e-4, nesterov: true)
        let stepper = try TrainingStep(model: model, optimizer: optimizer, comm: comm, batchSize: config.batchSize,
                                       accumulate: config.accumulate,
                                       bucketCapBytes: Int(config.bucketCapMB * 1_048_576), overlap: config.overlap)
        let sampler = try DistributedSampler(count: data.train.count, batchSize: config.batchSize, ranks: comm.size,
                                             rank: comm.rank, accumulate: config.accumulate, seed: config.seed, shuffle: true)
        var rng = SeededRNG(seed: config.seed)
        var stepTimes: [Double] = [], compute: [Double] = [], wait: [Double] = [], cpu: [Double] = []
        var phases: [[Double]] = [[], [], [], []]
        let profile = layers ? model.makeProfile() : nil
        model.profile = profile
        func indices(_ s: Int, microBatch: Int = 0) -> ArraySlice<Int> {
            sampler.indices(epoch: s / sampler.stepsPerEpoch, step: s % sampler.stepsPerEpoch, microBatch: microBatch)
        }
        var backgroundAtWarmup = 0.0
        for s in 0..<(warmup + steps) {
            if s == warmup { profile?.reset(); backgroundAtWarmup = stepper.backgroundDataSeconds }
            try comm.barrier()
            stepper.resetTiming()
            let t = MonotonicClock.seconds(), c = processCPUSeconds()
            _ = try stepper.run(batches: data.trainBatches, indices: { indices(s, microBatch: $0) }, next: indices(s + 1),
                                rng: &rng, lr: 0.01,
                                position: (1, s + 1), timeline: nil, globalStep: s)
            guard s >= warmup else { continue }
            let tm = stepper.timing
            stepTimes.append(MonotonicClock.seconds() - t)
            cpu.append(processCPUSeconds() - c)
            compute.append(tm.data + tm.forward + tm.backward + tm.update)
            for (i, t) in [tm.data, tm.forward, tm.backward, tm.update].enumerated() { phases[i].append(t) }
            wait.append(tm.wait)
        }
        model.profile = nil
        let flops = Double(model.stepFLOPsPerSample)
        // The step is as slow as the slowest rank: take each step's maximum over ranks.
        let step = try Median.ofSlowestRank(stepTimes, comm)
        // One process clock per distinct process: sum the ranks' medians over distinct pids.
        let perRank = try comm.allGather([Double(getpid()), Median.of(cpu)])
        var cpuByProcess: [Double: Double] = [:]
        for r in perRank { cpuByProcess[r[0]] = r[1] }
        let cpuTotal = cpuByProcess.values.reduce(0, +)
        let layerTimes = profile.map { meanLayerTimes($0, model: model) } ?? []
        let perRankImages = Double(config.batchSize * config.accumulate)
        return Result(model: config.model, ranks: comm.size, batchSize: config.batchSize, accumulate: config.accumulate,
                      threads: threads, imagesPerSecond: perRankImages * Double(comm.size) / step,
                      computeSeconds: Median.of(compute),
                      phaseSeconds: (Median.of(phases[0]), Median.of(phases[1]), Median.of(phases[2]), Median.of(phases[3])),
                      backgroundDataSeconds: (stepper.backgroundDataSeconds - backgroundAtWarmup) / Double(max(steps, 1)),
                      commSeconds: Median.of(wait), stepSeconds: step,
                      gflopsPerRank: flops * perRankImages / step / 1e9, flopsPerSample: flops,
                      cpuSeconds: Median.of(cpu), imagesPerCPUSecond: perRankImages * Double(comm.size) / cpuTotal,
                      layerTimes: layerTimes, buckets: stepper.buckets.ranges.count, overlap: config.overlap,
                      parameterCount: model.parameterCount)
    }

    /// CPU time of the whole process (every thread, BLAS workers included).
    static func processCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}
