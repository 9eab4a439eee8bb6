import Platform
import Tensor

/// Options of model construction beyond the spec.
public struct ModelOptions: Sendable {
    /// Scheme for conv and linear weights and biases (`WeightInit.standard` by default).
    public var weightInit: WeightInit
    /// Let a BatchNorm2d apply the ReLU right after it in its own passes (same numbers, fewer
    /// passes over memory). Off only to check the layers one by one.
    public var fuseBatchNormReLU: Bool
    /// The convolutions' arithmetic (`Precision`; fp32 by default).
    public var precision: Precision
    /// The algorithms `DDP_CONV=auto` chose (`ConvolutionTuner`); nil: each layer's own choice.
    public var convolutionPlan: ConvolutionPlan?

    public init(weightInit: WeightInit = .standard, fuseBatchNormReLU: Bool = true, precision: Precision = .fp32,
                convolutionPlan: ConvolutionPlan? = nil) {
        self.weightInit = weightInit
        self.fuseBatchNormReLU = fuseBatchNormReLU
        self.precision = precision
        self.convolutionPlan = convolutionPlan
    }
}

/// A network: an ordered list of layers over one flat parameter buffer, one flat gradient
/// buffer (same layout) and one flat buffer of BN running statistics.
///
/// `forward` takes an NCHW batch and returns logits `[N, classes]`; `backward` takes dloss/dlogits
/// and overwrites `gradients`. Activations live in buffers owned by the layers, sized for the
/// largest batch seen; the input gradients of consecutive layers alternate between two model
/// buffers. After the first step at a batch size, neither pass allocates.
public final class Model {
    /// What the model was built from: a preset name or a spec string (see `ModelSpec`).
    public let spec: String
    /// Input [C, H, W] of one sample.
    public let inputShape: [Int]
    public let classes: Int
    /// The top-level layers in order.
    public let layers: [any Layer]
    /// Flat storage of parameters, gradients, statistics and counters.
    public let store: ParameterStore
    /// All trainable parameters, flat, in PyTorch `parameters()` order.
    public let parameters: Tensor
    /// Their gradients, same layout, overwritten by each `backward`.
    public let gradients: Tensor
    /// BN running_mean / running_var of every BN layer, flat, in state-dict order.
    public let buffers: Tensor
    /// The plan its convolutions were built with (`ModelOptions.convolutionPlan`).
    public private(set) var convolutionPlan: ConvolutionPlan?

    private let inputBuffer = ActivationBuffer()
    private var gradientStorage: [Tensor] = []
    /// Per layer, the tensor its input gradient is written to (index 0 unused: no input gradient).
    private var gradientViews: [Tensor] = []
    private var gradientBatch = -1

    /// Builds `spec` (a preset name or a spec string) for inputs [C, H, W] and `classes` outputs
    /// and initializes it from `seed`. Throws a one-line `ModelError` for an unknown preset, a bad
    /// token, an input too small for the layers, or a model beyond `ModelLimits` (checked before
    /// anything is allocated).
    public convenience init(spec: String, inputShape: [Int], classes: Int, seed: UInt64, options: ModelOptions = ModelOptions()) throws {
        try ModelLimits.checkInput(inputShape, classes: classes)
        let input = FeatureShape.map(channels: inputShape[0], height: inputShape[1], width: inputShape[2])
        let layers = try ModelSpec.layers(for: spec, input: input, classes: classes)
        if options.fuseBatchNormReLU {
            for i in layers.indices.dropLast() {
                if let bn = layers[i] as? BatchNorm2d, let relu = layers[i + 1] as? ReLU {
                    bn.fusesReLU = true
                    relu.isFusedIntoPrevious = true
                }
            }
        }
        if options.precision != .fp32 {
            for conv in layers.flatMap(\.convolutions) { conv.setPrecision(options.precision) }
        }
        options.convolutionPlan?.apply(to: layers.flatMap(\.convolutions), precision: options.precision)
        self.init(layers: layers, spec: spec, inputShape: inputShape, classes: classes, seed: seed, weightInit: options.weightInit)
        convolutionPlan = options.convolutionPlan
    }

    /// A model over layers built elsewhere (tests put a layer with a deliberately wrong backward
    /// into a model this way); `layers` must chain from `inputShape` to `classes` features.
    init(layers: [any Layer], spec: String, inputShape: [Int], classes: Int, seed: UInt64, weightInit: WeightInit) {
        self.spec = spec
        self.inputShape = inputShape
        self.classes = classes
        self.layers = layers
        store = ParameterStore(layers: layers, weightInit: weightInit, seed: seed)
        parameters = store.parameters
        gradients = store.gradients
        buffers = store.buffers
    }

    public var parameterCount: Int { parameters.count }

    /// The generator dropout masks are drawn from (save and restore it to resume exactly).
    public var dropoutRNG: SeededRNG {
        get { store.context.dropoutRNG }
        set { store.context.dropoutRNG = newValue }
    }

    /// nil: each BN layer uses its own batch. Set: BN statistics are summed across ranks.
    public var batchNormReducer: BatchNormReducer? {
        get { store.context.batchNormReducer }
        set { store.context.batchNormReducer = newValue }
    }

    /// Batches seen in training by the BN layers (all step together; 0 without BN). Setting it
    /// sets every layer's num_batches_tracked.
    public var numBatchesTracked: Int64 {
        get { store.counterValues.first ?? 0 }
        set { store.counterValues = Array(repeating: newValue, count: store.counters.count) }
    }

