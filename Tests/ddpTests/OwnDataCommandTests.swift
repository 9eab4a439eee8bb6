import Foundation
import PNGFiles
import XCTest

/// Your own images through the `ddp` binary, as a user types it: `ddp pack` (its summary, its
/// JSON, a corrupt image refused cleanly or skipped), `ddp predict --json`, `ddp eval --json`
/// and `--confusion`, `ddp train --summary` with the flags that shape the images, and two slips
/// that must end at once with one line.
final class OwnDataCommandTests: XCTestCase {
    /// Class folder names as written; "R&D" sorts first by bytes and needs escaping in XML.
    static let classNames = ["R&D", "bird", "cat"]
    static let trainPerClass = 8, testPerClass = 4, side = 8

    /// `data/{train,test}/<class>/imgNN.png` and a run trained on it, made once for the class.
    struct Fixture {
        let root: String
        var data: String { root + "/data" }
        var run: String { root + "/run" }
        /// Test images in sorted path order (class by class).
        let testImages: [String]
    }

    nonisolated(unsafe) private static var cached: Fixture?

    static func fixture() throws -> Fixture {
        if let cached { return cached }
        let root = NSTemporaryDirectory() + "ddp-own-data-cmd-\(getpid())"
        try? FileManager.default.removeItem(atPath: root)
        var testImages: [String] = []
        var state: UInt32 = 12345
        for (label, name) in classNames.enumerated() {
            for (split, count) in [("train", trainPerClass), ("test", testPerClass)] {
                let dir = "\(root)/data/\(split)/\(name)"
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                for j in 0..<count {
                    // A bright row band per class over noise (a linear congruential generator).
                    let pixels = (0..<(side * side)).map { (p: Int) -> UInt8 in
                        state = state &* 1_103_515_245 &+ 12345
                        let noise = UInt8((state >> 16) % 60)
                        return p / side / 3 == label ? 180 + noise : noise
                    }
                    let path = String(format: "%@/img%02d.png", dir, j)
                    try Data(StoredPNG.gray(width: side, height: side, pixels: pixels)).write(to: URL(fileURLWithPath: path))
                    if split == "test" { testImages.append(path) }
                }
            }
        }
        let f = Fixture(root: root, testImages: testImages)
        let r = try DDPProcess.run(["train", "--dataset", "folder", "--data-dir", f.data, "--model", "flatten-fc", "--epochs", "2",
                                    "--batch-size", "4", "--schedule", "constant", "--quiet", "--checkpoint-dir", f.run], within: 60)
        guard r.status == 0, !r.hung else { throw FixtureFailed(description: "fixture run failed: \(r.stderr)") }
        cached = f
        return f
    }

    struct FixtureFailed: Error, CustomStringConvertible { let description: String }

    override class func tearDown() {
        if let root = cached?.root { try? FileManager.default.removeItem(atPath: root) }
        cached = nil
        super.tearDown()
    }

