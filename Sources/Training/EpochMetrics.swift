import Formats
import Foundation

/// End-of-epoch figures, reduced over all ranks.
public struct EpochMetrics: Sendable, Equatable {
    public var epoch: Int
    public var step: Int
    public var trainLoss: Double
    public var trainAcc: Double
    public var testLoss: Double?
    public var testAcc: Double?
    /// The same for `--ema`'s moving average of the weights (nil without it).
    public var averageTestLoss: Double? = nil
    public var averageTestAcc: Double? = nil
    public var lr: Double
    public var elapsed: Double
    public var imagesPerSecond: Double
    /// Every rank's compute and wait seconds in the epoch's steps (`RankTimes`).
    public var rankTimes: RankTimes? = nil

    func humanLine(epochs: Int) -> String {
        var s = String(format: "epoch %d/%d  train loss %.4f acc %.2f%%", epoch, epochs, trainLoss.printable, trainAcc.printable * 100)
        if let l = testLoss, let a = testAcc { s += String(format: "  test loss %.4f acc %.2f%%", l.printable, a.printable * 100) }
        if let l = averageTestLoss, let a = averageTestAcc {
            s += String(format: "  ema loss %.4f acc %.2f%%", l.printable, a.printable * 100)
        }
        s += String(format: "  lr %.3g  %.0f img/s  %@", lr, imagesPerSecond, ProgressLine.duration(elapsed))
        return s
    }
}

/// A test-set evaluation inside an epoch (`--eval-every-steps`), reduced over all ranks.
public struct StepEvaluation: Sendable, Equatable {
    public var epoch: Int
    /// The global step after which it was taken.
    public var step: Int
    public var testLoss: Double
    public var testAcc: Double
    /// The same for `--ema`'s moving average (nil without it).
    public var averageTestLoss: Double? = nil
    public var averageTestAcc: Double? = nil

    func humanLine() -> String {
        var s = String(format: "step %d (epoch %d)  test loss %.4f acc %.2f%%", step, epoch, testLoss.printable, testAcc.printable * 100)
        if let l = averageTestLoss, let a = averageTestAcc {
            s += String(format: "  ema loss %.4f acc %.2f%%", l.printable, a.printable * 100)
        }
        return s
    }
}

/// The metrics file: JSON lines with the keys DESIGN.md fixes, after a first line
/// `{"event":"run", ...}` with the run's settings (and another such line, with `resumed_at_step`,
/// each time it is resumed). Rank 0 writes it, flushing each line so a crash loses nothing
/// already reported. A new run never truncates a file that holds lines (`requireUnused`); a
/// resumed one appends. A run with `--ema` adds `ema_test_loss` and `ema_test_acc` to its epoch
/// lines (null where the epoch was not evaluated, as the others). Epoch lines carry every rank's
/// compute and wait seconds (`ranks_compute_s`, `ranks_wait_s`, arrays by rank) and `straggler`
/// (a rank or null); `--rank-times-every N` adds the same every N steps as `"event":"ranks"` lines,
/// and `--eval-every-steps N` the test loss and accuracy inside epochs as `"event":"eval"` lines
/// (epoch, step, test_loss, test_acc, and with --ema ema_test_loss, ema_test_acc).
final class MetricsWriter {
    private let handle: FileHandle
    private let withAverage: Bool

    init(path: String, append: Bool, withAverage: Bool) throws {
        self.withAverage = withAverage
        let fm = FileManager.default
        if !append || !fm.fileExists(atPath: path) {
            guard fm.createFile(atPath: path, contents: nil) else {
                throw TrainError.output("--metrics: cannot create \(path)")
            }
        }
        guard let h = FileHandle(forWritingAtPath: path) else { throw TrainError.output("--metrics: cannot open \(path)") }
        h.seekToEndOfFile()
        handle = h
    }

