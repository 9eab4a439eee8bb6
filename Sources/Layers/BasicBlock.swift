import Platform
import Tensor

/// The residual basic block of He et al. (CIFAR ResNets):
///
///     out = relu( bn2(conv2( relu(bn1(conv1(x))) )) + shortcut(x) )
///
/// conv1 is 3x3 with the block's stride, conv2 3x3 stride 1, both padding 1 without bias. The
/// shortcut is the identity when shape is kept, else a 1x1 convolution with the stride followed
/// by batch norm (option B). PyTorch names, as in a module with attributes conv1, bn1, conv2,
/// bn2 and `shortcut = nn.Sequential(conv1x1, bn)`: "conv1.weight", "bn1.weight", ...,
/// "shortcut.0.weight", "shortcut.1.running_mean".
///
/// bn1 applies the first ReLU itself; bn2 adds the shortcut and applies the last ReLU in its one
/// normalization pass. Backward masks the output gradient once (G = dy where out > 0) and feeds
/// G to both branches; the convolutions add their input gradients into the block's input
/// gradient (col2im accumulates), so the branch sum costs no extra pass. With the identity
/// shortcut G is the shortcut's input gradient: it is written there directly and conv1 adds
/// onto it. Gradient scratch lives in the model's shared workspace: blocks run one at a time.
public final class BasicBlock: Layer {
    public let name: String
    public let inChannels: Int, outChannels: Int, stride: Int
    public let inputShape: FeatureShape
    public let outputShape: FeatureShape

    let conv1: Conv2d, bn1: BatchNorm2d, conv2: Conv2d, bn2: BatchNorm2d
    let shortcutConv: Conv2d?, shortcutBN: BatchNorm2d?
    private var context: LayerContext!
    private var lastOutput: Tensor?
    private var scratch: [Tensor] = []
    private var scratchBatch = -1

    /// Throws when the input is not a feature map or too small for the 3x3 convolutions.
    public init(name: String, input: FeatureShape, outChannels: Int, stride: Int = 1) throws {
        guard case let .map(c, _, _) = input else {
            throw ModelError("layer \(name): a residual block needs a feature map input, got \(input) flat features")
        }
        self.name = name
        self.inChannels = c; self.outChannels = outChannels; self.stride = stride
        self.inputShape = input
        conv1 = try Conv2d(name: name + ".conv1", input: input, outChannels: outChannels, kernelSize: 3,
                           stride: stride, padding: 1, bias: false)
        bn1 = try BatchNorm2d(name: name + ".bn1", input: conv1.outputShape)
        bn1.fusesReLU = true
        conv2 = try Conv2d(name: name + ".conv2", input: conv1.outputShape, outChannels: outChannels, kernelSize: 3,
                           stride: 1, padding: 1, bias: false)
        bn2 = try BatchNorm2d(name: name + ".bn2", input: conv2.outputShape)
        if stride != 1 || c != outChannels {
            let sc = try Conv2d(name: name + ".shortcut.0", input: input, outChannels: outChannels, kernelSize: 1,
                                stride: stride, padding: 0, bias: false)
            guard sc.outputShape == conv2.outputShape else {
                throw ModelError("layer \(name): shortcut output \(sc.outputShape) does not match the block's \(conv2.outputShape)")
            }
            shortcutConv = sc
            shortcutBN = try BatchNorm2d(name: name + ".shortcut.1", input: sc.outputShape)
        } else {
            shortcutConv = nil; shortcutBN = nil
        }
        outputShape = conv2.outputShape
    }

    public var kind: String {
        "BasicBlock(\(inChannels)->\(outChannels), s\(stride)\(shortcutConv == nil ? "" : ", projection"))"
    }

    public var convolutions: [Conv2d] { children.flatMap { $0.1.convolutions } }

    /// The children in state-dict order with their relative names.
    private var children: [(String, any Layer)] {
        var list: [(String, any Layer)] = [("conv1", conv1), ("bn1", bn1), ("conv2", conv2), ("bn2", bn2)]
        if let shortcutConv, let shortcutBN { list += [("shortcut.0", shortcutConv), ("shortcut.1", shortcutBN)] }
        return list
    }