    /// A fresh directory for one test's outputs, removed at its end.
    private func scratch() throws -> String {
        let dir = try Self.fixture().root + "/scratch-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    /// Runs ddp to its end within `seconds`, asserting it neither hung nor crashed.
    private func ddp(_ arguments: [String], within seconds: Double = 30,
                     file: StaticString = #filePath, line: UInt = #line) throws -> DDPProcess.Result {
        let r = try DDPProcess.run(arguments, within: seconds)
        XCTAssertFalse(r.hung, "ddp \(arguments.joined(separator: " ")): still running after \(seconds) s", file: file, line: line)
        XCTAssertFalse(r.killedBySignal, "ddp died of signal \(r.status): \(r.stderr)", file: file, line: line)
        return r
    }

    /// The single stderr line of a failed run, asserting its form.
    private func errorLine(_ r: DDPProcess.Result, file: StaticString = #filePath, line: UInt = #line) -> String {
        XCTAssertNotEqual(r.status, 0, "expected a failure; stdout: \(r.stdout)", file: file, line: line)
        XCTAssertEqual(r.errorLines.count, 1, "expected one line on stderr, got:\n\(r.stderr)", file: file, line: line)
        let message = r.errorLines.first ?? ""
        XCTAssertTrue(message.hasPrefix("ddp: error: "), message, file: file, line: line)
        return message
    }

    private func jsonObject(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8))
        return try XCTUnwrap(object as? [String: Any], "not a JSON object: \(text)", file: file, line: line)
    }

    /// A copy of the fixture's data tree at `dir`.
    private func copyOfData(_ dir: String) throws -> String {
        let copy = dir + "/data"
        try FileManager.default.copyItem(atPath: try Self.fixture().data, toPath: copy)
        return copy
    }

    // MARK: ddp pack

    func testPackPrintsThePerClassSummaryAndJSON() throws {
        let f = try Self.fixture(), dir = try scratch()
        let out = dir + "/own.pack"
        let r = try ddp(["pack", f.data, "-o", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.first?.hasPrefix("packed 24 training and 12 test images of 1x8x8 in 3 classes into \(out) ") ?? false, r.stdout)
        let rows = lines.map { $0.split(separator: " ").map(String.init) }
        XCTAssertTrue(rows.contains(["label", "class", "train", "test"]), r.stdout)
        for (label, name) in Self.classNames.enumerated() {
            XCTAssertTrue(rows.contains([String(label), name, "8", "4"]), "no row for \(name):\n\(r.stdout)")
        }
        XCTAssertTrue(lines.contains { $0.hasPrefix("normalization: mean ") && $0.contains("checksum crc32:") }, r.stdout)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out))

        let j = try ddp(["pack", f.data, "-o", dir + "/again.pack", "--json"])
        XCTAssertEqual(j.status, 0, j.stderr)
        let jsonLines = j.stdout.split(separator: "\n")
        XCTAssertEqual(jsonLines.count, 1, j.stdout)
        let object = try jsonObject(String(jsonLines.first ?? ""))
        XCTAssertEqual(object["train_per_class"] as? [Int], [8, 8, 8])
        XCTAssertEqual(object["test_per_class"] as? [Int], [4, 4, 4])
        XCTAssertEqual(object["class_names"] as? [String], Self.classNames)
        XCTAssertEqual(object["shape"] as? [Int], [1, 8, 8])
        XCTAssertEqual(object["train"] as? Int, 24)
        XCTAssertEqual(object["test"] as? Int, 12)
        XCTAssertEqual((object["skipped"] as? [Any])?.count, 0)
        // The same data give the same bytes, so the same checksum.
        XCTAssertTrue(r.stdout.contains("checksum \(object["checksum"] as? String ?? "?")"), r.stdout)
    }

    func testPackOfACorruptImageFailsCleanlyAndSkipBadListsIt() throws {
        let dir = try scratch()
        let data = try copyOfData(dir)
        let bad = data + "/train/bird/img03.png"
        var png = try [UInt8](Data(contentsOf: URL(fileURLWithPath: bad)))
        png[png.count - 12 - 1] ^= 0x01 // the IDAT chunk's CRC
        try Data(png).write(to: URL(fileURLWithPath: bad))
        let out = dir + "/out/own.pack"
        try FileManager.default.createDirectory(atPath: dir + "/out", withIntermediateDirectories: true)

        let r = try ddp(["pack", data, "-o", out])
        XCTAssertEqual(r.status, 1, r.stderr)
        let message = errorLine(r)
        XCTAssertTrue(message.contains(bad) && message.contains("--skip-bad"), message)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/out"), [], "left behind after a failed pack")

        let s = try ddp(["pack", data, "-o", out, "--skip-bad"])
        XCTAssertEqual(s.status, 0, s.stderr)
        XCTAssertTrue(s.stdout.contains("skipped 1 file (--skip-bad):"), s.stdout)
        let listed = s.stdout.split(separator: "\n").filter { $0.contains(bad) }
        XCTAssertEqual(listed.count, 1, s.stdout)
        XCTAssertTrue(listed.first?.contains("CRC") ?? false, s.stdout)
        XCTAssertTrue(s.stdout.split(separator: "\n").contains { $0.split(separator: " ") == ["1", "bird", "7", "4"] }, s.stdout)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/out"), ["own.pack"])

        let j = try ddp(["pack", data, "-o", dir + "/out/json.pack", "--skip-bad", "--json"])
        let object = try jsonObject(j.stdout.trimmingCharacters(in: .newlines))
        XCTAssertEqual(object["train_per_class"] as? [Int], [8, 7, 8])
        let skipped = try XCTUnwrap(object["skipped"] as? [[String: Any]])
        XCTAssertEqual(skipped.map { $0["path"] as? String }, [bad])
        XCTAssertFalse((skipped.first?["reason"] as? String ?? bad).contains(bad), "the reason repeats the path")
    }

    func testPackThatCannotWriteLeavesNoTemporaryFile() throws {
        let f = try Self.fixture(), dir = try scratch()
        // The output is an existing directory: the rename at the end fails.
        try FileManager.default.createDirectory(atPath: dir + "/taken.pack", withIntermediateDirectories: false)
        let r = try ddp(["pack", f.data, "-o", dir + "/taken.pack"])
        let message = errorLine(r)
        XCTAssertTrue(message.contains(dir + "/taken.pack"), message)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["taken.pack"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/taken.pack"), [])
    }

    // MARK: ddp predict, ddp eval

    func testPredictJSONIsOneObjectPerInput() throws {
        let f = try Self.fixture(), dir = try scratch()
        let pack = dir + "/own.pack"
        XCTAssertEqual(try ddp(["pack", f.data, "-o", pack]).status, 0)
        let r = try ddp(["predict", "--checkpoint", f.run, "--json", f.testImages[5], f.data + "/test", pack])
        let objects = try DDPBinary.jsonLines(DDPBinary.Output(status: r.status, stdout: r.stdout, stderr: r.stderr))
        // One image, the 12 test images, the packed file's 24 + 12 samples.
        XCTAssertEqual(objects.count, 1 + 12 + 36)
        let packNames = (0..<24).map { "\(pack):train[\($0)]" } + (0..<12).map { "\(pack):test[\($0)]" }
        XCTAssertEqual(objects.map { $0["input"] as? String ?? "?" }, [f.testImages[5]] + f.testImages + packNames)
        let packLabels = [0, 1, 2].flatMap { Array(repeating: $0, count: 8) } + [0, 1, 2].flatMap { Array(repeating: $0, count: 4) }
        for (i, object) in objects.enumerated() {
            let top = try XCTUnwrap(object["top"] as? [[String: Any]], "\(object)")
            XCTAssertEqual(top.count, 3, "the default --top 3, all three classes")
            let labels = top.compactMap { $0["label"] as? Int }, probabilities = top.compactMap { $0["probability"] as? Double }
            XCTAssertEqual(Set(labels), [0, 1, 2])
            XCTAssertEqual(top.map { $0["class"] as? String ?? "?" }, labels.map { Self.classNames[$0] })
            XCTAssertEqual(probabilities, probabilities.sorted(by: >))
            XCTAssertEqual(probabilities.reduce(0, +), 1, accuracy: 1e-9)
            XCTAssertEqual(object["true_label"] as? Int, i >= 13 ? packLabels[i - 13] : nil, "\(object)")
        }
        // The same image is predicted alike whether named alone or found in its folder.
        XCTAssertEqual((objects[0]["top"] as? [[String: Any]])?.map { $0["label"] as? Int },
                       (objects[6]["top"] as? [[String: Any]])?.map { $0["label"] as? Int })
    }

    func testEvalJSONAndConfusionChart() throws {
        let f = try Self.fixture(), dir = try scratch()
        let svg = dir + "/confusion.svg"
        let r = try ddp(["eval", "--checkpoint", f.run, "--json", "--confusion", svg])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, r.stdout)
        let object = try jsonObject(String(lines.first ?? ""))
        XCTAssertEqual(object["class_names"] as? [String], Self.classNames)
        XCTAssertEqual(object["dataset"] as? String, "folder")
        XCTAssertEqual(object["samples"] as? Int, 12)
        let confusion = try XCTUnwrap(object["confusion"] as? [[Int]])
        let perClass = try XCTUnwrap(object["per_class_acc"] as? [Double])
        XCTAssertEqual(confusion.count, 3)
        XCTAssertEqual(confusion.map { $0.reduce(0, +) }, [4, 4, 4], "each row holds its class's test images")
        XCTAssertEqual(object["per_class_samples"] as? [Int], [4, 4, 4])
        for t in 0..<3 {
            XCTAssertEqual(confusion[t].count, 3)
            XCTAssertEqual(perClass[t], Double(confusion[t][t]) / 4, accuracy: 1e-12)
        }
        let trace = (0..<3).map { confusion[$0][$0] }.reduce(0, +)
        XCTAssertEqual(object["test_acc"] as? Double ?? -1, Double(trace) / 12, accuracy: 1e-12)

        let chart = try String(contentsOfFile: svg, encoding: .utf8)
        XCTAssertTrue(chart.hasPrefix("<?xml"), String(chart.prefix(80)))
        XCTAssertTrue(chart.contains(">R&amp;D<") && chart.contains(">bird<") && chart.contains(">cat<"), "class names missing")
        XCTAssertFalse(chart.contains("R&D"), "an unescaped & in the SVG")
        XCTAssertTrue(chart.hasSuffix("</svg>") || chart.hasSuffix("</svg>\n"))
    }

    // MARK: Slips

    func testFolderWithoutDataDirIsOneLineNamingTheFlag() throws {
        let r = try ddp(["train", "--dataset", "folder", "--epochs", "1", "--quiet"])
        let message = errorLine(r)
        XCTAssertTrue(message.contains("--data"), message)
        XCTAssertTrue(message.contains("folder"), message)
    }

    func testSummaryReadsTheImagesAsTrainingWould() throws {
        let f = try Self.fixture()
        // --image-size: the model's input is the fitted size, not the files' 8x8.
        let sized = try ddp(["train", "--dataset", "folder", "--data-dir", f.data, "--image-size", "4x6", "--model", "flatten-fc",
                             "--summary"])
        XCTAssertEqual(sized.status, 0, sized.stderr)
        XCTAssertTrue(sized.stdout.contains("on 1x4x6 inputs, 3 classes"), sized.stdout)
        // --val-fraction: a tree of class folders alone is split as training splits it.
        let split = try ddp(["train", "--dataset", "folder", "--data-dir", f.data + "/train", "--val-fraction", "0.25",
                             "--model", "flatten-fc", "--summary"])
        XCTAssertEqual(split.status, 0, split.stderr)
        XCTAssertTrue(split.stdout.contains("on 1x8x8 inputs, 3 classes"), split.stdout)
    }

    func testANamedPipeAsDataIsRefusedAtOnce() throws {
        let f = try Self.fixture(), dir = try scratch()
        let fifo = dir + "/data.pack"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0, String(cString: strerror(errno)))
        // Nothing ever writes to the pipe: a ddp that opened it for reading would wait forever.
        for arguments in [["train", "--dataset", "packed", "--data", fifo, "--epochs", "1", "--quiet"],
                          ["pack", fifo, "-o", dir + "/out.pack"],
                          ["predict", "--checkpoint", f.run, fifo]] {
            let r = try ddp(arguments, within: 20)
            XCTAssertLessThan(r.seconds, 15, "\(arguments[0]) took \(r.seconds) s")
            let message = errorLine(r)
            XCTAssertTrue(message.contains(fifo) && message.contains("named pipe"), "\(arguments[0]): \(message)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/out.pack"))
    }
}
