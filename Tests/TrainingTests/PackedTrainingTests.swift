import Data
import Foundation
@testable import Training
import XCTest

/// `ddp pack` then `--dataset packed`: the same training, bit for bit, as from the source (two
/// ranks, the next batch assembled in the background).
final class PackedTrainingTests: XCTestCase {
    func testTrainingFromThePackedFileEqualsTrainingFromItsSource() throws {
        let dir = TrainingFixture.temporaryDirectory("packed")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let source = TrainingFixture.config(epochs: 2)
        let summary = try DataPacking.pack(dataset: "synthetic", dataDir: nil, options: SourceOptions(),
                                           output: dir + "/s.pack", synthetic: source.synthetic)
        XCTAssertEqual(summary.header.train.count, 256)
        XCTAssertEqual(summary.trainCounts.reduce(0, +), 256)
        var packed = source
        packed.dataset = "packed"
        packed.dataDir = dir + "/s.pack"
        let a = try TrainingFixture.train(source, ranks: 2), b = try TrainingFixture.train(packed, ranks: 2)
        XCTAssertEqual(a.parameters, b.parameters)
        XCTAssertEqual(a.epochs.map(\.testLoss), b.epochs.map(\.testLoss))
    }
}
