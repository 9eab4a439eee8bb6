import AllReduce
import ArgumentParser
import Foundation
import Training

// Numeric options parse their value unconditionally, so `--lr -1` reaches validation and is
// refused for what it is, rather than read as an unknown short option "-1".

/// Flags shared by every command that builds a model and data (train, sanity, lr-find, bench step).
struct ModelDataOptions: ParsableArguments {
    private static var defaults: TrainConfig { GivenSettings.defaults }

    @Option(help: "Dataset: \(ModelCatalog.datasetNames.joined(separator: ", ")) (default \(defaults.dataset)).")
    var dataset: String?
    @Option(name: [.customLong("data-dir"), .customLong("data")],
            help: ArgumentHelp("Directory with the dataset's files (default: where Debian's package installs it), or its file "
                + "(--dataset packed: the file of ddp pack)."))
    var dataDir: String?
    @Option(help: "Image folders: resize every image to cover HxW and crop the centre (default: all images the same size).")
    var imageSize: ImageSize?
    @Option(parsing: .unconditional, help: "Image folders without train/ and test/: this fraction of each class, drawn with --seed, is the test set.")
    var valFraction: Double?
    @Flag(help: "Skip image files that cannot be decoded (named in a report) instead of stopping at the first.")
    var skipBad = false
    @Option(help: "NumPy arrays: the axis order of 4-D images, nchw, nhwc or auto (read from the shape; the default).")
    var layout: ImageLayout?
    @Option(help: ArgumentHelp("Model: a preset (\(ModelCatalog.presetNames.joined(separator: ", "))) or a spec string "
                                + "(default \(defaults.model)).", discussion: ModelCatalog.specHelp))
    var model: String?
    @Option(name: .customLong("init"),
            help: ArgumentHelp("How conv and linear weights and biases start (default \(defaults.weightInit.rawValue)).",
                               discussion: "torch: PyTorch's own defaults, weights and biases uniform within 1/sqrt(fan_in) "
                                + "(the default: it trained best, docs/RESULTS.md). "
                                + "kaiming: He-normal, std sqrt(2 / fan_in), for the layers before a ReLU, and a small "
                                + "N(0, 0.01^2) classifier (the last layer), so the first loss is about ln(classes) on any net; "
                                + "biases 0. xavier: Glorot-uniform weights, biases 0."))
    var weightInit: TrainConfig.WeightInit?
    @Option(parsing: .unconditional,
            help: ArgumentHelp("Samples per rank per step (train: per micro-batch); the global batch is this times "
                               + "the ranks (train: and --accumulate) (default \(defaults.batchSize))."))
    var batchSize: Int?
    @Option(parsing: .unconditional, help: "Random seed: weights, data order, dropout, augmentation (default \(defaults.seed)).")
    var seed: UInt64?
    @Option(parsing: .unconditional, help: "BLAS threads per rank (default: cores / ranks on this node).")
    var threads: Int?
    @Option(parsing: .unconditional, help: "Run P ranks as threads in this process (the single-process test mode; no mpirun).")
    var localRanks: Int?
    @Option(help: ArgumentHelp("Allreduce algorithm: auto, flat, hierarchical, ring or recursive-doubling "
                               + "(default: $DDP_ALLREDUCE_ALGORITHM, else auto).",
                               discussion: "auto goes through the node first (hierarchical: the node's ranks add in shared "
                                + "memory, one leader per node allreduces across nodes) when the job spans several nodes "
                                + "and some node runs more than one rank, else it is flat: recursive doubling up to 64 KiB, "
                                + "the ring above. All ranks must pass the same."))
    var allreduce: AllReduceAlgorithm?
    @Option(help: ArgumentHelp("Arithmetic of the convolutions: fp32 or bf16 (default \(defaults.precision.rawValue)).",
                               discussion: "bf16: the 3x3 convolutions on ddp's direct kernels multiply bf16 operands "
                                + "(VDPBF16PS) and sum in FP32, forward and backward; weights, optimizer, gradients, batch "
                                + "norm and the other layers stay FP32. Needs AVX512_BF16 (Zen 4, Cooper Lake, Sapphire "
                                + "Rapids); refused elsewhere."))
    var precision: TrainConfig.Precision?

