import Foundation
import XCTest

/// `ddp train --resume DIR` from the command line: alone it continues the saved run (model, data,
/// subset, schedule and its length, batch, ranks, directory, metrics file) to the very bytes of a
/// run never interrupted; a flag that would make another run is refused in one line.
final class ResumeCommandTests: XCTestCase {
    private func workDirectory() throws -> String {
        let dir = NSTemporaryDirectory() + "ddp-resume-\(getpid())-\(UUID().uuidString.prefix(8))"
        try BadInputFiles.fashionDirectory(dir + "/data")
        return dir
    }

    /// A custom model, a subset, 2 ranks as threads, the one-cycle schedule over 3 epochs: none
    /// of it the default. 56 samples / (4 x 2) = 7 steps per epoch.
    private func run(_ dir: String, _ extra: [String]) -> [String] {
        ["train", "--dataset", "fashion-mnist", "--data-dir", dir + "/data", "--model", "flatten-fc16-relu-fc",
         "--batch-size", "4", "--local-ranks", "2", "--epochs", "3", "--train-subset", "56", "--lr", "0.05",
         "--seed", "3"] + extra
    }

    private func metricsLines(_ path: String) throws -> [[String: Any]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            try XCTUnwrap(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    func testResumeAloneContinuesTheRunToTheSameBytes() throws {
        let dir = try workDirectory()
        let straight = try DDPProcess.run(run(dir, ["--quiet", "--checkpoint-dir", dir + "/straight"]), within: 60)
        XCTAssertEqual(straight.status, 0, straight.stderr)

        let stopped = try DDPProcess.run(run(dir, ["--checkpoint-dir", dir + "/run", "--metrics", dir + "/m.jsonl",
                                                   "--max-steps", "10"]), within: 60)
        XCTAssertEqual(stopped.status, 0, stopped.stderr)
        let ddp = try DDPBinary.url().path
        XCTAssertTrue(stopped.stdout.contains("stopped at --max-steps 10, in epoch 2, after step 3 of 7; checkpoint "
                                              + "\(dir)/run/step-00000010 (continue with: \(ddp) train --resume \(dir)/run)\n"),
                      stopped.stdout)

        let resumed = try DDPProcess.run(["train", "--resume", dir + "/run"], within: 60)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(resumed.errorLines, [])
        for line in ["ddp train: flatten-fc16-relu-fc (", "ranks 2 x batch 4 = global batch 8, 7 steps/epoch, 3 epochs",
                     "--train-subset 56: the first 56 of 64 training samples, all used each epoch",
                     "sgd lr 0.1 (0.05 x 2 ranks) schedule onecycle", "init torch", "seed 3",
                     "resumed from \(dir)/run/step-00000010: 1 epoch done and 3 steps of the next (global step 10)",
                     "changed: --max-steps 0 (was 10, reached)", "checkpoint: \(dir)/run/step-00000021"] {
            XCTAssertTrue(resumed.stdout.contains(line), "missing '\(line)' in:\n\(resumed.stdout)")
        }
        for file in ["model.safetensors", "trainer.safetensors"] {
            let a = try BadInputFiles.read(dir + "/straight/latest/" + file)
            let b = try BadInputFiles.read(dir + "/run/latest/" + file)
            XCTAssertTrue(a == b, "\(file): the stopped and resumed run differs from the uninterrupted one")
        }
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: dir + "/run/latest"), "step-00000021")

        // One metrics file for the whole run: the resume appended to it.
        let lines = try metricsLines(dir + "/m.jsonl")
        XCTAssertEqual(lines.map { $0["event"] as? String }, ["run", "epoch", "run", "epoch", "epoch"])
        XCTAssertEqual(lines.compactMap { $0["epoch"] as? Int }, [1, 2, 3])
        XCTAssertEqual(lines[2]["resumed_at_step"] as? Int, 10)
        XCTAssertEqual(lines[2]["ranks"] as? Int, 2)
    }

