/// Which half of a dataset: the training set (shuffled, augmented, the source of the
/// normalization statistics) or the test set (evaluation).
public enum Split: String, Sendable, Codable, CaseIterable {
    case train
    case test
}

/// A labelled image dataset held in memory as bytes, as the files store it.
///
/// Images stay UInt8 (a quarter of the memory of Float32) and are normalized on the fly, one
/// batch at a time, by `BatchAssembler`. The struct is immutable and its arrays are shared on
/// copy, so every rank thread of a `--local-ranks` run can hold the same dataset for free.
public struct Dataset: Sendable {
    /// The loader's name for it ("fashion-mnist", "mnist", "cifar10", "synthetic").
    public let name: String
    public let split: Split
    /// `count * channels * height * width` pixels, NCHW, 0...255.
    public let images: [UInt8]
    /// `count` labels, each in `0..<classes`.
    public let labels: [UInt8]
    public let count: Int
    public let channels: Int
    public let height: Int
    public let width: Int
    public let classes: Int

    /// Bytes of one image: `channels * height * width`.
    public var imageSize: Int { channels * height * width }

    /// Wraps arrays that have already been validated: the loaders check files and throw
    /// `DataError`s; here a mismatch is a programming error.
    public init(name: String, split: Split, images: [UInt8], labels: [UInt8],
                channels: Int, height: Int, width: Int, classes: Int) {
        precondition(channels > 0 && height > 0 && width > 0, "dataset image shape \(channels)x\(height)x\(width)")
        precondition(classes > 0 && classes <= 256, "dataset with \(classes) classes (UInt8 labels hold 1...256)")
        precondition(images.count == labels.count * channels * height * width,
                     "\(images.count) pixels for \(labels.count) images of \(channels)x\(height)x\(width)")
        precondition(labels.allSatisfy { Int($0) < classes }, "dataset label out of 0..<\(classes)")
        self.name = name
        self.split = split
        self.images = images
        self.labels = labels
        self.count = labels.count
        self.channels = channels
        self.height = height
        self.width = width
        self.classes = classes
    }

    /// The samples `range` as a dataset of their own (e.g. the tiny subset `ddp sanity` overfits).
    public func subset(_ range: Range<Int>) -> Dataset {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "subset \(range) of \(count) samples")
        return Dataset(name: name, split: split,
                       images: Array(images[(range.lowerBound * imageSize)..<(range.upperBound * imageSize)]),
                       labels: Array(labels[range]),
                       channels: channels, height: height, width: width, classes: classes)
    }

    /// Throws unless `other` has the same image shape and classes (a test set that can be
    /// evaluated by a model trained on this set).
    public func checkCompatible(with other: Dataset) throws {
        if (other.channels, other.height, other.width, other.classes) != (channels, height, width, classes) {
            throw DataError.invalidArgument(
                "\(other.name) \(other.split.rawValue) set has \(other.channels)x\(other.height)x\(other.width) images in \(other.classes) classes "
                    + "but the \(split.rawValue) set has \(channels)x\(height)x\(width) in \(classes) (expected the same)")
        }
    }
}
