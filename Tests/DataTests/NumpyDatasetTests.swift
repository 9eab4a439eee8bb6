import Foundation
import NumpyFiles
import XCTest
@testable import Data

/// `--dataset npy` on arrays written by `NumpyFile`: every image layout and element type, every
/// label type, a directory and `.npz` archives (stored, deflated, ZIP64), through `DatasetLoader`.
final class NumpyDatasetTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        dir = try TestFiles.temporaryDirectory(self)
    }

    /// `count` NCHW images whose pixel (n, c, y, x) is (31n + 7c + 3y + x) mod 256: every place differs.
    static func nchw(_ count: Int, _ channels: Int, _ height: Int, _ width: Int) -> [UInt8] {
        var pixels: [UInt8] = []
        for n in 0..<count { for c in 0..<channels { for y in 0..<height { for x in 0..<width {
            pixels.append(UInt8((31 * n + 7 * c + 3 * y + x) % 256))
        } } } }
        return pixels
    }

    /// The same images in NHWC order.
    static func nhwc(_ count: Int, _ channels: Int, _ height: Int, _ width: Int) -> [UInt8] {
        let source = nchw(count, channels, height, width)
        var pixels: [UInt8] = []
        for n in 0..<count { for y in 0..<height { for x in 0..<width { for c in 0..<channels {
            pixels.append(source[((n * channels + c) * height + y) * width + x])
        } } } }
        return pixels
    }

    static func labels(_ values: [UInt8]) -> [UInt8] { NumpyFile.npy(descr: "|u1", shape: [values.count], data: values) }

    private func write(_ files: [String: [UInt8]], in directory: String? = nil) throws {
        for (name, bytes) in files { try TestFiles.write(bytes, to: "\(directory ?? dir)/\(name)") }
    }

    func testDirectoryOfGrayscaleBytesThroughTheLoader() throws {
        try write([
            "train_images.npy": NumpyFile.npy(descr: "|u1", shape: [5, 4, 3], data: Self.nchw(5, 1, 4, 3)),
            "train_labels.npy": Self.labels([0, 4, 1, 2, 3]),
            "test_images.npy": NumpyFile.npy(descr: "|u1", shape: [2, 4, 3], data: Self.nchw(2, 1, 4, 3), version: 2),
            "test_labels.npy": Self.labels([6, 0]),
        ])
        XCTAssertTrue(DatasetLoader.names.contains("npy"))
        let (train, test) = try DatasetLoader.loadSplits(name: "npy", dataDir: dir)
        for (set, count) in [(train, 5), (test, 2)] {
            XCTAssertEqual(set.name, "npy")
            XCTAssertEqual([set.count, set.channels, set.height, set.width], [count, 1, 4, 3])
            XCTAssertEqual(Array(set.images), Self.nchw(count, 1, 4, 3))
            // The largest label of either split decides: 6, in the test set, so 7 classes for both.
            XCTAssertEqual(set.classes, 7)
        }
        XCTAssertEqual(train.split, .train)
        XCTAssertEqual(train.labels, [0, 4, 1, 2, 3])
        XCTAssertEqual(test.labels, [6, 0])
        let single = try DatasetLoader.load(name: "npy", dataDir: dir, split: .test)
        XCTAssertEqual(single.classes, 7)
        XCTAssertEqual(try NumpyDataset.load(path: dir, split: .train, classes: 10).classes, 10)
    }

    func testLayoutsOfColorAndGrayImages() throws {
        // (shape, file order, layout asked for, channels, height, width)
        let cases: [([Int], [UInt8], ImageLayout, Int, Int, Int)] = [
            ([2, 3, 4, 5], Self.nchw(2, 3, 4, 5), .auto, 3, 4, 5),
            ([2, 4, 5, 3], Self.nhwc(2, 3, 4, 5), .auto, 3, 4, 5),
            ([2, 1, 4, 5], Self.nchw(2, 1, 4, 5), .auto, 1, 4, 5),
            ([2, 4, 5, 1], Self.nhwc(2, 1, 4, 5), .auto, 1, 4, 5),
            ([2, 3, 4, 5], Self.nchw(2, 3, 4, 5), .nchw, 3, 4, 5),
            ([2, 4, 5, 3], Self.nhwc(2, 3, 4, 5), .nhwc, 3, 4, 5),
            // Ambiguous for auto, fine when the layout is given.
            ([2, 3, 5, 3], Self.nchw(2, 3, 5, 3), .nchw, 3, 5, 3),
            ([2, 3, 5, 3], Self.nhwc(2, 3, 3, 5), .nhwc, 3, 3, 5),
            ([2, 4, 5], Self.nchw(2, 1, 4, 5), .nhwc, 1, 4, 5),
        ]
        for (shape, data, layout, channels, height, width) in cases {
            let expected = Self.nchw(2, channels, height, width)
            for float in [false, true] {
                let bytes = float ? NumpyFile.float32(data.map { Float($0) / 255 }) : data
                try write([
                    "train_images.npy": NumpyFile.npy(descr: float ? "<f4" : "|u1", shape: shape, data: bytes),
                    "train_labels.npy": Self.labels([1, 0]), "test_labels.npy": Self.labels([1]),
                ])
                let set = try NumpyDataset.load(path: dir, split: .train, layout: layout)
                let what = "\(shape) \(layout) \(float ? "float32" : "uint8")"
                XCTAssertEqual([set.channels, set.height, set.width], [channels, height, width], what)
                XCTAssertEqual(Array(set.images), expected, what)
            }
        }
    }

    func testFloatPixelsRoundToBytes() throws {
        // Every byte k survives k / 255 in float32; others go to the nearest byte; -0 is 0.
        let halfStep: Float = 1.0 / 510
        let values: [Float] = (0..<256).map { Float($0) / 255 } + [0.5, -0.0, halfStep + 1e-4, 1 - halfStep - 1e-4]
        try write([
            "train_images.npy": NumpyFile.npy(descr: "<f4", shape: [1, 13, 20], data: NumpyFile.float32(values)),
            "train_labels.npy": Self.labels([0]), "test_labels.npy": Self.labels([0]),
        ])
        let set = try NumpyDataset.load(path: dir, split: .train)
        XCTAssertEqual(Array(set.images[..<256]), (0..<256).map { UInt8($0) })
        XCTAssertEqual(Array(set.images[256..<260]), [128, 0, 1, 254])
    }

    func testEveryLabelType() throws {
        let values: [Int] = [0, 3, 1, 2]
        let cases: [(String, [UInt8])] = [
            ("|u1", values.map { UInt8($0) }), ("|i1", NumpyFile.littleEndian(values.map { Int8($0) })),
            ("<u2", NumpyFile.littleEndian(values.map { UInt16($0) })), ("<i2", NumpyFile.littleEndian(values.map { Int16($0) })),
            ("<u4", NumpyFile.littleEndian(values.map { UInt32($0) })), ("<i4", NumpyFile.littleEndian(values.map { Int32($0) })),
            ("<u8", NumpyFile.littleEndian(values.map { UInt64($0) })), ("<i8", NumpyFile.littleEndian(values.map { Int64($0) })),
            ("=i4", NumpyFile.littleEndian(values.map { Int32($0) })), ("|i8", NumpyFile.littleEndian(values.map { Int64($0) })),
        ]
        try write(["train_images.npy": NumpyFile.npy(descr: "|u1", shape: [4, 2, 2], data: Self.nchw(4, 1, 2, 2))])
        for (descr, data) in cases {
            // 1-D, and the (N, 1) column Keras gives CIFAR-10's labels in.
            for shape in [[4], [4, 1]] {
                try write(["train_labels.npy": NumpyFile.npy(descr: descr, shape: shape, data: data),
                           "test_labels.npy": NumpyFile.npy(descr: descr, shape: [1], data: Array(data.prefix(data.count / 4)))])
                let set = try NumpyDataset.load(path: dir, split: .train)
                XCTAssertEqual(set.labels, [0, 3, 1, 2], "\(descr) \(shape)")
                XCTAssertEqual(set.classes, 4, "\(descr) \(shape)")
            }
        }
    }

    /// The four arrays under Keras' keys, plus an unrelated member.
    static func kerasMembers(deflated: Bool) -> [NumpyFile.Member] {
        [
            .init("notes.npy", NumpyFile.npy(descr: "<f4", shape: [1], data: NumpyFile.float32([2])), deflated: deflated),
            .init("y_test.npy", NumpyFile.npy(descr: "<i8", shape: [2], data: NumpyFile.littleEndian([Int64(9), 1])), deflated: deflated),
            .init("x_train.npy", NumpyFile.npy(descr: "|u1", shape: [3, 5, 4, 3], data: nhwc(3, 3, 5, 4)), deflated: deflated),
            .init("y_train.npy", NumpyFile.npy(descr: "<i8", shape: [3], data: NumpyFile.littleEndian([Int64(2), 0, 1])), deflated: deflated),
            .init("x_test.npy", NumpyFile.npy(descr: "<f4", shape: [2, 5, 4, 3], data: NumpyFile.float32(nhwc(2, 3, 5, 4).map { Float($0) / 255 })),
                  deflated: deflated),
        ]
    }

    func testKerasStyleArchives() throws {
        for (deflated, zip64) in [(false, false), (true, false), (false, true), (true, true)] {
            let path = "\(dir)/data-\(deflated)-\(zip64).npz"
            try TestFiles.write(NumpyFile.zip(Self.kerasMembers(deflated: deflated), zip64: zip64), to: path)
            let (train, test) = try DatasetLoader.loadSplits(name: "npy", dataDir: path)
            let what = "deflated \(deflated) zip64 \(zip64)"
            XCTAssertEqual(Array(train.images), Self.nchw(3, 3, 5, 4), what)
            XCTAssertEqual(Array(test.images), Self.nchw(2, 3, 5, 4), what)
            XCTAssertEqual(train.labels, [2, 0, 1], what)
            XCTAssertEqual(test.labels, [9, 1], what)
            XCTAssertEqual([train.classes, test.classes], [10, 10], what)
            XCTAssertEqual([test.channels, test.height, test.width], [3, 5, 4], what)
        }
    }
}
