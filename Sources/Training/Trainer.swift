import AllReduce
import Data
import Foundation
import Layers
import Platform
import Plot
import Tensor

/// What a finished (or stopped) run reports.
public struct TrainSummary: Sendable {
    public var epochs: [EpochMetrics]
    /// `--eval-every-steps`' evaluations inside the epochs.
    public var evaluations: [StepEvaluation] = []
    public var globalStep: Int
    public var lastCheckpoint: String?
    public var parameters: [Float]   // final parameters (tests compare runs with them)
    /// This rank's BatchNorm running statistics at the end (its own, after a mid-epoch stop).
    public var runningStats: [Float]
    /// The global loss of every step this run made (tests compare runs with them).
    public var losses: [Double]
}

/// One rank's training loop (DESIGN.md, "Data flow of one step").
///
/// Every rank builds the same model, takes its slice of each global batch from the
/// DistributedSampler, runs forward/backward into the model's flat gradient buffer, allreduces
/// that buffer in buckets while backward runs, and applies the same optimizer step. Rank 0 alone
/// prints, writes metrics and checkpoints.
public final class Trainer {
    /// The run's configuration: as given, or, for `--resume`, the resumed run's (`ResumePlan`).
    public private(set) var config: TrainConfig
    /// The flags a command line gave (nil: `config` was built in code and gives every setting).
    /// A resume takes the others from the checkpoint.
    public let flagsGiven: Set<String>?
    /// How the user started ddp, for the command a stopped run prints to continue it.
    public var program = "ddp"
    public let comm: any Communicator
    public let log: (String) -> Void
    private var rank: Int { comm.rank }
    private var ranks: Int { comm.size }
    /// Fault injection for tests (internal, so only `@testable` code can set it): called on this
    /// rank after each step's update, with the model and the global step just completed, before
    /// the periodic desync check. Tests perturb one rank's parameters here to see the trainer
    /// itself catch the desync. nil in every real run.
    var afterStep: ((Model, Int) -> Void)?
    /// Test hook, like `afterStep`: called on this rank before each step with the global step
    /// about to run and the indices of its micro-batches, so tests can compare the sample streams
    /// of runs on different numbers of ranks. nil in every real run.
    var beforeStep: ((Int, [ArraySlice<Int>]) -> Void)?

    /// What the convolutions were asked to run (`DDP_CONV`; tests set it).
    var convolutionRequest = ConvolutionRequest.environment

    /// `log` receives rank 0's human-readable lines (progress, banner); other ranks get none.
    public init(config: TrainConfig, flagsGiven: Set<String>? = nil, communicator: any Communicator,
                log: @escaping (String) -> Void) {
        self.config = config
        self.flagsGiven = flagsGiven
        self.comm = communicator
        self.log = communicator.rank == 0 && !config.quiet ? log : { _ in }
    }

    /// The run as a sequence of phases; every rank runs each one, rank 0 alone prints and writes.
    public func run() throws -> TrainSummary {
        let resumed = try settleConfig()
        let checkpoints = try claimOutputs()
        let run = try prepare(checkpoints: checkpoints, resumed: resumed)
        try trainEpochs(run)
        try checkpointAfterStop(run)
        try writeTimeline(run)
        return try report(run)
    }

    /// A resume's settings come from its checkpoint (`ResumePlan`); then the flags are checked.
    /// Failures on any rank (a missing file, a bad spec) end every rank together with one message.
    private func settleConfig() throws -> ResumePlan? {
        var resumed: ResumePlan? = nil
        if config.resume != nil {
            let flags = config, given = flagsGiven ?? TrainSetting.allFlags
            resumed = try World.agree(comm) { try ResumePlan(flags: flags, given: given, launch: .ranks(ranks)) }
            config = resumed!.config
        }
        if let p = config.problem() { throw TrainError.badFlag(p) }
        return resumed
    }

    /// Only rank 0 writes checkpoints and metrics: it checks both before any time is spent.
    private func claimOutputs() throws -> CheckpointDirectory? {
        let checkpoints = config.checkpointDir.map { CheckpointDirectory(path: $0, keep: config.keepCheckpoints) }
        try World.agree(comm) {
            guard rank == 0 else { return }
            let replacing = try RunOutputs.check(config)
            try checkpoints?.prepare(replacing: replacing)
        }
        return checkpoints
    }

