/// One named tensor of a layer's state, in PyTorch `state_dict()` order.
///
/// A layer lists its state as PyTorch's module would register it (conv: weight, bias; batch
/// norm: weight, bias, running_mean, running_var, num_batches_tracked), names relative to the
/// layer ("weight", "bn1.running_var"). The model prefixes the layer's name and assigns each
/// parameter a slice of the one flat parameter buffer, each running statistic a slice of the
/// flat buffer of statistics, and each counter a slot of its own.
public struct StateSpec: Equatable, Sendable {
    /// What kind of state an entry is, and how it starts.
    public enum Role: Equatable, Sendable {
        /// Trainable; has a gradient; drawn or filled by `ParameterInit`.
        case parameter(ParameterInit)
        /// A non-trainable Float statistic (BN running mean/var) starting at `initial`.
        case buffer(initial: Float)
        /// An int64 scalar (BN num_batches_tracked), shape [].
        case counter
    }

    public let name: String
    public let shape: [Int]
    public let role: Role

    public init(name: String, shape: [Int], role: Role) {
        self.name = name; self.shape = shape; self.role = role
    }

    /// Elements of the entry (1 for a scalar counter).
    public var count: Int { shape.reduce(1, *) }

    /// The same entry under `prefix.` (composite layers name their children this way).
    public func prefixed(_ prefix: String) -> StateSpec {
        StateSpec(name: prefix + "." + name, shape: shape, role: role)
    }
}

/// How a parameter starts.
public enum ParameterInit: Equatable, Sendable {
    /// A weight drawn by the model's `WeightInit` scheme from its fan-in and fan-out
    /// (conv: in*kh*kw and out*kh*kw; linear: in and out).
    case weight(fanIn: Int, fanOut: Int)
    /// The bias of a conv or linear layer whose weight has `fanIn` inputs per output: zeros, or
    /// drawn where the `WeightInit` scheme draws biases (`torch`).
    case bias(fanIn: Int)
    /// All zeros (BN beta).
    case zeros
    /// All ones (BN gamma).
    case ones
}
