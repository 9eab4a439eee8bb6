import Tensor

/// The window both pooling layers check and share: a square window and stride over each
/// (channel, image) plane of a feature map, no padding; its arithmetic (floor output size,
/// PyTorch's) is the convolutions' `ConvGeometry`.
struct PoolWindow {
    let geometry: ConvGeometry
    var channels: Int { geometry.channels }
    var height: Int { geometry.height }
    var width: Int { geometry.width }
    var kernelSize: Int { geometry.kernelH }
    var stride: Int { geometry.strideH }
    var outHeight: Int { geometry.outHeight }
    var outWidth: Int { geometry.outWidth }

    /// Throws, naming the layer and its kind, when the input is not a feature map or is smaller
    /// than the window. The stride defaults to the kernel size.
    init(layer name: String, kind: String, input: FeatureShape, kernelSize: Int, stride: Int?) throws {
        guard case let .map(c, h, w) = input else {
            throw ModelError("layer \(name): \(kind) needs a feature map input, got \(input) flat features")
        }
        let s = stride ?? kernelSize
        guard kernelSize > 0, s > 0 else {
            throw ModelError("layer \(name): \(kind) needs kernel and stride > 0, got k \(kernelSize) s \(s)")
        }
        guard h >= kernelSize, w >= kernelSize else {
            throw ModelError("layer \(name): input \(input) is smaller than the \(kernelSize)x\(kernelSize) \(kind) window")
        }
        geometry = ConvGeometry(channels: c, height: h, width: w, kernelH: kernelSize, kernelW: kernelSize,
                                strideH: s, strideW: s)
    }

    var outputShape: FeatureShape { .map(channels: channels, height: outHeight, width: outWidth) }
}
