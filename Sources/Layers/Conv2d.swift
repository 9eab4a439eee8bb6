import Platform
import Tensor

/// 2-D convolution, PyTorch's `nn.Conv2d(in, out, kernel, stride, padding, bias)` (square
/// kernel, stride and padding; zero padding; floor output size).
///
/// y[o, n, p] = sum_{c,i,j} w[o, c, i, j] * x[c, n, p*s - pad + (i, j)] + b[o]
///
/// Forward is im2col (columns `[C*k*k, pixels]`, the images' pixels side by side) and a GEMM
/// `W[out, C*k*k] x columns`, which lands directly in the channel-major output
/// `[out, N, OH, OW]` (image n at column n*OH*OW of each row, no transpose). The batch is cut
/// into blocks of images whose columns fit `columnBudget` (one GEMM per block, the whole batch
/// in one when it fits): for 3x3 the columns are 9x the input, and built block by block they
/// are still in cache when the GEMM reads them. A 1x1, stride-1, unpadded convolution skips
/// im2col: its channel-major input already is the column matrix (one GEMM).
///
/// Backward rebuilds each block's columns in the shared workspace (instead of keeping a column
/// matrix per layer: memory), then dW += dY_block x columns^T, dcolumns = W^T x dY_block (in the
/// same scratch) and col2im into dX; db = row sums of dY.
///
/// A 3x3, stride-1, padding-1 convolution with output channels in 8s (the usual CNN layer)
/// takes `DirectConvolution` instead when the CPU can: the kernels read the input and the output
/// gradient where they are (the zero padding is masked-out vector lanes); no column matrix, no
/// col2im. So does a 3x3 stride-2 one on even sides, through its input's phases
/// (`StridedConvolution`). Their input gradient needs input channels in 8s too; a first layer of
/// 1 or 3 channels is never asked for one (and if it is, that backward goes through the
/// columns). A stride-1 layer can also run `WinogradConvolution` (F(2x2, 3x3) or F(4x4, 3x3),
/// any channels) when asked (`DDP_CONV`); `ConvolutionChoice` decides, once, at construction. Under `--precision bf16`
/// (`Precision`, set by the model before binding) a layer on the direct kernels runs them with
/// bf16 operands (`BF16DirectConvolution`, `BF16StridedConvolution`); the other paths stay FP32.
/// `DirectLayerPath` and `WinogradLayerPath` hold each path's buffers and calls.
///
/// Weights `[out, in, k, k]` and the bias start as the model's `WeightInit` draws them
/// (fan_in = in*k*k).
public final class Conv2d: Layer {
    public let name: String
    public let inChannels: Int, outChannels: Int
    public let kernelSize: Int, stride: Int, padding: Int
    public let hasBias: Bool
    public let inputShape: FeatureShape
    public let outputShape: FeatureShape

    /// Geometry of one channel plane of one image; the batch loops over (channel, image).
    private let plane: ConvGeometry
    private let isPointwise: Bool
    /// The direct path's kernels and buffers, made by `bind`: a model is checked against
    /// `ModelLimits` after its layers are constructed, so construction allocates nothing that
    /// grows with the sizes. nil on the other paths.
    private var direct: DirectLayerPath?
    /// The Winograd path's filters and geometry, made by `bind`; nil on the other paths.
    private var winograd: WinogradLayerPath?
    private var weight: Tensor!, weightGradient: Tensor!
    private var bias: Tensor?, biasGradient: Tensor?
    private var context: LayerContext!
    private let output = ActivationBuffer()
    private var lastInput: Tensor?
    /// Floats of im2col columns worked on at once. The column matrix of a whole batch is many
    /// times the input (9x for 3x3) and far larger than the caches; in blocks of images that
    /// fit in L2 each block is written by im2col and read by the GEMMs while still cached.
    /// `Int.max` gives one GEMM over the whole batch. The Winograd path's blocks of tiles keep
    /// their transformed data (operands and products of the per-position GEMMs) within it too.
    public var columnBudget = Conv2d.defaultColumnBudget
    /// 2 MiB of columns: a fraction of a server core's L2, so a block stays cached between its
    /// im2col and its GEMMs (the measurements behind it: docs/RESULTS.md, "Column blocks").
    public static let defaultColumnBudget = 1 << 19

