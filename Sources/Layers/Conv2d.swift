import Tensor

/// 2-D convolution, PyTorch's `nn.Conv2d(in, out, kernel, stride, padding, bias)` (square
/// kernel, stride and padding; zero padding; floor output size).
///
/// y[o, n, p] = sum_{c,i,j} w[o, c, i, j] * x[c, n, p*s - pad + (i, j)] + b[o]
///
/// Forward is one im2col over the whole batch (columns `[C*k*k, N*OH*OW]`, image n's pixels at
/// column offset n*OH*OW) and ONE GEMM `W[out, C*k*k] x columns`, which lands directly in the
/// channel-major output `[out, N, OH, OW]`. A 1x1, stride-1, unpadded convolution skips im2col:
/// its channel-major input already is the column matrix. Backward recomputes the columns into
/// the shared workspace (cheaper in memory than keeping one column matrix per layer), then
/// dW = dY x columns^T (one GEMM), db = row sums of dY, and dX = col2im(W^T x dY) (one GEMM).
/// Weights `[out, in, k, k]` start Kaiming-normal (fan_in = in*k*k), the bias at zero.
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
    private var weight: Tensor!, weightGradient: Tensor!
    private var bias: Tensor?, biasGradient: Tensor?
    private var context: LayerContext!
    private let output = ActivationBuffer()
    private var lastInput: Tensor?

    /// Throws when the input is not a feature map or the window does not fit it.
    public init(name: String, input: FeatureShape, outChannels: Int, kernelSize: Int,
                stride: Int = 1, padding: Int = 0, bias: Bool = true) throws {
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
    }

    public var kind: String {
        "Conv2d(\(inChannels)->\(outChannels), \(kernelSize)x\(kernelSize), s\(stride), p\(padding)\(hasBias ? "" : ", no bias"))"
    }

    public var stateSpecs: [StateSpec] {
        let k2 = kernelSize * kernelSize
        var specs = [StateSpec(name: "weight", shape: [outChannels, inChannels, kernelSize, kernelSize],
                               role: .parameter(.weight(fanIn: inChannels * k2, fanOut: outChannels * k2)))]
        if hasBias { specs.append(StateSpec(name: "bias", shape: [outChannels], role: .parameter(.zeros))) }
        return specs
    }

    public func bind(_ binding: LayerBinding) {
        weight = binding.parameters[0]; weightGradient = binding.gradients[0]
        if hasBias { bias = binding.parameters[1]; biasGradient = binding.gradients[1] }
        context = binding.context
    }

    /// Rows of the column matrix: one per (input channel, kernel row, kernel column).
    private var patchSize: Int { inChannels * kernelSize * kernelSize }

    /// Fills the column matrix `[C*k*k, N*OH*OW]` of a channel-major batch.
    private func im2col(_ x: UnsafePointer<Float>, batch: Int, into columns: UnsafeMutablePointer<Float>) {
        let hw = plane.height * plane.width, ohw = plane.outPixels
        let wide = batch * ohw, kk = kernelSize * kernelSize
        for c in 0..<inChannels {
            let rows = columns + c &* kk &* wide
            for n in 0..<batch {
                Im2Col.im2col(image: x + (c &* batch &+ n) &* hw, geometry: plane,
                              columns: rows + n &* ohw, columnStride: wide)
            }
        }
    }

    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        let batch = input.shape[1]
        let y = output.tensor(batch: batch, shape: outputShape)
        lastInput = input
        let wide = batch * plane.outPixels
        let columns: UnsafePointer<Float>
        if isPointwise {
            columns = UnsafePointer(input.data)
        } else {
            let scratch = context.workspace.floats(.columns, count: patchSize * wide)
            im2col(input.data, batch: batch, into: scratch)
            columns = UnsafePointer(scratch)
        }
        // y[out, N*OHW] = W[out, C*k*k] x columns[C*k*k, N*OHW]
        GEMM.multiply(transposeA: false, transposeB: false, m: outChannels, n: wide, k: patchSize,
                      a: weight.data, lda: patchSize, b: columns, ldb: wide, beta: 0, c: y.data, ldc: wide)
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
    func backward(_ outputGradient: Tensor, inputGradient: Tensor?, accumulate: Bool) {
        guard let input = lastInput else { preconditionFailure("\(name): backward before forward") }
        let batch = input.shape[1]
        let wide = batch * plane.outPixels
        let dy = UnsafePointer(outputGradient.data)
        let columns: UnsafeMutablePointer<Float>
        if isPointwise {
            columns = input.data
        } else {
            columns = context.workspace.floats(.columns, count: patchSize * wide)
            im2col(input.data, batch: batch, into: columns)
        }
        // dW[out, C*k*k] = dY[out, N*OHW] x columns^T
        GEMM.multiply(transposeA: false, transposeB: true, m: outChannels, n: patchSize, k: wide,
                      a: dy, lda: wide, b: columns, ldb: wide, beta: 0, c: weightGradient.data, ldc: patchSize)
        if let biasGradient {
            for o in 0..<outChannels {
                biasGradient.data[o] = Float(Elementwise.sum(dy + o &* wide, count: wide))
            }
        }
        guard let inputGradient else { return }
        if isPointwise {
            // dX[C, N*HW] = W^T x dY, straight into the input gradient.
            GEMM.multiply(transposeA: true, transposeB: false, m: inChannels, n: wide, k: outChannels,
                          a: weight.data, lda: inChannels, b: dy, ldb: wide,
                          beta: accumulate ? 1 : 0, c: inputGradient.data, ldc: wide)
            return
        }
        // dcolumns[C*k*k, N*OHW] = W^T x dY, reusing the column scratch (dW no longer needs it).
        GEMM.multiply(transposeA: true, transposeB: false, m: patchSize, n: wide, k: outChannels,
                      a: weight.data, lda: patchSize, b: dy, ldb: wide, beta: 0, c: columns, ldc: wide)
        if !accumulate { inputGradient.fill(0) }
        let hw = plane.height * plane.width, ohw = plane.outPixels, kk = kernelSize * kernelSize
        let dx = inputGradient.data
        for c in 0..<inChannels {
            let rows = UnsafePointer(columns + c &* kk &* wide)
            for n in 0..<batch {
                Im2Col.col2im(columns: rows + n &* ohw, columnStride: wide, geometry: plane,
                              image: dx + (c &* batch &+ n) &* hw)
            }
        }
    }
}
