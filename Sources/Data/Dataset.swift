/// Which half of a dataset: the training set (shuffled, augmented, the source of the
/// normalization statistics) or the test set (evaluation).
public enum Split: String, Sendable, Codable, CaseIterable {
    case train
    case test
}

/// A labelled image dataset held as bytes, as the files store them: in memory, or mapped from a
/// packed file (`ImageBytes`).
///
/// Images stay UInt8 (a quarter of the memory of Float32) and are normalized on the fly, one
/// batch at a time, by `BatchAssembler`. The struct is immutable and its storage is shared on
/// copy, so every rank thread of a `--local-ranks` run can hold the same dataset for free.
public struct Dataset: Sendable {
    /// The loader's name for it ("fashion-mnist", "mnist", "cifar10", "synthetic", "folder", ...).
    public let name: String
    public let split: Split
    /// `count * channels * height * width` pixels, NCHW, 0...255.
    public let images: ImageBytes
    /// `count` labels, each in `0..<classes`.
    public let labels: [UInt8]
    public let count: Int
    public let channels: Int
    public let height: Int
    public let width: Int
    public let classes: Int
    /// The name of each class, `classes` of them: folder names, or the data set's own names.
    public let classNames: [String]
    /// Files left out under `--skip-bad` while this split was read.
    public var skipped: [SkippedFile] = []
    /// The statistics this split's file recorded for it (a packed file's header holds the
    /// training split's, counted by `Normalization.statistics(of:)` when it was packed), so a
    /// run need not count them again over the whole file; nil: count them (`Normalization.of`).
    /// A subset does not keep them.
    public var recordedNormalization: Normalization?

    /// Bytes of one image: `channels * height * width`.
    public var imageSize: Int { channels * height * width }

    /// Wraps arrays that have already been validated: the loaders check files and throw
    /// `DataError`s; here a mismatch is a programming error.
    public init(name: String, split: Split, images: [UInt8], labels: [UInt8],
                channels: Int, height: Int, width: Int, classes: Int, classNames: [String]? = nil) {
        self.init(name: name, split: split, images: ImageBytes(images), labels: labels, channels: channels,
                  height: height, width: width, classes: classes, classNames: classNames)
    }

    /// `classNames` default to the data set's known names (`ClassNames.known`), else the numbers.
    public init(name: String, split: Split, images: ImageBytes, labels: [UInt8],
                channels: Int, height: Int, width: Int, classes: Int, classNames: [String]? = nil) {
        precondition(channels > 0 && height > 0 && width > 0, "dataset image shape \(channels)x\(height)x\(width)")
        precondition(classes > 0 && classes <= 256, "dataset with \(classes) classes (UInt8 labels hold 1...256)")
        precondition(images.count == labels.count * channels * height * width,
                     "\(images.count) pixels for \(labels.count) images of \(channels)x\(height)x\(width)")
        precondition(labels.allSatisfy { Int($0) < classes }, "dataset label out of 0..<\(classes)")
        precondition(classNames.map { $0.count == classes } ?? true, "\(classNames?.count ?? 0) class names for \(classes) classes")
        self.name = name
        self.split = split
        self.images = images
        self.labels = labels
        self.count = labels.count
        self.channels = channels
        self.height = height
        self.width = width
        self.classes = classes
        self.classNames = classNames ?? ClassNames.known(dataset: name, classes: classes)
    }

    /// The samples `range` as a dataset of their own (e.g. the tiny subset `ddp sanity` overfits).
    public func subset(_ range: Range<Int>) -> Dataset {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "subset \(range) of \(count) samples")
        return Dataset(name: name, split: split,
                       images: images.slice((range.lowerBound * imageSize)..<(range.upperBound * imageSize)),
                       labels: Array(labels[range]),
                       channels: channels, height: height, width: width, classes: classes, classNames: classNames)
            .with(skipped: skipped)
    }

    /// Throws unless `other` has the same image shape and classes (a test set that can be
    /// evaluated by a model trained on this set).
    public func checkCompatible(with other: Dataset) throws {
        if (other.channels, other.height, other.width, other.classes) != (channels, height, width, classes) {
            throw DataError.invalidArgument(
                "\(other.name) \(other.split.rawValue) set has \(other.channels)x\(other.height)x\(other.width) images in \(other.classes) classes "
                    + "but the \(split.rawValue) set has \(channels)x\(height)x\(width) in \(classes) (expected the same)")
        }
        if other.classNames != classNames {
            throw DataError.invalidArgument(
                "\(other.name) \(other.split.rawValue) set has the classes \(other.classNames.joined(separator: ", ")) but the "
                    + "\(split.rawValue) set has \(classNames.joined(separator: ", ")) (expected the same names in the same order)")
        }
    }

    /// This data set, recording `skipped` as the files left out.
    public func with(skipped files: [SkippedFile]) -> Dataset {
        var copy = self
        copy.skipped = files
        return copy
    }
}
