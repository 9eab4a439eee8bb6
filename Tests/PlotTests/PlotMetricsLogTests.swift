import Foundation
import XCTest
@testable import Plot

final class PlotMetricsLogTests: XCTestCase {
    private func epochLine(_ e: Int, step: Int, trainLoss: Double = 0.5, testLoss: Double = 0.4,
                           extra: String = "") -> String {
        #"{"event":"epoch","epoch":\#(e),"step":\#(step),"train_loss":\#(trainLoss),"train_acc":0.8,"test_loss":\#(testLoss),"test_acc":0.85,"lr":0.1,"elapsed_s":12.5,"images_per_s":4000\#(extra)}"#
    }

    private func parseError(_ text: String) -> MetricsLogError? {
        do {
            _ = try MetricsLog(parsing: text, source: "run/metrics.jsonl")
            return nil
        } catch let error as MetricsLogError {
            return error
        } catch {
            XCTFail("unexpected error type \(error)")
            return nil
        }
    }

    func testReadsEpochAndStepRecordsAndIgnoresTheRest() throws {
        let text = [
            #"{"event":"start","model":"fmnist-cnn","ranks":4}"#,
            #"{"event":"step","epoch":1,"step":50,"loss":1.25,"lr":0.1,"rank_times":[1,2]}"#,
            "",
            epochLine(1, step: 100, trainLoss: 0.9, testLoss: 0.7, extra: #","note":"unknown key""#),
            "   ",
            #"{"event":"step","epoch":2,"step":150,"loss":0.75,"lr":0.05}"#,
            epochLine(2, step: 200, trainLoss: 0.6, testLoss: 0.5),
        ].joined(separator: "\n") + "\n"
        let log = try MetricsLog(parsing: text, source: "m.jsonl")
        XCTAssertEqual(log.epochs, [
            MetricsLog.Epoch(epoch: 1, step: 100, trainLoss: 0.9, trainAccuracy: 0.8, testLoss: 0.7, testAccuracy: 0.85,
                             learningRate: 0.1, elapsedSeconds: 12.5, imagesPerSecond: 4000),
            MetricsLog.Epoch(epoch: 2, step: 200, trainLoss: 0.6, trainAccuracy: 0.8, testLoss: 0.5, testAccuracy: 0.85,
                             learningRate: 0.1, elapsedSeconds: 12.5, imagesPerSecond: 4000),
        ])
        XCTAssertEqual(log.steps, [MetricsLog.Step(epoch: 1, step: 50, loss: 1.25, learningRate: 0.1),
                                   MetricsLog.Step(epoch: 2, step: 150, loss: 0.75, learningRate: 0.05)])
    }

    /// The first run line gives the run's settings; a resume's run line after it and files of
    /// older versions (none) read as well.
    func testTheFirstRunLineGivesTheRunsSettings() throws {
        let text = [
            #"{"event":"run","model":"fmnist-cnn","dataset":"fashion-mnist","ranks":4,"batch_size":64,"lr":0.1,"schedule":"onecycle","epochs":2,"seed":0}"#,
            epochLine(1, step: 100),
            #"{"event":"run","model":"fmnist-cnn","ranks":2,"lr":0.05,"resumed_at_step":100}"#,
            epochLine(2, step: 200),
        ].joined(separator: "\n")
        let log = try MetricsLog(parsing: text, source: "m")
        XCTAssertEqual(log.run, MetricsLog.Run(model: "fmnist-cnn", ranks: 4, learningRate: 0.1, dataset: "fashion-mnist",
                                               batchSize: 64, schedule: "onecycle"))
        XCTAssertEqual(log.epochs.map(\.epoch), [1, 2])
        XCTAssertNil(try MetricsLog(parsing: epochLine(1, step: 10), source: "old").run)
        XCTAssertEqual(parseError(#"{"event":"run","model":"m","ranks":"four","lr":0.1}"# + "\n" + epochLine(1, step: 10))?.description,
                       "run/metrics.jsonl:1: \"ranks\" must be a number, found a string")
    }

    func testResumedRunKeepsTheLastRecordPerEpochInEpochOrder() throws {
        let text = [epochLine(1, step: 10, testLoss: 0.9), epochLine(2, step: 20, testLoss: 0.8),
                    epochLine(2, step: 20, testLoss: 0.7), epochLine(3, step: 30, testLoss: 0.6)].joined(separator: "\n")
        let log = try MetricsLog(parsing: text, source: "m")
        XCTAssertEqual(log.epochs.map(\.epoch), [1, 2, 3])
        XCTAssertEqual(log.epochs[1].testLoss, 0.7)
    }

    func testNullReadsAsNaN() throws {
        let line = epochLine(1, step: 10).replacingOccurrences(of: #""test_loss":0.4"#, with: #""test_loss":null"#)
        let log = try MetricsLog(parsing: line, source: "m")
        XCTAssertTrue(log.epochs[0].testLoss.isNaN)
    }

    /// The lines of shared/peers/torch_ddp.py (with scripts/accuracy's train_loss) and
    /// torch_ref.py: epochs with what they measured, NaN for the rest; headers skipped.
    func testPyTorchPeersLinesReadAsEpochs() throws {
        let ddpPeer = [
            #"{"peer": "pytorch-ddp-gloo", "ranks": 2, "epoch": 1, "test_acc": 0.8794, "elapsed_s": 110.6, "train_loss": 0.97}"#,
            #"{"peer": "pytorch-ddp-gloo", "ranks": 2, "epoch": 2, "test_acc": 0.899, "elapsed_s": 228.3}"#,
            #"{"peer": "pytorch-ddp-gloo", "target": 0.92, "seconds_to_target": null}"#,
        ].joined(separator: "\n")
        let log = try MetricsLog(parsing: ddpPeer, source: "peer.jsonl")
        XCTAssertEqual(log.epochs.map(\.epoch), [1, 2])
        XCTAssertEqual(log.epochs.map(\.testAccuracy), [0.8794, 0.899])
        XCTAssertEqual(log.epochs[0].trainLoss, 0.97)
        XCTAssertTrue(log.epochs[1].trainLoss.isNaN)
        XCTAssertEqual(log.epochs[1].elapsedSeconds, 228.3)
        XCTAssertTrue(log.epochs[0].testLoss.isNaN && log.epochs[0].trainAccuracy.isNaN && log.epochs[0].learningRate.isNaN)
        XCTAssertNil(log.run)

        let reference = [
            #"{"peer": "pytorch", "version": "1.13.0", "threads": 1, "batch": 64}"#,
            #"{"epoch": 1, "train_loss": 0.5, "test_loss": 0.4, "test_acc": 0.86, "elapsed_s": 30.0}"#,
        ].joined(separator: "\n")
        let epoch = try XCTUnwrap(MetricsLog(parsing: reference, source: "ref.jsonl").epochs.first)
        XCTAssertEqual([epoch.trainLoss, epoch.testLoss, epoch.testAccuracy], [0.5, 0.4, 0.86])

        XCTAssertEqual(parseError(#"{"peer": "pytorch", "test_acc": 0.9}"#)?.description,
                       #"run/metrics.jsonl:1: missing "epoch": every epoch line of a PyTorch peer needs it as a number"#)
        XCTAssertNotNil(parseError(#"{"peer": "pytorch", "threads": 1}"#), "a peer's header alone has no epoch records")
    }

    func testMalformedJSONNamesFileAndLine() {
        let text = [epochLine(1, step: 10), epochLine(2, step: 20), #"{"event":"epoch","epoch":3,"#].joined(separator: "\n")
        let error = parseError(text)
        XCTAssertEqual(error?.line, 3)
        XCTAssertTrue(error?.description.hasPrefix("run/metrics.jsonl:3: not valid JSON") ?? false, "\(String(describing: error))")
        XCTAssertFalse(error?.description.contains("\n") ?? true, "one line")
    }

    func testMissingOrMistypedKeysNameTheKey() {
        let missing = epochLine(1, step: 10).replacingOccurrences(of: #""test_acc":0.85,"#, with: "")
        XCTAssertEqual(parseError("\n" + missing)?.description,
                       #"run/metrics.jsonl:2: missing "test_acc": every "epoch" record needs it as a number"#)
        let boolean = epochLine(1, step: 10).replacingOccurrences(of: #""lr":0.1"#, with: #""lr":true"#)
        XCTAssertEqual(parseError(boolean)?.description, #"run/metrics.jsonl:1: "lr" must be a number, found true"#)
        let text = epochLine(1, step: 10).replacingOccurrences(of: #""train_loss":0.5"#, with: #""train_loss":"0.5""#)
        XCTAssertEqual(parseError(text)?.description, #"run/metrics.jsonl:1: "train_loss" must be a number, found a string"#)
        let fractional = #"{"event":"step","epoch":1.5,"step":3,"loss":1,"lr":0.1}"#
        XCTAssertEqual(parseError(fractional)?.description, #"run/metrics.jsonl:1: "epoch" must be a whole number, found 1.5"#)
        XCTAssertEqual(parseError(#"{"epoch":1}"#)?.description, #"run/metrics.jsonl:1: missing "event""#)
        XCTAssertEqual(parseError("[1,2]")?.description, "run/metrics.jsonl:1: expected a JSON object {...} on each line")
    }

    func testFileWithoutEpochRecordsIsAnError() {
        let error = parseError(#"{"event":"step","epoch":1,"step":3,"loss":1,"lr":0.1}"#)
        XCTAssertNil(error?.line)
        XCTAssertTrue(error?.description.contains("no epoch records") ?? false)
    }

    func testReadsFromDiskAndReportsAMissingFile() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: url) }
        try (epochLine(1, step: 10) + "\n").write(to: url, atomically: true, encoding: .utf8)
        XCTAssertEqual(try MetricsLog(contentsOf: url).epochs.count, 1)
        let missing = url.appendingPathExtension("missing")
        XCTAssertThrowsError(try MetricsLog(contentsOf: missing)) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(missing.path): cannot read the metrics file"), "\(error)")
        }
    }

    // MARK: Step positions on the epoch axis

    func testGlobalStepNumbersMapToFractionalEpochs() {
        let log = MetricsLog(
            epochs: [1, 2, 3].map { MetricsLog.Epoch(epoch: $0, step: 100 * $0, trainLoss: 1, trainAccuracy: 0.5,
                                                     testLoss: 1, testAccuracy: 0.5) },
            steps: [MetricsLog.Step(epoch: 1, step: 50, loss: 1), MetricsLog.Step(epoch: 2, step: 100 + 25, loss: 1),
                    MetricsLog.Step(epoch: 3, step: 300, loss: 1)])
        let positions = TrainingCurves.stepPositions(log)
        XCTAssertEqual(positions[0], 0.5, accuracy: 1e-12)
        XCTAssertEqual(positions[1], 1.25, accuracy: 1e-12)
        XCTAssertEqual(positions[2], 3, accuracy: 1e-12)
    }

    func testPerEpochStepNumbersMapToFractionalEpochs() {
        // The epoch records' step stays at the per-epoch count: steps restart every epoch.
        let log = MetricsLog(
            epochs: [1, 2].map { MetricsLog.Epoch(epoch: $0, step: 200, trainLoss: 1, trainAccuracy: 0.5,
                                                  testLoss: 1, testAccuracy: 0.5) },
            steps: [MetricsLog.Step(epoch: 1, step: 50, loss: 1), MetricsLog.Step(epoch: 2, step: 150, loss: 1)])
        let positions = TrainingCurves.stepPositions(log)
        XCTAssertEqual(positions[0], 0.25, accuracy: 1e-12)
        XCTAssertEqual(positions[1], 1.75, accuracy: 1e-12)
    }
}
