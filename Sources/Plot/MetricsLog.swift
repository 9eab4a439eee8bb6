import Formats
import Foundation

/// The records of a metrics JSONL file written by `ddp train --metrics FILE.jsonl`.
///
/// One JSON object per line (DESIGN.md, key names fixed):
/// - `{"event":"epoch", "epoch", "step", "train_loss", "train_acc", "test_loss", "test_acc",
///   "lr", "elapsed_s", "images_per_s"}` once per epoch; accuracies are fractions in 0...1;
/// - `{"event":"step", "epoch", "step", "loss", "lr"}` every `--log-every` steps;
/// - `{"event":"eval", "epoch", "step", "test_loss", "test_acc"}` every `--eval-every-steps` steps;
/// - `{"event":"run", "model", "ranks", "lr", ...}` first, the run's settings (files written
///   before ddp recorded them have none).
///
/// The PyTorch peers' lines (`shared/peers/torch_ddp.py`, `torch_ref.py`: no `event`, an `epoch`
/// and a `test_acc`) read as epoch records too, with `train_loss`, `test_loss` and `elapsed_s`
/// where they have them, NaN for the rest and step 0, so a peer's run can be drawn beside ddp's;
/// their other lines (a `peer` header, the seconds to a target) are skipped.
///
/// Other events and unknown keys are ignored, so the format can grow. Blank lines are skipped.
/// A number may be `null` (not measured); it reads as NaN and is left out of curves and verdicts.
/// A resumed run appends to the same file, so a repeated epoch (or step) keeps its last record.
public struct MetricsLog: Sendable, Equatable {
    /// One `"event":"epoch"` line.
    public struct Epoch: Sendable, Equatable {
        public var epoch: Int
        /// The step counter when the epoch ended.
        public var step: Int
        public var trainLoss: Double
        /// Fraction of training samples classified correctly, 0...1.
        public var trainAccuracy: Double
        public var testLoss: Double
        /// Fraction of test samples classified correctly, 0...1.
        public var testAccuracy: Double
        public var learningRate: Double
        public var elapsedSeconds: Double
        public var imagesPerSecond: Double
        /// The moving average's test loss and accuracy (`ema_test_loss`, `ema_test_acc`: a run
        /// with `--ema`); nil when the line has none.
        public var averageTestLoss: Double?
        public var averageTestAccuracy: Double?

        public init(epoch: Int, step: Int, trainLoss: Double, trainAccuracy: Double, testLoss: Double,
                    testAccuracy: Double, learningRate: Double = .nan, elapsedSeconds: Double = .nan,
                    imagesPerSecond: Double = .nan, averageTestLoss: Double? = nil, averageTestAccuracy: Double? = nil) {
            self.epoch = epoch
            self.step = step
            self.trainLoss = trainLoss
            self.trainAccuracy = trainAccuracy
            self.testLoss = testLoss
            self.testAccuracy = testAccuracy
            self.learningRate = learningRate
            self.elapsedSeconds = elapsedSeconds
            self.imagesPerSecond = imagesPerSecond
            self.averageTestLoss = averageTestLoss
            self.averageTestAccuracy = averageTestAccuracy
        }
    }

    /// One `"event":"step"` line.
    public struct Step: Sendable, Equatable {
        public var epoch: Int
        public var step: Int
        /// The training loss of this step's batch.
        public var loss: Double
        public var learningRate: Double

        public init(epoch: Int, step: Int, loss: Double, learningRate: Double = .nan) {
            self.epoch = epoch
            self.step = step
            self.loss = loss
            self.learningRate = learningRate
        }
    }

    /// One `"event":"eval"` line: the test set evaluated inside an epoch.
    public struct Evaluation: Sendable, Equatable {
        public var epoch: Int
        public var step: Int
        public var testLoss: Double
        public var testAccuracy: Double

        public init(epoch: Int, step: Int, testLoss: Double, testAccuracy: Double) {
            self.epoch = epoch
            self.step = step
            self.testLoss = testLoss
            self.testAccuracy = testAccuracy
        }
    }

