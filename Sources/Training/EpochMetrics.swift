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
    public var lr: Double
    public var elapsed: Double
    public var imagesPerSecond: Double

    func humanLine(epochs: Int) -> String {
        var s = String(format: "epoch %d/%d  train loss %.4f acc %.2f%%", epoch, epochs, trainLoss.printable, trainAcc.printable * 100)
        if let l = testLoss, let a = testAcc { s += String(format: "  test loss %.4f acc %.2f%%", l.printable, a.printable * 100) }
        s += String(format: "  lr %.3g  %.0f img/s  %@", lr, imagesPerSecond, ProgressLine.duration(elapsed))
        return s
    }
}

/// The metrics file: JSON lines with the keys DESIGN.md fixes, after a first line
/// `{"event":"run", ...}` with the run's settings (and another such line, with `resumed_at_step`,
/// each time it is resumed). Rank 0 writes it, flushing each line so a crash loses nothing
/// already reported. A new run never truncates a file that holds lines (`requireUnused`); a
/// resumed one appends.
final class MetricsWriter {
    private let handle: FileHandle

    init(path: String, append: Bool) throws {
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
        var fields: [(String, String)] = [
            ("event", "\"epoch\""), ("epoch", "\(m.epoch)"), ("step", "\(m.step)"),
            ("train_loss", Self.number(m.trainLoss)), ("train_acc", Self.number(m.trainAcc)),
        ]
        fields.append(("test_loss", m.testLoss.map(Self.number) ?? "null"))
        fields.append(("test_acc", m.testAcc.map(Self.number) ?? "null"))
        fields += [("lr", Self.number(m.lr)), ("elapsed_s", Self.number(m.elapsed)),
                   ("images_per_s", Self.number(m.imagesPerSecond))]
        try write(fields)
    }

    /// The run's settings; `resumedAt` the global step a resume goes on from.
    func run(config: TrainConfig, ranks: Int, resumedAt: Int?) throws {
        var fields: [(String, String)] = [
            ("event", "\"run\""), ("model", Self.string(config.model)), ("dataset", Self.string(config.dataset)),
            ("ranks", "\(ranks)"), ("batch_size", "\(config.batchSize)"), ("lr", Self.number(config.effectiveLR(ranks: ranks))),
            ("schedule", Self.string(config.schedule.rawValue)), ("epochs", "\(config.epochs)"), ("seed", "\(config.seed)"),
        ]
        if let resumedAt { fields.append(("resumed_at_step", "\(resumedAt)")) }
        try write(fields)
    }

    func step(epoch: Int, step: Int, loss: Double, lr: Double) throws {
        try write([("event", "\"step\""), ("epoch", "\(epoch)"), ("step", "\(step)"),
                   ("loss", Self.number(loss)), ("lr", Self.number(lr))])
    }

    private func write(_ fields: [(String, String)]) throws {
        let line = "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}\n"
        try handle.write(contentsOf: Data(line.utf8))
    }

    /// JSON has no NaN/Infinity: write them as null rather than an unreadable file.
    static func number(_ x: Double) -> String { x.isFinite ? "\(x)" : "null" }

    /// A JSON string (names and spec strings, which may hold any character).
    static func string(_ s: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        return String(decoding: (try? encoder.encode(s)) ?? Data("\"\"".utf8), as: UTF8.self)
    }
}