    /// How the products are computed: `DirectConvolution`'s kernels, the same in bf16
    /// (`BF16DirectConvolution`), `WinogradConvolution` with 2x2 or 4x4 output tiles, or im2col
    /// + GEMM.
    public enum Algorithm: String, Codable, Sendable, CaseIterable {
        case direct, directBF16 = "direct-bf16", winograd2, winograd4, im2col
    }

    /// The path this layer takes, and why (fixed at construction by `ConvolutionChoice`, and by
    /// `setPrecision` before binding).
    public private(set) var algorithm: Algorithm
    public private(set) var algorithmReason: String

    /// Throws when the input is not a feature map or the window does not fit it. `algorithm`
    /// asks for one path for this layer whatever `DDP_CONV` says (tests compare the paths); one
    /// that cannot run here falls back as `ConvolutionChoice` says.
    public init(name: String, input: FeatureShape, outChannels: Int, kernelSize: Int,
                stride: Int = 1, padding: Int = 0, bias: Bool = true, algorithm request: ConvolutionRequest? = nil) throws {
        guard case let .map(c, h, w) = input else {
            throw ModelError("layer \(name): Conv2d needs a feature map input, got \(input) flat features")
        }
        guard outChannels > 0, kernelSize > 0, stride > 0, padding >= 0 else {
            throw ModelError("layer \(name): Conv2d needs out channels, kernel and stride > 0 and padding >= 0 (got out \(outChannels), k \(kernelSize), s \(stride), p \(padding))")
        }
        guard h + 2 * padding >= kernelSize, w + 2 * padding >= kernelSize else {
            throw ModelError("layer \(name): input \(input) is smaller than the \(kernelSize)x\(kernelSize) Conv2d kernel with padding \(padding)")
        }
        self.name = name
        self.inChannels = c; self.outChannels = outChannels
        self.kernelSize = kernelSize; self.stride = stride; self.padding = padding
        self.hasBias = bias
        self.inputShape = input
        self.plane = ConvGeometry(channels: 1, height: h, width: w, kernelH: kernelSize, kernelW: kernelSize,
                                  strideH: stride, strideW: stride, padH: padding, padW: padding)
        self.outputShape = .map(channels: outChannels, height: plane.outHeight, width: plane.outWidth)
        self.isPointwise = kernelSize == 1 && stride == 1 && padding == 0
        (algorithm, algorithmReason) = ConvolutionChoice.choose(
            .init(kernelSize: kernelSize, stride: stride, padding: padding, inChannels: c, outChannels: outChannels,
                  height: h, width: w),
            request: request ?? ConvolutionRequest.environment)
    }

    /// The shape `ConvolutionChoice` decides by.
    public var choiceLayer: ConvolutionChoice.Layer {
        .init(kernelSize: kernelSize, stride: stride, padding: padding, inChannels: inChannels, outChannels: outChannels,
              height: plane.height, width: plane.width)
    }

    /// Puts the layer on `chosen` (one of `ConvolutionChoice.candidates`: `ConvolutionTuner`'s
    /// pick) before binding, with the reason the tables show.
    public func setAlgorithm(_ chosen: Algorithm, reason: String) {
        precondition(weight == nil, "\(name): the algorithm is set before the layer is bound")
        (algorithm, algorithmReason) = (chosen, reason)
    }

    /// Set by the gradient checker on a bf16 layer: forward and backward then compute in FP32
    /// (through im2col), the function the bf16 passes approximate. Its finite differences need
    /// it: rounding the operands makes the bf16 forward a staircase at a difference's scale.
    public var runsInFP32 = false

    /// Moves a layer on the direct kernels to their bf16 form under `.bf16` (`ConvolutionChoice`
    /// says why a layer stays FP32). Called by the model on each convolution before binding.
    public func setPrecision(_ precision: Precision) {
        precondition(weight == nil, "\(name): the precision is set before the layer is bound")
        (algorithm, algorithmReason) = ConvolutionChoice.withPrecision((algorithm, algorithmReason), precision, layer: choiceLayer)
    }

    public var convolutions: [Conv2d] { [self] }

    public var kind: String {
        "Conv2d(\(inChannels)->\(outChannels), \(kernelSize)x\(kernelSize), s\(stride), p\(padding)\(hasBias ? "" : ", no bias"))"
    }

    public var stateSpecs: [StateSpec] {
        let k2 = kernelSize * kernelSize
        var specs = [StateSpec(name: "weight", shape: [outChannels, inChannels, kernelSize, kernelSize],
                               role: .parameter(.weight(fanIn: inChannels * k2, fanOut: outChannels * k2)))]
        if hasBias { specs.append(StateSpec(name: "bias", shape: [outChannels], role: .parameter(.bias(fanIn: inChannels * k2)))) }
        return specs
    }

