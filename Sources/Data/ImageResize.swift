/// Brings an image of any size to the network's input size without distorting it: scale until
/// it covers the target, then keep the centre.
///
/// For an h x w image and an H x W target, with s = max(H / h, W / w):
///
/// 1. The covering size: the axis that sets s is scaled to the target exactly, the other to
///    floor(side * s) computed in integers (if H w >= W h: H x floor(w H / h), else
///    floor(h W / w) x W). For a square target this is torchvision's `Resize(H)` (shorter side).
/// 2. The centre crop starts at round((covering - target) / 2) on each axis, ties to even, as
///    torchvision's `CenterCrop` (Python's `round`) does.
/// 3. Only the kept pixels are computed: each is a separable triangle (bilinear) filter, first
///    along rows, then along columns, with the taps and fixed-point weights of
///    `ResampleWeights` (the triangle widens by 1/s when shrinking: antialiased, as Pillow's
///    BILINEAR). Each pass rounds to 8 bits: out = clamp((sum W(x) p(x) + 2^21) >> 22, 0, 255),
///    round half up on the 2^-22 grid. So the result is Pillow's `resize((covering), BILINEAR)`
///    followed by the crop, the pipeline of torchvision's `Resize` + `CenterCrop` on PIL images,
///    bit for bit (checked against Pillow 13.0 when this was written).
///
/// An image already of the target size is returned as it is. The weights are computed once per
/// axis; the passes allocate one band of horizontally filtered rows and one row of sums.
public enum ImageResize {
    /// The centre of `image` scaled to cover `height` x `width`, as described above.
    public static func fit(_ image: DecodedImage, height: Int, width: Int) -> DecodedImage {
        precondition(height >= 1 && width >= 1, "ImageResize.fit: target \(width)x\(height) (expected both sides at least 1)")
        if image.height == height && image.width == width { return image }
        let (coverHeight, coverWidth) = height * image.width >= width * image.height
            ? (height, image.width * height / image.height)
            : (image.height * width / image.width, width)
        let rows = ResampleWeights(source: image.height, scaled: coverHeight, offset: centredOffset(coverHeight - height), outputs: height)
        let columns = ResampleWeights(source: image.width, scaled: coverWidth, offset: centredOffset(coverWidth - width), outputs: width)
        // The source rows the column pass reads: the windows only move down as the output row does.
        let bandStart = rows.first[0]
        let bandRows = rows.first[height - 1] + rows.count[height - 1] - bandStart
        let band = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: bandRows * width)
        defer { band.deallocate() }
        let sums = UnsafeMutableBufferPointer<Int32>.allocate(capacity: width)
        defer { sums.deallocate() }
        let plane = height * width, sourcePlane = image.height * image.width
        let pixels = [UInt8](unsafeUninitializedCapacity: image.channels * plane) { out, initialized in
            image.pixels.withUnsafeBufferPointer { source in
                for c in 0..<image.channels {
                    filterRows(source.baseAddress! + c * sourcePlane, width: image.width, rows: bandStart..<(bandStart + bandRows),
                               columns, into: band.baseAddress!)
                    filterColumns(band.baseAddress!, bandStart: bandStart, width: width, rows,
                                  sums: sums.baseAddress!, into: out.baseAddress! + c * plane)
                }
            }
            initialized = image.channels * plane
        }
        return DecodedImage(channels: image.channels, height: height, width: width, pixels: pixels)
    }

    /// round(excess / 2), ties to even.
    static func centredOffset(_ excess: Int) -> Int { Int((Double(excess) / 2).rounded(.toNearestOrEven)) }

    /// The row pass: source rows `rows` of a plane `width` samples wide, filtered to the kept
    /// columns, into `band` (row-major, `columns.first.count` samples per row).
    private static func filterRows(_ source: UnsafePointer<UInt8>, width: Int, rows: Range<Int>, _ columns: ResampleWeights,
                                   into band: UnsafeMutablePointer<UInt8>) {
        let outputs = columns.first.count, taps = columns.taps
        columns.withBuffers { first, count, weights in
            for y in rows {
                let row = source + y &* width
                let out = band + (y &- rows.lowerBound) &* outputs
                for j in 0..<outputs {
                    let start = first[j], n = count[j], w = j &* taps
                    var sum: Int32 = 1 << (ResampleWeights.fractionBits - 1)
                    for k in 0..<n { sum &+= Int32(row[start &+ k]) &* weights[w &+ k] }
                    out[j] = UInt8(clamping: sum >> ResampleWeights.fractionBits)
                }
            }
        }
    }

    /// The column pass: each output row is a weighted sum of whole band rows, accumulated in `sums`.
    private static func filterColumns(_ band: UnsafePointer<UInt8>, bandStart: Int, width: Int, _ rows: ResampleWeights,
                                      sums: UnsafeMutablePointer<Int32>, into out: UnsafeMutablePointer<UInt8>) {
        let taps = rows.taps
        rows.withBuffers { first, count, weights in
            for i in 0..<first.count {
                sums.initialize(repeating: 1 << (ResampleWeights.fractionBits - 1), count: width)
                for k in 0..<count[i] {
                    let weight = weights[i &* taps &+ k]
                    let row = band + (first[i] &+ k &- bandStart) &* width
                    for j in 0..<width { sums[j] &+= Int32(row[j]) &* weight }
                }
                let outRow = out + i &* width
                for j in 0..<width { outRow[j] = UInt8(clamping: sums[j] >> ResampleWeights.fractionBits) }
            }
        }
    }
}
