import CTurboJPEG
import Data
import Foundation
import XCTest

/// `--dataset folder` on trees the tests write themselves (PNGs from the format's definition and
/// one JPEG from TurboJPEG's encoder, `ImageFiles`): classes and labels, pixels and sample order,
/// channels, `--image-size`, the `--val-fraction` split, what is ignored and every refusal.
final class FolderDatasetTests: XCTestCase {
    private var root = ""

    override func setUpWithError() throws {
        root = try TestFiles.temporaryDirectory(self)
    }

    // MARK: Writing trees

    /// h x w gray pixels all different from those of any other `id` (for ids below 16): the
    /// sample can be told back from its bytes.
    private func grayPixels(id: Int, height: Int = 4, width: Int = 5) -> [UInt8] {
        (0..<(height * width)).map { UInt8((id * 16 + $0 * 7) % 256) }
    }

    /// Writes an 8-bit gray PNG (creating the folders on the way) and returns its path.
    @discardableResult
    private func writeGray(_ relative: String, _ pixels: [UInt8], height: Int = 4, width: Int = 5) throws -> String {
        try write(relative, ImageFiles.png(width: width, height: height, bitDepth: 8, colourType: .gray, samples: pixels.map(Int.init)))
    }

    @discardableResult
    private func write(_ relative: String, _ bytes: [UInt8]) throws -> String {
        let path = root + "/" + relative
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try TestFiles.write(bytes, to: path)
        return path
    }

    private func mkdir(_ relative: String) throws {
        try FileManager.default.createDirectory(atPath: root + "/" + relative, withIntermediateDirectories: true)
    }

    private func load(_ options: SourceOptions = SourceOptions(), at dir: String? = nil) throws -> (train: Dataset, test: Dataset) {
        try DatasetLoader.loadSplits(name: "folder", dataDir: dir ?? root, options: options)
    }

    private func pixels(_ d: Dataset) -> [UInt8] { Array(d.images) }

    /// Sample i's bytes.
    private func sample(_ d: Dataset, _ i: Int) -> [UInt8] { Array(d.images[(i * d.imageSize)..<((i + 1) * d.imageSize)]) }

    /// A valid PNG whose IDAT CRC is wrong: libpng refuses it (a critical chunk).
    private func corruptPNG() -> [UInt8] {
        var png = ImageFiles.png(width: 5, height: 4, bitDepth: 8, colourType: .gray, samples: grayPixels(id: 9).map(Int.init))
        png[png.count - 12 - 1] ^= 0x01 // the last byte of IDAT's CRC; IEND's 12 bytes follow
        return png
    }

    // MARK: Classes, labels, pixels

    func testClassNamesAreInByteOrderAndLabelsFollowThem() throws {
        // Byte order, as Python's sorted: upper case before "_" before lower case, UTF-8 last
        // (a locale-aware sort would put "apple" and "Äpfel" first).
        let given = ["apple", "Zebra", "_under", "Bee", "Äpfel"]
        for (i, name) in given.enumerated() {
            try writeGray("train/\(name)/0.png", grayPixels(id: 2 * i))
            try writeGray("train/\(name)/1.png", grayPixels(id: 2 * i + 1))
            try writeGray("test/\(name)/0.png", grayPixels(id: 10 + i % 5))
        }
        let (train, test) = try load()
        let expected = ["Bee", "Zebra", "_under", "apple", "Äpfel"]
        XCTAssertEqual(train.classNames, expected)
        XCTAssertEqual(test.classNames, expected)
        XCTAssertEqual(train.classes, 5)
        XCTAssertEqual(train.name, "folder")
        XCTAssertEqual(train.labels, [0, 0, 1, 1, 2, 2, 3, 3, 4, 4])
        XCTAssertEqual(test.labels, [0, 1, 2, 3, 4])
        // Sample 2k + j of the training set is file j of the k-th class in byte order.
        for (label, name) in expected.enumerated() {
            let written = given.firstIndex(of: name)!
            XCTAssertEqual(sample(train, 2 * label), grayPixels(id: 2 * written), name)
            XCTAssertEqual(sample(train, 2 * label + 1), grayPixels(id: 2 * written + 1), name)
        }
        XCTAssertEqual([train.channels, train.height, train.width], [1, 4, 5])
        XCTAssertTrue(train.skipped.isEmpty && test.skipped.isEmpty)
    }

