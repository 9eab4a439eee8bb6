import Foundation
import Layers
import XCTest
@testable import Training

/// The metrics file rank 0 writes: its keys, fixed by DESIGN.md, and its continuation across a resume.
final class TrainerMetricsTests: XCTestCase {
    private func lines(_ path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    private func object(_ line: String) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], line)
    }

    /// The value of `key` as written, so numbers compare exactly, digit for digit.
    private func text(_ line: String, _ key: String) -> String? {
        guard let start = line.range(of: "\"\(key)\":") else { return nil }
        return String(line[start.upperBound...].prefix { $0 != "," && $0 != "}" })
    }

    func testMetricsFileHasExactlyTheDesignKeys() throws {
        var c = TrainingFixture.config(batch: 8, epochs: 2)
        c.metricsPath = TrainingFixture.temporaryDirectory("keys") + "/m.jsonl"
        c.logEvery = 4
        _ = try TrainingFixture.train(c, ranks: 2)
        let all = try lines(c.metricsPath!).map(object)
        let epochs = all.filter { $0["event"] as? String == "epoch" }
        let steps = all.filter { $0["event"] as? String == "step" }
        XCTAssertEqual(epochs.count, 2)
        XCTAssertEqual(steps.count, 2 * 16 / 4) // 16 steps per epoch, every 4th logged
        XCTAssertEqual(epochs.count + steps.count + 1, all.count, "a line that is neither the run, an epoch nor a step line")
        XCTAssertEqual(all.first?["event"] as? String, "run")
        XCTAssertEqual(all.first?["model"] as? String, c.model)
        XCTAssertEqual(all.first?["ranks"] as? Int, 2)
        XCTAssertEqual(all.first?["lr"] as? Double, c.lr)
        let epochKeys: Set = ["event", "epoch", "step", "train_loss", "train_acc", "test_loss", "test_acc", "lr",
                              "elapsed_s", "images_per_s", "ranks_compute_s", "ranks_wait_s", "straggler"]
        for line in epochs { XCTAssertEqual(Set(line.keys), epochKeys) }
        for line in steps { XCTAssertEqual(Set(line.keys), ["event", "epoch", "step", "loss", "lr"]) }
        XCTAssertEqual(steps.map { $0["step"] as? Int }, [4, 8, 12, 16, 20, 24, 28, 32])
    }

    /// Stopped mid-epoch and resumed: the epoch's line reports the whole epoch as an uninterrupted
    /// run does, and elapsed_s goes on from the time the checkpoint recorded.
    func testResumedEpochLineContinuesTheEpochAndTheClock() throws {
        var straight = TrainingFixture.config(batch: 8, epochs: 2)
        straight.metricsPath = TrainingFixture.temporaryDirectory("metrics-straight") + "/m.jsonl"
        let a = try TrainingFixture.train(straight, ranks: 2)

        var first = straight
        first.metricsPath = TrainingFixture.temporaryDirectory("metrics-resumed") + "/m.jsonl"
        first.checkpointDir = TrainingFixture.temporaryDirectory("metrics-run")
        first.maxSteps = 21 // 5 steps into the second epoch of 16
        let stopped = try TrainingFixture.train(first, ranks: 2)
        let checkpoint = try XCTUnwrap(stopped.lastCheckpoint)
        XCTAssertGreaterThan(try Checkpoint.elapsed(checkpoint: checkpoint), 0)
        // The run took well under a second: a recorded 1000 s shows whether resume counts on
        // from it or starts over.
        try Data(#"{"elapsed_s": 1000}"#.utf8).write(to: URL(fileURLWithPath: checkpoint + "/" + Checkpoint.timingFile))
        var rest = first
        rest.maxSteps = 0
        rest.resume = first.checkpointDir
        let resumedAt = Date()
        let b = try TrainingFixture.train(rest, ranks: 2)
        let resumedFor = Date().timeIntervalSince(resumedAt)

        XCTAssertEqual(b.epochs.map(\.epoch), [2])
        XCTAssertEqual(b.epochs[0].trainLoss, a.epochs[1].trainLoss)
        XCTAssertEqual(b.epochs[0].trainAcc, a.epochs[1].trainAcc)
        let epochLines = { (path: String) in try self.lines(path).filter { $0.contains(#""event":"epoch""#) } }
        let expected = try epochLines(straight.metricsPath!)
        let resumed = try epochLines(first.metricsPath!)
        XCTAssertEqual(resumed.count, 2)
        for key in ["epoch", "step", "train_loss", "train_acc", "test_loss", "test_acc", "lr"] {
            XCTAssertEqual(text(resumed[1], key), text(expected[1], key), key)
        }
        let elapsed = try XCTUnwrap(Double(text(resumed[1], "elapsed_s") ?? ""))
        // 1000 s, plus no more than the resumed run's own time (however slow the machine).
        XCTAssertGreaterThanOrEqual(elapsed, 1000)
        XCTAssertLessThanOrEqual(elapsed, 1000 + resumedFor + 0.01)
        XCTAssertGreaterThanOrEqual(try Checkpoint.elapsed(checkpoint: try XCTUnwrap(b.lastCheckpoint)), elapsed)
    }
}
