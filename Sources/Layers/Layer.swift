import Tensor

/// A building block with a hand-written forward and backward pass.
///
/// Life cycle: construct (shapes are fixed and checked then), `bind` once to views into the
/// model's flat buffers, then any number of `forward` / `backward` pairs. `forward` caches what
/// `backward` needs (its input, masks, argmax, statistics) and returns an output tensor the layer
/// owns (reused across calls; reallocated only when the batch grows). `backward` reads the
/// gradient of the output, *overwrites* the layer's parameter gradients (each parameter belongs
/// to exactly one layer, so nothing needs zeroing) and writes the gradient of the input into
/// the caller's tensor (skipped when it is nil: the first layer of a model).
///
/// Memory order of the tensors is given by `FeatureShape` (maps `[C, N, H, W]`, flat `[N, F]`).
public protocol Layer: AnyObject {
    /// The state-dict prefix: "0", "16", "layer1.0", "fc".
    var name: String { get }
    /// What the layer is, with its hyper-parameters, for tables: "Conv2d(1->32, 3x3, s1, p1)".
    var kind: String { get }
    var inputShape: FeatureShape { get }
    var outputShape: FeatureShape { get }
    /// State entries in PyTorch state_dict order, names relative to the layer.
    var stateSpecs: [StateSpec] { get }
    /// Floats per sample of a batch the layer keeps from forward to backward (its output by
    /// default); `ModelLimits` budgets them before any is allocated.
    var activationsPerSample: Int { get }
    /// Floats of the model's shared scratch (`Workspace`) the layer needs for one sample while
    /// it runs (0 by default; layers run one at a time, so the model needs the largest).
    var scratchPerSample: Int { get }
    /// Attaches the layer to its storage (once, before the first forward).
    func bind(_ binding: LayerBinding)
    /// Computes the output for `input` (memory order of `inputShape`); `training` selects batch
    /// statistics and active dropout.
    func forward(_ input: Tensor, training: Bool) -> Tensor
    /// Backpropagates `outputGradient` (shape of the last output) through the last forward.
    func backward(_ outputGradient: Tensor, inputGradient: Tensor?)
    /// The convolutions inside the layer (none for most layers): what `convolutionRuns` reports
    /// and what the model's `Precision` applies to.
    var convolutions: [Conv2d] { get }
    /// True when `forward` returns its input tensor unchanged and the input gradient equals the
    /// output gradient (a ReLU fused into the batch norm before it); the model then passes both
    /// through without a copy.
    var passesInputThrough: Bool { get }
}

extension Layer {
    public var passesInputThrough: Bool { false }
    public var activationsPerSample: Int { outputShape.elementsPerSample }
    public var scratchPerSample: Int { 0 }
    public var convolutions: [Conv2d] { [] }

    /// The convolutions inside the layer and what each runs.
    public var convolutionRuns: [ConvolutionRun] {
        convolutions.map { ConvolutionRun(layer: $0.name, algorithm: $0.algorithm, reason: $0.algorithmReason) }
    }

    /// Number of trainable scalars.
    public var parameterCount: Int {
        stateSpecs.reduce(0) { acc, spec in
            if case .parameter = spec.role { return acc + spec.count }
            return acc
        }
    }
}

/// A layer without parameters or buffers: nothing in the state dict, nothing to bind.
public protocol StatelessLayer: Layer {}

extension StatelessLayer {
    public var stateSpecs: [StateSpec] { [] }
    public func bind(_ binding: LayerBinding) {}
}