    /// Data, model, sampler, schedule and optimizer; the starting state (a resume's, or the
    /// weights of --init-from); identical replicas on every rank; the banner, the step and the
    /// outputs.
    private func prepare(checkpoints: CheckpointDirectory?, resumed: ResumePlan?) throws -> TrainingRun {
        let data = try World.agree(comm) { try TrainingData(config: config) }
        let model = try data.model(config, comm: comm, request: convolutionRequest)
        config.convolutionPlan = model.convolutionPlan
        let sampler = try World.agree(comm) {
            try DistributedSampler(count: data.train.count, batchSize: config.batchSize, ranks: ranks, rank: rank,
                                   accumulate: config.accumulate, seed: config.seed, shuffle: config.shuffle)
        }
        let lr = config.effectiveLR(ranks: ranks)
        // Positions in the schedule count this run's steps per epoch: epoch e, step s is at
        // e * stepsPerEpoch + s (the global step, unless a resume changed the batch or the ranks
        // at an epoch boundary, which must not move the schedule).
        let schedule = LRSchedule(
            kind: config.schedule, baseLR: lr, totalSteps: config.epochs * sampler.stepsPerEpoch,
            stepsPerEpoch: sampler.stepsPerEpoch,
            warmupSteps: Int(config.effectiveWarmupEpochs(ranks: ranks) * Double(sampler.stepsPerEpoch)),
            stepEpochs: config.effectiveStepEpochs, gamma: config.gamma)
        let optimizer = try makeOptimizer(count: model.parameterCount, lr: lr)
        let state = try startingState(model: model, optimizer: optimizer, stepsPerEpoch: sampler.stepsPerEpoch)
        let kernelPaths = try synchronize(model: model, data: data, state: state)
        let average = try makeAverage(model: model)
        let allreduce = try comm.allReduceSummary()
        log(Banner.text(config: config, model: model, data: data, ranks: ranks, stepsPerEpoch: sampler.stepsPerEpoch,
                        kernelPaths: kernelPaths, allreduce: allreduce, resumed: resumed))

        let stepper = try TrainingStep(model: model, optimizer: optimizer, comm: comm, batchSize: config.batchSize,
                                       accumulate: config.accumulate, bucketCapBytes: Int(config.bucketCapMB * 1_048_576), overlap: config.overlap,
                                       labelSmoothing: config.labelSmoothing)
        stepper.clipGradNorm = Float(config.clipGradNorm)
        let metrics = rank == 0 ? try config.metricsPath.map {
            try MetricsWriter(path: $0, append: config.resume != nil, withAverage: average != nil)
        } : nil
        try metrics?.run(config: config, ranks: ranks, resumedAt: resumed.map { _ in state.globalStep })
        try comm.barrier()
        let origin = MonotonicClock.seconds()
        let timeline = config.timelinePath != nil ? Timeline(rank: rank, origin: origin, maxSteps: config.timelineSteps) : nil
        return TrainingRun(data: data, model: model, sampler: sampler, schedule: schedule, optimizer: optimizer,
                           stepper: stepper, average: average, state: state, checkpoints: checkpoints, metrics: metrics,
                           timeline: timeline, progress: ProgressLine(log: log, enabled: rank == 0 && !config.quiet),
                           rankClock: RankTimesClock(requestedEvery: config.rankTimesEvery, ranks: ranks),
                           runOrigin: origin - state.elapsed)
    }

    /// A fresh run's state, or the one a resumed checkpoint holds; --init-from's weights.
    private func startingState(model: Model, optimizer: any Optimizer, stepsPerEpoch: Int) throws -> RunState {
        if let from = config.initFrom {
            try World.agree(comm) { try Checkpoint.loadModel(from: from, into: model) }
        }
        guard let dir = config.resume else { return RunState(rank: rank, seed: config.seed, masks: config.dropoutMasks) }
        return try World.agree(comm) {
            try Checkpoint.resume(from: dir, model: model, optimizer: optimizer, rank: rank, ranks: ranks,
                                  config: config, stepsPerEpoch: stepsPerEpoch)
        }
    }

