import AllReduce
import Data
import Foundation
import Layers
import PNGFiles
import Tensor
@testable import Training
import XCTest

/// "Train on your own images", end to end in process: a tree of class folders the test writes,
/// packed by `ddp pack`'s code, trained from both (the same run bit for bit), then the
/// checkpoint's predictions (`Prediction.run`) checked against a forward pass the test makes
/// itself, and the evaluation's confusion matrix against a count the test makes itself.
final class OwnDataTrainingTests: XCTestCase {
    /// Written in this order; labels follow the byte order of the names.
    static let writtenNames = ["cross", "circle", "triangle", "square"]
    static let classNames = ["circle", "cross", "square", "triangle"]
    static let perClass = 16, side = 12

    struct Image {
        let path: String
        let label: Int
        let pixels: [UInt8]
    }

    /// One tree `root/<class>/imgNN.png` (split by --val-fraction 0.25), its packed file, and a
    /// run trained from the folder with its checkpoint, made once for the class.
    struct Fixture {
        let root: String
        /// Every image in sorted path order (class by class, then by file name).
        let images: [Image]
        let config: TrainConfig
        let summary: TrainSummary
        let packPath: String
        let pack: DataPacking.Summary
        var tree: String { root + "/tree" }
        var checkpoint: String { config.checkpointDir! }
    }

    nonisolated(unsafe) private static var cached: Fixture?

    static func fixture() throws -> Fixture {
        if let cached { return cached }
        let root = TrainingFixture.temporaryDirectory("own-data")
        var images: [Image] = []
        var rng = SeededRNG(seed: 41)
        for name in writtenNames {
            let label = classNames.firstIndex(of: name)!
            try FileManager.default.createDirectory(atPath: "\(root)/tree/\(name)", withIntermediateDirectories: true)
            for j in 0..<perClass {
                // Noise, and a bright 5x5 patch in the label's quadrant (jittered by a pixel).
                var pixels = (0..<(side * side)).map { _ in UInt8(Int(rng.next() % 70)) }
                let top = (label / 2) * 6 + Int(rng.next() % 2), left = (label % 2) * 6 + Int(rng.next() % 2)
                for y in top..<(top + 5) { for x in left..<(left + 5) { pixels[y * side + x] = UInt8(190 + Int(rng.next() % 66)) } }
                let path = String(format: "%@/tree/%@/img%02d.png", root, name, j)
                try Foundation.Data(StoredPNG.gray(width: side, height: side, pixels: pixels)).write(to: URL(fileURLWithPath: path))
                images.append(Image(path: path, label: label, pixels: pixels))
            }
        }
        images.sort { ($0.label, $0.path) < ($1.label, $1.path) }

        var config = TrainingFixture.config(epochs: 10)
        config.dataset = "folder"
        config.dataDir = root + "/tree"
        config.valFraction = 0.25
        config.seed = 7
        config.checkpointDir = root + "/run-folder"
        let packPath = root + "/own.pack"
        let pack = try DataPacking.pack(dataset: "folder", dataDir: config.dataDir, options: config.sourceOptions, output: packPath)
        let summary = try TrainingFixture.train(config, ranks: 2)
        let made = Fixture(root: root, images: images, config: config, summary: summary, packPath: packPath, pack: pack)
        cached = made
        return made
    }

    override class func tearDown() {
        if let root = cached?.root { try? FileManager.default.removeItem(atPath: root) }
        cached = nil
        super.tearDown()
    }

    /// The logits of `model` on `pixels` (samples of the model's shape, concatenated), each byte
    /// normalized here as `Normalization` documents it: (x / 255 - mean) / std, rounded to Float.
    private func logits(_ model: Model, _ normalization: Normalization, _ pixels: [UInt8], count: Int) -> [[Double]] {
        let input = Tensor(shape: [count, 1, Self.side, Self.side])
        for (i, p) in pixels.enumerated() {
            input.data[i] = Float((Double(p) / 255 - normalization.mean[0]) / normalization.std[0])
        }
        let out = model.forward(input, training: false)
        let k = model.classes
        return (0..<count).map { i in (0..<k).map { Double(out.data[i * k + $0]) } }
    }

