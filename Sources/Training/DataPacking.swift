import Data
import Formats
import Foundation
import Platform

/// `ddp pack`: any data set ddp reads (image folders, arrays, IDX, CIFAR-10) decoded once into
/// one packed file (`PackedData`) that `--dataset packed --data FILE` maps.
public enum DataPacking {
    public struct Summary: Sendable {
        public let path: String
        public let header: PackedDataHeader
        /// Samples per class, train and test, in class order.
        public let trainCounts: [Int]
        public let testCounts: [Int]
        /// Files left out under `--skip-bad`, with why.
        public let skipped: [SkippedFile]
        public let seconds: Double

        /// The summary table: per class its name and counts, then the totals and the file.
        public var text: String {
            let rows = header.classNames.indices.map { c in
                [String(c), header.classNames[c], String(trainCounts[c]), String(testCounts[c])]
            }
            let images = header.train.count + header.test.count
            var lines = ["packed \(header.train.count) training and \(header.test.count) test images of "
                + "\(header.channels)x\(header.height)x\(header.width) in \(header.classNames.count) classes into \(path) "
                + String(format: "(%.1f MB) in %.1f s, %.0f images/s", Double(header.fileSize) / 1e6, seconds,
                         Double(images) / max(seconds, 1e-9))]
            lines += TextTable([.right, .left, .right, .right]).lines([["label", "class", "train", "test"]] + rows)
            lines.append("normalization: mean " + header.normalizationMean.map { String(format: "%.4f", $0) }.joined(separator: ",")
                + ", std " + header.normalizationStd.map { String(format: "%.4f", $0) }.joined(separator: ",")
                + "; checksum " + header.checksum)
            if !skipped.isEmpty {
                lines.append("skipped \(skipped.count) file\(skipped.count == 1 ? "" : "s") (--skip-bad):")
                lines += skipped.map { "  \($0.path): \($0.reason)" }
            }
            return lines.joined(separator: "\n")
        }

        /// One JSON object.
        public var json: String {
            func numbers(_ values: [Int]) -> JSONLine.Value { .array(values.map { .number(Double($0)) }) }
            let skippedFiles: [JSONLine.Value] = skipped.map { .object([("path", .string($0.path)), ("reason", .string($0.reason))]) }
            let fields: [(String, JSONLine.Value)] = [
                ("path", .string(path)), ("train", .number(Double(header.train.count))),
                ("test", .number(Double(header.test.count))),
                ("shape", numbers([header.channels, header.height, header.width])),
                ("class_names", .array(header.classNames.map { .string($0) })),
                ("train_per_class", numbers(trainCounts)), ("test_per_class", numbers(testCounts)),
                ("bytes", .number(Double(header.fileSize))), ("checksum", .string(header.checksum)),
                ("seconds", .number(seconds)), ("skipped", .array(skippedFiles)),
            ]
            return JSONLine.object(fields)
        }
    }

    /// Reads data set `dataset` from `dataDir` with `options` (both splits), and writes them to
    /// `output` atomically. `progress` sees (images decoded, images found) while image files load.
    public static func pack(dataset: String, dataDir: String?, options: SourceOptions, output: String,
                            synthetic: SyntheticDataset.Options = SyntheticDataset.Options(),
                            progress: (@Sendable (Int, Int) -> Void)? = nil) throws -> Summary {
        let start = MonotonicClock.seconds()
        let (train, test) = try DatasetLoader.loadSplits(name: dataset, dataDir: dataDir, synthetic: synthetic,
                                                         options: options, progress: progress)
        let normalization = Normalization.of(train)
        let source = dataDir.map { URL(fileURLWithPath: $0).standardizedFileURL.path } ?? DatasetLoader.defaultDataDirectory(for: dataset) ?? dataset
        let header = PackedDataHeader(
            dataset: train.name, source: source, channels: train.channels, height: train.height, width: train.width,
            classNames: train.classNames, imageSize: options.imageSize?.description,
            normalizationMean: normalization.mean, normalizationStd: normalization.std)
        let written: PackedDataHeader
        do {
            written = try train.images.withUnsafeBufferPointer { trainImages in
                try test.images.withUnsafeBufferPointer { testImages in
                    try train.labels.withUnsafeBytes { trainLabels in
                        try test.labels.withUnsafeBytes { testLabels in
                            try PackedData.write(to: output, header: header, sections: PackedData.Sections(
                                trainImages: UnsafeRawBufferPointer(trainImages), trainLabels: trainLabels,
                                testImages: UnsafeRawBufferPointer(testImages), testLabels: testLabels))
                        }
                    }
                }
            }
        } catch let failure as PackedData.Failure {
            throw TrainError.output("cannot write the packed file: \(failure)")
        }
        func counts(_ d: Dataset) -> [Int] {
            var c = [Int](repeating: 0, count: d.classes)
            for label in d.labels { c[Int(label)] += 1 }
            return c
        }
        return Summary(path: output, header: written, trainCounts: counts(train), testCounts: counts(test),
                       skipped: train.skipped + test.skipped, seconds: MonotonicClock.seconds() - start)
    }
}
