import Foundation
import XCTest
@testable import Training

/// One run per checkpoint directory and metrics file, through the trainer itself.
final class RunOutputsTests: XCTestCase {
    /// Every file under `dir` with its bytes (links as their target).
    private func snapshot(_ paths: [String]) throws -> [String: Data] {
        var files: [String: Data] = [:]
        for root in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory) else { continue }
            let names = isDirectory.boolValue ? try FileManager.default.subpathsOfDirectory(atPath: root).map { root + "/" + $0 } : [root]
            for path in names {
                if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: path) {
                    files[path] = Data(("-> " + target).utf8)
                } else if let data = FileManager.default.contents(atPath: path) {
                    files[path] = data
                }
            }
        }
        return files
    }

    private func firstRun() throws -> TrainConfig {
        var c = TrainingFixture.config(spec: "flatten-fc8-relu-fc", batch: 8, epochs: 2)
        let dir = TrainingFixture.temporaryDirectory("outputs")
        c.checkpointDir = dir + "/run"
        c.metricsPath = dir + "/m.jsonl"
        _ = try TrainingFixture.train(c, ranks: 1)
        return c
    }

    func testASecondRunIntoAUsedDirectoryOrMetricsFileIsRefusedAndChangesNothing() throws {
        let first = try firstRun()
        let before = try snapshot([first.checkpointDir!, first.metricsPath!])
        XCTAssertEqual(before.keys.filter { $0.hasSuffix("model.safetensors") }.count, 2)

        var second = first
        second.model = "flatten-fc"
        second.metricsPath = nil
        XCTAssertThrowsError(try TrainingFixture.train(second, ranks: 1)) { error in
            XCTAssertEqual("\(error)", "--checkpoint-dir \(first.checkpointDir!) already holds another run (2 checkpoints, "
                           + "latest step-00000064): continue that run with --resume \(first.checkpointDir!), or give a new "
                           + "directory (--overwrite replaces that run)")
            XCTAssertEqual(World.exitCode(for: error), 64)
        }
        second = first
        second.checkpointDir = nil
        XCTAssertThrowsError(try TrainingFixture.train(second, ranks: 1)) { error in
            XCTAssertEqual("\(error)", "--metrics \(first.metricsPath!) already holds 3 lines of another run: a resumed run "
                           + "(--resume) appends to it; give a new file for a new run (--overwrite replaces it)")
        }
        XCTAssertEqual(try snapshot([first.checkpointDir!, first.metricsPath!]), before)
    }

    /// --overwrite: the new run's first checkpoint replaces the old run's (never mixed with
    /// them, `latest` its own), and the metrics file starts over.
    func testOverwriteReplacesTheOtherRun() throws {
        let first = try firstRun()
        var second = first
        second.model = "flatten-fc"
        second.epochs = 1
        second.overwrite = true
        _ = try TrainingFixture.train(second, ranks: 1)
        let names = try FileManager.default.contentsOfDirectory(atPath: first.checkpointDir!).filter { !$0.hasPrefix(".") }.sorted()
        XCTAssertEqual(names, ["latest", "step-00000032"])
        XCTAssertEqual(try Checkpoint.modelInfo(checkpoint: first.checkpointDir! + "/latest").spec, "flatten-fc")
        let lines = try String(contentsOfFile: first.metricsPath!, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 2, "the run line and one epoch")
    }

    /// A resume appends to the run's metrics file and writes into its own directory.
    func testAResumeAppendsAndWritesIntoItsOwnDirectory() throws {
        var first = try firstRun()
        first.epochs = 3
        first.resume = first.checkpointDir
        _ = try TrainingFixture.train(first, ranks: 1)
        let lines = try String(contentsOfFile: first.metricsPath!, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 5, "run, 2 epochs, the resume's run line, its epoch")
        XCTAssertTrue(lines[3].contains(#""resumed_at_step":64"#), String(lines[3]))
        XCTAssertEqual(CheckpointDirectory.resolve(first.checkpointDir!), first.checkpointDir! + "/step-00000096")
    }
}
