import Tensor

/// The storage behind a list of layers: ONE flat parameter buffer, ONE flat gradient buffer
/// with the same layout, ONE flat buffer of running statistics, and the int64 counters.
///
/// Layers are laid out in order, each layer's entries in its `stateSpecs` order, which is
/// PyTorch's `parameters()` order (so gradients of the last layers sit at the end of the buffer
/// and are ready first in backward). Each layer is bound to views into these buffers, so an
/// optimizer or an allreduce can work on the whole model as one contiguous vector.
public final class ParameterStore {
    /// One bound state entry.
    enum Slot {
        case parameter(value: Tensor, gradient: Tensor)
        case buffer(Tensor)
        case counter(Counter)
    }

    public let layers: [any Layer]
    /// All trainable scalars, `[parameterCount]`.
    public let parameters: Tensor
    /// Their gradients, same layout.
    public let gradients: Tensor
    /// All running statistics (BN running_mean, running_var), `[bufferCount]`.
    public let buffers: Tensor
    public let context: LayerContext
    /// Layer i's parameters occupy `parameterOffsets[i] ..< parameterOffsets[i + 1]`.
    public let parameterOffsets: [Int]
    /// Per layer, its entries with full names, in state-dict order.
    let entries: [[(name: String, spec: StateSpec, slot: Slot)]]
    /// Every layer's counters in state-dict order.
    let counters: [Counter]

    /// Allocates the buffers, binds every layer, and initializes (conv and linear weights and
    /// biases by `weightInit` from `seed`, BN gamma 1 / beta 0, running mean 0 / var 1, counters
    /// 0). The dropout stream starts from a generator derived from the same seed.
    public init(layers: [any Layer], weightInit: WeightInit = .standard, seed: UInt64) {
        self.layers = layers
        var parameterCount = 0, bufferCount = 0, counterCount = 0
        var offsets: [Int] = []
        for layer in layers {
            offsets.append(parameterCount)
            for spec in layer.stateSpecs {
                switch spec.role {
                case .parameter: parameterCount += spec.count
                case .buffer: bufferCount += spec.count
                case .counter: counterCount += 1
                }
            }
        }
        offsets.append(parameterCount)
        parameterOffsets = offsets
        parameters = Tensor(shape: [parameterCount])
        gradients = Tensor(shape: [parameterCount])
        buffers = Tensor(shape: [bufferCount])
        counters = (0..<counterCount).map { _ in Counter() }
        context = LayerContext(dropoutRNG: ParameterStore.dropoutStream(seed: seed))

        var p = 0, b = 0, c = 0
        var allEntries: [[(name: String, spec: StateSpec, slot: Slot)]] = []
        for layer in layers {
            var layerEntries: [(name: String, spec: StateSpec, slot: Slot)] = []
            var values: [Tensor] = [], grads: [Tensor] = [], stats: [Tensor] = []
            var counts: [Counter] = []
            for spec in layer.stateSpecs {
                let slot: Slot
                switch spec.role {
                case .parameter:
                    let v = Tensor(viewing: parameters.data + p, shape: spec.shape, owner: parameters)
                    let g = Tensor(viewing: gradients.data + p, shape: spec.shape, owner: gradients)
                    values.append(v); grads.append(g)
                    slot = .parameter(value: v, gradient: g)
                    p += spec.count
                case .buffer:
                    let v = Tensor(viewing: buffers.data + b, shape: spec.shape, owner: buffers)
                    stats.append(v)
                    slot = .buffer(v)
                    b += spec.count
                case .counter:
                    counts.append(counters[c])
                    slot = .counter(counters[c])
                    c += 1
                }
                layerEntries.append((layer.name + "." + spec.name, spec, slot))
            }
            layer.bind(LayerBinding(parameters: values, gradients: grads, buffers: stats, counters: counts, context: context))
            allEntries.append(layerEntries)
        }
        entries = allEntries
        initialize(weightInit: weightInit, seed: seed)
    }

    /// The dropout stream of a model seeded with `seed`: an independent generator, so weight
    /// draws and dropout masks do not shift each other.
    static func dropoutStream(seed: UInt64) -> SeededRNG {
        SeededRNG(seed: seed ^ 0xD1B5_4A32_D192_ED03)
    }

