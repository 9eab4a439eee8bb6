import Foundation
import XCTest
@testable import Data

/// IDX files written by hand (raw and through the system gzip) read back exactly; the real
/// Fashion-MNIST files load with the counts, shapes, labels and pixel sum the format promises.
final class IDXReaderTests: XCTestCase {
    func testRawAndGzipRoundTrip() throws {
        let dir = try TestFiles.temporaryDirectory(self)
        for (count, h, w) in [(1, 1, 1), (5, 28, 28), (3, 7, 11), (600, 28, 28)] {
            let pixels = TestFiles.imagePixels(count: count, height: h, width: w)
            let labels = TestFiles.labels(count: count)
            let rawImages = TestFiles.idx(dims: [count, h, w], data: pixels)
            let rawLabels = TestFiles.idx(dims: [count], data: labels)
            for compressed in [false, true] {
                let suffix = compressed ? ".gz" : ""
                let imagesPath = "\(dir)/img-\(count)-\(h)-\(w)\(suffix)"
                let labelsPath = "\(dir)/lab-\(count)\(suffix)"
                try TestFiles.write(compressed ? TestFiles.gzip(rawImages) : rawImages, to: imagesPath)
                try TestFiles.write(compressed ? TestFiles.gzip(rawLabels) : rawLabels, to: labelsPath)
                let images = try IDXReader.readImages(path: imagesPath)
                XCTAssertEqual([images.count, images.height, images.width], [count, h, w])
                XCTAssertEqual(images.pixels, pixels)
                XCTAssertEqual(try IDXReader.readLabels(path: labelsPath, classes: 10), labels)
            }
        }
    }

    /// `cat a.gz b.gz` is one valid gzip file holding a followed by b, as `gzip -d` reads it.
    func testConcatenatedGzipMembers() throws {
        let dir = try TestFiles.temporaryDirectory(self)
        let raw = TestFiles.idx(dims: [4, 6, 5], data: TestFiles.imagePixels(count: 4, height: 6, width: 5))
        let path = "\(dir)/two-members.gz"
        try TestFiles.write(TestFiles.gzip(Array(raw[..<37])) + TestFiles.gzip(Array(raw[37...])), to: path)
        XCTAssertEqual(try IDXReader.readImages(path: path).pixels, Array(raw[16...]))
    }

    /// The gzip magic decides, not the name: a raw file called .gz and a gzip file without .gz.
    func testFormatSniffedFromContent() throws {
        let dir = try TestFiles.temporaryDirectory(self)
        let raw = TestFiles.idx(dims: [3], data: [1, 2, 3])
        try TestFiles.write(raw, to: "\(dir)/raw.gz")
        try TestFiles.write(TestFiles.gzip(raw), to: "\(dir)/compressed")
        XCTAssertEqual(try IDXReader.readLabels(path: "\(dir)/raw.gz", classes: 10), [1, 2, 3])
        XCTAssertEqual(try IDXReader.readLabels(path: "\(dir)/compressed", classes: 10), [1, 2, 3])
    }

    func testLoaderFindsStandardNames() throws {
        for compressed in [false, true] {
            let dir = try TestFiles.temporaryDirectory(self)
            try TestFiles.writeIDXSet(in: dir, trainCount: 12, testCount: 5, gzip: compressed)
            let (train, test) = try DatasetLoader.loadSplits(name: "mnist", dataDir: dir)
            XCTAssertEqual([train.count, train.channels, train.height, train.width, train.classes], [12, 1, 28, 28, 10])
            XCTAssertEqual(test.count, 5)
            XCTAssertEqual(Array(train.images), TestFiles.imagePixels(count: 12, height: 28, width: 28))
            XCTAssertEqual(test.labels, TestFiles.labels(count: 5))
            XCTAssertEqual(train.split, .train)
            XCTAssertEqual(test.split, .test)
        }
    }

    /// Some mirrors name the files train-images.idx3-ubyte; the loader takes those too.
    func testLoaderFindsDottedNames() throws {
        let dir = try TestFiles.temporaryDirectory(self)
        try TestFiles.write(TestFiles.idx(dims: [2, 3, 3], data: Array(0..<18)), to: "\(dir)/t10k-images.idx3-ubyte")
        try TestFiles.write(TestFiles.idx(dims: [2], data: [9, 0]), to: "\(dir)/t10k-labels.idx1-ubyte")
        let test = try DatasetLoader.load(name: "fashion-mnist", dataDir: dir, split: .test)
        XCTAssertEqual(test.labels, [9, 0])
        XCTAssertEqual(Array(test.images), [UInt8](0..<18))
    }

    func testRealFashionMNIST() throws {
        let dir = "/usr/share/datasets/fashion-mnist"
        guard FileManager.default.fileExists(atPath: "\(dir)/train-images-idx3-ubyte.gz") else {
            throw XCTSkip("\(dir) is absent (install Debian's dataset-fashion-mnist)")
        }
        XCTAssertEqual(DatasetLoader.defaultDataDirectory(for: "fashion-mnist"), dir)
        let start = Date()
        let train = try DatasetLoader.load(name: "fashion-mnist", split: .train)
        let loadSeconds = Date().timeIntervalSince(start)
        let test = try DatasetLoader.load(name: "fashion-mnist", split: .test)
        print("Fashion-MNIST train split (60000 images, gzip) loaded in \(String(format: "%.3f", loadSeconds)) s")
        for (set, n) in [(train, 60000), (test, 10000)] {
            XCTAssertEqual([set.count, set.channels, set.height, set.width, set.classes], [n, 1, 28, 28, 10])
            XCTAssertEqual(set.images.count, n * 784)
            // Fashion-MNIST is balanced: n / 10 of each class.
            var perClass = [Int](repeating: 0, count: 10)
            for l in set.labels { perClass[Int(l)] += 1 }
            XCTAssertEqual(perClass, [Int](repeating: n / 10, count: 10))
        }
        // An independent reader (Python's gzip) gives the same pixel sum and first labels.
        let script = """
            import gzip
            d = gzip.open('\(dir)/t10k-images-idx3-ubyte.gz').read()[16:]
            l = gzip.open('\(dir)/t10k-labels-idx1-ubyte.gz').read()[8:]
            print(sum(d), ' '.join(str(x) for x in l[:20]))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", script]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let fields = output.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        XCTAssertEqual(fields.count, 21, "python output: \(output)")
        XCTAssertEqual(fields.first, test.images.reduce(0) { $0 + Int($1) })
        XCTAssertEqual(Array(fields.dropFirst()), test.labels.prefix(20).map(Int.init))
    }
}