    private func argmax(_ z: [Double]) -> Int { z.indices.max { z[$0] < z[$1] || (z[$0] == z[$1] && $0 > $1) }! }

    // MARK: (a) packing

    func testTrainingFromThePackedFileEqualsTrainingFromTheFolder() throws {
        let f = try Self.fixture()
        XCTAssertEqual(f.pack.header.classNames, Self.classNames)
        // 16 per class, a quarter held out.
        XCTAssertEqual(f.pack.trainCounts, [12, 12, 12, 12])
        XCTAssertEqual(f.pack.testCounts, [4, 4, 4, 4])
        XCTAssertTrue(f.pack.skipped.isEmpty)
        XCTAssertEqual([f.pack.header.channels, f.pack.header.height, f.pack.header.width], [1, 12, 12])

        var packed = f.config
        packed.dataset = "packed"
        packed.dataDir = f.packPath
        packed.valFraction = 0
        packed.checkpointDir = f.root + "/run-packed"
        // The tree is moved away while the packed run trains: it reads the file alone.
        try FileManager.default.moveItem(atPath: f.tree, toPath: f.tree + ".away")
        let fromPack: TrainSummary
        do {
            defer { try? FileManager.default.moveItem(atPath: f.tree + ".away", toPath: f.tree) }
            fromPack = try TrainingFixture.train(packed, ranks: 2)
        }
        XCTAssertEqual(f.summary.globalStep, 30, "48 images, a global batch of 16, 10 epochs")
        XCTAssertEqual(fromPack.parameters, f.summary.parameters)
        XCTAssertEqual(fromPack.runningStats, f.summary.runningStats)
        XCTAssertEqual(fromPack.losses, f.summary.losses)
        XCTAssertEqual(fromPack.epochs.map(\.testLoss), f.summary.epochs.map(\.testLoss))
        XCTAssertEqual(fromPack.epochs.map(\.testAcc), f.summary.epochs.map(\.testAcc))
        // Both checkpoints name the classes.
        XCTAssertEqual(try Checkpoint.modelInfo(checkpoint: XCTUnwrap(fromPack.lastCheckpoint)).classNames, Self.classNames)
    }

    // MARK: (b) prediction

    func testPredictionsAgreeWithTheModelRunByHand() throws {
        let f = try Self.fixture()
        let (model, info) = try Checkpoint.loadModel(checkpoint: f.checkpoint)
        XCTAssertEqual(info.classNames, Self.classNames)
        XCTAssertEqual(info.inputShape, [1, 12, 12])
        let normalization = try XCTUnwrap(info.normalization)
        // The checkpoint's normalization is the training split's statistics.
        let train = try DatasetLoader.loadSplits(name: "folder", dataDir: f.tree, options: f.config.sourceOptions).train
        XCTAssertEqual(normalization, Normalization.statistics(of: train))

        var items: [Prediction.Item] = []
        let skipped = try Prediction.run(checkpoint: f.checkpoint, inputs: [f.tree], topK: 4, skipBad: false) { items.append($0) }
        XCTAssertTrue(skipped.isEmpty)
        // A folder's images in sorted path order.
        XCTAssertEqual(items.map(\.input), f.images.map(\.path))
        let z = logits(model, normalization, f.images.flatMap(\.pixels), count: f.images.count)
        var right = 0
        for (i, item) in items.enumerated() {
            XCTAssertNil(item.label, "an image file carries no label")
            XCTAssertEqual(item.top.count, 4)
            XCTAssertEqual(item.top.map { $0.probability }.reduce(0, +), 1, accuracy: 1e-9)
            XCTAssertEqual(item.top.map { $0.probability }, item.top.map { $0.probability }.sorted(by: >), item.input)
            XCTAssertEqual(Set(item.top.map { $0.label }), [0, 1, 2, 3])
            XCTAssertEqual(item.top.map { $0.name }, item.top.map { Self.classNames[$0.label] })
            XCTAssertEqual(item.top[0].label, argmax(z[i]), item.input)
            // softmax of the logits computed here.
            let top = z[i].max()!, e = z[i].map { Foundation.exp($0 - top) }, sum = e.reduce(0, +)
            for entry in item.top { XCTAssertEqual(entry.probability, e[entry.label] / sum, accuracy: 1e-6) }
            if item.top[0].label == f.images[i].label { right += 1 }
        }
        // The patches are easy: far above chance (16 of 64) after 30 steps.
        XCTAssertGreaterThan(right, 32, "the model learned little; predictions compared above are still checked")

        // --top 2: the first two of the full list.
        var two: [Prediction.Item] = []
        _ = try Prediction.run(checkpoint: f.checkpoint, inputs: [f.images[5].path, f.images[40].path], topK: 2, skipBad: false) {
            two.append($0)
        }
        XCTAssertEqual(two.map(\.input), [f.images[5].path, f.images[40].path])
        XCTAssertEqual(two.map { $0.top.map { $0.label } }, [Array(items[5].top.prefix(2).map { $0.label }), Array(items[40].top.prefix(2).map { $0.label })])
    }

