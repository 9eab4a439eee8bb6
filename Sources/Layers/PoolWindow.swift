/// The geometry both pooling layers check and share: a square window and stride over each
/// (channel, image) plane of a feature map, no padding, floor output size (PyTorch's).
struct PoolWindow {
    let channels: Int, height: Int, width: Int
    let kernelSize: Int, stride: Int
    let outHeight: Int, outWidth: Int

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
        channels = c; height = h; width = w
        self.kernelSize = kernelSize; self.stride = s
        outHeight = (h - kernelSize) / s + 1
        outWidth = (w - kernelSize) / s + 1
    }

    var outputShape: FeatureShape { .map(channels: channels, height: outHeight, width: outWidth) }
}
