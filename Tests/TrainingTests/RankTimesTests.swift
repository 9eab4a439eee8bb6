import Foundation
import XCTest
@testable import Training

/// Stragglers: which rank is named from every rank's compute seconds, and the times the trainer
/// gathers, prints and logs (`RankTimes`).
final class RankTimesTests: XCTestCase {
    private func straggler(_ compute: [Double]) -> Int? {
        RankTimes(compute: compute, wait: compute.map { _ in 0 }).straggler?.rank
    }

    func testTheSlowestRankIsNamedAt20PercentOverTheOthersMedian() {
        XCTAssertEqual(straggler([10, 10, 13, 10]), 2)
        XCTAssertNil(straggler([10, 10, 11.9, 10]), "19% slower is within the band")
        XCTAssertEqual(straggler([10, 12.5]), 1, "2 ranks: against the other rank")
        XCTAssertNil(straggler([10, 11.5]))
        // The median of the others, not their mean: one fast rank does not make a typical one slow.
        XCTAssertNil(straggler([1, 10, 10, 11]))
        XCTAssertEqual(straggler([1, 10, 12, 10, 10]), 2)
        XCTAssertNil(straggler([10]), "one rank has nobody to be slower than")
        XCTAssertNil(straggler([0, 0, 0]), "no time measured")
        let named = RankTimes(compute: [10, 20, 10], wait: [9, 0.5, 9]).straggler
        XCTAssertEqual(named?.rank, 1)
        XCTAssertEqual(named?.ratio ?? 0, 2, accuracy: 1e-12)
    }

    func testLinesNameTheStraggler() {
        // 82.4 s against the others' median (41.2 + 40.9) / 2 = 41.05 s: 2.007x.
        let slow = RankTimes(compute: [41.2, 82.4, 40.9], wait: [41, 0.2, 41.3])
        XCTAssertEqual(slow.humanLine,
                       "ranks  compute 41.2 82.4 40.9 s  wait 41.0 0.2 41.3 s  straggler: rank 1 (2.01x the others' compute)")
        XCTAssertEqual(slow.progressNote, "straggler: rank 1 (2.01x)")
        let even = RankTimes(compute: [41.2, 41.4], wait: [1, 1])
        XCTAssertEqual(even.humanLine, "ranks  compute 41.2 41.4 s  wait 1.0 1.0 s")
        XCTAssertNil(even.progressNote)
    }

    /// Two ranks, 16 steps per epoch, --rank-times-every 4: each epoch line carries both ranks'
    /// times for the epoch, each "ranks" line those of its 4 steps, and the windows of an epoch add
    /// up to the epoch (each number rounded to 0.1 ms as written).
    func testMetricsCarryEveryRanksTimesPerEpochAndPerWindow() throws {
        var c = TrainingFixture.config(batch: 8, epochs: 2)
        c.metricsPath = TrainingFixture.temporaryDirectory("rank-times") + "/m.jsonl"
        c.rankTimesEvery = 4
        let summary = try TrainingFixture.train(c, ranks: 2)
        let all = try String(contentsOfFile: c.metricsPath!, encoding: .utf8).split(separator: "\n").map {
            try XCTUnwrap(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        let epochs = all.filter { $0["event"] as? String == "epoch" }
        let windows = all.filter { $0["event"] as? String == "ranks" }
        XCTAssertEqual(epochs.count, 2)
        XCTAssertEqual(windows.map { $0["step"] as? Int }, [4, 8, 12, 16, 20, 24, 28, 32])
        for (e, epoch) in epochs.enumerated() {
            let compute = try XCTUnwrap(epoch["ranks_compute_s"] as? [Double])
            let wait = try XCTUnwrap(epoch["ranks_wait_s"] as? [Double])
            XCTAssertEqual(compute.count, 2); XCTAssertEqual(wait.count, 2)
            XCTAssertTrue(compute.allSatisfy { $0 > 0 } && wait.allSatisfy { $0 >= 0 }, "\(compute) \(wait)")
            XCTAssertTrue(epoch.keys.contains("straggler"))
            let inEpoch = windows.filter { $0["epoch"] as? Int == e + 1 }
            XCTAssertEqual(inEpoch.count, 4)
            for rank in 0..<2 {
                let sum = inEpoch.compactMap { ($0["ranks_compute_s"] as? [Double])?[rank] }.reduce(0, +)
                XCTAssertEqual(sum, compute[rank], accuracy: 5e-4, "epoch \(e + 1), rank \(rank)")
            }
            let straggler = summary.epochs[e].rankTimes?.straggler?.rank
            XCTAssertEqual(epoch["straggler"] as? Int, straggler)
        }
    }
}
