import Data
import Formats
import Foundation
import Layers
import Tensor

/// Reading and writing one checkpoint directory (DESIGN.md, "Checkpoints"):
/// - `model.safetensors`: the PyTorch state_dict of the model (names, shapes, dtypes as torch
///   has them), with the model spec and input normalization in `__metadata__`;
/// - `ema.safetensors` (with `--ema`): the moving average of the weights (`WeightAverage`) in the
///   model file's format, so it loads into PyTorch and `ddp eval --ema` like the model;
/// - `trainer.safetensors`: optimizer buffers, each rank's RNG states and BatchNorm running
///   statistics (and those of the average), the current epoch's running loss and accuracy sums,
///   and in its metadata the position (epoch, step) and the run's configuration, so `--resume`
///   continues bit-exactly;
/// - `timing.json`: the run's elapsed seconds, so a resumed run's `elapsed_s` goes on;
/// - `run.json`: where the run writes besides its checkpoints (`{"metrics": PATH or null}`), so
///   a resume goes on appending to the same metrics file.
/// The last two are apart from the others so that those hold only what training computed: the
/// same seed gives the same bytes, however long it took and wherever it wrote.
public enum Checkpoint {
    public static let modelFile = "model.safetensors"
    public static let trainerFile = "trainer.safetensors"
    public static let timingFile = "timing.json"
    public static let runFile = "run.json"
    static let formatVersion = "ddp-checkpoint-1"

    /// What a model file says about itself.
    public struct ModelInfo {
        public var spec: String
        public var inputShape: [Int]
        public var classes: Int
        public var normalization: Normalization?
        public var dataset: String?
        /// One per class, in label order (checkpoints before ddp 0.6 have none: "0", "1", ...).
        public var classNames: [String]
    }

    /// `average` and `rankAverageStats` (each rank's statistics of it): the run's `--ema`, if any.
    static func write(to dir: String, model: Model, normalization: Normalization, classNames: [String], optimizer: any Optimizer,
                      state: RunState, rankRNGs: [[UInt64]], rankRunningStats: [[Float]],
                      average: WeightAverage?, rankAverageStats: [[Float]], config: TrainConfig, ranks: Int) throws {
        try writeModel(to: dir + "/" + modelFile, model: model, normalization: normalization, dataset: config.dataset,
                       classNames: classNames)
        if let average {
            try average.withAverage(in: model) {
                try writeModel(to: dir + "/" + averageFile, model: model, normalization: normalization, dataset: config.dataset,
                               classNames: classNames)
            }
        }
        var entries: [(name: String, entry: SafeTensorEntry)] = []
        for (name, values) in optimizer.stateTensors() {
            entries.append(("optimizer." + name, try SafeTensorEntry(floats: values, shape: [values.count])))
        }
        let words = rankRNGs.flatMap { $0 }.map { Int64(bitPattern: $0) }
        entries.append(("rng", try SafeTensorEntry(int64s: words, shape: [rankRNGs.count, rankRNGs.first?.count ?? 0])))
        for (name, stats) in [("running_stats", rankRunningStats), (averageStatsTensor, rankAverageStats)] {
            if let first = stats.first, !first.isEmpty {
                entries.append((name, try SafeTensorEntry(floats: stats.flatMap { $0 }, shape: [stats.count, first.count])))
            }
        }
        // Mid-epoch only: at a boundary the next epoch starts its sums afresh.
        if state.stepInEpoch != 0 {
            let totals = state.epochTotals
            entries.append(("epoch_totals", try SafeTensorEntry(doubles: [totals.loss, totals.correct, totals.samples], shape: [3])))
            entries.append(("epoch_step_losses", try SafeTensorEntry(doubles: totals.stepLosses, shape: [totals.stepLosses.count])))
        }
        // Paths are where this run happened to write, not what it trained: leave them out so the
        // same training gives the same bytes wherever it is saved (run.json records the metrics
        // file). --overwrite and --quiet concern one invocation, not what it trains.
        var portable = config
        portable.checkpointDir = nil; portable.resume = nil; portable.metricsPath = nil; portable.timelinePath = nil
        portable.overwrite = false; portable.quiet = false
        let configJSON = try JSONLine.encode(portable)
        let meta = [
            "format": formatVersion, "epoch": "\(state.epoch)", "step_in_epoch": "\(state.stepInEpoch)",
            "global_step": "\(state.globalStep)", "ranks": "\(ranks)", "optimizer_steps": "\(optimizer.stepCount)",
            "config": configJSON,
        ]
        try SafeTensors.write(entries, metadata: meta, to: dir + "/" + trainerFile)
        try writeJSON(JSONLine.object(["elapsed_s": .number(state.elapsed)]), to: dir + "/" + timingFile)
        let metrics = config.metricsPath.map { JSONLine.Value.string(URL(fileURLWithPath: $0).standardizedFileURL.path) } ?? .null
        try writeJSON(JSONLine.object(["metrics": metrics]), to: dir + "/" + runFile)
    }

