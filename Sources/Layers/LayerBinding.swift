import Tensor

/// The storage a layer is bound to: views into its model's flat buffers, in the order of the
/// layer's `stateSpecs` (each array holds the entries of one role, in spec order).
public struct LayerBinding {
    /// Trainable tensors, views into the flat parameter buffer.
    public let parameters: [Tensor]
    /// Their gradients, views into the flat gradient buffer at the same offsets.
    public let gradients: [Tensor]
    /// Running statistics, views into the flat statistics buffer.
    public let buffers: [Tensor]
    /// Int64 counters (num_batches_tracked).
    public let counters: [Counter]
    /// What the layers of the model share.
    public let context: LayerContext

    public init(parameters: [Tensor], gradients: [Tensor], buffers: [Tensor],
                counters: [Counter], context: LayerContext) {
        self.parameters = parameters; self.gradients = gradients; self.buffers = buffers
        self.counters = counters; self.context = context
    }

    /// The binding of a child that owns the next `specs` of each role, and the rest for the
    /// children after it (composite layers split their binding this way, in spec order).
    public func split(first specs: [StateSpec]) -> (LayerBinding, LayerBinding) {
        var p = 0, b = 0, c = 0
        for spec in specs {
            switch spec.role {
            case .parameter: p += 1
            case .buffer: b += 1
            case .counter: c += 1
            }
        }
        let head = LayerBinding(parameters: Array(parameters[..<p]), gradients: Array(gradients[..<p]),
                                buffers: Array(buffers[..<b]), counters: Array(counters[..<c]), context: context)
        let tail = LayerBinding(parameters: Array(parameters[p...]), gradients: Array(gradients[p...]),
                                buffers: Array(buffers[b...]), counters: Array(counters[c...]), context: context)
        return (head, tail)
    }
}