    public func bind(_ binding: LayerBinding) {
        weight = binding.parameters[0]; weightGradient = binding.gradients[0]
        if hasBias { bias = binding.parameters[1]; biasGradient = binding.gradients[1] }
        context = binding.context
        guard case let .map(_, h, w) = inputShape else { return }
        switch algorithm {
        case .direct, .directBF16:
            direct = DirectLayerPath(inChannels: inChannels, outChannels: outChannels, height: h, width: w, stride: stride,
                                     bf16: algorithm == .directBF16)
        case .winograd2, .winograd4:
            winograd = WinogradLayerPath(tile: algorithm == .winograd2 ? .f2x2 : .f4x4, inChannels: inChannels,
                                         outChannels: outChannels, height: h, width: w)
        case .im2col: break
        }
    }

    /// On the im2col path, the column matrix of one image (the workspace holds at least that
    /// much, whatever `columnBudget` says); on the Winograd path one image's transformed tiles.
    /// Saturates instead of overflowing for absurd sizes.
    public var scratchPerSample: Int {
        switch algorithm {
        case .direct, .directBF16:
            return DirectLayerPath.scratchFloats(inChannels: inChannels, outChannels: outChannels, outPixels: plane.outPixels,
                                                 strided: stride == 2, bf16: algorithm == .directBF16)
        case .winograd2, .winograd4:
            let m = algorithm == .winograd2 ? 2 : 4, tiles = ((plane.height + m - 1) / m) * ((plane.width + m - 1) / m)
            return ModelLimits.elements([m + 2, m + 2, inChannels + outChannels, tiles]) ?? Int.max
        case .im2col:
            if isPointwise { return 0 }
            return ModelLimits.elements([inChannels, kernelSize, kernelSize, plane.outPixels]) ?? Int.max
        }
    }

    /// Rows of the column matrix: one per (input channel, kernel row, kernel column).
    private var patchSize: Int { inChannels * kernelSize * kernelSize }