    func apply(to s: inout GivenSettings) {
        s.set("--dataset", dataset, \.dataset)
        s.set("--data-dir", path: dataDir, \.dataDir, absolute: true)
        s.set("--image-size", imageSize.map { Optional($0) }, \.imageSize)
        s.set("--val-fraction", valFraction, \.valFraction)
        s.set("--skip-bad", skipBad, \.skipBad)
        s.set("--layout", layout, \.layout)
        s.set("--model", model, \.model)
        s.set("--init", weightInit, \.weightInit)
        s.set("--batch-size", batchSize, \.batchSize)
        s.set("--seed", seed, \.seed)
        s.set("--threads", threads, \.threads)
        s.set("--allreduce", allreduce.map { Optional($0) }, \.allreduce)
        s.set("--precision", precision, \.precision)
    }

    /// The options as a config (defaults where none is given).
    var config: TrainConfig {
        var s = GivenSettings()
        apply(to: &s)
        return s.config
    }

    func validate() throws {
        if let batchSize, batchSize < 1 { throw ValidationError("--batch-size must be at least 1 (got \(batchSize))") }
        if let threads, threads < 0 { throw ValidationError("--threads must be >= 0 (got \(threads))") }
        if let p = World.localRanksProblem(localRanks ?? 0) { throw ValidationError(p) }
        if let p = KnownName.datasetProblem(dataset ?? Self.defaults.dataset) ?? KnownName.modelProblem(model ?? Self.defaults.model) {
            throw ValidationError(p)
        }
    }
}

