/// im2col / col2im for a batch stored channel-major, `[C, N, H, W]`, a few images at a time.
///
/// The column matrix of images `first ..< first + count` has one row per (channel c, kernel row
/// i, kernel column j), r = (c * kh + i) * kw + j, and in each row the output pixels of those
/// images side by side (image `first + b` at column b * OH*OW); rows are count * OH*OW floats
/// apart. This is the plain im2col (its reference is in the tests) applied to every (channel,
/// image) plane, fused into one pass with a contiguous fast path for stride 1 in both
/// directions (the usual 3x3 "same" convolution), where every (row, output row) is one copy
/// (im2col) or one vector add (col2im) between two zero-padding margins. `geometry` describes one plane: channels 1, the plane's height/width.
public enum ChannelMajorIm2Col {
    /// columns[r, b*OHW + p] = input[c, first + b, p*s - pad + (i, j)] (0 in the padding), the
    /// channels (each with rows of its own) split over `threads`.
    public static func im2col(input: UnsafePointer<Float>, channels: Int, batch: Int, first: Int, count: Int,
                              geometry g: ConvGeometry, columns: UnsafeMutablePointer<Float>, threads: Int) {
        precondition(g.channels == 1 && first >= 0 && count >= 0 && first + count <= batch, "bad im2col slice")
        let h = g.height, w = g.width, oh = g.outHeight, ow = g.outWidth, ohw = oh * ow
        let kh = g.kernelH, kw = g.kernelW, sh = g.strideH, sw = g.strideW, ph = g.padH, pw = g.padW
        let rowStride = count &* ohw
        // Stride 1 with output rows as wide as input rows ("same" padding): a column row of one
        // image is the image plane shifted by a constant, so each (row, image) is one copy of
        // all its valid output rows (instead of one short copy per output row) plus the zero
        // margins.
        let flat = sh == 1 && sw == 1 && ow == w
        func fill(channel c: Int) {
            for i in 0..<kh {
                for j in 0..<kw {
                    let row = columns + ((c &* kh &+ i) &* kw &+ j) &* rowStride
                    // Output columns whose input x falls inside the image: ox in lo ..< hi.
                    let lo = max(0, (pw &- j &+ sw &- 1) / sw)
                    let hi = max(lo, min(ow, (w &+ pw &- j &+ sw &- 1) / sw))
                    if flat {
                        for b in 0..<count {
                            copyShifted(plane: input + (c &* batch &+ first &+ b) &* h &* w, into: row + b &* ohw,
                                        i: i, j: j, validColumns: lo ..< hi, geometry: g)
                        }
                        continue
                    }
                    for b in 0..<count {
                        let plane = input + (c &* batch &+ first &+ b) &* h &* w
                        var dst = row + b &* ohw
                        for oy in 0..<oh {
                            let y = oy &* sh &- ph &+ i
                            if y < 0 || y >= h {
                                dst.update(repeating: 0, count: ow)
                            } else {
                                let src = plane + y &* w
                                if lo > 0 { dst.update(repeating: 0, count: lo) }
                                if sw == 1 {
                                    (dst + lo).update(from: src + (lo &- pw &+ j), count: hi &- lo)
                                } else {
                                    var ox = lo
                                    while ox < hi { dst[ox] = src[ox &* sw &- pw &+ j]; ox &+= 1 }
                                }
                                if hi < ow { (dst + hi).update(repeating: 0, count: ow &- hi) }
                            }
                            dst += ow
                        }
                    }
                }
            }
        }
        Parallel.forEach(count: channels, threads: threads) { _, cs in for c in cs { fill(channel: c) } }
    }

    /// One (kernel row i, column j) row of one image for stride 1 and "same" width: the plane
    /// shifted by a constant, copied in one piece from the first valid pixel of the first valid
    /// row to the last of the last; the margins that copy filled with neighbours' pixels are
    /// zeroed after.
    @inline(__always)
    private static func copyShifted(plane: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>,
                                    i: Int, j: Int, validColumns: Range<Int>, geometry g: ConvGeometry) {
        let h = g.height, w = g.width, oh = g.outHeight, ow = g.outWidth, ph = g.padH, pw = g.padW
        let lo = validColumns.lowerBound, hi = validColumns.upperBound
        // Valid output rows: y = oy - ph + i in 0 ..< h.
        let oyLo = min(oh, max(0, ph &- i)), oyHi = max(oyLo, min(oh, h &+ ph &- i))
        let shift = (i &- ph) &* w &+ (j &- pw)
        if oyLo > 0 { dst.update(repeating: 0, count: oyLo &* ow) }
        if oyHi < oh { (dst + oyHi &* ow).update(repeating: 0, count: (oh &- oyHi) &* ow) }
        guard oyLo < oyHi, lo < hi else {
            (dst + oyLo &* ow).update(repeating: 0, count: (oyHi &- oyLo) &* ow)
            return
        }
        let start = oyLo &* ow &+ lo, end = (oyHi &- 1) &* ow &+ hi
        (dst + start).update(from: plane + (start &+ shift), count: end &- start)
        var oy = oyLo
        while oy < oyHi {
            let r = dst + oy &* ow
            var x = 0
            while x < lo { r[x] = 0; x &+= 1 }
            x = hi
            while x < ow { r[x] = 0; x &+= 1 }
            oy &+= 1
        }
    }

    /// The adjoint of `im2col`: input[c, first + b, ...] += every column entry im2col read from
    /// there (padding entries are dropped). Accumulates; zero the slice first for a plain adjoint.
    /// The channels (each with planes of its own) split over `threads`.
    public static func col2im(columns: UnsafePointer<Float>, channels: Int, batch: Int, first: Int, count: Int,
                              geometry g: ConvGeometry, input: UnsafeMutablePointer<Float>, threads: Int) {
        precondition(g.channels == 1 && first >= 0 && count >= 0 && first + count <= batch, "bad col2im slice")
        let h = g.height, w = g.width, oh = g.outHeight, ow = g.outWidth, ohw = oh * ow
        let kh = g.kernelH, kw = g.kernelW, sh = g.strideH, sw = g.strideW, ph = g.padH, pw = g.padW
        let rowStride = count &* ohw
        func add(channel c: Int) {
            for i in 0..<kh {
                for j in 0..<kw {
                    let row = columns + ((c &* kh &+ i) &* kw &+ j) &* rowStride
                    let lo = max(0, (pw &- j &+ sw &- 1) / sw)
                    let hi = max(lo, min(ow, (w &+ pw &- j &+ sw &- 1) / sw))
                    for b in 0..<count {
                        let plane = input + (c &* batch &+ first &+ b) &* h &* w
                        var src = row + b &* ohw
                        for oy in 0..<oh {
                            let y = oy &* sh &- ph &+ i
                            if y >= 0 && y < h {
                                let dst = plane + y &* w
                                if sw == 1 {
                                    let out = dst + (lo &- pw &+ j)
                                    var ox = lo
                                    while ox < hi { out[ox &- lo] += src[ox]; ox &+= 1 }
                                } else {
                                    var ox = lo
                                    while ox < hi { dst[ox &* sw &- pw &+ j] += src[ox]; ox &+= 1 }
                                }
                            }
                            src += ow
                        }
                    }
                }
            }
        }
        Parallel.forEach(count: channels, threads: threads) { _, cs in for c in cs { add(channel: c) } }
    }
}
