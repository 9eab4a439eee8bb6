import Foundation
import NumpyFiles
import XCTest
@testable import Data

#if canImport(Glibc)
import Glibc
#endif

/// Broken `--dataset npy` inputs: bad values, shapes and layouts, damaged archives, missing
/// files, and things that are not files. Each must fail at once with a one-line `DataError`
/// naming the file.
final class NumpyBadInputTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        dir = try TestFiles.temporaryDirectory(self)
    }

    /// Writes a split pair into the test directory: train images and labels as given, test
    /// labels [0] (for the class count); nil leaves a file out.
    private func writeSet(images: [UInt8]?, labels: [UInt8]?, testLabels: [UInt8]? = NumpyDatasetTests.labels([0])) throws {
        for (name, bytes) in [("train_images.npy", images), ("train_labels.npy", labels), ("test_labels.npy", testLabels)] {
            if let bytes { try TestFiles.write(bytes, to: "\(dir)/\(name)") }
        }
    }

    private func loadTrain(layout: ImageLayout = .auto) throws { _ = try NumpyDataset.load(path: dir, split: .train, layout: layout) }

    private var grayImages: [UInt8] { NumpyFile.npy(descr: "|u1", shape: [4, 2, 3], data: NumpyDatasetTests.nchw(4, 1, 2, 3)) }

    func testFloatPixelsOutsideZeroOne() throws {
        let images = "\(dir)/train_images.npy"
        for (value, text) in [(Float(1.5), "1.5"), (.nan, "nan"), (-0.25, "-0.25"), (.infinity, "inf")] {
            var pixels = [Float](repeating: 0.5, count: 24)
            pixels[2 * 6 + 4] = value
            // (N, H, W) is converted in place, (N, H, W, 1) as NHWC.
            for shape in [[4, 2, 3], [4, 2, 3, 1]] {
                try writeSet(images: NumpyFile.npy(descr: "<f4", shape: shape, data: NumpyFile.float32(pixels)), labels: NumpyDatasetTests.labels([0, 1, 2, 3]))
                expectError([images, "bad NumPy array: sample 2 holds the value \(text) (expected float32 pixels in [0, 1]"]) { try loadTrain() }
            }
        }
    }

    func testLabelsOutOfRangeAndMismatched() throws {
        let labels = "\(dir)/train_labels.npy"
        let cases: [([UInt8], String)] = [
            (NumpyFile.npy(descr: "|i1", shape: [4], data: NumpyFile.littleEndian([Int8(0), 1, 2, -1])), "label -1 of sample 3 is out of range (expected 0...255"),
            (NumpyFile.npy(descr: "<i2", shape: [4], data: NumpyFile.littleEndian([Int16(0), 256, 2, 3])), "label 256 of sample 1 is out of range"),
            (NumpyFile.npy(descr: "<i8", shape: [4], data: NumpyFile.littleEndian([Int64.min, 0, 0, 0])), "label -9223372036854775808 of sample 0"),
            (NumpyFile.npy(descr: "<u8", shape: [4], data: NumpyFile.littleEndian([UInt64(0), 0, UInt64.max, 0])),
             "label 18446744073709551615 of sample 2 is out of range (expected 0...255)"),
            (NumpyFile.npy(descr: "<f4", shape: [4], data: NumpyFile.float32([0, 1, 2, 3])), "labels of element type '<f4' (expected an integer type)"),
            (NumpyFile.npy(descr: "|u1", shape: [2, 2], data: [0, 1, 2, 3]), "labels of shape (2, 2) (expected (N,) or (N, 1)"),
            (NumpyFile.npy(descr: "|u1", shape: [0], data: []), "labels of shape (0,)"),
            (NumpyFile.npy(descr: "|u1", shape: [], data: [0]), "labels of shape ()"),
        ]
        for (bytes, fragment) in cases {
            try writeSet(images: grayImages, labels: bytes)
            expectError([labels, fragment]) { try loadTrain() }
        }
        try writeSet(images: grayImages, labels: NumpyDatasetTests.labels([0, 1, 2]))
        expectError(["\(dir)/train_images.npy holds 4 images but \(labels) holds 3 labels (expected equal counts)"]) { try loadTrain() }
        try writeSet(images: grayImages, labels: NumpyDatasetTests.labels([0, 1, 9, 3]))
        expectError([labels, "label 9 of sample 2 is out of range (expected 0...4 for 5 classes)"]) {
            _ = try NumpyDataset.load(path: dir, split: .train, classes: 5)
        }
        expectError(["npy dataset with 257 classes (expected 1...256"]) { _ = try NumpyDataset.load(path: dir, split: .train, classes: 257) }
        // The test split's labels decide the class count too: broken ones fail the train split.
        try writeSet(images: grayImages, labels: NumpyDatasetTests.labels([0, 1, 2, 3]), testLabels: NumpyDatasetTests.labels([]))
        expectError(["\(dir)/test_labels.npy", "labels of shape (0,)"]) { try loadTrain() }
    }

    func testImageShapesTypesAndLayouts() throws {
        let images = "\(dir)/train_images.npy"
        let labels = NumpyDatasetTests.labels([0, 1])
        let cases: [([UInt8], ImageLayout, String)] = [
            (NumpyFile.npy(descr: "|u1", shape: [2, 3, 5, 3], data: [UInt8](repeating: 1, count: 90)), .auto,
             "images of shape (2, 3, 5, 3) could be NCHW or NHWC (give the layout: --layout nchw or --layout nhwc)"),
            (NumpyFile.npy(descr: "|u1", shape: [2, 4, 5, 6], data: [UInt8](repeating: 1, count: 240)), .auto,
             "images of shape (2, 4, 5, 6) have no channel dimension of 1 or 3"),
            (NumpyFile.npy(descr: "|u1", shape: [2, 4, 5, 6], data: [UInt8](repeating: 1, count: 240)), .nchw,
             "images of shape (2, 4, 5, 6) read as NCHW have 4 channels (expected 1 or 3)"),
            (NumpyFile.npy(descr: "|u1", shape: [2, 3, 5, 2], data: [UInt8](repeating: 1, count: 60)), .nhwc,
             "read as NHWC have 2 channels"),
            (NumpyFile.npy(descr: "|u1", shape: [2, 12], data: [UInt8](repeating: 1, count: 24)), .auto,
             "images of shape (2, 12) (expected (N, H, W), (N, C, H, W) or (N, H, W, C))"),
            (NumpyFile.npy(descr: "|u1", shape: [2, 0, 5], data: []), .auto, "images of shape (2, 0, 5) hold no pixels"),
            (NumpyFile.npy(descr: "<i4", shape: [2, 2, 2], data: [UInt8](repeating: 0, count: 32)), .auto,
             "images of element type '<i4' (expected |u1, bytes 0...255, or <f4, floats in [0, 1])"),
            (NumpyFile.npy(descr: "|u1", shape: [2, 2, 2], data: [1, 2, 3, 4, 5, 6, 7]), .auto,
             "truncated: the header promises shape (2, 2, 2) of |u1 = 8 data bytes but the file holds 7"),
            (NumpyFile.npy(descr: "<f4", shape: [2, 2, 2, 1], data: NumpyFile.float32([Float](repeating: 0, count: 8)) + [0]), .auto,
             "unexpected trailing data: the header promises shape (2, 2, 2, 1) of <f4 = 32 data bytes but the file holds 33"),
        ]
        for (bytes, layout, fragment) in cases {
            try writeSet(images: bytes, labels: labels)
            expectError([images, fragment]) { try loadTrain(layout: layout) }
        }
        // Both splits must fit one model.
        try writeSet(images: grayImages, labels: NumpyDatasetTests.labels([0, 1, 2, 3]))
        try TestFiles.write(NumpyFile.npy(descr: "|u1", shape: [1, 3, 3], data: [UInt8](repeating: 0, count: 9)), to: "\(dir)/test_images.npy")
        expectError(["npy test set has 1x3x3 images in 4 classes but the train set has 1x2x3 in 4"]) {
            _ = try DatasetLoader.loadSplits(name: "npy", dataDir: dir)
        }
    }

    func testMissingFilesAndMembers() throws {
        expectError(["--dataset npy needs --data FILE (or --data-dir DIR)"]) { _ = try DatasetLoader.load(name: "npy", split: .train) }
        expectError(["\(dir)/nothing: file not found (expected a directory holding train_images.npy", "or an .npz archive holding x_train"]) {
            _ = try NumpyDataset.load(path: "\(dir)/nothing", split: .train)
        }
        try writeSet(images: grayImages, labels: nil)
        expectError(["\(dir)/train_labels.npy: file not found (expected the train labels of the npy dataset, a NumPy .npy array)"]) { try loadTrain() }
        expectError(["\(dir)/test_images.npy: file not found (expected the test images"]) {
            _ = try DatasetLoader.load(name: "npy", dataDir: dir, split: .test)
        }
        let members = NumpyDatasetTests.kerasMembers(deflated: true).filter { $0.name != "y_test.npy" }
        let archive = "\(dir)/partial.npz"
        try TestFiles.write(NumpyFile.zip(members), to: archive)
        expectError(["\(archive):y_test.npy: file not found (expected the test labels of the npy dataset, array y_test; "
                     + "the archive holds notes.npy, x_train.npy, y_train.npy, x_test.npy)"]) {
            _ = try DatasetLoader.load(name: "npy", dataDir: archive, split: .test)
        }
        // A name from the archive cannot break the message's line.
        let odd = "\(dir)/odd.npz"
        try TestFiles.write(NumpyFile.zip([.init("two\nlines.npy", NumpyDatasetTests.labels([1]))]), to: odd)
        expectError(["\(odd):x_train.npy: file not found", "the archive holds two\\nlines.npy)"]) { _ = try NumpyDataset.load(path: odd, split: .train) }
        let empty = "\(dir)/empty.npz"
        try TestFiles.write(NumpyFile.zip([]), to: empty)
        expectError(["\(empty):x_train.npy: file not found", "the archive holds nothing"]) { _ = try NumpyDataset.load(path: empty, split: .train) }
    }

    func testDamagedArchives() throws {
        let stored = NumpyFile.zip(NumpyDatasetTests.kerasMembers(deflated: false))
        let deflated = NumpyFile.zip(NumpyDatasetTests.kerasMembers(deflated: true))
        func load(_ bytes: [UInt8], _ name: String) throws {
            try TestFiles.write(bytes, to: "\(dir)/\(name)")
            _ = try NumpyDataset.load(path: "\(dir)/\(name)", split: .train)
        }
        let cut = "\(dir)/cut.npz"
        expectError([cut, "truncated: the zip archive has no end-of-directory record: it was cut short"]) {
            try load(Array(stored.dropLast(30)), "cut.npz")
        }
        expectError(["\(dir)/not-a-zip.npz", "not a zip archive (.npz): it starts with 93 4E 55 4D"]) {
            try load(NumpyDatasetTests.labels([1, 2]), "not-a-zip.npz")
        }
        // The last pixel of x_train changed: the stored data no longer matches its CRC-32.
        let xTrain = try XCTUnwrap(firstOffset(of: Array("x_train.npy".utf8), in: stored))
        let xTrainBytes = NumpyDatasetTests.kerasMembers(deflated: false)[2].data.count
        var flipped = stored
        flipped[xTrain + "x_train.npy".utf8.count + xTrainBytes - 1] ^= 0x40
        expectError(["\(dir)/bad-crc.npz:x_train.npy: bad NumPy array: CRC-32 of the data is 0x", "but the zip directory says 0x", "the archive is damaged"]) {
            try load(flipped, "bad-crc.npz")
        }
        // The directory's CRC-32 of y_train changed: inflating succeeds, the check fails.
        let directory = Int(ZipArchive.le32(deflated, deflated.count - 6))
        let yTrainEntry = try XCTUnwrap(firstOffset(of: Array("y_train.npy".utf8), in: Array(deflated[directory...]))) + directory - 46
        var wrongCRC = deflated
        wrongCRC[yTrainEntry + 16] ^= 0x01
        expectError(["bad-crc-deflated.npz:y_train.npy: bad NumPy array: CRC-32 of the data"]) { try load(wrongCRC, "bad-crc-deflated.npz") }
        // A size the deflated bytes cannot hold is refused before anything is inflated.
        var bomb = deflated
        bomb.replaceSubrange((yTrainEntry + 24)..<(yTrainEntry + 28), with: NumpyFile.littleEndian([UInt32(1 << 30)]))
        expectError(["bomb.npz: bad NumPy array: zip member y_train.npy declares 1073741824 bytes, more than its"]) { try load(bomb, "bomb.npz") }
        // Damaged deflate data.
        var garbled = deflated
        let xTrainDeflated = try XCTUnwrap(firstOffset(of: Array("x_train.npy".utf8), in: deflated))
        for i in 0..<8 { garbled[xTrainDeflated + "x_train.npy".utf8.count + i] = 0xFF }
        expectError(["garbled.npz:x_train.npy: bad NumPy array: corrupt deflate data"]) { try load(garbled, "garbled.npz") }
    }

    func testDirectoriesAndPipesAreRefusedAtOnce() throws {
        try writeSet(images: nil, labels: NumpyDatasetTests.labels([0, 1, 2, 3]))
        try FileManager.default.createDirectory(atPath: "\(dir)/train_images.npy", withIntermediateDirectories: false)
        expectError(["\(dir)/train_images.npy: cannot read: is a directory"]) { try loadTrain() }
        try FileManager.default.removeItem(atPath: "\(dir)/train_images.npy")
        let pipe = "\(dir)/train_images.npy"
        XCTAssertEqual(mkfifo(pipe, 0o600), 0)
        let archivePipe = "\(dir)/pipe.npz"
        XCTAssertEqual(mkfifo(archivePipe, 0o600), 0)
        // A reader that opened a pipe would block until a writer came: run it aside, and if it
        // has not returned in time, open the writing end to release it before failing.
        let runs: [(path: String, expected: String, load: () throws -> Void)] = [
            (pipe, "the train images of the npy dataset, a NumPy .npy array", { try self.loadTrain() }),
            (archivePipe, "a directory holding train_images.npy", { _ = try NumpyDataset.load(path: archivePipe, split: .train) }),
        ]
        for run in runs {
            let done = DispatchSemaphore(value: 0)
            let message = MessageBox()
            DispatchQueue.global().async {
                do { try run.load() } catch { message.text = "\(error)" }
                done.signal()
            }
            if done.wait(timeout: .now() + 5) == .timedOut {
                let writer = open(run.path, O_WRONLY | O_NONBLOCK)
                XCTFail("reading the named pipe \(run.path) blocked")
                done.wait()
                close(writer)
            }
            XCTAssertTrue(message.text.hasPrefix("\(run.path): cannot read: is a named pipe, not a regular file (expected \(run.expected)"), message.text)
        }
    }

    private func firstOffset(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        haystack.indices.first { haystack[$0...].starts(with: needle) }
    }
}

/// The error text a background load leaves for the test to read after it signals.
private final class MessageBox: @unchecked Sendable {
    var text = ""
}