    /// The first `"event":"run"` line: what the run trained, on how many ranks, at which LR.
    public struct Run: Sendable, Equatable {
        public var model: String
        public var ranks: Int
        /// The peak learning rate (scaled with the ranks when the run asked for it).
        public var learningRate: Double
        public var dataset: String?
        public var batchSize: Int?
        public var schedule: String?

        public init(model: String, ranks: Int, learningRate: Double, dataset: String? = nil, batchSize: Int? = nil,
                    schedule: String? = nil) {
            self.model = model
            self.ranks = ranks
            self.learningRate = learningRate
            self.dataset = dataset
            self.batchSize = batchSize
            self.schedule = schedule
        }
    }

    /// nil for a file without a run line.
    public var run: Run?
    /// Ascending by epoch, one record per epoch.
    public var epochs: [Epoch]
    /// Ascending by (epoch, step), one record per (epoch, step).
    public var steps: [Step]
    /// Ascending by step, one record per step.
    public var evaluations: [Evaluation]

    public init(epochs: [Epoch], steps: [Step] = [], evaluations: [Evaluation] = [], run: Run? = nil) {
        self.epochs = epochs
        self.steps = steps
        self.evaluations = evaluations
        self.run = run
    }

    /// Reads and parses a metrics file.
    /// - Throws: `MetricsLogError` naming the file (and line) when it cannot be read, holds a
    ///   malformed line, or has no epoch line at all.
    public init(contentsOf url: URL) throws {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw MetricsLogError(file: url.path, line: nil,
                                  reason: "cannot read the metrics file (\(error.systemReason))")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw MetricsLogError(file: url.path, line: nil, reason: "not UTF-8 text; expected JSON lines")
        }
        try self.init(parsing: text, source: url.path)
    }

    /// Parses JSONL text; `source` names it in errors (usually the file path).
    /// - Throws: `MetricsLogError` at the first malformed line, or when no epoch line exists.
    public init(parsing text: String, source: String) throws {
        var epochByNumber: [Int: Epoch] = [:]
        var stepByKey: [[Int]: Step] = [:]
        var evaluationByStep: [Int: Evaluation] = [:]
        var run: Run? = nil
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty { continue }
            let fields = try LineFields(line, file: source, line: lineNumber)
            if !fields.has("event") && (fields.has("test_acc") || fields.has("peer")) {
                if fields.has("test_acc") {
                    let record = try Self.peerEpoch(fields)
                    epochByNumber[record.epoch] = record
                }
                continue
            }
            switch try fields.string("event") {
            case "epoch":
                let record = Epoch(
                    epoch: try fields.integer("epoch"), step: try fields.integer("step"),
                    trainLoss: try fields.number("train_loss"), trainAccuracy: try fields.number("train_acc"),
                    testLoss: try fields.number("test_loss"), testAccuracy: try fields.number("test_acc"),
                    learningRate: try fields.number("lr"), elapsedSeconds: try fields.number("elapsed_s"),
                    imagesPerSecond: try fields.number("images_per_s"),
                    averageTestLoss: try fields.optionalNumber("ema_test_loss"),
                    averageTestAccuracy: try fields.optionalNumber("ema_test_acc"))
                epochByNumber[record.epoch] = record
            case "step":
                let record = Step(epoch: try fields.integer("epoch"), step: try fields.integer("step"),
                                  loss: try fields.number("loss"), learningRate: try fields.number("lr"))
                stepByKey[[record.epoch, record.step]] = record
            case "eval":
                let record = Evaluation(epoch: try fields.integer("epoch"), step: try fields.integer("step"),
                                        testLoss: try fields.number("test_loss"), testAccuracy: try fields.number("test_acc"))
                evaluationByStep[record.step] = record
            case "run" where run == nil:
                run = Run(model: try fields.string("model"), ranks: try fields.integer("ranks"),
                          learningRate: try fields.number("lr"), dataset: fields.optionalString("dataset"),
                          batchSize: try fields.optionalInteger("batch_size"), schedule: fields.optionalString("schedule"))
            default:
                continue  // other events (a resume's run line) are not plotted
            }
        }
        if epochByNumber.isEmpty {
            throw MetricsLogError(file: source, line: nil,
                                  reason: "no epoch records; expected lines with \"event\":\"epoch\" as written by `ddp train --metrics FILE.jsonl`")
        }
        epochs = epochByNumber.values.sorted { $0.epoch < $1.epoch }
        steps = stepByKey.values.sorted { ($0.epoch, $0.step) < ($1.epoch, $1.step) }
        evaluations = evaluationByStep.values.sorted { $0.step < $1.step }
        self.run = run
    }

    /// A PyTorch peer's epoch line: what it measured, NaN for the rest.
    private static func peerEpoch(_ fields: LineFields) throws -> Epoch {
        Epoch(epoch: try fields.integer("epoch"), step: 0,
              trainLoss: try fields.optionalNumber("train_loss") ?? .nan, trainAccuracy: .nan,
              testLoss: try fields.optionalNumber("test_loss") ?? .nan, testAccuracy: try fields.number("test_acc"),
              elapsedSeconds: try fields.optionalNumber("elapsed_s") ?? .nan)
    }
}

