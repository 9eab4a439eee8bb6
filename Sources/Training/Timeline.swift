import Formats
import Foundation

/// Chrome trace ("Trace Event Format") of the first steps of a run: one row per rank with the
/// phases of each step (data, forward, backward, allreduce wait, update), so the compute /
/// communication split can be seen in chrome://tracing or ui.perfetto.dev.
public final class Timeline {
    public struct Event: Sendable {
        public var name: String
        public var start: Double  // seconds since the run's common start
        public var duration: Double
        public var step: Int
    }

    public let rank: Int
    private let origin: Double
    private let maxSteps: Int
    public private(set) var events: [Event] = []

    /// `origin` should be taken right after a barrier so ranks share a time base on one host.
    public init(rank: Int, origin: Double, maxSteps: Int) {
        self.rank = rank; self.origin = origin; self.maxSteps = maxSteps
        events.reserveCapacity(maxSteps * 6)
    }

    public func record(_ name: String, step: Int, from start: Double, to end: Double) {
        guard step < maxSteps else { return }
        events.append(Event(name: name, start: start - origin, duration: end - start, step: step))
    }

    /// This rank's events as compact numbers (for gathering to rank 0): per event
    /// [phase index, step, start, duration].
    public func packed() -> [Double] {
        events.flatMap { [Double(Self.phases.firstIndex(of: $0.name) ?? -1), Double($0.step), $0.start, $0.duration] }
    }

    public static let phases = ["data", "forward", "backward", "allreduce wait", "update", "eval", "checkpoint"]

    /// Writes every rank's packed events as one trace; pid = rank so each rank is a row.
    public static func write(ranks: [[Double]], to path: String) throws {
        var events: [String] = []
        for (rank, packed) in ranks.enumerated() {
            events.append(JSONLine.object(["name": .string("process_name"), "ph": .string("M"), "pid": .number(Double(rank)),
                                           "args": .object([("name", .string("rank \(rank)"))])]))
            var i = 0
            while i + 3 < packed.count {
                let phase = Int(packed[i])
                let name = phase >= 0 && phase < phases.count ? phases[phase] : "other"
                events.append(JSONLine.object([
                    "name": .string(name), "cat": .string("step"), "ph": .string("X"), "pid": .number(Double(rank)),
                    "tid": .number(0), "ts": Self.micros(packed[i + 2]), "dur": Self.micros(packed[i + 3]),
                    "args": .object([("step", .number(packed[i + 1]))]),
                ]))
                i += 4
            }
        }
        let out = "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n" + events.joined(separator: ",\n")
        try (out + "\n]}\n").write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// Seconds as microseconds to a tenth.
    private static func micros(_ seconds: Double) -> JSONLine.Value { .number((seconds * 1e7).rounded() / 10) }
}
