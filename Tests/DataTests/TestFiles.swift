import Data
import Foundation
import IDXFiles
import XCTest

/// Small dataset files written independently of the readers under test: IDX by hand from the
/// format's definition, gzip by the system's `gzip` tool, CIFAR-10 records byte by byte.
enum TestFiles {
    /// A fresh empty directory, removed by the test's teardown.
    static func temporaryDirectory(_ test: XCTestCase) throws -> String {
        let path = NSTemporaryDirectory() + "ddp-data-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    static func write(_ bytes: [UInt8], to path: String) throws {
        try Foundation.Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    static func bigEndian(_ v: UInt32) -> [UInt8] { IDXFile.bigEndian(v) }

    static func idx(dims: [Int], data: [UInt8]) -> [UInt8] { IDXFile.bytes(dims: dims, payload: data) }

    /// `count` images of h x w with pixel i*7 + y*3 + x (mod 256), so every byte position differs.
    static func imagePixels(count: Int, height: Int, width: Int) -> [UInt8] {
        var pixels: [UInt8] = []
        for i in 0..<count { for y in 0..<height { for x in 0..<width { pixels.append(UInt8((i * 7 + y * 3 + x) % 256)) } } }
        return pixels
    }

    static func labels(count: Int, classes: Int = 10) -> [UInt8] { (0..<count).map { UInt8(($0 * 3 + 1) % classes) } }

    /// `bytes` compressed by the system's gzip (no name or time stamp in the header).
    static func gzip(_ bytes: [UInt8]) throws -> [UInt8] {
        let input = NSTemporaryDirectory() + "ddp-gzip-" + UUID().uuidString
        try write(bytes, to: input)
        defer { try? FileManager.default.removeItem(atPath: input) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/gzip")
        process.arguments = ["-c", "-n", input]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "gzip failed")
        return [UInt8](out)
    }

    /// CIFAR-10 records: label byte then 3072 pixel bytes (pixel j of record i is (i + 5j) mod 256).
    static func cifarRecords(labels: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = []
        for (i, label) in labels.enumerated() {
            bytes.append(label)
            for j in 0..<3072 { bytes.append(UInt8((i + 5 * j) % 256)) }
        }
        return bytes
    }

    /// Writes the four IDX files of a split pair under their standard names.
    static func writeIDXSet(in dir: String, trainCount: Int, testCount: Int, height: Int = 28, width: Int = 28,
                            gzip compress: Bool) throws {
        for (prefix, count) in [("train", trainCount), ("t10k", testCount)] {
            var images = idx(dims: [count, height, width], data: imagePixels(count: count, height: height, width: width))
            var labelBytes = idx(dims: [count], data: labels(count: count))
            var suffix = ""
            if compress {
                images = try gzip(images)
                labelBytes = try gzip(labelBytes)
                suffix = ".gz"
            }
            try write(images, to: "\(dir)/\(prefix)-images-idx3-ubyte\(suffix)")
            try write(labelBytes, to: "\(dir)/\(prefix)-labels-idx1-ubyte\(suffix)")
        }
    }
}

extension XCTestCase {
    /// Asserts `body` throws a DataError whose description is one line holding every fragment.
    func expectError(_ fragments: [String], file: StaticString = #filePath, line: UInt = #line,
                     _ body: () throws -> Void) {
        do {
            try body()
            XCTFail("expected an error containing \(fragments)", file: file, line: line)
        } catch let error as DataError {
            let text = error.description
            XCTAssertFalse(text.contains("\n"), "multi-line message: \(text)", file: file, line: line)
            XCTAssertEqual(error.localizedDescription, text, file: file, line: line)
            for fragment in fragments {
                XCTAssertTrue(text.contains(fragment), "'\(text)' lacks '\(fragment)'", file: file, line: line)
            }
        } catch {
            XCTFail("expected a DataError, got \(error)", file: file, line: line)
        }
    }
}
