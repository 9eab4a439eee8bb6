import Data
import Formats
import Foundation
import XCTest

/// A packed file read back as a data set: mapped images equal to what was packed, labels
/// checked against the classes, and a file that is no regular file refused at once.
final class PackedDatasetTests: XCTestCase {
    private func pack(_ train: Dataset, _ test: Dataset, to path: String) throws {
        let header = PackedDataHeader(dataset: train.name, source: "test", channels: train.channels, height: train.height,
                                      width: train.width, classNames: train.classNames, imageSize: nil,
                                      normalizationMean: [0.5], normalizationStd: [0.25])
        _ = try train.images.withUnsafeBufferPointer { a in
            try test.images.withUnsafeBufferPointer { c in
                try train.labels.withUnsafeBytes { b in
                    try test.labels.withUnsafeBytes { d in
                        try PackedData.write(to: path, header: header, sections: .init(
                            trainImages: UnsafeRawBufferPointer(a), trainLabels: b, testImages: UnsafeRawBufferPointer(c), testLabels: d))
                    }
                }
            }
        }
    }

    func testRoundTripThroughTheMapping() throws {
        let dir = try TestFiles.temporaryDirectory(self)
        let options = SyntheticDataset.Options(trainCount: 40, testCount: 12, channels: 1, height: 6, width: 5, classes: 3, seed: 7)
        let train = try SyntheticDataset.make(options, split: .train), test = try SyntheticDataset.make(options, split: .test)
        try pack(train, test, to: dir + "/s.pack")
        let loaded = try DatasetLoader.loadSplits(name: "packed", dataDir: dir + "/s.pack")
        XCTAssertEqual(loaded.train.images, train.images)
        XCTAssertEqual(loaded.train.labels, train.labels)
        XCTAssertEqual(loaded.test.images, test.images)
        XCTAssertEqual(loaded.test.labels, test.labels)
        XCTAssertEqual(loaded.train.name, "synthetic", "the packed set keeps its source's name (and augmentation)")
        XCTAssertEqual(loaded.train.classNames, ["0", "1", "2"])
        // A subset of a mapped set is a view of the same bytes.
        XCTAssertEqual(loaded.train.subset(3..<9).images, train.subset(3..<9).images)
        XCTAssertEqual(Normalization.statistics(of: loaded.train), Normalization.statistics(of: train))
        // The header's statistics are what a run uses, not counted again.
        XCTAssertEqual(loaded.train.recordedNormalization, try Normalization(mean: [0.5], std: [0.25]))
        XCTAssertEqual(Normalization.of(loaded.train), try Normalization(mean: [0.5], std: [0.25]))
        XCTAssertNil(loaded.train.subset(3..<9).recordedNormalization)
    }

    func testNotARegularFileIsRefusedAtOnce() throws {
        let dir = try TestFiles.temporaryDirectory(self)
        XCTAssertEqual(mkfifo(dir + "/pipe", 0o600), 0)
        XCTAssertThrowsError(try DatasetLoader.loadSplits(name: "packed", dataDir: dir + "/pipe")) { error in
            XCTAssertEqual("\(error)", "\(dir)/pipe: cannot read: is a named pipe, not a regular file (expected a packed data file (ddp pack))")
        }
        // The IDX reader too (it used to block in open(2) until a writer came).
        XCTAssertThrowsError(try IDXReader.readLabels(path: dir + "/pipe", classes: 10)) { error in
            XCTAssertTrue("\(error)".contains("is a named pipe"), "\(error)")
        }
        XCTAssertThrowsError(try DatasetLoader.loadSplits(name: "packed", dataDir: dir)) { error in
            XCTAssertTrue("\(error)".contains("is a directory"), "\(error)")
        }
    }

    func testDamagedPackedFileIsOneLine() throws {
        let dir = try TestFiles.temporaryDirectory(self)
        let options = SyntheticDataset.Options(trainCount: 8, testCount: 4, channels: 1, height: 4, width: 4, classes: 2, seed: 1)
        try pack(try SyntheticDataset.make(options, split: .train), try SyntheticDataset.make(options, split: .test), to: dir + "/s.pack")
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/s.pack")))
        bytes[bytes.count - 1] ^= 1
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/bad.pack"))
        XCTAssertThrowsError(try DatasetLoader.loadSplits(name: "packed", dataDir: dir + "/bad.pack")) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(dir)/bad.pack: checksum mismatch"), "\(error)")
        }
        XCTAssertThrowsError(try DatasetLoader.loadSplits(name: "packed")) { error in
            XCTAssertTrue("\(error)".contains("needs --data FILE"), "\(error)")
        }
    }
}
