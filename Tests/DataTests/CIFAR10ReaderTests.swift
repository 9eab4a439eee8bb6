import Foundation
import XCTest
@testable import Data

/// CIFAR-10 binary batches written record by record read back as NCHW images and labels.
final class CIFAR10ReaderTests: XCTestCase {
    /// Splits records the slow, obvious way: label byte, then 3072 pixels.
    private func reference(_ records: [UInt8]) -> (images: [UInt8], labels: [UInt8]) {
        var images: [UInt8] = [], labels: [UInt8] = []
        for start in stride(from: 0, to: records.count, by: 3073) {
            labels.append(records[start])
            images += records[(start + 1)..<(start + 3073)]
        }
        return (images, labels)
    }

    func testTrainAndTestSplits() throws {
        for nested in [false, true] {
            let root = try TestFiles.temporaryDirectory(self)
            let dir = nested ? "\(root)/cifar-10-batches-bin" : root
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            var allTrain: [UInt8] = []
            for i in 1...5 {
                // Different record counts per file, more than one read chunk in the last one.
                let labels = (0..<(i == 5 ? 1100 : i)).map { UInt8(($0 + i) % 10) }
                let records = TestFiles.cifarRecords(labels: labels)
                allTrain += records
                try TestFiles.write(records, to: "\(dir)/data_batch_\(i).bin")
            }
            let testRecords = TestFiles.cifarRecords(labels: [9, 0, 4])
            try TestFiles.write(testRecords, to: "\(dir)/test_batch.bin")

            let (train, test) = try DatasetLoader.loadSplits(name: "cifar10", dataDir: root)
            let expectedTrain = reference(allTrain), expectedTest = reference(testRecords)
            XCTAssertEqual([train.count, train.channels, train.height, train.width, train.classes], [1110, 3, 32, 32, 10])
            XCTAssertEqual(train.labels, expectedTrain.labels)
            XCTAssertEqual(Array(train.images), expectedTrain.images)
            XCTAssertEqual(test.labels, [9, 0, 4])
            XCTAssertEqual(Array(test.images), expectedTest.images)
        }
    }
}
