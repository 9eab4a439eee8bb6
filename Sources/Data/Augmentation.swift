/// Random training-time augmentation, off by default: a random crop of the image padded by
/// `cropPadding` pixels of zeros on every side (torchvision's `RandomCrop(size, padding:)`), then a
/// horizontal flip with probability 1/2 (`RandomHorizontalFlip`).
///
/// Padding is a black pixel (byte 0) before normalization, as torchvision pads the raw image.
/// The random draws per sample, in batch order, are exactly: when `cropPadding > 0`,
/// `dy = rng.below(2p+1)` then `dx = rng.below(2p+1)` (the crop's top-left corner in the padded
/// image); when `horizontalFlip`, `flip = rng.below(2) == 1`. The generator is the caller's, so a
/// checkpointed generator state resumes the same crops and flips.
public struct Augmentation: Sendable, Equatable, Codable {
    /// Zero padding on each side before the random crop; 0 turns cropping off.
    public var cropPadding: Int
    /// Mirror left-right with probability 1/2.
    public var horizontalFlip: Bool

    public init(cropPadding: Int = 0, horizontalFlip: Bool = false) {
        self.cropPadding = cropPadding
        self.horizontalFlip = horizontalFlip
    }

    /// No augmentation (the default).
    public static let none = Augmentation()

    public var isEnabled: Bool { cropPadding > 0 || horizontalFlip }

    /// The usual recipe for a dataset: CIFAR-10 pad 4 + flip; Fashion-MNIST pad 2 + flip (clothes
    /// are mirror-symmetric enough); MNIST pad 2 without flip (a mirrored digit is another glyph);
    /// the user's own images (folders, arrays) pad an eighth of the shorter side (at least 2:
    /// CIFAR-10's ratio) + flip, the recipe for photographs; synthetic none.
    public static func standard(forDataset name: String, height: Int, width: Int) -> Augmentation {
        switch name {
        case "cifar10": return Augmentation(cropPadding: 4, horizontalFlip: true)
        case "fashion-mnist": return Augmentation(cropPadding: 2, horizontalFlip: true)
        case "mnist": return Augmentation(cropPadding: 2, horizontalFlip: false)
        case "folder", "npy": return Augmentation(cropPadding: max(2, min(height, width) / 8), horizontalFlip: true)
        default: return .none
        }
    }
}