    /// Makes the replicas identical (rank 0's numbers) after checking that every rank built the
    /// same thing; returns the kernel path of each rank for the banner.
    private func synchronize(model: Model, data: TrainingData, state: RunState) throws -> [KernelPath] {
        // Before the broadcast: ranks that built different models would otherwise meet there
        // with buffers of different lengths, a collective error that does not say why.
        try ConsistencyCheck.verifyStart(comm: comm, model: model, data: data, config: config)
        let kernelPaths = try ConsistencyCheck.kernelPaths(comm: comm)
        // Whatever each rank built or loaded, rank 0's numbers are the ones everybody trains.
        try comm.broadcast(model.parameters.data, count: model.parameterCount, root: 0)
        try comm.broadcast(model.buffers.data, count: model.buffers.count, root: 0)
        // ... except the running statistics of a run stopped mid-epoch without SyncBN: there each
        // rank's own had not been averaged yet, and the uninterrupted run would go on with them.
        if let own = state.ownRunningStats { Self.set(model.buffers, to: own) }
        if config.syncBN { model.batchNormReducer = CommunicatorBatchNormReducer(comm) }
        model.dropoutRNG = state.dropoutRNG
        return kernelPaths
    }

    /// `--ema`: the average starts from the replicas as training starts (after --init-from), or
    /// is the one a resumed checkpoint saved. Identical on every rank, like the replicas.
    private func makeAverage(model: Model) throws -> WeightAverage? {
        guard config.ema > 0 else { return nil }
        let average = WeightAverage(model: model, decay: config.ema)
        if let dir = config.resume {
            try World.agree(comm) {
                try Checkpoint.resumeAverage(from: dir, into: average, model: model, rank: rank, ranks: ranks)
            }
        }
        return average
    }

    private func trainEpochs(_ run: TrainingRun) throws {
        for epoch in run.state.epoch..<config.epochs {
            let epochStart = MonotonicClock.seconds()
            if run.state.stepInEpoch == 0 { run.state.epochTotals = EpochTotals() }
            run.rankClock.startEpoch(run.stepper.timing)
            let images = try trainSteps(run, epoch: epoch, since: epochStart)
            run.progress.finish()
            if run.ending != nil { return }
            try endEpoch(run, epoch: epoch, images: images, since: epochStart)
        }
    }

    /// The steps of one epoch from where the run stands; returns the images trained. Sets
    /// `run.ending` when --max-steps is reached or a stop signal arrived.
    private func trainSteps(_ run: TrainingRun, epoch: Int, since epochStart: Double) throws -> Int {
        var images = 0
        let stepsPerEpoch = run.sampler.stepsPerEpoch
        for step in run.state.stepInEpoch..<stepsPerEpoch {
            if config.maxSteps > 0 && run.state.globalStep >= config.maxSteps {
                run.ending = .maxSteps(epoch: epoch + 1, step: step)
                return images
            }
            let position = epoch * stepsPerEpoch + step
            let stepLR = run.schedule.learningRate(at: position)
            if let sgd = run.optimizer as? SGD { sgd.momentum = run.schedule.momentum(at: position, fixed: config.momentum) }
            if let beforeStep {
                beforeStep(run.state.globalStep, (0..<config.accumulate).map {
                    run.sampler.indices(epoch: epoch, step: step, microBatch: $0)
                })
            }
            let outcome: TrainingStep.Outcome
            do {
                // The next step of this epoch is assembled while this one runs; the first of an
                // epoch is filled in line (its indices come after the epoch's evaluation).
                outcome = try run.stepper.run(
                    batches: run.data.trainBatches, indices: { run.sampler.indices(epoch: epoch, step: step, microBatch: $0) },
                    next: step + 1 < stepsPerEpoch ? run.sampler.indices(epoch: epoch, step: step + 1) : nil,
                    rng: &run.state.augmentRNG, lr: stepLR, position: (epoch + 1, step + 1), timeline: run.timeline,
                    globalStep: run.state.globalStep, stopSignal: StopSignal.pending)
            } catch TrainError.nonFinite(let e, let s, let lr, let loss, _) {
                throw TrainError.nonFinite(epoch: e, step: s, lr: lr, loss: loss, checkpoint: run.checkpoints?.latest())
            }
            run.average?.update(from: run.model)
            run.state.globalStep += 1
            run.state.stepInEpoch = step + 1
            run.state.epochTotals.add(loss: outcome.loss, correct: outcome.correct, samples: outcome.samples)
            run.losses.append(outcome.loss)
            images += run.sampler.globalBatchSize
            if config.logEvery > 0 && run.state.globalStep % config.logEvery == 0 {
                try run.metrics?.step(epoch: epoch + 1, step: run.state.globalStep, loss: outcome.loss, lr: stepLR)
            }
            afterStep?(run.model, run.state.globalStep)
            if config.desyncCheckEvery > 0 && run.state.globalStep % config.desyncCheckEvery == 0 {
                try ConsistencyCheck.verifyParameters(comm: comm, model: run.model, step: run.state.globalStep)
            }
            try reportRankTimes(run, epoch: epoch)
            // The epoch's last step is evaluated by the epoch's end.
            if config.evalEverySteps > 0 && run.state.globalStep % config.evalEverySteps == 0 && step + 1 < stepsPerEpoch {
                try evaluateInEpoch(run, epoch: epoch)
            }
            run.progress.update(epoch: epoch + 1, epochs: config.epochs, step: step + 1, steps: stepsPerEpoch,
                                loss: outcome.loss, elapsed: MonotonicClock.seconds() - epochStart, images: images)
            // Every rank saw the same sum in this step's allreduce: all stop here together.
            if outcome.stopSignal != 0 {
                run.ending = .signal(outcome.stopSignal, epoch: epoch + 1, step: step + 1)
                return images
            }
        }
        return images
    }