/// The key/value pairs of one JSONL line, with typed getters that throw a located error.
private struct LineFields {
    let object: [String: Any]
    let file: String
    let line: Int

    init(_ text: String, file: String, line: Int) throws {
        self.file = file
        self.line = line
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
        } catch {
            let excerpt = text.count > 60 ? String(text.prefix(60)) + "..." : text
            throw MetricsLogError(file: file, line: line, reason: "not valid JSON: \(excerpt)")
        }
        guard let object = parsed as? [String: Any] else {
            throw MetricsLogError(file: file, line: line, reason: "expected a JSON object {...} on each line")
        }
        self.object = object
    }

    private func fail(_ reason: String) -> MetricsLogError {
        MetricsLogError(file: file, line: line, reason: reason)
    }

    func string(_ key: String) throws -> String {
        guard let value = object[key] else { throw fail("missing \"\(key)\"") }
        guard let string = value as? String else { throw fail("\"\(key)\" must be a string") }
        return string
    }

    /// A JSON number (or null, read as NaN). Booleans are rejected although Foundation
    /// represents them as numbers too.
    func number(_ key: String) throws -> Double {
        guard let value = object[key] else {
            let record = (object["event"] as? String).map { "\"\($0)\" record" } ?? "epoch line of a PyTorch peer"
            throw fail("missing \"\(key)\": every \(record) needs it as a number")
        }
        if value is NSNull { return .nan }
        guard let number = value as? NSNumber, !Self.isBoolean(number) else {
            throw fail("\"\(key)\" must be a number, found \(Self.describe(value))")
        }
        return number.doubleValue
    }

    func has(_ key: String) -> Bool { object[key] != nil }

    func optionalString(_ key: String) -> String? { object[key] as? String }

    func optionalNumber(_ key: String) throws -> Double? {
        object[key] == nil ? nil : try number(key)
    }

    func optionalInteger(_ key: String) throws -> Int? {
        object[key] == nil ? nil : try integer(key)
    }

    func integer(_ key: String) throws -> Int {
        let value = try number(key)
        guard value.isFinite, value == value.rounded(), Swift.abs(value) < 1e15 else {
            throw fail("\"\(key)\" must be a whole number, found \(value)")
        }
        return Int(value)
    }

    private static func isBoolean(_ number: NSNumber) -> Bool {
        // JSON true/false arrive as boolean NSNumbers (objCType "c"); JSON numbers never do.
        String(cString: number.objCType) == "c"
    }

    private static func describe(_ value: Any) -> String {
        switch value {
        case is String: return "a string"
        case is [Any]: return "an array"
        case is [String: Any]: return "an object"
        case let number as NSNumber where isBoolean(number): return number.boolValue ? "true" : "false"
        default: return "\(value)"
        }
    }
}
