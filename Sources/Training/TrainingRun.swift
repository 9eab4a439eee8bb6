import Data
import Layers

/// What one `Trainer.run` works with from preparation to report: the parts built for it, where
/// the run stands, and what it has to report. A class, so the phases share one instance.
final class TrainingRun {
    /// Why the epochs ended early.
    enum Ending {
        /// --max-steps reached before `step` of `epoch` (1-based epoch; step 0: at its start).
        case maxSteps(epoch: Int, step: Int)
        /// A stop signal every rank saw after `step` of `epoch`.
        case signal(Int32, epoch: Int, step: Int)
    }

    let data: TrainingData
    let model: Model
    let sampler: DistributedSampler
    let schedule: LRSchedule
    let optimizer: any Optimizer
    let stepper: TrainingStep
    /// `--ema`'s moving average of the weights, updated after every step.
    let average: WeightAverage?
    var state: RunState
    let checkpoints: CheckpointDirectory?
    let metrics: MetricsWriter?
    let timeline: Timeline?
    let progress: ProgressLine
    /// Times the ranks' steps for the straggler report (`RankTimes`).
    var rankClock: RankTimesClock
    /// `MonotonicClock` time at which the run, counted across resumes, began (elapsed_s).
    let runOrigin: Double

    var ending: Ending?
    var epochs: [EpochMetrics] = []
    var evaluations: [StepEvaluation] = []
    /// The global loss of every step this process made.
    var losses: [Double] = []
    var lastCheckpoint: String?

    init(data: TrainingData, model: Model, sampler: DistributedSampler, schedule: LRSchedule, optimizer: any Optimizer,
         stepper: TrainingStep, average: WeightAverage?, state: RunState, checkpoints: CheckpointDirectory?,
         metrics: MetricsWriter?, timeline: Timeline?, progress: ProgressLine, rankClock: RankTimesClock,
         runOrigin: Double) {
        self.data = data; self.model = model; self.sampler = sampler; self.schedule = schedule
        self.optimizer = optimizer; self.stepper = stepper; self.average = average; self.state = state
        self.checkpoints = checkpoints
        self.metrics = metrics; self.timeline = timeline; self.progress = progress
        self.rankClock = rankClock; self.runOrigin = runOrigin
    }
}