    /// At the end of each window of `run.rankClock.every` steps: the straggler, if any, goes into
    /// the progress line, and with --rank-times-every every rank's times are printed and logged.
    private func reportRankTimes(_ run: TrainingRun, epoch: Int) throws {
        let now = run.stepper.timing
        guard let times = try run.rankClock.window(now, globalStep: run.state.globalStep, comm: comm) else { return }
        run.progress.note = times.progressNote
        guard run.rankClock.report else { return }
        try run.metrics?.ranks(times, epoch: epoch + 1, step: run.state.globalStep)
        run.progress.finish()
        log("step \(run.state.globalStep)  " + times.humanLine)
    }

    /// Averages the running statistics, evaluates, records and prints the epoch, and writes the
    /// epoch's checkpoint.
    private func endEpoch(_ run: TrainingRun, epoch: Int, images: Int, since epochStart: Double) throws {
        run.state.epoch = epoch + 1
        run.state.stepInEpoch = 0
        // Without SyncBN every rank's running statistics saw only its own shards: average them so
        // evaluation and checkpoints use the statistics of all the data (DESIGN.md). The ranks
        // go on from the average, so an epoch-end checkpoint holds exactly what they continue with.
        if !config.syncBN && run.model.buffers.count > 0 {
            try comm.allReduce(run.model.buffers.data, count: run.model.buffers.count, op: .average)
            try run.average?.averageStatistics(comm: comm)
        }
        let stepsPerEpoch = run.sampler.stepsPerEpoch
        var m = EpochMetrics(epoch: epoch + 1, step: run.state.globalStep,
                             trainLoss: run.state.epochTotals.meanLoss, trainAcc: run.state.epochTotals.accuracy,
                             testLoss: nil, testAcc: nil, lr: run.schedule.learningRate(at: (epoch + 1) * stepsPerEpoch - 1),
                             elapsed: MonotonicClock.seconds() - run.runOrigin,
                             imagesPerSecond: Double(images) / max(MonotonicClock.seconds() - epochStart, 1e-9),
                             rankTimes: try run.rankClock.epoch(run.stepper.timing, comm: comm))
        if config.evalEvery > 0 && ((epoch + 1) % config.evalEvery == 0 || epoch + 1 == config.epochs) {
            let (model, average) = try evaluate(run)
            m.testLoss = model.loss; m.testAcc = model.accuracy
            m.averageTestLoss = average?.loss; m.averageTestAcc = average?.accuracy
        }
        m.elapsed = MonotonicClock.seconds() - run.runOrigin
        run.epochs.append(m)
        try run.metrics?.epoch(m)
        log(m.humanLine(epochs: config.epochs))
        if ranks > 1, let times = m.rankTimes { log(times.humanLine) }
        run.progress.note = m.rankTimes?.progressNote
        if let hint = LossNoise(losses: run.state.epochTotals.stepLosses)?.hint { log("hint: " + hint) }
        if let checkpoints = run.checkpoints, config.checkpointEvery > 0,
           (epoch + 1) % config.checkpointEvery == 0 || epoch + 1 == config.epochs {
            run.state.elapsed = MonotonicClock.seconds() - run.runOrigin
            run.lastCheckpoint = try saveCheckpoint(checkpoints, run, averageRunningStats: false)
        }
    }

