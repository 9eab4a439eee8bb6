/// How a data set of the user's own files is read (`--image-size`, `--val-fraction`,
/// `--skip-bad`, `--layout`); the data sets ddp knows ignore them.
public struct SourceOptions: Codable, Sendable, Equatable {
    /// Image folders: every image resized to cover this size and centre-cropped to it
    /// (`ImageResize.fit`), so images of mixed sizes make one data set. Nil: all images must
    /// have the same size.
    public var imageSize: ImageSize?
    /// Image folders without `train/` and `test/`: this fraction of every class's images,
    /// chosen by `seed`, is the test set (stratified).
    public var valFraction = 0.0
    public var seed: UInt64 = 0
    /// Skip files that are no image or cannot be decoded, reporting them, instead of stopping
    /// at the first.
    public var skipBad = false
    /// NumPy arrays: the axis order of 4-D images (`--layout`).
    public var layout = ImageLayout.auto
    /// Image folders: every image converted to this many channels (1 or 3), as evaluation asks
    /// for its model's input; loading one split then decodes that split alone. Nil: 3 when any
    /// image of either split is in colour, else 1 (so both splits are decoded).
    public var channels: Int?

    public init(imageSize: ImageSize? = nil, valFraction: Double = 0, seed: UInt64 = 0, skipBad: Bool = false,
                layout: ImageLayout = .auto, channels: Int? = nil) {
        self.imageSize = imageSize
        self.valFraction = valFraction
        self.seed = seed
        self.skipBad = skipBad
        self.layout = layout
        self.channels = channels
    }
}

/// Height x width of an image, written "HxW" (`--image-size 64x64`).
public struct ImageSize: Codable, Sendable, Equatable, CustomStringConvertible {
    public let height: Int
    public let width: Int

    /// The largest side accepted; `ModelLimits` bounds what a model can take.
    public static let maximumSide = 4096

    public init(height: Int, width: Int) throws {
        guard (1...Self.maximumSide).contains(height), (1...Self.maximumSide).contains(width) else {
            throw DataError.invalidArgument("--image-size \(height)x\(width): each side must be 1 to \(Self.maximumSide)")
        }
        self.height = height
        self.width = width
    }

    /// Parses "HxW" (or one number N for NxN).
    public init(parsing text: String) throws {
        let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
        guard (1...2).contains(parts.count), let h = parts[0], let w = parts.last ?? nil else {
            throw DataError.invalidArgument("--image-size '\(text)': expected HxW, e.g. 64x64")
        }
        try self.init(height: h, width: w)
    }

    public var description: String { "\(height)x\(width)" }

    public init(from decoder: any Decoder) throws {
        try self.init(parsing: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