    func testAPackedFileInputCarriesItsTrueLabels() throws {
        let f = try Self.fixture()
        let (model, info) = try Checkpoint.loadModel(checkpoint: f.checkpoint)
        let (train, test, _) = try PackedDataset.load(path: f.packPath)
        var items: [Prediction.Item] = []
        _ = try Prediction.run(checkpoint: f.checkpoint, inputs: [f.packPath], topK: 1, skipBad: false) { items.append($0) }
        XCTAssertEqual(items.count, 64)
        XCTAssertEqual(items.map(\.input), (0..<48).map { "\(f.packPath):train[\($0)]" } + (0..<16).map { "\(f.packPath):test[\($0)]" })
        XCTAssertEqual(items.map { $0.label }, (train.labels + test.labels).map { Int($0) })
        let z = logits(model, try XCTUnwrap(info.normalization), Array(train.images) + Array(test.images), count: 64)
        XCTAssertEqual(items.map { $0.top[0].label }, z.map(argmax))
        XCTAssertTrue(items.allSatisfy { $0.top.count == 1 })
    }

    func testACorruptImageThrowsAndUnderSkipBadIsReported() throws {
        let f = try Self.fixture()
        let dir = f.root + "/predict-bad"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let good = dir + "/a-good.png", bad = dir + "/b-bad.png"
        try FileManager.default.copyItem(atPath: f.images[0].path, toPath: good)
        var png = StoredPNG.gray(width: 12, height: 12, pixels: f.images[1].pixels)
        png[png.count - 12 - 1] ^= 0x01 // the IDAT chunk's CRC
        try Foundation.Data(png).write(to: URL(fileURLWithPath: bad))

        var seen = 0
        XCTAssertThrowsError(try Prediction.run(checkpoint: f.checkpoint, inputs: [good, bad], topK: 1, skipBad: false) { _ in seen += 1 }) {
            XCTAssertTrue("\($0)".contains(bad), "\($0)")
            XCTAssertFalse("\($0)".contains("\n"), "\($0)")
        }
        for inputs in [[good, bad], [dir]] {
            var items: [Prediction.Item] = []
            let skipped = try Prediction.run(checkpoint: f.checkpoint, inputs: inputs, topK: 1, skipBad: true) { items.append($0) }
            XCTAssertEqual(items.map(\.input), [good], "\(inputs)")
            XCTAssertEqual(skipped.map(\.path), [bad], "\(inputs)")
            XCTAssertTrue(skipped.first?.reason.contains("CRC") ?? false, "\(skipped)")
        }
    }

    // MARK: (c) evaluation

