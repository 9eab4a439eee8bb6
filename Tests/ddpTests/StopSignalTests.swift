import Foundation
import XCTest

/// SIGTERM / SIGINT against the real binary: the ranks finish the step they are in, agree to
/// stop at its end, write a checkpoint, print one line and exit 128 + signal; the checkpoint
/// resumes to exactly the parameters of a run that was never interrupted.
final class StopSignalTests: XCTestCase {
    private func dataDirectory() throws -> String {
        let dir = NSTemporaryDirectory() + "ddp-stop-\(getpid())-\(UUID().uuidString.prefix(8))"
        try BadInputFiles.fashionDirectory(dir + "/data")
        return dir
    }

    /// 64 samples, 2 thread ranks x batch 8: 4 steps per epoch, a checkpoint after each epoch.
    /// Constant LR and no dropout or BatchNorm, so `--epochs` changes nothing but the length.
    private func train(_ dir: String, epochs: Int, _ extra: [String]) -> [String] {
        ["train", "--dataset", "fashion-mnist", "--data-dir", dir + "/data", "--model", "flatten-fc16-relu-fc",
         "--batch-size", "8", "--local-ranks", "2", "--schedule", "constant", "--lr", "0.01",
         "--epochs", String(epochs), "--quiet"] + extra
    }

    private func waitFor(_ path: String, seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if FileManager.default.fileExists(atPath: path) { return true }
            usleep(20_000)
        }
        return false
    }

    /// The stop prints the command that continues the run, and that command, run exactly as
    /// printed (no flag repeated: the checkpoint holds the custom model, the ranks and the rest),
    /// ends where a run never interrupted ends. 300 epochs of 4 steps, a checkpoint after each:
    /// still running when the signal comes at the first checkpoint, done within seconds.
    func testSIGTERMCheckpointsAtAStepBoundaryAndThePrintedCommandResumesBitExactly() throws {
        let dir = try dataDirectory()
        let run = dir + "/run"
        let child = try DDPProcess(train(dir, epochs: 300, ["--checkpoint-dir", run]))
        XCTAssertTrue(waitFor(run + "/latest", seconds: 60), "no first checkpoint within 60 s")
        child.send(SIGTERM)
        let r = child.finish(within: 30)
        XCTAssertFalse(r.hung, "still running 30 s after SIGTERM")
        XCTAssertFalse(r.killedBySignal, "died of the signal instead of stopping: \(r.stderr)")
        XCTAssertEqual(r.status, 143, "ended before the signal, or failed: \(r.stderr)")
        XCTAssertEqual(r.errorLines.count, 1, r.stderr)
        let line = try XCTUnwrap(r.errorLines.first)
        // "ddp: stopped by SIGTERM at epoch E step S; checkpoint RUN/step-N (continue with: DDP train --resume RUN)"
        let words = line.split(separator: " ").map(String.init)
        XCTAssertEqual(Array(words.prefix(5)), ["ddp:", "stopped", "by", "SIGTERM", "at"], line)
        let epoch = try XCTUnwrap(Int(words[6]), line), step = try XCTUnwrap(Int(words[8].dropLast()), line)
        let global = (epoch - 1) * 4 + step
        let checkpoint = run + String(format: "/step-%08d", global)
        let command = "\(try DDPBinary.url().path) train --resume \(run)"
        XCTAssertTrue(line.hasSuffix("; checkpoint \(checkpoint) (continue with: \(command))"), line)
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: run + "/latest"), String(format: "step-%08d", global))

        let resumed = try DDPProcess.shell(command, within: 120)
        XCTAssertEqual(resumed.status, 0, "the printed command failed: \(command): \(resumed.stderr)")
        let straight = try DDPProcess.run(train(dir, epochs: 300, ["--checkpoint-dir", dir + "/straight"]), within: 120)
        XCTAssertEqual(straight.status, 0, straight.stderr)
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: run + "/latest"), "step-00001200")
        for file in ["model.safetensors", "trainer.safetensors"] {
            XCTAssertTrue(try BadInputFiles.read(run + "/latest/" + file) == BadInputFiles.read(dir + "/straight/latest/" + file),
                          "\(file): the stopped and resumed run differs from the uninterrupted one")
        }
    }

    func testSIGINTWithoutCheckpointDirectoryExits130() throws {
        let dir = try dataDirectory()
        let metrics = dir + "/metrics.jsonl"
        let child = try DDPProcess(train(dir, epochs: 100_000, ["--metrics", metrics]))
        XCTAssertTrue(waitFor(metrics, seconds: 60))
        usleep(300_000)
        child.send(SIGINT)
        let r = child.finish(within: 30)
        XCTAssertFalse(r.hung)
        XCTAssertFalse(r.killedBySignal, r.stderr)
        XCTAssertEqual(r.status, 130, r.stderr)
        XCTAssertEqual(r.errorLines.count, 1, r.stderr)
        XCTAssertTrue(r.errorLines.first?.hasPrefix("ddp: stopped by SIGINT at epoch ") == true, r.stderr)
        XCTAssertTrue(r.stderr.contains("; no checkpoint (no --checkpoint-dir)"), r.stderr)
    }
}
