import Formats
import Foundation
import XCTest

/// The packed data file: what is written is what the format says (read back by hand here, not
/// by the reader under test), the reader takes it back, and every kind of damage is one line.
final class PackedDataTests: XCTestCase {
    private let trainImages: [UInt8] = (0..<(5 * 2 * 3 * 4)).map { UInt8($0 % 251) }
    private let trainLabels: [UInt8] = [0, 1, 2, 1, 0]
    private let testImages: [UInt8] = (0..<(2 * 2 * 3 * 4)).map { UInt8(255 - $0) }
    private let testLabels: [UInt8] = [2, 2]

    private func header() -> PackedDataHeader {
        PackedDataHeader(dataset: "folder", source: "/data/x", channels: 2, height: 3, width: 4,
                         classNames: ["cat", "dog", "\"odd\" name/ü"], imageSize: "3x4",
                         normalizationMean: [0.25, 0.5], normalizationStd: [0.125, 1])
    }

    private func write(to path: String) throws -> PackedDataHeader {
        try trainImages.withUnsafeBytes { a in
            try trainLabels.withUnsafeBytes { b in
                try testImages.withUnsafeBytes { c in
                    try testLabels.withUnsafeBytes { d in
                        try PackedData.write(to: path, header: header(), sections: .init(trainImages: a, trainLabels: b,
                                                                                         testImages: c, testLabels: d))
                    }
                }
            }
        }
    }

    private func temporaryPath() -> String {
        let dir = NSTemporaryDirectory() + "ddp-packed-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir + "/data.pack"
    }

    func testLayoutAsDocumented() throws {
        let path = temporaryPath()
        let written = try write(to: path)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        XCTAssertEqual(Array(bytes[0..<8]), [0x89, 0x44, 0x44, 0x50, 0x41, 0x43, 0x4B, 0x0A])
        XCTAssertEqual(bytes[8..<12].reversed().reduce(0) { $0 << 8 | Int($1) }, 1, "version, little-endian")
        let length = bytes[12..<16].reversed().reduce(0) { $0 << 8 | Int($1) }
        let json = try JSONSerialization.jsonObject(with: Data(bytes[16..<(16 + length)])) as! [String: Any]
        XCTAssertEqual(json["class_names"] as? [String], ["cat", "dog", "\"odd\" name/ü"])
        let train = json["train"] as! [String: Int], test = json["test"] as! [String: Int]
        XCTAssertEqual(train["count"], 5)
        XCTAssertEqual(test["count"], 2)
        // Every section on a page boundary, holding exactly what was given.
        for (offset, expected) in [(train["images_offset"]!, trainImages), (train["labels_offset"]!, trainLabels),
                                   (test["images_offset"]!, testImages), (test["labels_offset"]!, testLabels)] {
            XCTAssertEqual(offset % 4096, 0)
            XCTAssertEqual(Array(bytes[offset..<(offset + expected.count)]), expected)
        }
        XCTAssertEqual(json["file_size"] as? Int, bytes.count)
        // The CRC-32 of the four sections in order, by zlib's polynomial computed here bit by bit.
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in trainImages + trainLabels + testImages + testLabels {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        XCTAssertEqual(json["checksum"] as? String, String(format: "crc32:%08x", ~crc))
        XCTAssertEqual(written.checksum, String(format: "crc32:%08x", ~crc))
    }

    func testReadsBackWhatItWrote() throws {
        let path = temporaryPath()
        let written = try write(to: path)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        try bytes.withUnsafeBytes { file in
            let read = try PackedData.header(of: file, path: path)
            XCTAssertEqual(read, written)
            XCTAssertNoThrow(try PackedData.verify(file, header: read, path: path))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + ".tmp-\(getpid())"), "no temporary file left")
    }

    func testDamageIsNamed() throws {
        let path = temporaryPath()
        let written = try write(to: path)
        let good = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        func expect(_ bytes: [UInt8], _ words: String, verify: Bool = false, line: UInt = #line) {
            bytes.withUnsafeBytes { file in
                do {
                    let header = try PackedData.header(of: file, path: "x.pack")
                    if verify { try PackedData.verify(file, header: header, path: "x.pack") }
                    XCTFail("accepted a damaged file, expected '\(words)'", line: line)
                } catch {
                    XCTAssertTrue("\(error)".hasPrefix("x.pack: "), "\(error)", line: line)
                    XCTAssertTrue("\(error)".contains(words), "'\(error)' lacks '\(words)'", line: line)
                }
            }
        }
        expect([], "shorter than its magic")
        expect(Array("hello, this is text".utf8), "does not start with")
        var version = good; version[8] = 2
        expect(version, "packed format version 2")
        var long = good; long[15] = 0x7F
        expect(long, "header claims")
        var json = good; json[20] = UInt8(ascii: "#")
        expect(json, "damaged header")
        expect(Array(good.dropLast(1)), "truncated or damaged")
        var flipped = good; flipped[written.test.imagesOffset + 3] ^= 0x10
        expect(flipped, "checksum mismatch", verify: true)
    }
}
