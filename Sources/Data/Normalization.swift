/// Per-channel input normalization: a pixel byte x of channel c becomes
/// `(x / 255 - mean[c]) / std[c]`, as torchvision's `ToTensor` + `Normalize(mean, std)`.
///
/// The statistics come from the training set only (so test data never leaks into training) and
/// travel with the model: they are Codable (`{"mean":[...],"std":[...]}`) for the checkpoint's
/// metadata, and decoding validates them like `init(mean:std:)`.
public struct Normalization: Sendable, Equatable, Codable {
    /// Per-channel mean, in units of pixel / 255.
    public let mean: [Double]
    /// Per-channel standard deviation, in the same units; positive.
    public let std: [Double]

    public var channels: Int { mean.count }

    /// Throws `DataError.invalidArgument` unless there is at least one channel, `mean` and `std`
    /// have the same length, every value is finite and every std is positive.
    public init(mean: [Double], std: [Double]) throws {
        guard !mean.isEmpty, mean.count == std.count,
              mean.allSatisfy(\.isFinite), std.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw DataError.invalidArgument(
                "normalization mean \(mean) / std \(std): expected equal, non-empty lists of finite values and positive stds")
        }
        self.mean = mean
        self.std = std
    }

    private enum CodingKeys: String, CodingKey { case mean, std }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(mean: container.decode([Double].self, forKey: .mean),
                      std: container.decode([Double].self, forKey: .std))
    }

    /// Mean 0 and std 1 on every channel: pixels scaled to [0, 1] only.
    public static func identity(channels: Int) -> Normalization {
        try! Normalization(mean: Array(repeating: 0, count: max(channels, 1)), std: Array(repeating: 1, count: max(channels, 1)))
    }

    /// The mean and standard deviation of every channel of `dataset` (use the training set).
    ///
    /// Exact: each channel's 256-bin histogram of byte values is counted in integers, then the
    /// moments are taken from it in Double. The std is the unbiased one (divisor n - 1), as
    /// `torch.Tensor.std()` computes; a constant channel gets std 1 so it is only centred.
    public static func statistics(of dataset: Dataset) -> Normalization {
        let plane = dataset.height * dataset.width
        var histogram = [Int](repeating: 0, count: dataset.channels * 256)
        dataset.images.withUnsafeBufferPointer { pixels in
            histogram.withUnsafeMutableBufferPointer { h in
                for i in 0..<dataset.count {
                    for c in 0..<dataset.channels {
                        let bins = h.baseAddress! + c &* 256
                        let start = (i &* dataset.channels &+ c) &* plane
                        for p in start..<(start &+ plane) { bins[Int(pixels[p])] &+= 1 }
                    }
                }
            }
        }
        var means: [Double] = []
        var stds: [Double] = []
        for c in 0..<dataset.channels {
            let bins = histogram[(c * 256)..<((c + 1) * 256)]
            let n = Double(dataset.count * plane)
            var sum = 0.0
            for (v, k) in zip(0..., bins) { sum += Double(k) * Double(v) / 255 }
            let mean = sum / n
            var squares = 0.0
            for (v, k) in zip(0..., bins) {
                let d = Double(v) / 255 - mean
                squares += Double(k) * d * d
            }
            let variance = n > 1 ? squares / (n - 1) : 0
            means.append(mean)
            stds.append(variance > 0 ? variance.squareRoot() : 1)
        }
        return try! Normalization(mean: means, std: stds)
    }

    /// The statistics `dataset` recorded (`Dataset.recordedNormalization`), else counted now.
    public static func of(_ dataset: Dataset) -> Normalization {
        dataset.recordedNormalization ?? statistics(of: dataset)
    }

    /// The normalized value of byte `pixel` in `channel`, rounded once from Double to Float.
    public func normalize(_ pixel: UInt8, channel: Int) -> Float {
        Float((Double(pixel) / 255 - mean[channel]) / std[channel])
    }
}
