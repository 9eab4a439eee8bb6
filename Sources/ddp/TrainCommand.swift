import ArgumentParser
import Foundation
import Layers
import Training

// Numeric options parse their value unconditionally, so `--lr -1` reaches validation and is
// refused for what it is, rather than read as an unknown short option "-1".

/// Flags shared by every command that builds a model and data (train, sanity, lr-find, bench step).
struct ModelDataOptions: ParsableArguments {
    @Option(help: "Dataset: fashion-mnist, mnist, cifar10 or synthetic.")
    var dataset = "fashion-mnist"
    @Option(help: "Directory with the dataset files (default: where Debian's package installs it).")
    var dataDir: String?
    @Option(help: ArgumentHelp("Model: a preset (mlp, lenet5, fmnist-cnn, resnet20) or a spec string.",
                               discussion: ModelSpec.help))
    var model = "fmnist-cnn"
    @Option(parsing: .unconditional, help: "Samples per rank per step (the global batch is this times the ranks).")
    var batchSize = 64
    @Option(parsing: .unconditional, help: "Random seed: weights, data order, dropout, augmentation.")
    var seed: UInt64 = 0
    @Option(parsing: .unconditional, help: "BLAS threads per rank (default: cores / ranks on this node).")
    var threads = 0
    @Option(parsing: .unconditional, help: "Run P ranks as threads in this process (the single-process test mode; no mpirun).")
    var localRanks = 0

    func apply(to c: inout TrainConfig) {
        c.dataset = dataset; c.dataDir = dataDir; c.model = model; c.batchSize = batchSize
        c.seed = seed; c.threads = threads
    }