    /// Re-initializes every entry as at construction (weights and biases drawn in state-dict
    /// order). The last weight is the classifier's: its outputs are the logits (`WeightInit`).
    public func initialize(weightInit: WeightInit, seed: UInt64) {
        var rng = SeededRNG(seed: seed)
        let classifier = entries.joined().last { entry in
            if case .parameter(.weight) = entry.spec.role { return true } else { return false }
        }?.name
        for layerEntries in entries {
            for (name, spec, slot) in layerEntries {
                switch (spec.role, slot) {
                case let (.parameter(.weight(fanIn, fanOut)), .parameter(value, _)):
                    weightInit.fillWeight(value.data, count: value.count, fanIn: fanIn, fanOut: fanOut,
                                          isClassifier: name == classifier, rng: &rng)
                case let (.parameter(.bias(fanIn)), .parameter(value, _)):
                    weightInit.fillBias(value.data, count: value.count, fanIn: fanIn, rng: &rng)
                case let (.parameter(.zeros), .parameter(value, _)):
                    value.fill(0)
                case let (.parameter(.ones), .parameter(value, _)):
                    value.fill(1)
                case let (.buffer(initial), .buffer(value)):
                    value.fill(initial)
                case let (.counter, .counter(counter)):
                    counter.value = 0
                default:
                    preconditionFailure("state entry \(spec.name) bound to the wrong kind of storage")
                }
            }
        }
        gradients.fill(0)
        context.dropoutRNG = ParameterStore.dropoutStream(seed: seed)
    }

    /// The trainable entries alone, in `parameters` order, each a view into the flat buffer.
    public func namedParameters() -> [(name: String, value: Tensor)] {
        entries.flatMap { $0 }.compactMap { name, _, slot in
            guard case let .parameter(value, _) = slot else { return nil }
            return (name, value)
        }
    }

    /// The state dict: every layer's entries in order, values viewing this store's memory.
    public func stateDict() -> [StateEntry] {
        entries.flatMap { layerEntries in
            layerEntries.map { name, spec, slot in
                switch slot {
                case let .parameter(value, _): return StateEntry(name: name, shape: spec.shape, value: .float(value))
                case let .buffer(value): return StateEntry(name: name, shape: spec.shape, value: .float(value))
                case let .counter(counter): return StateEntry(name: name, shape: [], value: .int64(counter.value))
                }
            }
        }
    }

    /// Replaces the whole state. Strict: every name present, nothing extra, each shape and dtype
    /// equal; checked before anything is written, so a failed load leaves the state untouched.
    public func load(_ state: [String: StateValue]) throws {
        let all = entries.flatMap { $0 }
        let expected = Set(all.map(\.name))
        let missing = all.map(\.name).filter { state[$0] == nil }
        let unexpected = state.keys.filter { !expected.contains($0) }.sorted()
        if !missing.isEmpty || !unexpected.isEmpty {
            var parts: [String] = []
            if !missing.isEmpty {
                parts.append("is missing \(missing.count) entr\(missing.count == 1 ? "y" : "ies") (\(missing.prefix(3).map { "'\($0)'" }.joined(separator: ", "))\(missing.count > 3 ? ", ..." : ""))")
            }
            if !unexpected.isEmpty {
                parts.append("has \(unexpected.count) unexpected (\(unexpected.prefix(3).map { "'\($0)'" }.joined(separator: ", "))\(unexpected.count > 3 ? ", ..." : ""))")
            }
            throw ModelError("state does not fit the model: it " + parts.joined(separator: " and "))
        }
        for (name, spec, slot) in all {
            let value = state[name]!
            switch (slot, value) {
            case (.parameter, .float(let t)), (.buffer, .float(let t)):
                guard t.shape == spec.shape else {
                    throw ModelError("state entry '\(name)' has shape \(t.shape), the model expects \(spec.shape)")
                }
            case (.counter, .int64):
                break
            default:
                let want = { if case .counter = slot { return "int64" } else { return "float32" } }()
                throw ModelError("state entry '\(name)' is \(value.dtypeName), the model expects \(want)")
            }
        }
        for (name, _, slot) in all {
            switch (slot, state[name]!) {
            case let (.parameter(target, _), .float(source)), let (.buffer(target), .float(source)):
                if target.data != source.data { target.copy(from: source) }
            case let (.counter(counter), .int64(v)):
                counter.value = v
            default:
                preconditionFailure("checked above")
            }
        }
    }

    /// (name, value, gradient) of layer i's parameters, for checks and reports.
    public func parameterViews(ofLayer i: Int) -> [(name: String, value: Tensor, gradient: Tensor)] {
        entries[i].compactMap { name, _, slot in
            if case let .parameter(value, gradient) = slot { return (name, value, gradient) }
            return nil
        }
    }

    /// All counters (num_batches_tracked of every BN), in state-dict order.
    var counterValues: [Int64] {
        get { counters.map(\.value) }
        set { for (counter, v) in zip(counters, newValue) { counter.value = v } }
    }
}
