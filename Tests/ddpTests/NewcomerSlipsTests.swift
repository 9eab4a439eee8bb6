import Formats
import Foundation
import XCTest

/// The small edges a newcomer hits, from the outside: each slip gets one clear line, the exit
/// status of its kind, and the names and numbers a user would write.
final class NewcomerSlipsTests: XCTestCase {
    private func workDirectory() throws -> String {
        let dir = NSTemporaryDirectory() + "ddp-slips-\(getpid())-\(UUID().uuidString.prefix(8))"
        try BadInputFiles.fashionDirectory(dir + "/data")
        return dir
    }

    private func train(_ dir: String, _ extra: [String]) -> [String] {
        ["train", "--dataset", "fashion-mnist", "--data-dir", dir + "/data", "--model", "flatten-fc", "--batch-size", "4",
         "--schedule", "constant"] + extra
    }

    /// One line on stderr, starting `ddp: error: ` and holding `fragment`, and `status`.
    private func expectError(_ arguments: [String], status: Int32 = 64, _ fragment: String,
                             file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try DDPProcess.run(arguments, within: 30)
        XCTAssertEqual(r.status, status, "\(arguments): \(r.stderr)", file: file, line: line)
        XCTAssertEqual(r.errorLines.count, 1, "\(arguments): \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.errorLines.first?.hasPrefix("ddp: error: ") == true, r.stderr, file: file, line: line)
        XCTAssertTrue(r.stderr.contains(fragment), "'\(fragment)' missing from: \(r.stderr)", file: file, line: line)
    }

    func testVersion() throws {
        let r = try DDPBinary.run(["--version"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("ddp ") && r.stdout.split(separator: "\n").count == 1, r.stdout)
    }

    func testMisspeltModelAndDataSetNamesGetTheNameMeantInEveryCommand() throws {
        for command in [["train"], ["sanity"], ["lr-find"], ["bench", "step"], ["gradcheck"], ["info"]] {
            try expectError(command + ["--model", "fmnist_cnn"], "unknown model 'fmnist_cnn'; did you mean 'fmnist-cnn'?")
        }
        for command in [["train"], ["sanity"], ["lr-find"], ["bench", "step"]] {
            try expectError(command + ["--dataset", "fashion_mnist"], "unknown dataset 'fashion_mnist'; did you mean 'fashion-mnist'?")
        }
        try expectError(["eval", "--checkpoint", "x", "--dataset", "Fashion-MNIST"],
                        "unknown dataset 'Fashion-MNIST'; did you mean 'fashion-mnist'?")
        // A spec with '-' fails when it is built; the preset it is close to is still named.
        let dir = try workDirectory()
        try expectError(train(dir, ["--model", "fmnist-cn", "--epochs", "1"]),
                        "token 1 'fmnist': not a layer (expected c<out>")
        try expectError(train(dir, ["--model", "fmnist-cn", "--epochs", "1"]), "; did you mean 'fmnist-cnn'?")
    }

    /// 64 for a wrong command line, whatever the command (and scripts/launch.sh, tested in
    /// scripts/tests/launch_check.sh); 2 for a check that finds a problem.
    func testUsageErrorsExit64Everywhere() throws {
        let cases: [[String]] = [
            ["train", "--epochs", "0"], ["train", "--bogus"], ["eval"], ["eval", "--checkpoint", "x", "--batch-size", "0"],
            ["sanity", "--flat-steps", "2"], ["lr-find", "--steps", "3"], ["gradcheck", "--input", "2x2"],
            ["bench", "step", "--batch-size", "0"], ["plot"], ["info", "--input", "nope"], ["frobnicate"],
        ]
        for arguments in cases {
            let r = try DDPProcess.run(arguments, within: 30)
            XCTAssertEqual(r.status, 64, "\(arguments): \(r.stderr)")
            XCTAssertEqual(r.errorLines.count, 1, "\(arguments): \(r.stderr)")
        }
    }

    /// `--check-args` parses and checks as the command would, runs nothing, prints nothing when
    /// all is well.
    func testCheckArgsChecksWithoutRunning() throws {
        let dir = try workDirectory()
        let ok = try DDPProcess.run(["--check-args"] + train(dir, ["--epochs", "1", "--checkpoint-dir", dir + "/run"]), within: 10)
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertEqual(ok.stdout + ok.stderr, "")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/run"), "--check-args created the checkpoint directory")
        try expectError(["--check-args", "train", "--epoch", "1"], "Unknown option '--epoch'. Did you mean '--epochs'?")
        try expectError(["--check-args", "train", "--resume", dir + "/none"], status: 1, "--resume \(dir)/none: no such file or directory")
    }

    /// The banner: "1 epoch"; what --train-subset keeps and leaves out; where the thread count
    /// comes from with --local-ranks. --max-steps says where it stopped.
    func testTheBannerSaysWhatRuns() throws {
        let dir = try workDirectory()
        let r = try DDPProcess.run(train(dir, ["--epochs", "1", "--train-subset", "50", "--local-ranks", "2", "--max-steps", "4"]),
                                   within: 60)
        XCTAssertEqual(r.status, 0, r.stderr)
        let cores = ProcessInfo.processInfo.activeProcessorCount
        for line in ["ranks 2 x batch 4 = global batch 8, 6 steps/epoch, 1 epoch\n",
                     "--train-subset 50: the first 50 of 64 training samples; each epoch's 6 steps of 8 use 48, leaving out 2\n",
                     "thread\(max(1, cores / 2) == 1 ? "" : "s") (cores/local ranks = ",
                     "stopped at --max-steps 4, in epoch 1, after step 4 of 6; no checkpoint (no --checkpoint-dir)\n"] {
            XCTAssertTrue(r.stdout.contains(line), "missing '\(line)' in:\n\(r.stdout)")
        }
    }

    func testThreadsHelpGivesOneDefault() throws {
        let r = try DDPBinary.run(["train", "--help"])
        let text = r.stdout.replacingOccurrences(of: "\n", with: " ").split(separator: " ").joined(separator: " ")
        let threads = try XCTUnwrap(text.range(of: "--threads <threads>").map { String(text[$0.upperBound...].prefix(120)) })
        XCTAssertTrue(threads.hasPrefix(" BLAS threads per rank (default: cores / ranks on this node). --local-ranks"), threads)
    }

    /// `ddp train --summary` and `ddp info --model`: the layer table (output shapes, parameters
    /// that add up), and no training.
    func testModelSummaryTables() throws {
        let info = try DDPBinary.run(["info", "--model", "lenet5"])
        XCTAssertEqual(info.status, 0, info.stderr)
        let lines = info.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first, "model lenet5 on 1x28x28 inputs, 10 classes")
        XCTAssertTrue(lines.contains { $0.hasPrefix("0 ") && $0.contains("Conv2d(1->6, 5x5, s1, p2)") && $0.contains("6x28x28") && $0.hasSuffix(" 156") },
                      info.stdout)
        let counts = lines.dropFirst(2).dropLast().compactMap { Int($0.split(separator: " ").last!.replacingOccurrences(of: ",", with: "")) }
        XCTAssertEqual(counts.count, 12)
        let total = counts.reduce(0, +)
        XCTAssertEqual(lines.last, "total: \(total / 1000),\(String(format: "%03d", total % 1000)) trainable parameters "
                       + String(format: "(%.2f MiB as float32)", Double(4 * total) / 1_048_576))

        let dir = try workDirectory()
        let summary = try DDPProcess.run(train(dir, ["--summary", "--checkpoint-dir", dir + "/run"]), within: 30)
        XCTAssertEqual(summary.status, 0, summary.stderr)
        XCTAssertEqual(summary.stdout.split(separator: "\n").first, "model flatten-fc on 1x8x8 inputs, 10 classes")
        XCTAssertTrue(summary.stdout.contains("Linear(64->10)") && summary.stdout.contains("total: 650 trainable parameters"),
                      summary.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/run"), "--summary trained")
    }

    /// `ddp eval` names the checkpoint `latest` resolved to and its step (also in --save-logits),
    /// and warns when the data set is not the one the checkpoint was trained on.
    func testEvalRecordsTheStepAndWarnsAboutAnotherDataSet() throws {
        let dir = try workDirectory()
        let trained = try DDPProcess.run(train(dir, ["--epochs", "2", "--quiet", "--checkpoint-dir", dir + "/run"]), within: 60)
        XCTAssertEqual(trained.status, 0, trained.stderr)
        let eval = try DDPProcess.run(["eval", "--checkpoint", dir + "/run", "--save-logits", dir + "/logits.safetensors"], within: 30)
        XCTAssertEqual(eval.status, 0, eval.stderr)
        XCTAssertEqual(eval.errorLines, [])
        XCTAssertTrue(eval.stdout.hasPrefix("checkpoint \(dir)/run/step-00000032 (step 32)\n"), eval.stdout)
        XCTAssertTrue(eval.stdout.contains("(16 samples of fashion-mnist)"), eval.stdout)
        let header = try BadInputFiles.SafeTensorsParts(path: dir + "/logits.safetensors").header
        let metadata = try XCTUnwrap(header["__metadata__"] as? [String: String])
        XCTAssertEqual(metadata["checkpoint"], dir + "/run/step-00000032")
        XCTAssertEqual(metadata["step"], "32")

        // The same files read as MNIST: same shape, so it runs, with a warning.
        let other = try DDPProcess.run(["eval", "--checkpoint", dir + "/run", "--dataset", "mnist", "--data-dir", dir + "/data",
                                        "--json"], within: 30)
        XCTAssertEqual(other.status, 0, other.stderr)
        XCTAssertEqual(other.errorLines, ["ddp: warning: evaluating on mnist, but \(dir)/run/step-00000032 was trained on fashion-mnist"])
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(other.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(json["step"] as? Int, 32)
        XCTAssertEqual(json["samples"] as? Int, 16)
    }
}
