@testable import Tensor

/// im2col / col2im: convolution as one matrix product; the plain reference that
/// `ChannelMajorIm2Col` (the product's fused, batched form) is tested against.
///
/// The column matrix has `patchSize` rows, row r = (c * kernelH + i) * kernelW + j, and in that
/// row the output pixels (oy, ox) in row-major order. Rows are `columnStride` floats apart, so
/// the columns of several images can sit side by side in one wide matrix (image n at offset
/// n * outPixels, columnStride = N * outPixels) and a whole batch becomes a single GEMM.
/// Samples that fall in the zero padding read as 0 (im2col) and are dropped (col2im).
enum Im2Col {
    /// columns[r, p] = image[c, oy*sh - ph + i, ox*sw - pw + j] (0 outside the image).
    static func im2col(image: UnsafePointer<Float>, geometry g: ConvGeometry,
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
    static func col2im(columns: UnsafePointer<Float>, columnStride: Int, geometry g: ConvGeometry,
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