    /// The model on the test set, and its moving average with --ema.
    private func evaluate(_ run: TrainingRun) throws -> (model: Evaluation.Result, average: Evaluation.Result?) {
        let t = MonotonicClock.seconds()
        defer { run.timeline?.record("eval", step: run.state.globalStep - 1, from: t, to: MonotonicClock.seconds()) }
        let evaluate = { try Evaluation.evaluate(model: run.model, batches: run.data.testBatches, comm: self.comm,
                                                 batchSize: self.config.batchSize) }
        return (try evaluate(), try run.average.map { try $0.withAverage(in: run.model, evaluate) })
    }

    /// Runs `body` with the running statistics of the model (and of the moving average) averaged
    /// over the ranks, as an epoch's end averages them, and puts every rank's own back afterwards:
    /// what a stop or an evaluation inside an epoch sees, while the ranks go on with their own.
    private func withStatisticsAveraged<T>(_ run: TrainingRun, _ body: () throws -> T) throws -> T {
        let model = run.model, average = run.average
        guard model.buffers.count > 0 else { return try body() }
        let own = Array(model.buffers.buffer), ownAverage = average.map { Array($0.statistics.buffer) } ?? []
        try comm.allReduce(model.buffers.data, count: model.buffers.count, op: .average)
        try average?.averageStatistics(comm: comm)
        defer {
            Self.set(model.buffers, to: own)
            if let average { Self.set(average.statistics, to: ownAverage) }
        }
        return try body()
    }

    /// `--eval-every-steps`: the test set inside an epoch, with the ranks' running statistics
    /// averaged (`withStatisticsAveraged`; SyncBN's are the same on every rank already). Evaluation
    /// draws no dropout mask and updates no statistic, so the run trains exactly as without it.
    private func evaluateInEpoch(_ run: TrainingRun, epoch: Int) throws {
        let (result, averaged) = try config.syncBN ? evaluate(run) : withStatisticsAveraged(run) { try evaluate(run) }
        let e = StepEvaluation(epoch: epoch + 1, step: run.state.globalStep, testLoss: result.loss, testAcc: result.accuracy,
                               averageTestLoss: averaged?.loss, averageTestAcc: averaged?.accuracy)
        run.evaluations.append(e)
        try run.metrics?.evaluation(e)
        run.progress.finish()
        log(e.humanLine())
    }

    /// A run that stopped early saves where it stands, unless the epoch's checkpoint just did.
    private func checkpointAfterStop(_ run: TrainingRun) throws {
        guard run.ending != nil, let checkpoints = run.checkpoints,
              run.lastCheckpoint != checkpoints.checkpointPath(globalStep: run.state.globalStep) else { return }
        run.state.elapsed = MonotonicClock.seconds() - run.runOrigin
        // At an epoch boundary the statistics are already averaged: averaging them again could
        // move them by an ulp (x = s / P added up over P ranks and divided by P need not be x).
        run.lastCheckpoint = try saveCheckpoint(checkpoints, run,
                                                averageRunningStats: !config.syncBN && run.state.stepInEpoch != 0)
    }

    private func writeTimeline(_ run: TrainingRun) throws {
        guard let path = config.timelinePath, let timeline = run.timeline else { return }
        let all = try comm.allGather(timeline.packed())
        if rank == 0 { try Timeline.write(ranks: all, to: path); log("timeline: \(path)") }
    }