    /// One run per metrics file: a new run refuses a file that already holds lines, unless
    /// `overwrite`.
    static func requireUnused(_ path: String, overwrite: Bool) throws {
        guard !overwrite, let bytes = FileManager.default.contents(atPath: path), !bytes.isEmpty else { return }
        let lines = bytes.split(separator: UInt8(ascii: "\n")).count
        throw TrainError.badFlag("--metrics \(path) already holds \(lines) line\(lines == 1 ? "" : "s") of another run: a "
            + "resumed run (--resume) appends to it; give a new file for a new run (--overwrite replaces it)")
    }

    deinit { try? handle.close() }

    func epoch(_ m: EpochMetrics) throws {
        func number(_ value: Double?) -> JSONLine.Value { value.map(JSONLine.Value.number) ?? .null }
        var fields: [(String, JSONLine.Value)] = [
            ("event", .string("epoch")), ("epoch", .number(Double(m.epoch))), ("step", .number(Double(m.step))),
            ("train_loss", .number(m.trainLoss)), ("train_acc", .number(m.trainAcc)),
            ("test_loss", number(m.testLoss)), ("test_acc", number(m.testAcc)),
        ]
        if withAverage { fields += [("ema_test_loss", number(m.averageTestLoss)), ("ema_test_acc", number(m.averageTestAcc))] }
        fields += [("lr", .number(m.lr)), ("elapsed_s", .number(m.elapsed)), ("images_per_s", .number(m.imagesPerSecond))]
        if let times = m.rankTimes { fields += Self.fields(times) }
        try write(JSONLine.object(fields))
    }

    /// `--eval-every-steps`' line.
    func evaluation(_ e: StepEvaluation) throws {
        var fields: [(String, JSONLine.Value)] = [
            ("event", .string("eval")), ("epoch", .number(Double(e.epoch))), ("step", .number(Double(e.step))),
            ("test_loss", .number(e.testLoss)), ("test_acc", .number(e.testAcc)),
        ]
        if let loss = e.averageTestLoss, let accuracy = e.averageTestAcc {
            fields += [("ema_test_loss", .number(loss)), ("ema_test_acc", .number(accuracy))]
        }
        try write(JSONLine.object(fields))
    }

    /// `--rank-times-every`'s line for the `every` steps up to `step`.
    func ranks(_ times: RankTimes, epoch: Int, step: Int) throws {
        try write(JSONLine.object([("event", .string("ranks")), ("epoch", .number(Double(epoch))),
                                   ("step", .number(Double(step)))] + Self.fields(times)))
    }

    private static func fields(_ times: RankTimes) -> [(String, JSONLine.Value)] {
        func seconds(_ values: [Double]) -> JSONLine.Value { .array(values.map { .number(($0 * 1e4).rounded() / 1e4) }) }
        return [("ranks_compute_s", seconds(times.compute)), ("ranks_wait_s", seconds(times.wait)),
                ("straggler", times.straggler.map { .number(Double($0.rank)) } ?? .null)]
    }

    /// The run's settings; `resumedAt` the global step a resume goes on from.
    func run(config: TrainConfig, ranks: Int, resumedAt: Int?) throws {
        var fields: [(String, JSONLine.Value)] = [
            ("event", .string("run")), ("model", .string(config.model)), ("dataset", .string(config.dataset)),
            ("ranks", .number(Double(ranks))), ("batch_size", .number(Double(config.batchSize))),
            ("accumulate", .number(Double(config.accumulate))),
            ("lr", .number(config.effectiveLR(ranks: ranks))), ("schedule", .string(config.schedule.rawValue)),
            ("epochs", .number(Double(config.epochs))), ("seed", .unsigned(config.seed)),
        ]
        if let resumedAt { fields.append(("resumed_at_step", .number(Double(resumedAt)))) }
        try write(JSONLine.object(fields))
    }

    func step(epoch: Int, step: Int, loss: Double, lr: Double) throws {
        try write(["event": .string("step"), "epoch": .number(Double(epoch)), "step": .number(Double(step)),
                   "loss": .number(loss), "lr": .number(lr)])
    }

    private func write(_ fields: KeyValuePairs<String, JSONLine.Value>) throws {
        try write(JSONLine.object(fields))
    }

    private func write(_ line: String) throws {
        try handle.write(contentsOf: Data((line + "\n").utf8))
    }
}
