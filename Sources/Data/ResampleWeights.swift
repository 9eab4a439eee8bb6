/// The fixed-point taps of the triangle (bilinear) filter along one axis of `ImageResize.fit`:
/// for each output position, the first source sample it reads, how many, and their weights.
/// Computed once per axis and call, so the passes over the pixels only multiply and add.
///
/// For an axis of `source` samples scaled to `scaled` (of which outputs `offset ..< offset +
/// outputs` are kept), with scale = source / scaled and f = max(scale, 1):
///
///     centre(j) = (offset + j + 0.5) * scale
///     taps x    = max(trunc(centre - f + 0.5), 0) ..< min(trunc(centre + f + 0.5), source)
///     w(x)      = max(0, 1 - |(x - centre + 0.5) * (1 / f)|), divided by the sum over the taps
///     W(x)      = trunc(w(x) * 2^22 + 0.5)            (round half up; weights are never negative)
///
/// When shrinking (f = scale > 1) the triangle is f times wider, so every source sample weighs
/// in (antialiasing); when enlarging it is plain linear interpolation between the two nearest
/// samples. These are Pillow's formulas for `resize(..., BILINEAR)`, evaluated in the same order.
struct ResampleWeights {
    /// Fractional bits of the weights: 255 x 2^22, plus the rounding term, fits in an Int32.
    static let fractionBits: Int32 = 22

    /// The first source index read by each output position.
    let first: [Int]
    /// How many consecutive source samples each output position reads.
    let count: [Int]
    /// The room for weights per output position: output j's are `weights[j * taps ..< j * taps + count[j]]`.
    let taps: Int
    /// W(x) in units of 2^-22; each position's sum is 2^22 up to the rounding of its terms.
    let weights: [Int32]

    init(source: Int, scaled: Int, offset: Int, outputs: Int) {
        let scale = Double(source) / Double(scaled)
        let filterScale = max(scale, 1)
        let inverse = 1 / filterScale
        let one = Double(1 << Self.fractionBits)
        // The window spans at most 2 f + 1 samples.
        let taps = Int(filterScale.rounded(.up)) * 2 + 1
        var first = [Int](repeating: 0, count: outputs)
        var count = [Int](repeating: 0, count: outputs)
        var weights = [Int32](repeating: 0, count: outputs * taps)
        var exact = [Double](repeating: 0, count: taps)
        for j in 0..<outputs {
            let centre = (Double(offset + j) + 0.5) * scale
            let low = max(Int(centre - filterScale + 0.5), 0)
            let high = min(Int(centre + filterScale + 0.5), source)
            var total = 0.0
            for x in low..<high {
                let w = max(0, 1 - abs((Double(x) - centre + 0.5) * inverse))
                exact[x - low] = w
                total += w
            }
            // The sample nearest the centre is always within the window with a positive weight.
            for k in 0..<(high - low) { weights[j * taps + k] = Int32(exact[k] / total * one + 0.5) }
            first[j] = low
            count[j] = high - low
        }
        self.first = first
        self.count = count
        self.taps = taps
        self.weights = weights
    }

    /// `first`, `count` and `weights` as buffers, for the passes' inner loops.
    func withBuffers<R>(_ body: (UnsafeBufferPointer<Int>, UnsafeBufferPointer<Int>, UnsafeBufferPointer<Int32>) -> R) -> R {
        first.withUnsafeBufferPointer { first in
            count.withUnsafeBufferPointer { count in
                weights.withUnsafeBufferPointer { weights in body(first, count, weights) }
            }
        }
    }
}