    func testPixelsAreExactAndSamplesInSortedPathOrderIncludingSubfolders() throws {
        // Written in a scrambled order; names judged by bytes ("10" < "9" < "B" < "a"), "a.png"
        // before "a/..." ("." is 0x2E, "/" 0x2F), subfolders at any depth, a file without a
        // PNG extension (images are judged by their bytes).
        let sortedNames = ["10.png", "9.png", "B.png", "a.png", "a/deep/er/z.png", "a/y.png", "b.png", "noext", "sub/c.PNG"]
        let writeOrder = [6, 2, 8, 0, 4, 7, 1, 5, 3]
        for i in writeOrder { try writeGray("train/only/" + sortedNames[i], grayPixels(id: i)) }
        try writeGray("test/only/t.png", grayPixels(id: 15))
        let (train, test) = try load()
        XCTAssertEqual(train.count, sortedNames.count)
        XCTAssertEqual(pixels(train), (0..<sortedNames.count).flatMap { grayPixels(id: $0) })
        XCTAssertEqual(pixels(test), grayPixels(id: 15))
        XCTAssertEqual(train.labels, [UInt8](repeating: 0, count: sortedNames.count))
    }

    func testEveryPNGLayoutAndAJPEGDecodeIntoTheSet() throws {
        // 1-, 4- and 16-bit gray PNGs in one class, a gray JPEG in the other.
        let h = 4, w = 5, n = h * w
        try write("train/a/1bit.png", ImageFiles.png(width: w, height: h, bitDepth: 1, colourType: .gray, samples: (0..<n).map { $0 % 2 }))
        try write("train/a/4bit.png", ImageFiles.png(width: w, height: h, bitDepth: 4, colourType: .gray, samples: (0..<n).map { $0 % 16 }))
        try write("train/a/16bit.png", ImageFiles.png(width: w, height: h, bitDepth: 16, colourType: .gray,
                                                      samples: (0..<n).map { $0 * 257 * 3 }))
        let jpegPixels: [UInt8] = (0..<(8 * 8)).map { (i: Int) -> UInt8 in UInt8(60 + 2 * (i % 8) + 3 * (i / 8)) }
        let jpegPath = try write("train/b/photo.jpg", ImageFiles.jpeg(jpegPixels, width: 8, height: 8, format: TJPF_GRAY,
                                                                      subsampling: TJSAMP_GRAY, quality: 100))
        try writeGray("test/a/t.png", grayPixels(id: 1))
        try writeGray("test/b/t.png", grayPixels(id: 2))
        // The JPEG is 8x8: fitted to 4x5 with the rest.
        let size = try ImageSize(height: h, width: w)
        let (train, _) = try load(SourceOptions(imageSize: size))
        XCTAssertEqual(train.labels, [0, 0, 0, 1])
        // Sorted: 16bit, 1bit, 4bit.
        XCTAssertEqual(sample(train, 0), (0..<n).map { UInt8($0 * 3) })
        XCTAssertEqual(sample(train, 1), (0..<n).map { UInt8($0 % 2 * 255) })
        XCTAssertEqual(sample(train, 2), (0..<n).map { UInt8($0 % 16 * 17) })
        let decoded = try ImageDecoder.decode(path: jpegPath)
        XCTAssertEqual(decoded.channels, 1)
        // Quality 100: within 2 levels of what was written.
        let differences: [Int] = zip(decoded.pixels, jpegPixels).map { (a: UInt8, b: UInt8) -> Int in abs(Int(a) - Int(b)) }
        XCTAssertEqual(differences.count, 64)
        XCTAssertLessThanOrEqual(differences.max() ?? 99, 2)
        XCTAssertEqual(sample(train, 3), ImageResize.fit(decoded, height: h, width: w).pixels)
    }

