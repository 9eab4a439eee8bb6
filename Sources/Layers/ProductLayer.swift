/// A layer whose work is matrix products (convolution, linear), and how much of it, counted from
/// its shapes: what a benchmark divides by the time to report GFLOP/s. A convolution counts as
/// direct convolution, whatever algorithm runs it.
public protocol ProductLayer: Layer {
    /// Multiply-adds of one sample's forward pass. Backward has two products of the same size:
    /// the weight gradient, and the input gradient (which the model's first layer skips).
    var multiplyAddsPerSample: Int { get }
}

extension Conv2d: ProductLayer {
    /// Every output value (out channels x pixels) sums in channels x kernel area products.
    public var multiplyAddsPerSample: Int { outputShape.elementsPerSample * inChannels * kernelSize * kernelSize }
}

extension Linear: ProductLayer {
    public var multiplyAddsPerSample: Int { inFeatures * outFeatures }
}

extension BasicBlock: ProductLayer {
    public var multiplyAddsPerSample: Int {
        [conv1, conv2, shortcutConv].compactMap { $0?.multiplyAddsPerSample }.reduce(0, +)
    }
}

extension Model {
    /// Floating-point operations (2 per multiply-add) of the matrix products of one training
    /// step, per sample: forward, the weight gradient and, in every layer but the first, the
    /// input gradient.
    public var stepFLOPsPerSample: Int {
        layers.enumerated().reduce(0) { total, item in
            guard let product = item.element as? ProductLayer else { return total }
            return total + 2 * product.multiplyAddsPerSample * (item.offset == 0 ? 2 : 3)
        }
    }
}
