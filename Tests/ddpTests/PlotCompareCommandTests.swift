import Foundation
import XCTest

/// `ddp plot` with several metrics files, through the binary: groups from NAME=FILE, a PyTorch
/// peer's lines beside ddp's, the first epoch at --target per run and per group.
final class PlotCompareCommandTests: XCTestCase {
    private func write(_ lines: [String], to path: String) throws {
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }

    private func ddpEpoch(_ epoch: Int, _ accuracy: Double) -> String {
        #"{"event":"epoch","epoch":\#(epoch),"step":\#(100 * epoch),"train_loss":0.5,"train_acc":0.9,"test_loss":0.4,"test_acc":\#(accuracy),"lr":0.1,"elapsed_s":10,"images_per_s":1000}"#
    }

    func testComparesGroupsOfRunsAndTheirEpochsAtTheTarget() throws {
        let dir = NSTemporaryDirectory() + "ddp-plot-compare-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try write([ddpEpoch(1, 0.88), ddpEpoch(2, 0.91), ddpEpoch(3, 0.93)], to: dir + "/seed0.jsonl")
        try write([ddpEpoch(1, 0.90), ddpEpoch(2, 0.92)], to: dir + "/seed1.jsonl")
        // A file whose name holds '=' is a file, not a group.
        try write([#"{"peer": "pytorch-ddp-gloo", "ranks": 2, "epoch": 1, "test_acc": 0.905, "elapsed_s": 60}"#,
                   #"{"peer": "pytorch-ddp-gloo", "ranks": 2, "epoch": 2, "test_acc": 0.89, "elapsed_s": 120}"#],
                  to: dir + "/lr=0.1.jsonl")
        let svg = dir + "/compare.svg"
        let output = try DDPBinary.run(["plot", "ddp=\(dir)/seed0.jsonl", "ddp=\(dir)/seed1.jsonl", dir + "/lr=0.1.jsonl",
                                        "--target", "0.9", "-o", svg, "--json"])
        let result = try XCTUnwrap(DDPBinary.jsonLines(output).first)
        let runs = try XCTUnwrap(result["runs"] as? [[String: Any]])
        XCTAssertEqual(runs.map { $0["group"] as? String }, ["ddp", "ddp", "lr=0.1"])
        XCTAssertEqual(runs.map { $0["target_epoch"] as? Int }, [2, 1, 1])
        XCTAssertEqual(runs.map { $0["last_epoch"] as? Int }, [3, 2, 2])
        let groups = try XCTUnwrap(result["groups"] as? [[String: Any]])
        XCTAssertEqual(groups.map { $0["name"] as? String }, ["ddp", "lr=0.1"])
        XCTAssertEqual(groups[0]["target_epoch_mean"] as? Double, 1.5)
        XCTAssertEqual(groups[0]["never_reached"] as? Int, 0)
        XCTAssertEqual(try XCTUnwrap(groups[0]["final_test_acc_mean"] as? Double), 0.925, accuracy: 1e-12)
        let picture = try String(contentsOfFile: svg, encoding: .utf8)
        XCTAssertTrue(picture.contains("ddp, mean of 2 runs") && picture.contains("target 90.00%"))

        let text = try DDPBinary.run(["plot", "ddp=\(dir)/seed0.jsonl", "ddp=\(dir)/seed1.jsonl", "--target", "0.92", "-o", svg])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("ddp: 2 runs, final test accuracy 92.50% mean; 92.00% first reached at epoch 3, 2 (median 2.50, mean 2.50)"),
                      text.stdout)
    }
}