    func testConfusionMatrixCountsEverySampleOnceWhereItWasPredicted() throws {
        let f = try Self.fixture()
        let (model, info) = try Checkpoint.loadModel(checkpoint: f.checkpoint)
        let data = try TrainingData(config: f.config)
        XCTAssertEqual(data.test.count, 16)
        // Partial batches (5, 5, 5, 1), on one rank and on two.
        var results: [Evaluation.Result] = []
        for ranks in [1, 2] {
            let lock = NSLock()
            var result: Evaluation.Result?
            try InProcessWorld.run(size: ranks, timeoutSeconds: 60) { comm in
                let r = try Evaluation.evaluate(model: try Checkpoint.loadModel(checkpoint: f.checkpoint).0, batches: data.testBatches,
                                                comm: comm, batchSize: 5)
                if comm.rank == 0 { lock.lock(); result = r; lock.unlock() }
            }
            results.append(try XCTUnwrap(result))
        }
        let r = results[0]
        XCTAssertEqual(results[1].confusion, r.confusion)

        // The matrix counted here from the model's logits.
        let z = logits(model, try XCTUnwrap(info.normalization), Array(data.test.images), count: data.test.count)
        var expected = [Int](repeating: 0, count: 16)
        for i in 0..<data.test.count { expected[Int(data.test.labels[i]) * 4 + argmax(z[i])] += 1 }
        XCTAssertEqual(r.confusion, expected)

        let trace = (0..<4).map { r.confusion[$0 * 4 + $0] }.reduce(0, +)
        XCTAssertEqual(Double(trace), r.accuracy * Double(r.samples), accuracy: 1e-9)
        XCTAssertEqual(r.classes, 4)
        XCTAssertEqual(r.samples, 16)
        XCTAssertEqual(r.confusion.reduce(0, +), 16)
        var perClass = [Int](repeating: 0, count: 4)
        for label in data.test.labels { perClass[Int(label)] += 1 }
        XCTAssertEqual(perClass, [4, 4, 4, 4])
        for t in 0..<4 {
            XCTAssertEqual(r.confusion[(t * 4)..<(t * 4 + 4)].reduce(0, +), perClass[t], "row \(t)")
            XCTAssertEqual(r.perClass[t].samples, perClass[t])
            XCTAssertEqual(r.perClass[t].accuracy, Double(r.confusion[t * 4 + t]) / Double(perClass[t]))
        }
        // The last epoch's accuracy in training is this one (the averaged running statistics).
        XCTAssertEqual(f.summary.epochs.last?.testAcc, r.accuracy)

        // The model is right on nearly every sample of this easy set, so the same images are
        // also evaluated with every other label moved to the next class: rows then mix
        // predictions, and the matrix is not symmetric (a transposed count would show).
        let shifted = (0..<data.test.count).map { UInt8((Int(data.test.labels[$0]) + $0 % 2) % 4) }
        let relabelled = Dataset(name: "folder", split: .test, images: Array(data.test.images), labels: shifted, channels: 1,
                                 height: 12, width: 12, classes: 4, classNames: Self.classNames)
        var mixed: Evaluation.Result?
        try InProcessWorld.run(size: 1) { comm in
            mixed = try Evaluation.evaluate(model: model, batches: try BatchAssembler(dataset: relabelled, normalization: data.normalization),
                                            comm: comm, batchSize: 3)
        }
        let m = try XCTUnwrap(mixed)
        var expectedMixed = [Int](repeating: 0, count: 16)
        for i in 0..<data.test.count { expectedMixed[Int(shifted[i]) * 4 + argmax(z[i])] += 1 }
        XCTAssertEqual(m.confusion, expectedMixed)
        XCTAssertGreaterThan(expectedMixed.enumerated().filter { $0.offset % 5 != 0 && $0.element > 0 }.count, 2, "few mistakes")
        XCTAssertNotEqual(expectedMixed, (0..<16).map { expectedMixed[($0 % 4) * 4 + $0 / 4] }, "a symmetric matrix")
        let mixedTrace = (0..<4).map { m.confusion[$0 * 4 + $0] }.reduce(0, +)
        XCTAssertEqual(Double(mixedTrace), m.accuracy * 16, accuracy: 1e-9)
        for t in 0..<4 {
            XCTAssertEqual(m.confusion[(t * 4)..<(t * 4 + 4)].reduce(0, +), shifted.filter { $0 == t }.count, "row \(t)")
        }
        XCTAssertEqual(m.confusion.reduce(0, +), 16)

        // `ddp eval`'s path: the run's data set and split found from the checkpoint alone.
        var report: Evaluation.Report?
        try InProcessWorld.run(size: 1) { comm in
            report = try Evaluation.run(checkpoint: f.checkpoint, dataset: nil, dataDir: nil, batchSize: 7, comm: comm)
        }
        XCTAssertEqual(report?.result.confusion, r.confusion)
        XCTAssertEqual(report?.classNames, Self.classNames)
        XCTAssertEqual(report?.dataset, "folder")
        XCTAssertNil(report?.datasetWarning)
    }
}
