/// The JSON header of a packed data file (`PackedData`): the samples' shape, the classes, where
/// each section lies, how the images were prepared, and the checksum.
public struct PackedDataHeader: Codable, Equatable, Sendable {
    /// Where one split's samples lie: `count` images of C x H x W bytes at `imagesOffset`,
    /// `count` label bytes at `labelsOffset`.
    public struct Split: Codable, Equatable, Sendable {
        public var count = 0
        public var imagesOffset = 0
        public var labelsOffset = 0

        enum CodingKeys: String, CodingKey {
            case count, imagesOffset = "images_offset", labelsOffset = "labels_offset"
        }
    }

    /// The data set it was packed from ("fashion-mnist", "folder", "npy", ...), which decides
    /// its augmentation recipe, and where from.
    public var dataset: String
    public var source: String
    public var channels: Int
    public var height: Int
    public var width: Int
    /// One name per class, in label order.
    public var classNames: [String]
    /// "HxW" when the images were resized and centre-cropped to it while packing.
    public var imageSize: String?
    /// The training split's per-channel statistics (pixel / 255), as training computes them.
    public var normalizationMean: [Double]
    public var normalizationStd: [Double]
    public var train = Split()
    public var test = Split()
    /// Where the first section starts, and the file's size.
    public var dataOffset = 0
    public var fileSize = 0
    /// "crc32:" and 8 hex digits.
    public var checksum = ""

    enum CodingKeys: String, CodingKey {
        case dataset, source, channels, height, width, classNames = "class_names", imageSize = "image_size"
        case normalizationMean = "normalization_mean", normalizationStd = "normalization_std"
        case train, test, dataOffset = "data_offset", fileSize = "file_size", checksum
    }

    public init(dataset: String, source: String, channels: Int, height: Int, width: Int, classNames: [String],
                imageSize: String?, normalizationMean: [Double], normalizationStd: [Double]) {
        self.dataset = dataset; self.source = source
        self.channels = channels; self.height = height; self.width = width
        self.classNames = classNames; self.imageSize = imageSize
        self.normalizationMean = normalizationMean; self.normalizationStd = normalizationStd
    }

    /// Bytes of one image.
    public var imageBytes: Int { channels * height * width }

    /// (offset, bytes) of the four sections, in file order.
    public var sections: [(Int, Int)] {
        [(train.imagesOffset, train.count * imageBytes), (train.labelsOffset, train.count),
         (test.imagesOffset, test.count * imageBytes), (test.labelsOffset, test.count)]
    }

    /// What does not add up, for a file of `fileSize` bytes; nil when all is well.
    func problem(fileSize actual: Int) -> String? {
        let limit = 1 << 24
        guard (1...4).contains(channels), (1...limit).contains(height), (1...limit).contains(width),
              channels * height <= limit, imageBytes <= limit else {
            return "damaged header: images of \(channels)x\(height)x\(width)"
        }
        guard (1...256).contains(classNames.count) else {
            return "damaged header: \(classNames.count) classes (expected 1 to 256)"
        }
        guard normalizationMean.count == channels, normalizationStd.count == channels else {
            return "damaged header: normalization for \(normalizationMean.count) channels, images have \(channels)"
        }
        guard train.count >= 1, test.count >= 0, train.count <= Int(Int32.max), test.count <= Int(Int32.max) else {
            return "damaged header: \(train.count) training and \(test.count) test samples"
        }
        guard fileSize == actual else {
            return "truncated or damaged: \(actual) bytes, the header says \(fileSize)"
        }
        for (offset, count) in sections where offset < dataOffset || offset % PackedData.alignment != 0
            || count > actual || offset > actual - count {
            return "damaged header: a section of \(count) bytes at \(offset) lies outside the file's data"
        }
        return nil
    }
}