    func testOneRGBImageMakesEveryImageRGBWithGrayReplicated() throws {
        let rgb = (0..<(4 * 5 * 3)).map { ($0 * 37 + 11) % 256 }
        try writeGray("train/a/0.png", grayPixels(id: 0))
        try write("train/a/1.png", ImageFiles.png(width: 5, height: 4, bitDepth: 8, colourType: .rgb, samples: rgb))
        try writeGray("train/b/0.png", grayPixels(id: 1))
        try writeGray("test/a/0.png", grayPixels(id: 2))
        try writeGray("test/b/0.png", grayPixels(id: 3))
        let (train, test) = try load()
        XCTAssertEqual(train.channels, 3)
        XCTAssertEqual(test.channels, 3, "the test set takes the training set's channels, though all its images are gray")
        let gray = { (id: Int) in self.grayPixels(id: id) + self.grayPixels(id: id) + self.grayPixels(id: id) }
        XCTAssertEqual(sample(train, 0), gray(0))
        XCTAssertEqual(sample(train, 1), ImageFiles.planar(rgb.map { UInt8($0) }, channels: 3))
        XCTAssertEqual(sample(train, 2), gray(1))
        XCTAssertEqual(pixels(test), gray(2) + gray(3))

        // And an RGB image only in the test tree makes the training set RGB too.
        try FileManager.default.removeItem(atPath: root + "/train/a/1.png")
        try write("test/b/1.png", ImageFiles.png(width: 5, height: 4, bitDepth: 8, colourType: .rgb, samples: rgb))
        let again = try load()
        XCTAssertEqual([again.train.channels, again.test.channels], [3, 3])
        XCTAssertEqual(sample(again.train, 0), gray(0))
    }

    // MARK: Sizes

    func testImageSizeFitsMixedSizesAndWithoutItTheMismatchIsNamed() throws {
        let shapes = [(12, 12), (20, 16), (9, 15), (6, 8)]
        var paths: [String] = []
        for (i, (h, w)) in shapes.enumerated() {
            let px = (0..<(h * w)).map { UInt8(($0 * 13 + i * 50) % 256) }
            paths.append(try writeGray("train/c\(i % 2)/\(i).png", px, height: h, width: w))
        }
        try writeGray("test/c0/t.png", grayPixels(id: 3, height: 30, width: 7), height: 30, width: 7)
        try writeGray("test/c1/t.png", grayPixels(id: 4), height: 4, width: 5)

        let (train, test) = try load(SourceOptions(imageSize: try ImageSize(height: 8, width: 6)))
        XCTAssertEqual([train.channels, train.height, train.width], [1, 8, 6])
        // Training order: class c0 (files 0, 2), then c1 (files 1, 3).
        let expected = [0, 2, 1, 3].flatMap { try! ImageResize.fit(ImageDecoder.decode(path: paths[$0]), height: 8, width: 6).pixels }
        XCTAssertEqual(pixels(train), expected)
        XCTAssertEqual(test.count, 2)
        XCTAssertEqual(sample(test, 0), try ImageResize.fit(ImageDecoder.decode(path: root + "/test/c0/t.png"), height: 8, width: 6).pixels)

        // Without --image-size: one line naming the first image and the first of another size.
        expectError([paths[0], "12x12", paths[2], "9x15", "--image-size"]) { _ = try load() }
    }

    // MARK: The --val-fraction split

    /// A one-tree set: class k has `counts[k]` files, file j of class k being gray image
    /// `id = 16 k + j` (all pixels that id), so a sample's first byte names its file.
    private func writeTree(_ counts: [Int]) throws -> [[String]] {
        try counts.enumerated().map { k, n in
            try (0..<n).map { j in
                try writeGray(String(format: "class%d/img%02d.png", k, j), [UInt8](repeating: UInt8(16 * k + j), count: 6), height: 2, width: 3)
            }
        }
    }

    /// Per class the ids of its samples in `d`, in sample order.
    private func ids(_ d: Dataset, classes: Int) -> [[Int]] {
        var out = [[Int]](repeating: [], count: classes)
        for i in 0..<d.count { out[Int(d.labels[i])].append(Int(d.images[i * d.imageSize])) }
        return out
    }

