import Tensor

/// A seeded, learnable image dataset for tests and smoke runs, any shape, no files.
///
/// Class k has a template: per channel, a 4x4 grid of random intensities stretched over the
/// image (blocky, so convolutions and pooling see structure). A sample of class k is its template
/// at contrast 0.5 around mid-grey plus independent triangular noise of +-0.25 per pixel:
/// separable by a small net within an epoch, yet not a lookup table. Templates come from `seed`
/// alone, so the train and test splits share them; the samples of each split come from their own
/// stream. Labels are balanced (`count / classes` per class, the remainder to the first classes)
/// and shuffled.
public enum SyntheticDataset {
    /// Shape and size of a synthetic dataset.
    public struct Options: Sendable, Equatable, Codable {
        public var trainCount: Int
        public var testCount: Int
        public var channels: Int
        public var height: Int
        public var width: Int
        public var classes: Int
        public var seed: UInt64

        /// Defaults: Fashion-MNIST's shape (1x28x28, 10 classes) at 4096 + 1024 samples.
        public init(trainCount: Int = 4096, testCount: Int = 1024, channels: Int = 1, height: Int = 28,
                    width: Int = 28, classes: Int = 10, seed: UInt64 = 0) {
            self.trainCount = trainCount
            self.testCount = testCount
            self.channels = channels
            self.height = height
            self.width = width
            self.classes = classes
            self.seed = seed
        }
    }

    /// The `split` of the synthetic dataset `options` describes.
    public static func make(_ options: Options, split: Split) throws -> Dataset {
        let o = options
        let count = split == .train ? o.trainCount : o.testCount
        guard count > 0, o.channels > 0, o.height > 0, o.width > 0, (2...256).contains(o.classes) else {
            throw DataError.invalidArgument(
                "synthetic dataset: \(count) samples of \(o.channels)x\(o.height)x\(o.width) in \(o.classes) classes "
                    + "(expected positive sizes and 2...256 classes)")
        }
        let (plane, overflow) = o.channels.multipliedReportingOverflow(by: o.height * o.width)
        guard !overflow, o.height <= 4096, o.width <= 4096, plane <= IDXReader.maximumDataBytes / count else {
            throw DataError.invalidArgument("synthetic dataset: \(count) x \(o.channels)x\(o.height)x\(o.width) bytes exceeds the \(IDXReader.maximumDataBytes)-byte limit")
        }
        let grid = 4
        var templateRNG = SeededRNG(seed: o.seed)
        let templates = (0..<(o.classes * o.channels * grid * grid)).map { _ in templateRNG.uniform() }

        var rng = SeededRNG(seed: mixSeed(o.seed, split == .train ? 1 : 2))
        let order = rng.permutation(count)
        let labels = order.map { UInt8($0 % o.classes) }
        let images = [UInt8](unsafeUninitializedCapacity: count * plane) { pixels, initialized in
            for i in 0..<count {
                let k = Int(labels[i])
                for c in 0..<o.channels {
                    let t = (k * o.channels + c) * grid * grid
                    for y in 0..<o.height {
                        let gy = y * grid / o.height
                        let row = ((i * o.channels + c) * o.height + y) * o.width
                        for x in 0..<o.width {
                            let gx = x * grid / o.width
                            let noise = 0.25 * (rng.uniform() + rng.uniform() - 1)
                            let v = 0.25 + 0.5 * templates[t + gy * grid + gx] + noise
                            pixels[row + x] = UInt8((min(max(v, 0), 1) * 255).rounded())
                        }
                    }
                }
            }
            initialized = count * plane
        }
        return Dataset(name: "synthetic", split: split, images: images, labels: labels,
                       channels: o.channels, height: o.height, width: o.width, classes: o.classes)
    }
}
