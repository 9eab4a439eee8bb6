/// Shape arithmetic of a 2-D sliding window (convolution or pooling) over one C x H x W image.
public struct ConvGeometry: Equatable, Sendable {
    public let channels: Int, height: Int, width: Int
    public let kernelH: Int, kernelW: Int
    public let strideH: Int, strideW: Int
    public let padH: Int, padW: Int

    public init(channels: Int, height: Int, width: Int, kernelH: Int, kernelW: Int,
                strideH: Int = 1, strideW: Int = 1, padH: Int = 0, padW: Int = 0) {
        precondition(channels > 0 && height > 0 && width > 0, "empty image \(channels)x\(height)x\(width)")
        precondition(kernelH > 0 && kernelW > 0 && strideH > 0 && strideW > 0 && padH >= 0 && padW >= 0,
                     "bad window \(kernelH)x\(kernelW) stride \(strideH),\(strideW) pad \(padH),\(padW)")
        self.channels = channels; self.height = height; self.width = width
        self.kernelH = kernelH; self.kernelW = kernelW
        self.strideH = strideH; self.strideW = strideW
        self.padH = padH; self.padW = padW
    }

    /// PyTorch's floor((H + 2p - k) / s) + 1.
    public var outHeight: Int { (height + 2 * padH - kernelH) / strideH + 1 }
    public var outWidth: Int { (width + 2 * padW - kernelW) / strideW + 1 }
    /// Rows of the column matrix: one per (channel, kernel row, kernel column).
    public var patchSize: Int { channels * kernelH * kernelW }
    /// Columns of the column matrix for one image: one per output pixel.
    public var outPixels: Int { outHeight * outWidth }
    public var imageSize: Int { channels * height * width }
}