    func testValFractionSplitIsStratifiedCompleteAndSeeded() throws {
        let counts = [1, 2, 3, 7, 10]
        _ = try writeTree(counts)
        // Per class: round(n F), at least one when n >= 2, never all (worked out by hand).
        let expectedHeld: [Double: [Int]] = [0.3: [0, 1, 1, 2, 3], 0.9: [0, 1, 2, 6, 9], 0.05: [0, 1, 1, 1, 1]]
        for (fraction, held) in expectedHeld.sorted(by: { $0.key < $1.key }) {
            let (train, test) = try load(SourceOptions(valFraction: fraction, seed: 11))
            XCTAssertEqual(train.classNames, counts.indices.map { "class\($0)" })
            XCTAssertEqual(test.classNames, train.classNames)
            let trainIDs = ids(train, classes: counts.count), testIDs = ids(test, classes: counts.count)
            XCTAssertEqual(testIDs.map(\.count), held, "fraction \(fraction)")
            for (k, n) in counts.enumerated() {
                let all = (0..<n).map { 16 * k + $0 }
                // Every file exactly once, in one split; each split in file order.
                XCTAssertEqual((trainIDs[k] + testIDs[k]).sorted(), all, "class \(k), fraction \(fraction)")
                XCTAssertTrue(Set(trainIDs[k]).isDisjoint(with: testIDs[k]))
                XCTAssertEqual(trainIDs[k], trainIDs[k].sorted())
                XCTAssertEqual(testIDs[k], testIDs[k].sorted())
            }
            // Samples are grouped by class in both splits.
            XCTAssertEqual(train.labels, train.labels.sorted())
            XCTAssertEqual(test.labels, test.labels.sorted())
        }

        // The same seed draws the same split; another seed another one.
        let options = SourceOptions(valFraction: 0.3, seed: 5)
        let first = try load(options), second = try load(options)
        XCTAssertEqual(pixels(first.test), pixels(second.test))
        XCTAssertEqual(pixels(first.train), pixels(second.train))
        let other = try load(SourceOptions(valFraction: 0.3, seed: 6))
        XCTAssertNotEqual(ids(other.test, classes: counts.count), ids(first.test, classes: counts.count))
    }

    func testOneSplitWithChannelsGivenDecodesThatSplitAlone() throws {
        let rgb = (0..<(4 * 5 * 3)).map { ($0 * 37 + 11) % 256 }
        try write("train/a/0.png", ImageFiles.png(width: 5, height: 4, bitDepth: 8, colourType: .rgb, samples: rgb))
        let bad = try write("train/a/1.png", corruptPNG())
        try writeGray("train/b/0.png", grayPixels(id: 1))
        try writeGray("test/a/0.png", grayPixels(id: 2))
        try writeGray("test/b/0.png", grayPixels(id: 3))
        expectError([bad, "--skip-bad"]) { _ = try load() }
        // Evaluation's load: the test split alone, in the model's channels; the bad training
        // file is never opened.
        let test = try DatasetLoader.load(name: "folder", dataDir: root, split: .test, options: SourceOptions(channels: 3))
        let both = try load(SourceOptions(skipBad: true))
        XCTAssertEqual(test.channels, 3)
        XCTAssertEqual(pixels(test), pixels(both.test), "the test set both ways: gray replicated into RGB")
        XCTAssertEqual(test.labels, both.test.labels)
        XCTAssertEqual(test.classNames, ["a", "b"])
        let gray = try DatasetLoader.load(name: "folder", dataDir: root, split: .test, options: SourceOptions(channels: 1))
        XCTAssertEqual(pixels(gray), grayPixels(id: 2) + grayPixels(id: 3))
        // Without the channels both splits are decoded, as training decodes them.
        expectError([bad]) { _ = try DatasetLoader.load(name: "folder", dataDir: root, split: .test) }
    }

    func testOneSplitOfAValFractionTreeIsTheSplitTrainingDraws() throws {
        let counts = [3, 7, 10]
        _ = try writeTree(counts)
        let options = SourceOptions(valFraction: 0.3, seed: 5)
        let both = try load(options)
        var one = options
        one.channels = 1
        for (split, expected) in [(Split.train, both.train), (.test, both.test)] {
            let alone = try DatasetLoader.load(name: "folder", dataDir: root, split: split, options: one)
            XCTAssertEqual(ids(alone, classes: counts.count), ids(expected, classes: counts.count), "\(split)")
            XCTAssertEqual(pixels(alone), pixels(expected), "\(split)")
        }
    }