    func validate() throws {
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1 (got \(batchSize))") }
        if threads < 0 { throw ValidationError("--threads must be >= 0 (got \(threads))") }
        if let p = World.localRanksProblem(localRanks) { throw ValidationError(p) }
    }
}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a CNN data-parallel: every rank a replica, gradients ring-allreduced each step.",
        discussion: """
        Run as `mpirun -n P ddp train ...` (or scripts/launch.sh -n P -- train ...), alone as a world \
        of one, or with --local-ranks P as P threads in one process. Rank 0 prints progress; \
        --metrics writes one JSON line per epoch (and per step with --log-every).

        SIGINT, SIGTERM or SIGUSR1 (to any rank) stops the run after the step in progress: \
        every rank stops at the same step, a checkpoint is written (with --checkpoint-dir) and \
        the exit status is 128 + signal. SIGUSR1 to mpirun is forwarded as it is and reaches \
        the ranks at once: the prompt way to stop a job. On SIGINT (Ctrl-C) or SIGTERM mpirun waits odls_base_sigkill_timeout \
        seconds, sends the ranks SIGTERM, waits as long again and SIGKILLs them; Open MPI's \
        default of 1 s can be too short for the checkpoint, so scripts/launch.sh sets 5 \
        (--sigkill-timeout, DDP_SIGKILL_TIMEOUT): the ranks stop and checkpoint, mpirun exits \
        nonzero up to 10 s after the signal. With plain mpirun: --mca odls_base_sigkill_timeout 5. \
        Raise it when a step and a checkpoint take longer than that.

        Faults: a rank that dies or stops answering ends the job within seconds (mpirun notices \
        a death; --timeout names a rank that stopped answering); --desync-check-every N \
        compares the parameters across ranks and names the first differing tensor and the ranks.
        """)

    @OptionGroup var common: ModelDataOptions
    @Option(parsing: .unconditional, help: "Epochs to train.") var epochs = 10
    @Option(parsing: .unconditional, help: "Peak learning rate (the top of the schedule).") var lr = 0.1
    @Flag(help: "Multiply --lr by the number of ranks (Horovod's linear scaling rule).") var scaleLr = false
    @Option(help: "Optimizer: sgd or adam.") var optimizer = "sgd"
    @Option(parsing: .unconditional, help: "SGD momentum (cycled 0.95->0.85->0.95 by the onecycle schedule).") var momentum = 0.9
    @Flag(inversion: .prefixedNo, help: "Nesterov momentum.") var nesterov = true
    @Option(parsing: .unconditional, help: "L2 weight decay (torch.optim.SGD's weight_decay).") var weightDecay = 5e-4
    @Option(help: "LR schedule: constant, step, cosine or onecycle.") var schedule = "onecycle"
    @Option(parsing: .unconditional, help: "Linear warmup over this many epochs (fractions allowed).") var warmupEpochs = 0.0
    @Option(parsing: .unconditional, help: "step schedule: decay every N epochs (default epochs/3).") var stepEpochs = 0
    @Option(parsing: .unconditional, help: "step schedule: decay factor.") var gamma = 0.1
    @Flag(help: "Synchronized BatchNorm: batch statistics over all ranks.") var syncBn = false
    @Flag(help: "Augment: random crop with padding (4 px CIFAR-10, 2 px MNIST and Fashion-MNIST) and horizontal flips (CIFAR-10 and Fashion-MNIST; not MNIST); none for synthetic.") var augment = false
    @Option(help: "Directory for checkpoints (step-N/ and a 'latest' link).") var checkpointDir: String?
    @Option(parsing: .unconditional, help: "Checkpoint every N epochs (0: only at the end).") var checkpointEvery = 1
    @Option(parsing: .unconditional, help: "Checkpoints to keep.") var keepCheckpoints = 2
    @Option(help: "Continue a run bit-exactly from a checkpoint (run directory or checkpoint).") var resume: String?
    @Option(help: "Start from a checkpoint's weights (fresh optimizer and schedule).") var initFrom: String?
    @Option(parsing: .unconditional, help: "Stop after N steps in total (a checkpoint is written there).") var maxSteps = 0
    @Flag(help: "Keep the data in file order.") var noShuffle = false
    @Option(help: "Metrics file (JSON lines).") var metrics: String?
    @Option(parsing: .unconditional, help: "Also log every N steps into the metrics file.") var logEvery = 0
    @Option(help: "Write a Chrome trace (chrome://tracing, ui.perfetto.dev) of the first steps.") var timeline: String?
    @Option(parsing: .unconditional, help: "Clip the global gradient norm to this (0: off).") var clipGradNorm = 0.0
    @Option(parsing: .unconditional, help: "Gradient bucket size in MiB.") var bucketCapMb = 4.0
    @Flag(inversion: .prefixedNo, help: "Overlap bucket allreduce with the rest of backward (pays when cores are spare).") var overlap = false
    @Option(parsing: .unconditional, help: "Seconds a rank may wait for a peer before the job is aborted (0: forever).") var timeout = 300.0
    @Option(parsing: .unconditional, help: "Compare parameter fingerprints across ranks every N steps (0: never).") var desyncCheckEvery = 100
    @Option(parsing: .unconditional, help: "Train on the first N samples only (0: all).") var trainSubset = 0
    @Flag(help: "Print nothing but errors.") var quiet = false

    func validate() throws {
        if LRSchedule.Kind(rawValue: schedule) == nil {
            throw ValidationError("--schedule must be one of \(LRSchedule.Kind.allCases.map(\.rawValue).joined(separator: ", ")) (got \(schedule))")
        }
        if TrainConfig.OptimizerKind(rawValue: optimizer) == nil { throw ValidationError("--optimizer must be sgd or adam (got \(optimizer))") }
        if let p = config().problem() { throw ValidationError(p) }
    }

    func config() -> TrainConfig {
        var c = TrainConfig()
        common.apply(to: &c)
        c.epochs = epochs; c.lr = lr; c.scaleLR = scaleLr
        c.optimizer = TrainConfig.OptimizerKind(rawValue: optimizer) ?? .sgd
        c.momentum = momentum; c.nesterov = nesterov && (TrainConfig.OptimizerKind(rawValue: optimizer) ?? .sgd) == .sgd
        c.weightDecay = weightDecay; c.schedule = LRSchedule.Kind(rawValue: schedule) ?? .onecycle
        c.warmupEpochs = warmupEpochs; c.stepEpochs = stepEpochs; c.gamma = gamma
        c.syncBN = syncBn; c.augment = augment; c.checkpointDir = checkpointDir; c.checkpointEvery = checkpointEvery
        c.keepCheckpoints = keepCheckpoints; c.resume = resume; c.initFrom = initFrom; c.maxSteps = maxSteps
        c.shuffle = !noShuffle; c.metricsPath = metrics; c.logEvery = logEvery; c.timelinePath = timeline
        c.clipGradNorm = clipGradNorm; c.bucketCapMB = bucketCapMb; c.overlap = overlap; c.timeout = timeout
        c.desyncCheckEvery = desyncCheckEvery; c.trainSubset = trainSubset; c.quiet = quiet
        return c
    }

    func run() throws {
        let config = config()
        let code = World.run(localRanks: common.localRanks, threads: common.threads, timeout: timeout) { comm in
            // After MPI_Init, so ours are the handlers in place; from here a signal stops cleanly.
            StopSignal.install()
            _ = try Trainer(config: config, communicator: comm, log: { print($0); fflush(stdout) }).run()
        }
        if code != 0 { throw ExitCode(code) }
    }
}