    /// Every state entry in PyTorch state_dict order and naming, float values viewing the
    /// model's own storage.
    public func stateDict() -> [StateEntry] { store.stateDict() }

    /// The trainable tensors with their state-dict names, in `parameters` order (views).
    public func namedParameters() -> [(name: String, value: Tensor)] { store.namedParameters() }

    /// Replaces parameters, statistics and counters from a state dict (strict: every name, shape
    /// and dtype must match; nothing is changed when anything does not).
    public func load(_ state: [String: StateValue]) throws { try store.load(state) }

    /// One row per top-level layer: name, kind, output shape per sample, parameter count.
    public var layerSummaries: [LayerSummary] {
        layers.map { LayerSummary(name: $0.name, kind: $0.kind, outputShape: $0.outputShape.perSample,
                                  parameterCount: $0.parameterCount,
                                  algorithm: ConvolutionRun.cell($0.convolutionRuns, layer: $0.name)) }
    }

    /// Every convolution of the model and what it runs, in layer order.
    public var convolutionRuns: [ConvolutionRun] { layers.flatMap(\.convolutionRuns) }

    /// Logits `[N, classes]` for an NCHW batch, in a buffer the model owns (valid until the next
    /// forward). `training` selects batch statistics and active dropout.
    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        var x = enter(input)
        guard let profile else {
            // By index: a for-in over the array allocates its iterator's coroutine frames in
            // debug builds, and the step allocates nothing (StepAllocationTests).
            for i in layers.indices { x = layers[i].forward(x, training: training) }
            return x
        }
        for (i, layer) in layers.enumerated() {
            let start = MonotonicClock.seconds()
            x = layer.forward(x, training: training)
            profile.addForward(layer: i, since: start)
        }
        return x
    }

    /// When set, forward and backward time every top-level layer into it.
    public var profile: LayerProfile?

    /// A profile with a row per top-level layer ("name: kind"), to attach as `profile`.
    public func makeProfile() -> LayerProfile {
        LayerProfile(names: layers.map { "\($0.name): \($0.kind)" })
    }

    /// Converts the NCHW batch to the channel-major layout the layers use (one pass; for a
    /// single channel the two layouts coincide and it is a copy).
    func enter(_ input: Tensor) -> Tensor {
        let shape = input.shape
        // Compared element by element: `Array(shape[1...])` would allocate on every forward.
        precondition(shape.count == 4 && shape[1] == inputShape[0] && shape[2] == inputShape[1] && shape[3] == inputShape[2],
                     "model input \(shape) is not [N, \(inputShape.map(String.init).joined(separator: ", "))]")
        let batch = shape[0], c = inputShape[0], plane = inputShape[1] * inputShape[2]
        let x = inputBuffer.tensor(batch: batch, shape: layers[0].inputShape)
        for n in 0..<batch {
            for ch in 0..<c {
                let from: Int = (n &* c &+ ch) &* plane, to: Int = (ch &* batch &+ n) &* plane
                (x.data + to).update(from: input.data + from, count: plane)
            }
        }
        return x
    }

    /// Backpropagates dloss/dlogits `[N, classes]` of the last forward, overwriting `gradients`.
    ///
    /// After each top-level layer's backward, `gradientReady(offset)` reports that
    /// `gradients[offset ..< parameterCount]` are final: offsets arrive in reverse layer order,
    /// never increasing, so buckets at the end of the buffer can be reduced while earlier layers
    /// still run. The first layer's input gradient is not computed.
    public func backward(outputGradient: Tensor, gradientReady: ((Int) -> Void)? = nil) {
        let batch = outputGradient.shape[0]
        prepareGradients(batch: batch)
        var dy = outputGradient
        let offsets = store.parameterOffsets
        for i in stride(from: layers.count - 1, through: 0, by: -1) {
            let layer = layers[i]
            let dx: Tensor? = i == 0 ? nil : (layer.passesInputThrough ? dy : gradientViews[i])
            let start = profile == nil ? 0 : MonotonicClock.seconds()
            layer.backward(dy, inputGradient: dx)
            profile?.addBackward(layer: i, since: start)
            gradientReady?(offsets[i])
            if let dx { dy = dx }
        }
    }

    /// Input-gradient views of every layer for `batch`: two buffers, alternating so that a
    /// layer never writes the buffer it reads; pass-through layers hand on the gradient they receive.
    private func prepareGradients(batch: Int) {
        guard batch != gradientBatch else { return }
        let largest = layers.dropFirst().map { $0.inputShape.elementsPerSample }.max() ?? 0
        let needed = largest * batch
        if gradientStorage.isEmpty || gradientStorage[0].capacity < needed {
            gradientStorage = [Tensor(shape: [needed]), Tensor(shape: [needed])]
        }
        var views = [Tensor](repeating: gradientStorage[0], count: layers.count)
        var current = -1 // -1: the caller's output gradient
        for i in stride(from: layers.count - 1, through: 1, by: -1) where !layers[i].passesInputThrough {
            current = current == 0 ? 1 : 0
            views[i] = Tensor(viewing: gradientStorage[current].data,
                              shape: layers[i].inputShape.tensorShape(batch: batch), owner: gradientStorage[current])
        }
        gradientViews = views
        gradientBatch = batch
    }
}