    func testSplitDependsOnTheSeedNotOnTheCreationOrder() throws {
        // The same files created in reverse order in another tree: the split is drawn over the
        // sorted paths, so neither the creation order nor the directory's listing order matters.
        let seedOptions = SourceOptions(valFraction: 0.3, seed: 21)
        _ = try writeTree([10, 10])
        let forward = ids(try load(seedOptions).test, classes: 2)
        let reversedRoot = root + "/reversed"
        for k in 0..<2 {
            for j in (0..<10).reversed() {
                try writeGray(String(format: "reversed/class%d/img%02d.png", k, j), [UInt8](repeating: UInt8(16 * k + j), count: 6),
                              height: 2, width: 3)
            }
        }
        let backward = ids(try load(seedOptions, at: reversedRoot).test, classes: 2)
        XCTAssertEqual(forward, backward)
        XCTAssertEqual(forward.map(\.count), [3, 3])
    }

    // MARK: What is ignored

    func testHiddenFilesAndFoldersAreIgnored() throws {
        try writeGray("train/cat/a.png", grayPixels(id: 1))
        try writeGray("train/dog/b.png", grayPixels(id: 2))
        try writeGray("test/cat/a.png", grayPixels(id: 3))
        try writeGray("test/dog/b.png", grayPixels(id: 4))
        // None of these is read: each would be an error (no image) or another class or sample.
        try write("train/cat/.DS_Store", Array("Bud1 finder junk".utf8))
        try write("train/cat/._a.png", [0x00, 0x05, 0x16, 0x07, 0x00, 0x02])       // AppleDouble
        try write("train/cat/.thumbs/a.png", corruptPNG())                          // hidden folder in a class
        try writeGray("train/cat/.hidden.png", grayPixels(id: 7))                   // even a good image
        try writeGray("train/.git/objects/x.png", grayPixels(id: 8))                // hidden class folder
        try writeGray("test/.ipynb_checkpoints/y.png", grayPixels(id: 9))
        try write("train/README.txt", Array("not a class".utf8))                   // a file beside the classes
        try write(".DS_Store", Array("junk".utf8))
        let (train, test) = try load()
        XCTAssertEqual(train.classNames, ["cat", "dog"])
        XCTAssertEqual(pixels(train), grayPixels(id: 1) + grayPixels(id: 2))
        XCTAssertEqual(pixels(test), grayPixels(id: 3) + grayPixels(id: 4))
        XCTAssertTrue(train.skipped.isEmpty)
    }

    // MARK: Refusals: one line, naming the path

    func testNoClassFolders() throws {
        try write("train/loose.png", ImageFiles.png(width: 1, height: 1, bitDepth: 8, colourType: .gray, samples: [1]))
        try writeGray("test/cat/a.png", grayPixels(id: 1))
        expectError([root + "/train", "no class folders"]) { _ = try load() }
        // One tree of loose files, split by --val-fraction: the tree itself is named.
        let flat = root + "/flat"
        try writeGray("flat/a.png", grayPixels(id: 1))
        try mkdir("flat/.hidden")
        expectError([flat, "no class folders"]) { _ = try load(SourceOptions(valFraction: 0.2), at: flat) }
    }

    func testEmptyClassFolder() throws {
        try writeGray("train/cat/a.png", grayPixels(id: 1))
        try mkdir("train/dog")
        try writeGray("test/cat/a.png", grayPixels(id: 1))
        try writeGray("test/dog/a.png", grayPixels(id: 1))
        expectError([root + "/train/dog", "empty class folder"]) { _ = try load() }
        // Hidden files only: as empty.
        try write("train/dog/.DS_Store", [1, 2, 3])
        expectError([root + "/train/dog", "empty class folder"]) { _ = try load() }
    }

