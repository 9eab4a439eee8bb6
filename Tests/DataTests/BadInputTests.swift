import Foundation
import XCTest
@testable import Data

/// A corpus of broken dataset files: each must fail with a `DataError` whose one-line message
/// names the file and says what is wrong.
final class BadInputTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        dir = try TestFiles.temporaryDirectory(self)
    }

    private func images(_ bytes: [UInt8], _ name: String, gzip: Bool = false) throws -> String {
        let path = "\(dir)/\(name)"
        try TestFiles.write(gzip ? TestFiles.gzip(bytes) : bytes, to: path)
        return path
    }

    private var validImages: [UInt8] { TestFiles.idx(dims: [3, 4, 5], data: TestFiles.imagePixels(count: 3, height: 4, width: 5)) }

    func testWrongMagic() throws {
        let labelsAsImages = try images(TestFiles.idx(dims: [3], data: [1, 2, 3]), "labels-as-images")
        expectError([labelsAsImages, "wrong magic 0x00000801, expected 0x00000803", "looks like a label file"]) {
            _ = try IDXReader.readImages(path: labelsAsImages)
        }
        let imagesAsLabels = try images(validImages, "images-as-labels")
        expectError([imagesAsLabels, "wrong magic 0x00000803, expected 0x00000801", "looks like an image file"]) {
            _ = try IDXReader.readLabels(path: imagesAsLabels, classes: 10)
        }
        let png = try images([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + [UInt8](repeating: 0, count: 40), "picture.png")
        expectError([png, "wrong magic 0x89504E47, expected 0x00000803"]) { _ = try IDXReader.readImages(path: png) }
        // Float data (type 0x0D) is IDX, but not the unsigned bytes the datasets use.
        var floats = validImages
        floats[2] = 0x0D
        let floatPath = try images(floats, "floats")
        expectError([floatPath, "wrong magic 0x00000D03"]) { _ = try IDXReader.readImages(path: floatPath) }
    }

    func testEmptyAndTruncatedHeader() throws {
        let empty = try images([], "empty")
        expectError([empty, "truncated: the file is empty"]) { _ = try IDXReader.readImages(path: empty) }
        let emptyGzip = try images([], "empty.gz", gzip: true)
        expectError([emptyGzip, "truncated: the file is empty"]) { _ = try IDXReader.readImages(path: emptyGzip) }
        let magicOnly = try images([0, 0], "half-magic")
        expectError([magicOnly, "ends after 2 bytes, inside the 4-byte IDX magic"]) { _ = try IDXReader.readImages(path: magicOnly) }
        let shortHeader = try images(Array(validImages[..<10]), "short-header")
        expectError([shortHeader, "truncated: the header ends after 10 of its 16 bytes"]) {
            _ = try IDXReader.readImages(path: shortHeader)
        }
    }

    func testTruncatedAndTrailingData() throws {
        let short = try images(Array(validImages.dropLast()), "short-data")
        expectError([short, "truncated: the header promises 3x4x5 = 60 data bytes but the file holds 59"]) {
            _ = try IDXReader.readImages(path: short)
        }
        let long = try images(validImages + [7], "long-data")
        expectError([long, "unexpected trailing data", "holds 61"]) { _ = try IDXReader.readImages(path: long) }
        // Valid gzip streams whose content is too short or too long.
        let shortGzip = try images(Array(validImages.dropLast(2)), "short-data.gz", gzip: true)
        expectError([shortGzip, "truncated", "60 data bytes but the file holds only 58"]) {
            _ = try IDXReader.readImages(path: shortGzip)
        }
        let longGzip = try images(validImages + [1, 2, 3], "long-data.gz", gzip: true)
        expectError([longGzip, "unexpected trailing data", "more bytes follow"]) { _ = try IDXReader.readImages(path: longGzip) }
    }

    func testBrokenGzipStreams() throws {
        let compressed = try TestFiles.gzip(validImages)
        let cut = try images(Array(compressed.dropLast(12)), "cut.gz")
        expectError([cut, "truncated: the gzip stream ends after", "before its end marker"]) {
            _ = try IDXReader.readImages(path: cut)
        }
        var badCRC = compressed
        badCRC[badCRC.count - 6] ^= 0xFF
        let crcPath = try images(badCRC, "bad-crc.gz")
        expectError([crcPath, "corrupt gzip data: incorrect data check"]) { _ = try IDXReader.readImages(path: crcPath) }
        var badLength = compressed
        badLength[badLength.count - 2] ^= 0x01
        let lengthPath = try images(badLength, "bad-length.gz")
        expectError([lengthPath, "corrupt gzip data: incorrect length check"]) { _ = try IDXReader.readImages(path: lengthPath) }
        var rng = SeededRNGForTests(seed: 3)
        let garbage = try images([0x1F, 0x8B] + (0..<300).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, "garbage.gz")
        expectError([garbage, "corrupt gzip data", "near compressed byte"]) { _ = try IDXReader.readImages(path: garbage) }
        let trailing = try images(compressed + [0xDE, 0xAD, 0xBE, 0xEF], "trailing-garbage.gz")
        expectError([trailing, "corrupt gzip data: incorrect header check in bytes after the end of the gzip stream"]) { _ = try IDXReader.readImages(path: trailing) }
    }

    func testHugeDimensions() throws {
        let overflow = try images(TestFiles.idx(dims: [0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF], data: [1, 2, 3]), "overflow")
        expectError([overflow, "more than the limit of 4294967296 bytes"]) { _ = try IDXReader.readImages(path: overflow) }
        let big = try images(TestFiles.idx(dims: [60000, 28, 28], data: [1, 2, 3]), "big")
        expectError([big, "truncated: the header promises 60000x28x28 = 47040000 data bytes but the file holds 3"]) {
            _ = try IDXReader.readImages(path: big)
        }
        // A small gzip file cannot expand beyond 1032 times its size: rejected before allocating.
        let bigGzip = try images(TestFiles.idx(dims: [60000, 28, 28], data: [UInt8](repeating: 0, count: 100)), "big.gz", gzip: true)
        expectError([bigGzip, "47040000 data bytes, more than its compressed size can hold"]) {
            _ = try IDXReader.readImages(path: bigGzip)
        }
        let zeroWidth = try images(TestFiles.idx(dims: [3, 28, 0], data: []), "zero-width")
        expectError([zeroWidth, "wrong dimensions: images of 28x0 pixels"]) { _ = try IDXReader.readImages(path: zeroWidth) }
        let noSamples = try images(TestFiles.idx(dims: [0], data: []), "no-labels")
        expectError([noSamples, "wrong dimensions: the header declares 0 samples"]) {
            _ = try IDXReader.readLabels(path: noSamples, classes: 10)
        }
    }

    func testLabelsOutOfRange() throws {
        let path = try images(TestFiles.idx(dims: [4], data: [0, 9, 10, 3]), "labels")
        expectError([path, "label 10 of sample 2 is out of range (expected 0...9 for 10 classes)"]) {
            _ = try IDXReader.readLabels(path: path, classes: 10)
        }
        let high = try images(TestFiles.idx(dims: [2], data: [255, 0]), "labels-255.gz", gzip: true)
        expectError([high, "label 255 of sample 0"]) { _ = try IDXReader.readLabels(path: high, classes: 10) }
    }

    func testLoaderErrors() throws {
        expectError(["\(dir)/train-images-idx3-ubyte[.gz]: file not found", "fashion-mnist train set", "--data-dir"]) {
            _ = try DatasetLoader.load(name: "fashion-mnist", dataDir: dir, split: .train)
        }
        expectError(["/nonexistent/dir/t10k-images-idx3-ubyte[.gz]: file not found", "mnist test set"]) {
            _ = try DatasetLoader.load(name: "mnist", dataDir: "/nonexistent/dir", split: .test)
        }
        expectError(["unknown dataset 'imagenet' (expected one of: fashion-mnist, mnist, cifar10, synthetic, "]) {
            _ = try DatasetLoader.load(name: "imagenet", split: .train)
        }
        // Image and label files that disagree on the count.
        try TestFiles.write(TestFiles.idx(dims: [3, 2, 2], data: [UInt8](repeating: 1, count: 12)), to: "\(dir)/train-images-idx3-ubyte")
        try TestFiles.write(TestFiles.idx(dims: [4], data: [1, 2, 3, 4]), to: "\(dir)/train-labels-idx1-ubyte")
        expectError(["\(dir)/train-images-idx3-ubyte holds 3 images but \(dir)/train-labels-idx1-ubyte holds 4 labels"]) {
            _ = try DatasetLoader.load(name: "mnist", dataDir: dir, split: .train)
        }
        // Train 2x2 images, test 3x3: a model cannot serve both.
        try TestFiles.write(TestFiles.idx(dims: [3], data: [1, 2, 3]), to: "\(dir)/train-labels-idx1-ubyte")
        try TestFiles.write(TestFiles.idx(dims: [1, 3, 3], data: [UInt8](repeating: 1, count: 9)), to: "\(dir)/t10k-images-idx3-ubyte")
        try TestFiles.write(TestFiles.idx(dims: [1], data: [1]), to: "\(dir)/t10k-labels-idx1-ubyte")
        expectError(["mnist test set has 1x3x3 images in 10 classes but the train set has 1x2x2"]) {
            _ = try DatasetLoader.loadSplits(name: "mnist", dataDir: dir)
        }
        // A directory where a file should be.
        try FileManager.default.createDirectory(atPath: "\(dir)/sub/t10k-images-idx3-ubyte.gz", withIntermediateDirectories: true)
        try TestFiles.write(TestFiles.idx(dims: [1], data: [1]), to: "\(dir)/sub/t10k-labels-idx1-ubyte")
        expectError(["\(dir)/sub/t10k-images-idx3-ubyte.gz: cannot read: is a directory"]) {
            _ = try DatasetLoader.load(name: "mnist", dataDir: "\(dir)/sub", split: .test)
        }
    }

    func testCIFARErrors() throws {
        let good = TestFiles.cifarRecords(labels: [1, 2])
        try TestFiles.write(good + [0], to: "\(dir)/test_batch.bin")
        expectError(["\(dir)/test_batch.bin: size 6147 bytes is not a positive multiple of the 3073-byte CIFAR-10 record"]) {
            _ = try DatasetLoader.load(name: "cifar10", dataDir: dir, split: .test)
        }
        try TestFiles.write([], to: "\(dir)/test_batch.bin")
        expectError(["test_batch.bin: size 0 bytes is not a positive multiple"]) {
            _ = try DatasetLoader.load(name: "cifar10", dataDir: dir, split: .test)
        }
        try TestFiles.write(TestFiles.cifarRecords(labels: [1, 2, 10]), to: "\(dir)/test_batch.bin")
        expectError(["test_batch.bin: label 10 of sample 2 is out of range (expected 0...9"]) {
            _ = try DatasetLoader.load(name: "cifar10", dataDir: dir, split: .test)
        }
        for i in 1...4 { try TestFiles.write(good, to: "\(dir)/data_batch_\(i).bin") }
        expectError(["\(dir)/data_batch_5.bin: file not found", "CIFAR-10 binary train batches"]) {
            _ = try DatasetLoader.load(name: "cifar10", dataDir: dir, split: .train)
        }
    }

    func testSamplerAndArgumentErrors() {
        expectError(["dataset of 100 samples is smaller than one global batch 64 x 2 = 128"]) {
            _ = try DistributedSampler(count: 100, batchSize: 64, ranks: 2, rank: 0, seed: 0)
        }
        expectError(["batch size must be at least 1 (got 0)"]) {
            _ = try DistributedSampler(count: 100, batchSize: 0, ranks: 2, rank: 0, seed: 0)
        }
        expectError(["number of ranks must be at least 1 (got 0)"]) {
            _ = try DistributedSampler(count: 100, batchSize: 1, ranks: 0, rank: 0, seed: 0)
        }
        expectError(["rank 2 is outside 0..<2"]) { _ = try DistributedSampler(count: 100, batchSize: 1, ranks: 2, rank: 2, seed: 0) }
        expectError(["smaller than one global batch"]) {
            _ = try DistributedSampler(count: 100, batchSize: Int.max / 2, ranks: 3, rank: 0, seed: 0)
        }
        expectError(["synthetic dataset", "expected positive sizes"]) {
            _ = try SyntheticDataset.make(SyntheticDataset.Options(trainCount: 0), split: .train)
        }
        expectError(["normalization mean [0.5] / std [0.0]"]) { _ = try Normalization(mean: [0.5], std: [0]) }
    }
}

/// A tiny independent generator for test noise (SplitMix64), so test inputs do not depend on
/// the RNG under test elsewhere.
struct SeededRNGForTests {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}