struct TrainCommand: ParsableCommand, CheckableCommand {
    private static var defaults: TrainConfig { GivenSettings.defaults }

    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a CNN data-parallel: every rank a replica, gradients ring-allreduced each step.",
        discussion: """
        Run as `mpirun -n P ddp train ...` (or scripts/launch.sh -n P -- train ...), alone as a world \
        of one, or with --local-ranks P as P threads in one process. Rank 0 prints progress; \
        --metrics writes one JSON line per epoch (and per step with --log-every).

        One run per checkpoint directory and metrics file: a new run refuses a --checkpoint-dir \
        that holds another run's checkpoints and a --metrics file that holds lines (--overwrite \
        replaces them).

        --resume DIR alone continues the run a checkpoint holds (DIR: its run directory, or one \
        checkpoint of it): the checkpoint restores every setting (model, data, schedule and its \
        length, batch size, ranks, and the rest), the run directory, and the metrics file, to which \
        it appends. A flag given again with the same value changes nothing. A new value is applied \
        when the run stays the same run (more --epochs for the constant and step schedules, \
        --threads, --metrics elsewhere, --checkpoint-dir elsewhere, the ranks and how the global \
        batch is split; see below), and the banner lists it; otherwise (model, data, subset, seed, \
        optimizer, LR, schedule) it is refused: --init-from DIR starts a new run from the \
        checkpoint's weights. Under mpirun the ranks are mpirun's; started alone, the run's own \
        number of ranks runs as threads.

        Any number of ranks resumes any checkpoint, mid-epoch too, keeping the run's global batch \
        (ranks x --batch-size x --accumulate), so the sample order, the steps per epoch, the \
        schedule and the LR go on exactly: the per-rank batch is derived (4 ranks x 64 resumed on \
        2 runs 2 x 128), or the accumulation when --batch-size is given (2 x 64 x --accumulate 2) \
        or when the batch does not divide. A rank count that cannot share the global batch (256 \
        on 3 ranks) is refused. Rank r keeps old rank r's dropout and augmentation streams; a \
        rank the old run lacked starts a fresh one, so across rank counts the model goes on to \
        float tolerance (the allreduce adds in another order), the masks do not. Both \
        --batch-size and --accumulate given with another product change the global batch, at an \
        epoch boundary only.

        SIGINT, SIGTERM or SIGUSR1 (to any rank) stops the run after the step in progress: \
        every rank stops at the same step, a checkpoint is written (with --checkpoint-dir), the \
        command that continues the run is printed, and the exit status is 128 + signal. SIGUSR1 \
        to mpirun is forwarded as it is and reaches the ranks at once: the prompt way to stop a \
        job. On SIGINT (Ctrl-C) or SIGTERM mpirun waits odls_base_sigkill_timeout seconds, sends \
        the ranks SIGTERM, waits as long again and SIGKILLs them; Open MPI's default of 1 s can be \
        too short for the checkpoint, so scripts/launch.sh sets 5 (--sigkill-timeout, \
        DDP_SIGKILL_TIMEOUT): the ranks stop and checkpoint, mpirun exits nonzero up to 10 s \
        after the signal. With plain mpirun: --mca odls_base_sigkill_timeout 5. Raise it when a \
        step and a checkpoint take longer than that.

        The learning rate follows the global batch (the linear scaling rule of Goyal et al., \
        Horovod's lr x hvd.size()): --lr is the peak learning rate of one rank's batch of \
        --batch-size samples, and P ranks, whose global batch is P times larger, peak at P x --lr \
        (the banner and the metrics' run line show it), and with --accumulate N, P x N x --lr. \
        A resume on other ranks keeps the LR with the global batch. The rule comes with a warmup: the \
        default one-cycle schedule climbs from a 25th of its peak over the first 30% of the run; \
        the other schedules, when the rule raised the LR, warm up linearly over 5 epochs, as \
        Goyal et al. and Horovod's examples do (--warmup-epochs sets it for any schedule and any \
        ranks; a run shorter than that is still warming up when it ends). So adding ranks \
        keeps the step per sample; --no-scale-lr uses --lr as given at any number of ranks, as \
        PyTorch DDP does (scale it yourself).

        Faults: a rank that dies or stops answering ends the job within seconds (mpirun notices \
        a death; --timeout names a rank that stopped answering); --desync-check-every N \
        compares the parameters across ranks and names the first differing tensor and the ranks.
        """)

    @OptionGroup var common: ModelDataOptions
    @Option(parsing: .unconditional, help: "Epochs to train (default \(defaults.epochs)).") var epochs: Int?
    @Option(parsing: .unconditional,
            help: ArgumentHelp("Micro-batches of --batch-size per rank and optimizer step (default \(defaults.accumulate)).",
                               discussion: "Gradient accumulation (PyTorch's no_sync): each rank sums the gradients of N "
                                + "micro-batches and the ranks allreduce once per step; the global batch is ranks x "
                                + "--batch-size x N, the gradient its mean, and a step (of the schedule, --max-steps, "
                                + "the progress line) is one optimizer step. Without BatchNorm this equals one N times "
                                + "larger batch to float tolerance; BatchNorm normalizes each micro-batch with its own "
                                + "statistics (and updates its running statistics N times a step)."))
    var accumulate: Int?
    @Option(parsing: .unconditional,
            help: ArgumentHelp("Peak learning rate: one rank's, multiplied by the ranks (see above), or with "
                               + "--no-scale-lr the run's (default \(defaults.lr))."))
    var lr: Double?
    @Flag(inversion: .prefixedNo,
          help: "Multiply --lr by the number of ranks, the linear scaling rule for the global batch (default on; see above).")
    var scaleLr: Bool?
    @Option(help: "Optimizer: sgd or adam (default \(defaults.optimizer.rawValue)).") var optimizer: TrainConfig.OptimizerKind?
    @Option(parsing: .unconditional, help: "SGD momentum, cycled 0.95->0.85->0.95 by the onecycle schedule (default \(defaults.momentum)).")
    var momentum: Double?
    @Flag(inversion: .prefixedNo, help: "Nesterov momentum (default on with sgd).") var nesterov: Bool?
    @Option(parsing: .unconditional, help: "L2 weight decay, torch.optim.SGD's weight_decay (default \(defaults.weightDecay)).")
    var weightDecay: Double?
    @Option(help: "LR schedule: \(LRSchedule.Kind.allCases.map(\.rawValue).joined(separator: ", ")) (default \(defaults.schedule.rawValue)).")
    var schedule: LRSchedule.Kind?
    @Option(parsing: .unconditional,
            help: ArgumentHelp("Linear warmup over this many epochs, fractions allowed (default: where the scaling "
                               + "rule raised the LR and the schedule is not one-cycle, 5 epochs; "
                               + "else none)."))
    var warmupEpochs: Double?
    @Option(parsing: .unconditional, help: "step schedule: decay every N epochs (default: a third of --epochs).") var stepEpochs: Int?
    @Option(parsing: .unconditional, help: "step schedule: decay factor (default \(defaults.gamma)).") var gamma: Double?
    @Flag(help: "Synchronized BatchNorm: batch statistics over all ranks.") var syncBn = false
    @Option(help: ArgumentHelp("Dropout masks of the ranks: shared or per-rank (default \(defaults.dropoutMasks.rawValue)).",
                               discussion: "shared: every rank drops the same elements of its batch, as PyTorch DDP's ranks "
                                + "do when each seeds torch alike; it reached 92% sooner (docs/RESULTS.md). per-rank: each "
                                + "rank draws its own masks, as one process with the global batch would."))
    var dropoutMasks: TrainConfig.DropoutMasks?
    @Flag(help: "Augment: random crop with padding (4 px CIFAR-10, 2 px MNIST and Fashion-MNIST, an eighth of the shorter side for your own images) and horizontal flips (all but MNIST); none for synthetic.") var augment = false
    @Option(help: "Directory for checkpoints (step-N/ and a 'latest' link); one run per directory.") var checkpointDir: String?
    @Option(parsing: .unconditional, help: "Checkpoint every N epochs, 0: only at the end (default \(defaults.checkpointEvery)).")
    var checkpointEvery: Int?
    @Option(parsing: .unconditional, help: "Checkpoints to keep (default \(defaults.keepCheckpoints)).") var keepCheckpoints: Int?
    @Option(help: "Continue the run of a checkpoint (its run directory, or one checkpoint), with its settings.") var resume: String?
    @Option(help: "Start a new run from a checkpoint's weights (fresh optimizer and schedule).") var initFrom: String?
    @Flag(help: "Let a new run replace another run's checkpoints in --checkpoint-dir and its lines in --metrics.") var overwrite = false
    @Option(parsing: .unconditional, help: "Stop after N steps in total; a checkpoint is written there (default 0: no limit; a resume goes on past it once reached).")
    var maxSteps: Int?
    @Flag(help: "Keep the data in file order.") var noShuffle = false
    @Option(help: "Metrics file (JSON lines); a resumed run appends to it.") var metrics: String?
    @Option(parsing: .unconditional, help: "Also log every N steps into the metrics file (default 0: never).") var logEvery: Int?
    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Also evaluate the test set every N steps inside the epochs (default 0: at epoch ends only).",
        discussion: "Printed, and logged as \"event\":\"eval\" lines (epoch, step, test_loss, test_acc, and the "
            + "moving average's with --ema): how accuracy moves within an epoch. The running statistics are averaged "
            + "over the ranks for it, as at an epoch's end, and each rank's own put back: the run trains exactly as without it."))
    var evalEverySteps: Int?
    @Option(help: "Write a Chrome trace (chrome://tracing, ui.perfetto.dev) of the first steps.") var timeline: String?
    @Option(parsing: .unconditional, help: "Clip the global gradient norm to this (default 0: off).") var clipGradNorm: Double?
    @Option(parsing: .unconditional, help: "Label smoothing of the training loss, PyTorch's label_smoothing (default 0: off).")
    var labelSmoothing: Double?
    @Option(parsing: .unconditional,
            help: ArgumentHelp("Keep an exponential moving average of the weights with this decay, e.g. 0.99 (default 0: none).",
                               discussion: "Updated after every step (BatchNorm statistics included), evaluated after "
                                + "every epoch beside the model (ema_test_loss, ema_test_acc), saved in each checkpoint "
                                + "as ema.safetensors (PyTorch state_dict names, like model.safetensors; ddp eval --ema). "
                                + "It starts from the initial weights and remembers about 1 / (1 - DECAY) steps, so the "
                                + "start still weighs DECAY^steps at the end: 0.999 suits runs of well over 5000 steps, "
                                + "0.99 shorter ones (fmnist-cnn's 10 epochs are 2340 steps at 4 ranks)."))
    var ema: Double?
    @Option(parsing: .unconditional, help: "Gradient bucket size in MiB (default \(defaults.bucketCapMB)).") var bucketCapMb: Double?
    @Flag(inversion: .prefixedNo, help: "Overlap bucket allreduce with the rest of backward; pays when cores are spare (default off).")
    var overlap: Bool?
    @Option(parsing: .unconditional, help: "Seconds a rank may wait for a peer before the job is aborted, 0: forever (default \(defaults.timeout)).")
    var timeout: Double?
    @Option(parsing: .unconditional, help: "Compare parameter fingerprints across ranks every N steps, 0: never (default \(defaults.desyncCheckEvery)).")
    var desyncCheckEvery: Int?
    @Option(parsing: .unconditional,
            help: ArgumentHelp("Print and log every rank's compute and wait seconds every N steps, 0: at epoch ends only "
                               + "(default \(defaults.rankTimesEvery)).",
                               discussion: "Each epoch rank 0 prints every rank's compute (its own work) and wait (the "
                                + "allreduce) and the metrics file's epoch line carries them (ranks_compute_s, "
                                + "ranks_wait_s, straggler); a rank whose compute is 1.2x the other ranks' median or "
                                + "more is named as the straggler, there and in the progress line. With N, the same "
                                + "for every N steps, as \"event\":\"ranks\" lines."))
    var rankTimesEvery: Int?
    @Option(parsing: .unconditional, help: "Train on the first N samples only (default 0: all).") var trainSubset: Int?
    @Flag(help: "Print the model's layers (output shapes, parameters) for these data, and train nothing.") var summary = false
    @Flag(help: "Print nothing but errors.") var quiet = false

    func validate() throws {
        // A resumed run's settings are checked once merged with the checkpoint's (`ResumePlan`).
        if resume != nil && initFrom != nil { throw ValidationError("--resume and --init-from exclude each other") }
        if let accumulate, !(1...TrainConfig.maximumAccumulate).contains(accumulate) {
            throw ValidationError("--accumulate must be between 1 and \(TrainConfig.maximumAccumulate) (got \(accumulate))")
        }
        if resume == nil, let p = settings().config.problem() { throw ValidationError(p) }
    }

    /// The config of the flags given (defaults for the rest) and which flags those were.
    func settings() -> GivenSettings {
        var s = GivenSettings()
        common.apply(to: &s)
        s.set("--epochs", epochs, \.epochs)
        s.set("--accumulate", accumulate, \.accumulate)
        s.set("--lr", lr, \.lr)
        s.set("--scale-lr", scaleLr, \.scaleLR)
        s.set("--optimizer", optimizer, \.optimizer)
        s.set("--momentum", momentum, \.momentum)
        s.set("--nesterov", nesterov, \.nesterov)
        // Nesterov is an SGD option.
        if s.config.optimizer != .sgd { s.config.nesterov = false }
        s.set("--weight-decay", weightDecay, \.weightDecay)
        s.set("--schedule", schedule, \.schedule)
        if let warmupEpochs { s.set("--warmup-epochs", warmupEpochs, \.warmupEpochs) }
        s.set("--step-epochs", stepEpochs, \.stepEpochs)
        s.set("--gamma", gamma, \.gamma)
        s.set("--sync-bn", syncBn, \.syncBN)
        s.set("--dropout-masks", dropoutMasks, \.dropoutMasks)
        s.set("--augment", augment, \.augment)
        s.set("--checkpoint-dir", path: checkpointDir, \.checkpointDir)
        s.set("--checkpoint-every", checkpointEvery, \.checkpointEvery)
        s.set("--keep-checkpoints", keepCheckpoints, \.keepCheckpoints)
        s.set("--max-steps", maxSteps, \.maxSteps)
        s.set("--no-shuffle", noShuffle, \.shuffle, to: false)
        s.set("--metrics", path: metrics, \.metricsPath)
        s.set("--log-every", logEvery, \.logEvery)
        s.set("--eval-every-steps", evalEverySteps, \.evalEverySteps)
        s.set("--clip-grad-norm", clipGradNorm, \.clipGradNorm)
        s.set("--label-smoothing", labelSmoothing, \.labelSmoothing)
        s.set("--ema", ema, \.ema)
        s.set("--bucket-cap-mb", bucketCapMb, \.bucketCapMB)
        s.set("--overlap", overlap, \.overlap)
        s.set("--timeout", timeout, \.timeout)
        s.set("--desync-check-every", desyncCheckEvery, \.desyncCheckEvery)
        s.set("--rank-times-every", rankTimesEvery, \.rankTimesEvery)
        s.set("--train-subset", trainSubset, \.trainSubset)
        // What concerns this invocation only.
        s.config.resume = resume; s.config.initFrom = initFrom; s.config.timelinePath = timeline
        s.config.overwrite = overwrite; s.config.quiet = quiet
        return s
    }

    /// What will run, settled before any rank starts (so `--check-args` settles the same): the
    /// configuration (a resumed run's from its checkpoint), the threads-as-ranks to start, and
    /// (`checkingOutputs`) that its checkpoint directory and metrics file are its own.
    func plan(checkingOutputs: Bool = true) throws -> (config: TrainConfig, localRanks: Int) {
        let flags = settings()
        var config = flags.config
        var localRanks = common.localRanks ?? 0
        if config.resume != nil {
            let launch = ResumePlan.Launch.current(localRanks: localRanks)
            let resumed = try ResumePlan(flags: config, given: flags.given, launch: launch)
            config = resumed.config
            if launch == .alone && resumed.ranks > 1 { localRanks = resumed.ranks }
        }
        if checkingOutputs { try RunOutputs.check(config) }
        return (config, localRanks)
    }

    func check() throws { _ = try plan(checkingOutputs: !summary) }

    func run() throws {
        let (config, localRanks) = try plan(checkingOutputs: !summary)
        if summary {
            print(try ModelTable.text(ModelTable.model(for: config)))
            return
        }
        let s = settings()
        let code = World.run(localRanks: localRanks, threads: config.threads, timeout: config.timeout,
                             allreduce: config.allreduce) { comm in
            // After MPI_Init, so ours are the handlers in place; from here a signal stops cleanly.
            StopSignal.install()
            let trainer = Trainer(config: s.config, flagsGiven: s.given, communicator: comm, log: { print($0); fflush(stdout) })
            trainer.program = CommandLine.arguments[0]
            _ = try trainer.run()
        }
        if code != 0 { throw ExitCode(code) }
    }
}

// The option enums parse themselves: a value outside them is refused by ArgumentParser, naming
// the values it takes.
extension TrainConfig.OptimizerKind: ExpressibleByArgument {}
extension LRSchedule.Kind: ExpressibleByArgument {}
extension ImageSize: ExpressibleByArgument {
    public init?(argument: String) { try? self.init(parsing: argument) }
}
extension ImageLayout: ExpressibleByArgument {}
extension TrainConfig.WeightInit: ExpressibleByArgument {}
extension AllReduceAlgorithm: ExpressibleByArgument {}
extension TrainConfig.Precision: ExpressibleByArgument {}
extension TrainConfig.DropoutMasks: ExpressibleByArgument {}
