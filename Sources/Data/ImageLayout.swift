/// The axis order of a 4-D array of images: channels before the rows (`nchw`, PyTorch's order
/// and ddp's) or after the columns (`nhwc`, Keras' and most image libraries'), or `auto` to read
/// it from the shape.
public enum ImageLayout: String, Codable, Sendable, CaseIterable {
    case nchw
    case nhwc
    case auto

    /// The layout of `shape` (4-D): the given one, or for `auto` the one the shape shows. A
    /// dimension of 1 or 3 (gray or RGB) at position 1 and not at 3 means NCHW; at 3 and not at 1,
    /// NHWC. A shape with such a dimension at both places, as (N, 3, 5, 3), or at neither, is
    /// refused: guessing would silently scramble the images.
    func resolved(for shape: [Int], path: String) throws -> ImageLayout {
        if self != .auto { return self }
        let first = [1, 3].contains(shape[1]), last = [1, 3].contains(shape[3])
        switch (first, last) {
        case (true, false): return .nchw
        case (false, true): return .nhwc
        case (true, true):
            throw DataError.badArray(
                path: path, detail: "images of shape \(NumpyHeader.describe(shape)) could be NCHW or NHWC (give the layout: --layout nchw or --layout nhwc)")
        case (false, false):
            throw DataError.badArray(
                path: path, detail: "images of shape \(NumpyHeader.describe(shape)) have no channel dimension of 1 or 3, neither at position 1 (NCHW) nor at 3 (NHWC)")
        }
    }
}