    func testAFlagThatWouldMakeAnotherRunIsRefusedInOneLineAndAHarmlessOneIsApplied() throws {
        let dir = try workDirectory()
        let first = try DDPProcess.run(run(dir, ["--quiet", "--checkpoint-dir", dir + "/run", "--max-steps", "5"]), within: 60)
        XCTAssertEqual(first.status, 0, first.stderr)
        let before = try BadInputFiles.read(dir + "/run/latest/trainer.safetensors")

        for (flags, line) in [
            (["--lr", "0.1"], "ddp: error: --lr 0.1 differs from the run resumed from \(dir)/run (--lr 0.05): a resume "
                + "continues the same run, and this would make another one; leave --lr out to continue it as it was, or "
                + "start a new run from its weights with --init-from \(dir)/run"),
            (["--train-subset", "48"], "ddp: error: --train-subset 48 differs from the run resumed from \(dir)/run (--train-subset 56)"),
            (["--model", "flatten-fc"], "ddp: error: --model flatten-fc differs from the run resumed from \(dir)/run (--model flatten-fc16-relu-fc)"),
            (["--epochs", "5"], "ddp: error: --epochs 5 differs from the run resumed from \(dir)/run (--epochs 3): its onecycle "
                + "schedule is laid out over 3 epochs and cannot be stretched mid-run"),
            (["--batch-size", "3"], "ddp: error: --batch-size 3 on 2 ranks cannot make up the global batch of 8 of the run "
                + "resumed from \(dir)/run (2 ranks x --batch-size 4 x --accumulate 1) with a whole --accumulate"),
            (["--local-ranks", "3"], "ddp: error: this launch has 3 ranks, which cannot share the global batch of 8 of the "
                + "run resumed from \(dir)/run (2 ranks x --batch-size 4 x --accumulate 1) evenly"),
            (["--batch-size", "4", "--accumulate", "2"], "ddp: error: --batch-size 4 x --accumulate 2 on 2 ranks make a "
                + "global batch of 16, but the run resumed from \(dir)/run stopped mid-epoch (step 5 of epoch 1) with 8"),
        ] {
            let r = try DDPProcess.run(["train", "--resume", dir + "/run"] + flags, within: 30)
            XCTAssertEqual(r.status, 64, "\(flags): \(r.stderr)")
            XCTAssertEqual(r.errorLines.count, 1, "\(flags): \(r.stderr)")
            XCTAssertTrue(r.errorLines.first?.hasPrefix(line) == true, "\(flags): \(r.stderr)")
        }
        XCTAssertTrue(try BadInputFiles.read(dir + "/run/latest/trainer.safetensors") == before, "a refused resume wrote")

        // The same values again, and settings of how the run is carried out, are fine.
        let again = try DDPProcess.run(run(dir, ["--resume", dir + "/run", "--threads", "1", "--metrics", dir + "/later.jsonl"]),
                                       within: 60)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stdout.contains("changed: --threads 1 (was 0 (cores / ranks)); --max-steps 0 (was 5, reached); "
                                            + "--metrics \(dir)/later.jsonl (was none)\n"), again.stdout)
        XCTAssertTrue(again.stdout.contains("1 thread (--threads)"), again.stdout)
        XCTAssertEqual(try metricsLines(dir + "/later.jsonl").first?["resumed_at_step"] as? Int, 5)
    }

    /// Another number of ranks from the command line: the global batch of 2 x 4 goes on as
    /// 1 x 4 x accumulate 2 (from --batch-size 4), the banner says how, the run ends where it
    /// would have, and the metrics' run line records the split.
    func testAnotherRankCountGoesOnWithTheGlobalBatch() throws {
        let dir = try workDirectory()
        let first = try DDPProcess.run(run(dir, ["--quiet", "--checkpoint-dir", dir + "/run", "--metrics", dir + "/m.jsonl",
                                                 "--max-steps", "5"]), within: 60)
        XCTAssertEqual(first.status, 0, first.stderr)
        let resumed = try DDPProcess.run(["train", "--resume", dir + "/run", "--local-ranks", "1", "--batch-size", "4"],
                                         within: 60)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        for line in ["ranks 1 x batch 4 x accumulate 2 micro-batches = global batch 8, 7 steps/epoch, 3 epochs",
                     "sgd lr 0.1 (0.05 x 1 rank x 2 micro-batches)", "changed: --accumulate 2 (was 1); ranks 1 (was 2); --max-steps 0 (was 5, reached)",
                     "checkpoint: \(dir)/run/step-00000021"] {
            XCTAssertTrue(resumed.stdout.contains(line), "missing '\(line)' in:\n\(resumed.stdout)")
        }
        let runLines = try metricsLines(dir + "/m.jsonl").filter { $0["event"] as? String == "run" }
        XCTAssertEqual(runLines.map { $0["ranks"] as? Int }, [2, 1])
        XCTAssertEqual(runLines.map { $0["accumulate"] as? Int }, [1, 2])
        XCTAssertEqual(runLines.map { $0["lr"] as? Double }, [0.1, 0.1], "the LR of the global batch goes on")

        let help = try DDPBinary.run(["train", "--help"]).stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        XCTAssertTrue(help.contains("--accumulate <accumulate> Micro-batches of --batch-size per rank and optimizer step"), help)
        XCTAssertTrue(help.contains("Any number of ranks resumes any checkpoint, mid-epoch too"), help)
    }
}