    public var stateSpecs: [StateSpec] {
        children.flatMap { prefix, layer in layer.stateSpecs.map { $0.prefixed(prefix) } }
    }

    /// The children's outputs (bn2's is the block's).
    public var activationsPerSample: Int {
        children.reduce(0) { total, child in
            let n = child.1.activationsPerSample
            return total > Int.max - n ? Int.max : total + n
        }
    }

    /// The three output-sized gradient buffers in the workspace, besides a child's columns.
    public var scratchPerSample: Int {
        let columns = children.map { $0.1.scratchPerSample }.max() ?? 0
        let gradients = 3 * outputShape.elementsPerSample
        return columns > Int.max - gradients ? Int.max : columns + gradients
    }

    public func bind(_ binding: LayerBinding) {
        var rest = binding
        for (_, child) in children {
            let (head, tail) = rest.split(first: child.stateSpecs)
            child.bind(head)
            rest = tail
        }
        context = binding.context
    }

    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        let t1 = conv1.forward(input, training: training)
        let t2 = bn1.forward(t1, training: training)
        let t3 = conv2.forward(t2, training: training)
        var shortcut = input
        if let shortcutConv, let shortcutBN {
            shortcut = shortcutBN.forward(shortcutConv.forward(input, training: training), training: training)
        }
        let out = bn2.forward(t3, training: training, residual: shortcut, relu: true)
        lastOutput = out
        // Every block grows the workspace's gradient slots to its need before the first backward
        // caches views of them: the slots then keep their final size and the views built in the
        // first step stay valid (a later step rebuilding them would allocate).
        if training { _ = gradientSlots(batch: out.shape[1]) }
        return out
    }

    /// The workspace's three block-gradient slots, each grown to `batch` outputs of this block
    /// (a tuple: the step must not allocate).
    private func gradientSlots(batch: Int)
        -> (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) {
        let count = batch * outputShape.elementsPerSample, ws = context.workspace
        return (ws.floats(.blockGradient0, count: count), ws.floats(.blockGradient1, count: count),
                ws.floats(.blockGradient2, count: count))
    }

    /// Three output-shaped gradient buffers in the shared workspace; the views are rebuilt only
    /// when the batch size changes or a slot moved.
    private func scratchTensors(batch: Int) -> [Tensor] {
        let (p0, p1, p2) = gradientSlots(batch: batch)
        if batch != scratchBatch || scratch[0].data != p0 || scratch[1].data != p1 || scratch[2].data != p2 {
            let shape = outputShape.tensorShape(batch: batch), ws = context.workspace
            scratch = [p0, p1, p2].map { Tensor(viewing: $0, shape: shape, owner: ws) }
            scratchBatch = batch
        }
        return scratch
    }

    public func backward(_ outputGradient: Tensor, inputGradient: Tensor?) {
        guard let out = lastOutput else { preconditionFailure("\(name): backward before forward") }
        let batch = out.shape[1]
        let views = scratchTensors(batch: batch)
        // The identity shortcut passes G on unchanged: G is written straight into the input
        // gradient, which conv1 then adds to (a copy would cost a pass of its own).
        let identityTarget = shortcutConv == nil ? inputGradient : nil
        let g = identityTarget ?? views[0], g1 = views[1], g2 = views[2]
        // G = dy where the block's output is positive, else 0.
        Elementwise.reluBackward(output: out.data, outputGradient: outputGradient.data, inputGradient: g.data,
                                 count: out.count, threads: BLASRuntime.threads)
        bn2.backward(g, inputGradient: g1)
        conv2.backward(g1, inputGradient: g2)
        bn1.backward(g2, inputGradient: g1)
        if let shortcutConv, let shortcutBN {
            shortcutBN.backward(g, inputGradient: g2)
            shortcutConv.backward(g2, inputGradient: inputGradient, accumulate: false)
        }
        conv1.backward(g1, inputGradient: inputGradient, accumulate: true)
    }

    public func freezeKinks(_ frozen: Bool) {
        bn1.freezeKinks(frozen)
        bn2.freezeKinks(frozen)
    }

    public var kinkSignature: UInt64 {
        guard let out = lastOutput else { return 0 }
        return hashCombine(bn1.kinkSignature, positivePatternHash(out.data, count: out.count))
    }
}