    /// The summary, after saying how a stopped run continues (a signal's stop is thrown, so the
    /// command exits with the signal's status).
    private func report(_ run: TrainingRun) throws -> TrainSummary {
        let resume = config.checkpointDir.map { ShellCommand.line([program, "train", "--resume", $0]) }
        switch run.ending {
        case .signal(let signal, let epoch, let step):
            throw TrainError.stopped(signal: signal, epoch: epoch, step: step, checkpoint: run.lastCheckpoint, resume: resume)
        case .maxSteps(let epoch, let step):
            let stepsPerEpoch = run.sampler.stepsPerEpoch
            let at = step == 0 ? "after epoch \(epoch - 1)" : "in epoch \(epoch), after step \(step) of \(stepsPerEpoch)"
            var saved = "; no checkpoint (no --checkpoint-dir)"
            if let checkpoint = run.lastCheckpoint, let resume { saved = "; checkpoint \(checkpoint) (continue with: \(resume))" }
            log("stopped at --max-steps \(config.maxSteps), \(at)" + saved)
        case nil:
            break
        }
        return TrainSummary(epochs: run.epochs, evaluations: run.evaluations, globalStep: run.state.globalStep,
                            lastCheckpoint: run.lastCheckpoint, parameters: Array(run.model.parameters.buffer),
                            runningStats: Array(run.model.buffers.buffer), losses: run.losses)
    }

    private func makeOptimizer(count: Int, lr: Double) throws -> any Optimizer {
        switch config.optimizer {
        case .sgd:
            return try SGD(count: count, learningRate: lr, momentum: config.momentum,
                           weightDecay: config.weightDecay, nesterov: config.nesterov)
        case .adam:
            return try Adam(count: count, learningRate: lr, weightDecay: config.weightDecay)
        }
    }

    /// Puts `values` (running statistics saved earlier) back into `statistics`.
    private static func set(_ statistics: Tensor, to values: [Float]) {
        values.withUnsafeBufferPointer { statistics.data.update(from: $0.baseAddress!, count: $0.count) }
    }

    /// All ranks gather their RNG states and running statistics to rank 0, which writes the
    /// checkpoint; the others wait so no rank runs ahead of a checkpoint that might still fail.
    /// Returns its path on every rank.
    ///
    /// `averageRunningStats` (a stop mid-epoch without SyncBN): the model file, what eval and
    /// PyTorch load, gets the ranks' average running statistics, as after an epoch; each rank
    /// keeps its own live ones, which the trainer state records for `--resume`. The same holds
    /// for the statistics of the moving average (`--ema`) and its file.
    private func saveCheckpoint(_ dir: CheckpointDirectory, _ run: TrainingRun, averageRunningStats: Bool) throws -> String? {
        let model = run.model
        run.state.dropoutRNG = model.dropoutRNG
        let state = run.state
        let rngs = try comm.allGather(state.rngWords().map { Int64(bitPattern: $0) })
        let live = Array(model.buffers.buffer)
        let runningStats = try comm.allGather(live)
        let liveAverage = run.average.map { Array($0.statistics.buffer) } ?? []
        let averageStats = try run.average.map { _ in try comm.allGather(liveAverage) } ?? []
        return try averageRunningStats ? withStatisticsAveraged(run) { try writeCheckpoint(dir, run, state, rngs, runningStats, averageStats) }
            : writeCheckpoint(dir, run, state, rngs, runningStats, averageStats)
    }

    /// Rank 0 writes the checkpoint; its outcome decides for every rank.
    private func writeCheckpoint(_ dir: CheckpointDirectory, _ run: TrainingRun, _ state: RunState, _ rngs: [[Int64]],
                                 _ runningStats: [[Float]], _ averageStats: [[Float]]) throws -> String? {
        var path: String? = nil
        var failure: String? = nil
        if rank == 0 {
            do {
                path = try dir.write(globalStep: state.globalStep) { tmp in
                    try Checkpoint.write(to: tmp, model: run.model, normalization: run.data.normalization,
                                         classNames: run.data.train.classNames, optimizer: run.optimizer, state: state,
                                         rankRNGs: rngs.map { $0.map { UInt64(bitPattern: $0) } },
                                         rankRunningStats: runningStats, average: run.average,
                                         rankAverageStats: averageStats, config: config, ranks: ranks)
                }
                log("checkpoint: \(path!)")
            } catch { failure = "\(error)" }
        }
        // Rank 0's outcome decides for everybody (a failed save must stop all ranks, not one).
        var flag = [failure == nil ? 0.0 : 1.0]
        try comm.allReduce(&flag)
        if flag[0] != 0 { throw TrainError.checkpoint(failure ?? "checkpoint failed on rank 0") }
        return path ?? dir.checkpointPath(globalStep: state.globalStep)
    }
}