    private static func writeJSON(_ line: String, to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(line.utf8)) else {
            throw TrainError.checkpoint("cannot write \(path)")
        }
    }

    public static func writeModel(to path: String, model: Model, normalization: Normalization?, dataset: String?,
                                  classNames: [String]? = nil) throws {
        var entries: [(name: String, entry: SafeTensorEntry)] = []
        for entry in model.stateDict() {
            switch entry.value {
            case .float(let t): entries.append((entry.name, try SafeTensorEntry(floats: UnsafeBufferPointer(t.buffer), shape: entry.shape)))
            case .int64(let v): entries.append((entry.name, try SafeTensorEntry(int64s: [v], shape: entry.shape)))
            }
        }
        var meta = [
            "format": formatVersion, "spec": model.spec, "classes": "\(model.classes)",
            "input_shape": model.inputShape.map(String.init).joined(separator: ","),
        ]
        if let n = normalization {
            meta["normalization_mean"] = n.mean.map { "\($0)" }.joined(separator: ",")
            meta["normalization_std"] = n.std.map { "\($0)" }.joined(separator: ",")
        }
        if let dataset { meta["dataset"] = dataset }
        if let classNames { meta["class_names"] = try JSONLine.encode(classNames) }
        try SafeTensors.write(entries, metadata: meta, to: path)
    }

    /// Reads the model file's metadata and checks it is one of ours.
    public static func modelInfo(checkpoint dir: String) throws -> ModelInfo {
        let file = try readModelFile(dir)
        return try info(file.metadata, path: dir + "/" + modelFile)
    }

    static func info(_ meta: [String: String], path: String) throws -> ModelInfo {
        guard let spec = meta["spec"], let shapeText = meta["input_shape"], let classesText = meta["classes"] else {
            throw TrainError.checkpoint("\(path) has no ddp metadata (spec, input_shape, classes): not a ddp checkpoint")
        }
        let shape = shapeText.split(separator: ",").compactMap { Int($0) }
        let sizes = 1...ModelLimits.maxSize
        guard shape.count == 3, shape.allSatisfy(sizes.contains), let classes = Int(classesText), sizes.contains(classes) else {
            throw TrainError.checkpoint("\(path): bad input_shape '\(shapeText)' or classes '\(classesText)' in metadata "
                + "(expected C,H,W and a class count, each between 1 and \(ModelLimits.maxSize))")
        }
        var norm: Normalization? = nil
        if let m = meta["normalization_mean"], let s = meta["normalization_std"] {
            let mean = m.split(separator: ",").compactMap { Double($0) }, std = s.split(separator: ",").compactMap { Double($0) }
            guard mean.count == shape[0], std.count == shape[0], std.allSatisfy({ $0 > 0 }) else {
                throw TrainError.checkpoint("\(path): bad normalization metadata")
            }
            norm = try Normalization(mean: mean, std: std)
        }
        var names = (0..<classes).map(String.init)
        if let text = meta["class_names"] {
            guard let decoded = try? JSONDecoder().decode([String].self, from: Data(text.utf8)), decoded.count == classes else {
                throw TrainError.checkpoint("\(path): bad class_names metadata (expected a JSON list of \(classes) names)")
            }
            names = decoded
        }
        return ModelInfo(spec: spec, inputShape: shape, classes: classes, normalization: norm, dataset: meta["dataset"],
                         classNames: names)
    }

    /// Builds the model a checkpoint describes and loads its weights: `file` names the model
    /// file or the moving average's (`averageFile`), which has the same format.
    public static func loadModel(checkpoint given: String, file name: String = modelFile) throws -> (Model, ModelInfo) {
        let dir = try CheckpointDirectory.locate(given, flag: "")
        let file = try readModelFile(dir, name)
        let path = dir + "/" + name
        let info = try info(file.metadata, path: path)
        // The spec and shape come from the file: ModelLimits refuses absurd ones before any
        // allocation, and the message names the file they came from.
        let model: Model
        do { model = try Model(spec: info.spec, inputShape: info.inputShape, classes: info.classes, seed: 0) } catch {
            throw TrainError.checkpoint("\(path): its metadata describes a model ddp cannot build: \(error)")
        }
        try load(file.entries, into: model, path: path)
        return (model, info)
    }

    /// --init-from: weights only, into a model that must be the same model. A file with ddp's
    /// metadata must describe this very model (spec, input shape, classes); one without (a
    /// state_dict saved from PyTorch) is held to the strict name, shape and dtype match of the load.
    static func loadModel(from given: String, into model: Model) throws {
        let dir = try CheckpointDirectory.locate(given, flag: "--init-from")
        let file = try readModelFile(dir)
        if file.metadata["spec"] != nil {
            try requireSameModel(try info(file.metadata, path: dir + "/" + modelFile), as: model, what: "--init-from \(dir)")
        }
        try load(file.entries, into: model, path: dir + "/" + modelFile)
    }

    private static func requireSameModel(_ info: ModelInfo, as model: Model, what: String) throws {
        guard info.spec == model.spec, info.inputShape == model.inputShape, info.classes == model.classes else {
            func describe(_ spec: String, _ shape: [Int], _ classes: Int) -> String {
                "'\(spec)' for \(shape.map(String.init).joined(separator: "x")) inputs and \(classes) classes"
            }
            throw TrainError.checkpoint("\(what) holds model \(describe(info.spec, info.inputShape, info.classes)), "
                + "but this run trains \(describe(model.spec, model.inputShape, model.classes))")
        }
    }

    static func readModelFile(_ dir: String, _ name: String = modelFile) throws -> SafeTensorsFile {
        do { return try SafeTensors.read(path: dir + "/" + name) } catch let e as TrainError { throw e } catch {
            throw TrainError.checkpoint("\(error)")
        }
    }

    static func load(_ entries: [String: SafeTensorEntry], into model: Model, path: String) throws {
        var state: [String: StateValue] = [:]
        for (name, entry) in entries {
            switch entry.dtype {
            case .f32:
                state[name] = .float(Tensor(shape: entry.shape, values: try entry.floats()))
            case .i64 where entry.elementCount == 1:
                state[name] = .int64(try entry.int64s()[0])
            default:
                throw TrainError.checkpoint("\(path): tensor '\(name)' is \(entry.dtype.rawValue) \(entry.shape), "
                    + "expected F32 (or an I64 scalar for num_batches_tracked)")
            }
        }
        do { try model.load(state) } catch { throw TrainError.checkpoint("\(path): \(error)") }
    }

    /// The elapsed seconds `timing.json` records; 0 for a checkpoint without one (written before
    /// it existed), so such a run's `elapsed_s` starts over rather than failing the resume.
    static func elapsed(checkpoint dir: String) throws -> Double {
        let path = dir + "/" + timingFile
        guard let bytes = FileManager.default.contents(atPath: path) else { return 0 }
        guard let object = try? JSONSerialization.jsonObject(with: bytes) as? [String: Any],
              let seconds = (object["elapsed_s"] as? NSNumber)?.doubleValue, seconds.isFinite, seconds >= 0 else {
            throw TrainError.checkpoint("\(path): expected {\"elapsed_s\": seconds >= 0}")
        }
        return seconds
    }

    private static func doubles(_ entry: SafeTensorEntry, count: Int, name: String, path: String) throws -> [Double] {
        guard entry.dtype == .f64, entry.elementCount == count else {
            throw TrainError.checkpoint("\(path): tensor '\(name)' is \(entry.dtype.rawValue) \(entry.shape), expected F64 [\(count)]")
        }
        return try entry.doubles()
    }

    /// What a checkpoint records about the run that wrote it: how far it got, on how many
    /// ranks, with which settings, and where its metrics went.
    public struct SavedRun: Sendable {
        /// The checkpoint directory itself (a run directory's `latest` resolved).
        public let checkpoint: String
        /// Epochs completed; the steps done of the next one.
        public let epoch: Int
        public let stepInEpoch: Int
        public let globalStep: Int
        public let ranks: Int
        let optimizerSteps: Int
        public let config: TrainConfig
        /// The metrics file the run appended to (nil: none), or nil when the checkpoint is older
        /// than `run.json` and does not say (`metricsRecorded` false).
        public let metricsPath: String?
        public let metricsRecorded: Bool
    }

    /// Reads what `checkpoint` (a checkpoint or a run directory) records about its run.
    public static func savedRun(_ given: String, flag: String = "--resume") throws -> SavedRun {
        try readTrainer(try CheckpointDirectory.locate(given, flag: flag)).run
    }

    static func readTrainer(_ dir: String) throws -> (file: SafeTensorsFile, run: SavedRun) {
        let trainerPath = dir + "/" + trainerFile
        let trainer: SafeTensorsFile
        do { trainer = try SafeTensors.read(path: trainerPath) } catch { throw TrainError.checkpoint("\(error)") }
        let m = trainer.metadata
        guard m["format"] == formatVersion, let epoch = m["epoch"].flatMap(Int.init),
              let stepInEpoch = m["step_in_epoch"].flatMap(Int.init), let global = m["global_step"].flatMap(Int.init),
              let ranks = m["ranks"].flatMap(Int.init), let optSteps = m["optimizer_steps"].flatMap(Int.init)
        else { throw TrainError.checkpoint("\(trainerPath): missing or bad position metadata") }
        guard epoch >= 0, stepInEpoch >= 0, global >= 0, optSteps >= 0, ranks >= 1 else {
            throw TrainError.checkpoint("\(trainerPath): negative position in metadata (epoch \(epoch), step \(stepInEpoch), "
                + "global step \(global), optimizer steps \(optSteps), ranks \(ranks))")
        }
        let config: TrainConfig
        do { config = try TrainConfig.decodeSaved(m["config"] ?? "") } catch {
            throw TrainError.checkpoint("\(trainerPath): missing or unreadable 'config' metadata (the run's settings)")
        }
        var metricsRecorded = false
        var metricsPath: String? = nil
        let runPath = dir + "/" + runFile
        if let bytes = FileManager.default.contents(atPath: runPath) {
            guard let object = try? JSONSerialization.jsonObject(with: bytes) as? [String: Any],
                  let metrics = object["metrics"], metrics is NSNull || metrics is String else {
                throw TrainError.checkpoint("\(runPath): expected {\"metrics\": a path or null}")
            }
            metricsRecorded = true
            metricsPath = metrics as? String
        }
        let run = SavedRun(checkpoint: dir, epoch: epoch, stepInEpoch: stepInEpoch, globalStep: global, ranks: ranks,
                           optimizerSteps: optSteps, config: config, metricsPath: metricsPath, metricsRecorded: metricsRecorded)
        return (trainer, run)
    }

    /// Restores model, optimizer and position from a checkpoint for `--resume`, on `ranks` ranks
    /// that may be another number than the checkpoint's. Whether the run may go on with this
    /// configuration and these ranks (the same global batch) was settled by `ResumePlan`.
    static func resume(from given: String, model: Model, optimizer: any Optimizer, rank: Int, ranks: Int,
                       config: TrainConfig, stepsPerEpoch: Int) throws -> RunState {
        let dir = try CheckpointDirectory.locate(given, flag: "--resume")
        let modelFile = try readModelFile(dir)
        try requireSameModel(try info(modelFile.metadata, path: dir + "/" + Self.modelFile), as: model, what: "--resume \(dir)")
        try load(modelFile.entries, into: model, path: dir + "/" + Self.modelFile)
        let (trainer, saved) = try readTrainer(dir)
        let trainerPath = dir + "/" + trainerFile
        let (epoch, stepInEpoch, global, savedRanks) = (saved.epoch, saved.stepInEpoch, saved.globalStep, saved.ranks)
        guard stepInEpoch <= stepsPerEpoch else {
            throw TrainError.checkpoint("\(dir) stopped at step \(stepInEpoch) of an epoch of only \(stepsPerEpoch) steps")
        }
        var states: [String: [Float]] = [:]
        for (name, entry) in trainer.entries where name.hasPrefix("optimizer.") {
            do { states[String(name.dropFirst("optimizer.".count))] = try entry.floats() } catch {
                throw TrainError.checkpoint("\(trainerPath): tensor '\(name)' is \(entry.dtype.rawValue), expected F32")
            }
        }
        do { try optimizer.loadState(states, stepCount: saved.optimizerSteps) } catch {
            throw TrainError.checkpoint("\(trainerPath): \(error)")
        }
        var state = RunState(rank: rank, seed: config.seed, masks: config.dropoutMasks)
        state.epoch = epoch; state.stepInEpoch = stepInEpoch; state.globalStep = global
        // Rank r goes on with the dropout and augmentation streams of the old world's rank r; a
        // rank the old world did not have starts its own fresh stream (seed, r), which no old rank
        // drew from. So another rank count keeps the sample order and the model, not the crops
        // (nor the masks with --dropout-masks per-rank). Shared masks stay shared: every rank goes
        // on with rank 0's dropout stream.
        if let rng = trainer.entries["rng"] {
            guard rng.dtype == .i64, rng.elementCount == savedRanks * 8 else {
                throw TrainError.checkpoint("\(trainerPath): tensor 'rng' is \(rng.dtype.rawValue) \(rng.shape), "
                    + "expected I64 [\(savedRanks), 8] (the random streams of \(savedRanks) ranks)")
            }
            // Each saved rank's 8 words: its dropout stream's 4, then its augmentation stream's.
            let words = try rng.int64s().map { UInt64(bitPattern: $0) }
            func stream(of savedRank: Int, at offset: Int) -> SeededRNG {
                SeededRNG(state: Array(words[(savedRank * 8 + offset)..<(savedRank * 8 + offset + 4)]))
            }
            let maskRank = config.dropoutMasks.streamRank(of: rank)
            if maskRank < savedRanks { state.dropoutRNG = stream(of: maskRank, at: 0) }
            if rank < savedRanks { state.augmentRNG = stream(of: rank, at: 4) }
        }
        // Written by as many ranks: each takes its own running statistics back (they differ
        // mid-epoch without SyncBN). Older checkpoints have none, and another rank count has no
        // own ones: the model file's (the ranks' average) then serve all.
        if savedRanks == ranks, model.buffers.count > 0, let stats = trainer.entries["running_stats"] {
            guard stats.dtype == .f32, stats.shape == [ranks, model.buffers.count] else {
                throw TrainError.checkpoint("\(trainerPath): tensor 'running_stats' is \(stats.dtype.rawValue) \(stats.shape), "
                    + "expected F32 [\(ranks), \(model.buffers.count)] (the BatchNorm statistics of \(ranks) ranks)")
            }
            let n = model.buffers.count
            state.ownRunningStats = Array(try stats.floats()[(rank * n)..<(rank * n + n)])
        }
        state.elapsed = try elapsed(checkpoint: dir)
        // Mid-epoch, the epoch's loss and accuracy so far go on; at a boundary a new epoch starts.
        if stepInEpoch != 0, let totals = trainer.entries["epoch_totals"] {
            let sums = try doubles(totals, count: 3, name: "epoch_totals", path: trainerPath)
            let losses = try trainer.entries["epoch_step_losses"].map {
                try doubles($0, count: stepInEpoch, name: "epoch_step_losses", path: trainerPath)
            } ?? []
            state.epochTotals = EpochTotals(loss: sums[0], correct: sums[1], samples: sums[2], stepLosses: losses)
        }
        return state
    }
}
