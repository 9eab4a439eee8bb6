import Tensor

/// The shape of one sample as it flows between layers, and how a batch of such samples is laid
/// out in memory.
///
/// Feature maps are stored **channel-major**, `[C, N, H, W]`: a convolution's single GEMM over
/// the whole batch produces exactly that layout (one row per output channel, the batch's pixels
/// side by side), so no transpose is needed after it; BatchNorm then finds each channel as one
/// contiguous run. Flat features are stored sample-major, `[N, F]`, as Linear's GEMM wants.
/// `Flatten` and `GlobalAvgPool` turn maps into flat features in PyTorch's (c, h, w) order, and
/// the model converts its NCHW input once at the entry.
public enum FeatureShape: Equatable, Sendable, CustomStringConvertible {
    /// C x H x W feature maps, stored `[C, N, H, W]`.
    case map(channels: Int, height: Int, width: Int)
    /// F features per sample, stored `[N, F]`.
    case flat(Int)

    /// Elements of one sample.
    public var elementsPerSample: Int {
        switch self {
        case let .map(c, h, w): return c * h * w
        case let .flat(f): return f
        }
    }

    /// The per-sample shape as PyTorch prints it (without the batch): [C, H, W] or [F].
    public var perSample: [Int] {
        switch self {
        case let .map(c, h, w): return [c, h, w]
        case let .flat(f): return [f]
        }
    }

    /// The tensor shape of a batch in memory: [C, N, H, W] for maps, [N, F] for flat features.
    public func tensorShape(batch: Int) -> [Int] {
        switch self {
        case let .map(c, h, w): return [c, batch, h, w]
        case let .flat(f): return [batch, f]
        }
    }

    /// The batch size of a tensor laid out in this shape's memory order.
    public func batch(of tensor: Tensor) -> Int {
        switch self {
        case .map: return tensor.shape[1]
        case .flat: return tensor.shape[0]
        }
    }

    public var description: String { perSample.map(String.init).joined(separator: "x") }
}
