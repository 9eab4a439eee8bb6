import Foundation

/// What `ddp predict` reads: image files, folders of them, `.npy` arrays of images and packed
/// files, each turned into samples of the model's shape (channels converted, images fitted).
public enum PredictionInputs {
    /// One input of the model's shape, as bytes.
    public struct Sample: Sendable {
        public let name: String
        public let label: Int?
        public let pixels: [UInt8]
    }

    /// The samples of `input`: a folder's images in sorted path order, an array's or a packed
    /// file's samples in order (a packed file's training samples first), or one image. A file
    /// that is no image or cannot be decoded stops it, or under `skipBad` is added to `skipped`.
    public static func samples(of input: String, shape: (channels: Int, height: Int, width: Int), skipBad: Bool,
                               skipped: inout [SkippedFile]) throws -> [Sample] {
        func fitted(_ image: DecodedImage) -> [UInt8] {
            ImageResize.fit(image.converted(toChannels: shape.channels), height: shape.height, width: shape.width).pixels
        }
        if FolderDataset.isDirectory(input) {
            var found: [Sample] = []
            for path in FolderDataset.imageFiles(below: input) {
                found += try samples(of: path, shape: shape, skipBad: skipBad, skipped: &skipped)
            }
            return found
        }
        if input.lowercased().hasSuffix(".npy") {
            return try NumpyDataset.images(path: input).enumerated().map { i, image in
                Sample(name: "\(input)[\(i)]", label: nil, pixels: fitted(image))
            }
        }
        if PackedDataset.isPacked(input) {
            let packed = try PackedDataset.load(path: input)
            guard (packed.header.channels, packed.header.height, packed.header.width) == shape else {
                throw DataError.invalidArgument("\(input) holds \(packed.header.channels)x\(packed.header.height)x\(packed.header.width) "
                    + "images, the model takes \(shape.channels)x\(shape.height)x\(shape.width) (pack it with --image-size)")
            }
            return [packed.train, packed.test].flatMap { set in
                let size = set.imageSize
                return (0..<set.count).map { i in
                    Sample(name: "\(input):\(set.split.rawValue)[\(i)]", label: Int(set.labels[i]),
                           pixels: Array(set.images.slice((i * size)..<((i + 1) * size))))
                }
            }
        }
        do {
            return [Sample(name: input, label: nil, pixels: fitted(try ImageDecoder.decode(path: input)))]
        } catch let error as DataError where skipBad {
            skipped.append(SkippedFile(path: input, error: error))
            return []
        }
    }
}