    /// Images per column block: as many as fit in `columnBudget` floats, at least one.
    private func imagesPerBlock(batch: Int) -> Int {
        max(1, min(batch, columnBudget / max(1, patchSize * plane.outPixels)))
    }

    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        let batch = input.shape[1]
        let y = output.tensor(batch: batch, shape: outputShape)
        lastInput = input
        let ohw = plane.outPixels, wide = batch * ohw
        if let direct, !(direct.bf16 && runsInFP32) {
            direct.forward(input: input.data, weight: weight.data, output: y.data, batch: batch, workspace: context.workspace)
        } else if let winograd {
            winograd.forward(input: input.data, weight: weight.data, output: y.data, batch: batch,
                             workspace: context.workspace, budget: columnBudget)
        } else if isPointwise {
            // y[out, N*HW] = W[out, C] x x[C, N*HW]: the input is its own column matrix.
            GEMM.multiply(transposeA: false, transposeB: false, m: outChannels, n: wide, k: patchSize,
                          a: weight.data, lda: patchSize, b: input.data, ldb: wide, beta: 0, c: y.data, ldc: wide)
        } else {
            let block = imagesPerBlock(batch: batch)
            let columns = context.workspace.floats(.columns, count: patchSize * block * ohw)
            for first in Swift.stride(from: 0, to: batch, by: block) {
                let count = min(block, batch - first), n = count * ohw
                ChannelMajorIm2Col.im2col(input: input.data, channels: inChannels, batch: batch, first: first, count: count,
                                          geometry: plane, columns: columns, threads: BLASRuntime.threads)
                // y[out, block pixels] = W[out, C*k*k] x columns[C*k*k, block pixels]
                GEMM.multiply(transposeA: false, transposeB: false, m: outChannels, n: n, k: patchSize,
                              a: weight.data, lda: patchSize, b: columns, ldb: n, beta: 0,
                              c: y.data + first &* ohw, ldc: wide)
            }
        }
        if let bias {
            let b = bias.data, out = y.data
            for o in 0..<outChannels {
                let row = out + o &* wide, v = b[o]
                var i = 0
                while i < wide { row[i] += v; i &+= 1 }
            }
        }
        return y
    }

    public func backward(_ outputGradient: Tensor, inputGradient: Tensor?) {
        backward(outputGradient, inputGradient: inputGradient, accumulate: false)
    }

    /// Backward that adds the input gradient to `inputGradient` when `accumulate` is set (a
    /// residual block sums its two branches this way, without a separate pass).
    public func backward(_ outputGradient: Tensor, inputGradient: Tensor?, accumulate: Bool) {
        guard let input = lastInput else { preconditionFailure("\(name): backward before forward") }
        let batch = input.shape[1]
        let ohw = plane.outPixels, wide = batch * ohw
        let dy = UnsafePointer(outputGradient.data)
        if let biasGradient {
            for o in 0..<outChannels {
                biasGradient.data[o] = Float(Elementwise.sum(dy + o &* wide, count: wide))
            }
        }
        if let winograd {
            winograd.backward(outputGradient: dy, input: input.data, weight: weight.data, weightGradient: weightGradient.data,
                              inputGradient: inputGradient?.data, accumulate: accumulate, batch: batch,
                              workspace: context.workspace, budget: columnBudget)
            return
        }
        if isPointwise {
            // dW[out, C] = dY[out, N*HW] x X[C, N*HW]^T; dX[C, N*HW] = W^T x dY.
            GEMM.multiply(transposeA: false, transposeB: true, m: outChannels, n: patchSize, k: wide,
                          a: dy, lda: wide, b: input.data, ldb: wide, beta: 0, c: weightGradient.data, ldc: patchSize)
            if let inputGradient {
                GEMM.multiply(transposeA: true, transposeB: false, m: inChannels, n: wide, k: outChannels,
                              a: weight.data, lda: inChannels, b: dy, ldb: wide,
                              beta: accumulate ? 1 : 0, c: inputGradient.data, ldc: wide)
            }
            return
        }
        // Direct unless an input gradient is asked of a layer whose input channels are not in
        // 8s (then the columns below compute both gradients from the kept input), or the
        // gradient checker runs a bf16 layer in FP32.
        if let direct, inputGradient == nil || DirectConvolution.supportsInputGradient(inChannels: inChannels),
           !(direct.bf16 && runsInFP32) {
            direct.backward(outputGradient: dy, input: input.data, weight: weight.data, weightGradient: weightGradient.data,
                            inputGradient: inputGradient?.data, accumulate: accumulate, batch: batch,
                            workspace: context.workspace)
            return
        }
        columnsBackward(dy, input: input, inputGradient: inputGradient, accumulate: accumulate)
    }

    /// The im2col path's backward (and the direct path's when its input gradient cannot run):
    /// per block of images, the columns again, then dW (+)= dY x columns^T and col2im of W^T x dY.
    private func columnsBackward(_ dy: UnsafePointer<Float>, input: Tensor, inputGradient: Tensor?, accumulate: Bool) {
        let batch = input.shape[1]
        let ohw = plane.outPixels, wide = batch * ohw
        if let inputGradient, !accumulate { inputGradient.fill(0) }
        let block = imagesPerBlock(batch: batch)
        let columns = context.workspace.floats(.columns, count: patchSize * block * ohw)
        for first in Swift.stride(from: 0, to: batch, by: block) {
            let count = min(block, batch - first), n = count * ohw
            let dyBlock = dy + first &* ohw
            ChannelMajorIm2Col.im2col(input: input.data, channels: inChannels, batch: batch, first: first, count: count,
                                      geometry: plane, columns: columns, threads: BLASRuntime.threads)
            // dW[out, C*k*k] (+)= dY[out, block pixels] x columns^T
            GEMM.multiply(transposeA: false, transposeB: true, m: outChannels, n: patchSize, k: n,
                          a: dyBlock, lda: wide, b: columns, ldb: n, beta: first == 0 ? 0 : 1,
                          c: weightGradient.data, ldc: patchSize)
            guard let inputGradient else { continue }
            // dcolumns[C*k*k, block pixels] = W^T x dY, in the column scratch (dW is done with it).
            GEMM.multiply(transposeA: true, transposeB: false, m: patchSize, n: n, k: outChannels,
                          a: weight.data, lda: patchSize, b: dyBlock, ldb: wide, beta: 0, c: columns, ldc: n)
            ChannelMajorIm2Col.col2im(columns: columns, channels: inChannels, batch: batch, first: first, count: count,
                                      geometry: plane, input: inputGradient.data, threads: BLASRuntime.threads)
        }
    }
}