    func testDifferentClassesInTrainAndTest() throws {
        for name in ["cat", "dog", "emu"] { try writeGray("train/\(name)/a.png", grayPixels(id: 1)) }
        for name in ["cat", "dog", "fox"] { try writeGray("test/\(name)/a.png", grayPixels(id: 1)) }
        expectError(["only in \(root)/train: emu", "only in \(root)/test: fox"]) { _ = try load() }
        // A class missing from one side only.
        try FileManager.default.removeItem(atPath: root + "/test/fox")
        expectError(["only in \(root)/train: emu"]) { _ = try load() }
    }

    func testValFractionWithTrainAndTestIsRefused() throws {
        try writeGray("train/cat/a.png", grayPixels(id: 1))
        try writeGray("test/cat/a.png", grayPixels(id: 1))
        expectError([root, "train/ and test/", "--val-fraction"]) { _ = try load(SourceOptions(valFraction: 0.2)) }
    }

    func testNeitherTrainAndTestNorValFractionIsRefused() throws {
        try writeGray("cat/a.png", grayPixels(id: 1))
        try writeGray("dog/a.png", grayPixels(id: 1))
        expectError([root, "--val-fraction"]) { _ = try load() }
        // With it, the same tree loads.
        XCTAssertEqual(try load(SourceOptions(valFraction: 0.5)).train.classNames, ["cat", "dog"])
    }

    func testMissingDirectoryIsNamed() throws {
        expectError([root + "/absent"]) { _ = try load(at: root + "/absent") }
    }

    func testCorruptPNGStopsUnlessSkipBadThenIsListedWithItsReason() throws {
        try writeGray("train/cat/a.png", grayPixels(id: 1))
        let bad = try write("train/cat/b.png", corruptPNG())
        try writeGray("train/cat/c.png", grayPixels(id: 3))
        try writeGray("train/dog/a.png", grayPixels(id: 4))
        try writeGray("test/cat/a.png", grayPixels(id: 5))
        try writeGray("test/dog/a.png", grayPixels(id: 6))
        expectError([bad, "CRC", "--skip-bad"]) { _ = try load() }

        let (train, test) = try load(SourceOptions(skipBad: true))
        XCTAssertEqual(pixels(train), grayPixels(id: 1) + grayPixels(id: 3) + grayPixels(id: 4))
        XCTAssertEqual(train.labels, [0, 0, 1])
        XCTAssertEqual(train.skipped.map(\.path), [bad])
        let reason = try XCTUnwrap(train.skipped.first?.reason)
        XCTAssertTrue(reason.contains("CRC"), reason)
        XCTAssertFalse(reason.contains(bad), "the reason repeats the path: \(reason)")
        XCTAssertFalse(reason.contains("\n"))
        XCTAssertTrue(test.skipped.isEmpty)
    }

    func testTextFileNamedPNGIsNoImage() throws {
        try writeGray("train/cat/a.png", grayPixels(id: 1))
        let text = try write("train/cat/notes.png", Array("shopping list: milk\n".utf8))
        try writeGray("test/cat/a.png", grayPixels(id: 2))
        expectError([text, "not a PNG or JPEG", "--skip-bad"]) { _ = try load() }
        let (train, _) = try load(SourceOptions(skipBad: true))
        XCTAssertEqual(pixels(train), grayPixels(id: 1))
        XCTAssertEqual(train.skipped.map(\.path), [text])
        XCTAssertFalse(train.skipped[0].reason.contains(text), train.skipped[0].reason)
        XCTAssertTrue(train.skipped[0].reason.hasPrefix("not a PNG or JPEG"), train.skipped[0].reason)
    }

    func testSeveralBadFilesAreCountedAndAClassLeftEmptyIsRefused() throws {
        let first = try write("train/cat/a.png", corruptPNG())
        try write("train/cat/b.png", Array("text".utf8))
        try writeGray("train/dog/a.png", grayPixels(id: 1))
        try writeGray("test/cat/a.png", grayPixels(id: 2))
        try writeGray("test/dog/a.png", grayPixels(id: 3))
        // The first in file order is named, the rest counted.
        expectError([first, "and 1 more bad file", "--skip-bad"]) { _ = try load() }
        // Skipping both leaves class cat without a training image.
        expectError(["cat", "no image left", "2 bad files"]) { _ = try load(SourceOptions(skipBad: true)) }
    }
}
