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

/// im2col / col2im: convolution as one matrix product.
///
/// The column matrix has `patchSize` rows, row r = (c * kernelH + i) * kernelW + j, and in that
/// row the output pixels (oy, ox) in row-major order. Rows are `columnStride` floats apart, so
/// the columns of several images can sit side by side in one wide matrix (image n at offset
/// n * outPixels, columnStride = N * outPixels) and a whole batch becomes a single GEMM.
/// Samples that fall in the zero padding read as 0 (im2col) and are dropped (col2im).
public enum Im2Col {
    /// columns[r, p] = image[c, oy*sh - ph + i, ox*sw - pw + j] (0 outside the image).
    public static func im2col(image: UnsafePointer<Float>, geometry g: ConvGeometry,
                              columns: UnsafeMutablePointer<Float>, columnStride: Int) {
        let oh = g.outHeight, ow = g.outWidth, h = g.height, w = g.width
        var row = 0
        for c in 0..<g.channels {
            let plane = image + c &* h &* w
            for i in 0..<g.kernelH {
                for j in 0..<g.kernelW {
                    var dst = columns + row &* columnStride
                    for oy in 0..<oh {
                        let y = oy &* g.strideH &- g.padH &+ i
                        if y < 0 || y >= h {
                            dst.update(repeating: 0, count: ow)
                        } else {
                            let src = plane + y &* w
                            if g.strideW == 1 {
                                // Contiguous run: zeros left of the image, a copy, zeros right.
                                let x0 = j &- g.padW
                                let lo = max(0, -x0), hi = min(ow, w &- x0)
                                if lo > 0 { dst.update(repeating: 0, count: min(lo, ow)) }
                                if hi > lo { (dst + lo).update(from: src + (x0 &+ lo), count: hi &- lo) }
                                if hi < ow { (dst + max(hi, 0)).update(repeating: 0, count: ow &- max(hi, 0)) }
                            } else {
                                for ox in 0..<ow {
                                    let x = ox &* g.strideW &- g.padW &+ j
                                    dst[ox] = (x >= 0 && x < w) ? src[x] : 0
                                }
                            }
                        }
                        dst += ow
                    }
                    row &+= 1
                }
            }
        }
    }

    /// The adjoint of im2col: image[c, y, x] += every column entry that im2col read from there.
    /// Accumulates, so the caller zeroes `image` first when it wants the plain adjoint.
    public static func col2im(columns: UnsafePointer<Float>, columnStride: Int, geometry g: ConvGeometry,
                              image: UnsafeMutablePointer<Float>) {
        let oh = g.outHeight, ow = g.outWidth, h = g.height, w = g.width
        var row = 0
        for c in 0..<g.channels {
            let plane = image + c &* h &* w
            for i in 0..<g.kernelH {
                for j in 0..<g.kernelW {
                    var src = columns + row &* columnStride
                    for oy in 0..<oh {
                        let y = oy &* g.strideH &- g.padH &+ i
                        if y >= 0 && y < h {
                            let dst = plane + y &* w
                            for ox in 0..<ow {
                                let x = ox &* g.strideW &- g.padW &+ j
                                if x >= 0 && x < w { dst[x] += src[ox] }
                            }
                        }
                        src += ow
                    }
                    row &+= 1
                }
            }
        }
    }
}
