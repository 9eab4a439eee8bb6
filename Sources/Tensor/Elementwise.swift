import Foundation

/// Elementwise kernels over raw Float buffers: the activation functions and their derivatives,
/// plus the few vector helpers the layers need.
///
/// Every function takes plain pointers and a count so callers can hand in any slice of any
/// buffer; output may alias input wherever an element is read before it is written (all of
/// these read element i, then write element i). Backward kernels take the forward *output*
/// where the derivative can be written in it (ReLU, tanh, sigmoid), so an activation does not
/// have to keep its input alive.
public enum Elementwise {
    /// y = max(0, x).
    public static func relu(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i < count { let v = x[i]; y[i] = v > 0 ? v : 0; i &+= 1 }
    }

    /// dx = dy where the ReLU output was positive, else 0 (the subgradient at 0 is 0, as in PyTorch).
    /// In SIMD lanes: written as a scalar select the compiler emits a branch, which random signs
    /// mispredict half the time (10x slower, measured).
    public static func reluBackward(output y: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>,
                                    inputGradient dx: UnsafeMutablePointer<Float>, count: Int) {
        let zero = SIMD8<Float>(repeating: 0)
        var i = 0
        while i &+ 8 <= count {
            dx.storeLanes(zero.replacing(with: dy.loadLanes(i), where: y.loadLanes(i) .> zero), at: i)
            i &+= 8
        }
        while i < count { dx[i] = y[i] > 0 ? dy[i] : 0; i &+= 1 }
    }

    /// `reluBackward` split over `threads` threads in runs of whole vectors (each element is its
    /// own, so the thread count changes nothing).
    public static func reluBackward(output y: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>,
                                    inputGradient dx: UnsafeMutablePointer<Float>, count: Int, threads: Int) {
        Parallel.forEach(count: (count &+ 7) / 8, threads: threads) { _, vectors in
            let start = vectors.lowerBound &* 8, end = min(count, vectors.upperBound &* 8)
            reluBackward(output: y + start, outputGradient: dy + start, inputGradient: dx + start, count: end &- start)
        }
    }

    /// y = x for x > 0, slope * x otherwise.
    public static func leakyReLU(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, slope: Float, count: Int) {
        var i = 0
        while i < count { let v = x[i]; y[i] = v > 0 ? v : v * slope; i &+= 1 }
    }

    /// dx = dy where y > 0, slope * dy otherwise. With slope >= 0, y > 0 exactly when x > 0.
    public static func leakyReLUBackward(output y: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>,
                                         inputGradient dx: UnsafeMutablePointer<Float>, slope: Float, count: Int) {
        let zero = SIMD8<Float>(repeating: 0)
        var i = 0
        while i &+ 8 <= count {
            let g = dy.loadLanes(i)
            dx.storeLanes((g * slope).replacing(with: g, where: y.loadLanes(i) .> zero), at: i)
            i &+= 8
        }
        while i < count { let g = dy[i]; dx[i] = y[i] > 0 ? g : g * slope; i &+= 1 }
    }

    /// The input gradient of batch normalization over one channel:
    /// dx = a * dy' + k1 * x + k0, where dy' = dy, or dy where mask > 0 when a mask is given
    /// (a ReLU fused into the normalization).
    public static func batchNormInputGradient(outputGradient dy: UnsafePointer<Float>, input x: UnsafePointer<Float>,
                                              mask: UnsafePointer<Float>?, a: Float, k1: Float, k0: Float,
                                              inputGradient dx: UnsafeMutablePointer<Float>, count: Int) {
        let zero = SIMD8<Float>(repeating: 0)
        var i = 0
        if let mask {
            while i &+ 8 <= count {
                let g = zero.replacing(with: dy.loadLanes(i), where: mask.loadLanes(i) .> zero)
                dx.storeLanes(a * g + k1 * x.loadLanes(i) + k0, at: i)
                i &+= 8
            }
            while i < count { let g = mask[i] > 0 ? dy[i] : 0; dx[i] = a * g + k1 * x[i] + k0; i &+= 1 }
        } else {
            while i < count { dx[i] = a * dy[i] + k1 * x[i] + k0; i &+= 1 }
        }
    }

    /// y = tanh(x).
    public static func tanh(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i < count { y[i] = Foundation.tanh(x[i]); i &+= 1 }
    }

    /// dx = dy * (1 - y^2).
    public static func tanhBackward(output y: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>,
                                    inputGradient dx: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i < count { let t = y[i]; dx[i] = dy[i] * (1 - t * t); i &+= 1 }
    }

    /// y = 1 / (1 + exp(-x)), evaluated so that neither branch overflows.
    public static func sigmoid(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i < count {
            let v = x[i]
            if v >= 0 {
                y[i] = 1 / (1 + Foundation.exp(-v))
            } else {
                let e = Foundation.exp(v)
                y[i] = e / (1 + e)
            }
            i &+= 1
        }
    }

    /// dx = dy * y * (1 - y).
    public static func sigmoidBackward(output y: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>,
                                       inputGradient dx: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i < count { let s = y[i]; dx[i] = dy[i] * s * (1 - s); i &+= 1 }
    }

    /// out = a * b.
    public static func multiply(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                                _ out: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i < count { out[i] = a[i] * b[i]; i &+= 1 }
    }

    /// out = a + b.
    public static func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                           _ out: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i < count { out[i] = a[i] + b[i]; i &+= 1 }
    }

    /// Sum in Double, accumulated in blocks of Floats: the Float inner loop runs on SIMD lanes
    /// (a plain scalar reduction does not vectorize, the compiler may not reorder the adds), the
    /// Double outer sum keeps the error of long reductions (a BN channel has N*H*W terms) small.
    public static func sum(_ x: UnsafePointer<Float>, count: Int) -> Double {
        blockedSum(count: count) { i in x.loadLanes(i) } scalar: { i in x[i] }
    }

    /// Sum of (x - shift)^2 in Double, blocked like `sum`.
    public static func sumOfSquaredDeviations(_ x: UnsafePointer<Float>, shift: Float, count: Int) -> Double {
        let s8 = SIMD8<Float>(repeating: shift)
        return blockedSum(count: count) { i in let d = x.loadLanes(i) - s8; return d * d }
            scalar: { i in let d = x[i] - shift; return d * d }
    }

    /// Sum of (x - shift) and sum of (x - shift)^2 in Double, in one pass, blocked like `sum`.
    public static func shiftedSums(_ x: UnsafePointer<Float>, shift: Float, count: Int) -> (sum: Double, squares: Double) {
        let s8 = SIMD8<Float>(repeating: shift)
        return blockedSums(count: count) { i in
            let d = x.loadLanes(i) - s8
            return (d, d * d)
        } scalar: { i in let d = x[i] - shift; return (d, d * d) }
    }

    /// Sum of b and sum of (a - shift) * b, in one pass (batch norm's backward reductions),
    /// blocked like `sum`. With a mask, only where mask > 0 (the gradient reaching a
    /// ReLU-fused batch norm).
    public static func sumAndShiftedDot(_ b: UnsafePointer<Float>, _ a: UnsafePointer<Float>, shift: Float,
                                        mask: UnsafePointer<Float>?, count: Int) -> (sum: Double, dot: Double) {
        let zero = SIMD8<Float>(repeating: 0), s8 = SIMD8<Float>(repeating: shift)
        guard let mask else {
            return blockedSums(count: count) { i in
                let g = b.loadLanes(i)
                return (g, (a.loadLanes(i) - s8) * g)
            } scalar: { i in (b[i], (a[i] - shift) * b[i]) }
        }
        return blockedSums(count: count) { i in
            let g = zero.replacing(with: b.loadLanes(i), where: mask.loadLanes(i) .> zero)
            return (g, (a.loadLanes(i) - s8) * g)
        } scalar: { i in mask[i] > 0 ? (b[i], (a[i] - shift) * b[i]) : (0, 0) }
    }

    /// The shared reduction: 8-lane Float partial sums over blocks, block totals added in Double.
    @inline(__always)
    private static func blockedSum(count: Int, lanes: (Int) -> SIMD8<Float>, scalar: (Int) -> Float) -> Double {
        var total = 0.0
        var start = 0
        while start < count {
            let end = min(count, start &+ blockLength)
            var acc = SIMD8<Float>(repeating: 0)
            var i = start
            while i &+ 8 <= end { acc += lanes(i); i &+= 8 }
            var tail: Float = 0
            while i < end { tail += scalar(i); i &+= 1 }
            total += Double(acc.sum()) + Double(tail)
            start = end
        }
        return total
    }

    /// `blockedSum` for two sums at once.
    @inline(__always)
    private static func blockedSums(count: Int, lanes: (Int) -> (SIMD8<Float>, SIMD8<Float>),
                                    scalar: (Int) -> (Float, Float)) -> (Double, Double) {
        var total0 = 0.0, total1 = 0.0
        var start = 0
        while start < count {
            let end = min(count, start &+ blockLength)
            var acc0 = SIMD8<Float>(repeating: 0), acc1 = SIMD8<Float>(repeating: 0)
            var i = start
            while i &+ 8 <= end { let (x, y) = lanes(i); acc0 += x; acc1 += y; i &+= 8 }
            var tail0: Float = 0, tail1: Float = 0
            while i < end { let (x, y) = scalar(i); tail0 += x; tail1 += y; i &+= 1 }
            total0 += Double(acc0.sum()) + Double(tail0)
            total1 += Double(acc1.sum()) + Double(tail1)
            start = end
        }
        return (total0, total1)
    }

    /// Terms summed in Float before they join the Double total: short enough that the Float
    /// partial sum loses nothing that matters, long enough to keep the vector loop busy.
    private static let blockLength = 512
}

extension UnsafePointer where Pointee == Float {
    /// Eight consecutive floats from element i, no alignment assumed.
    @inline(__always)
    func loadLanes(_ i: Int) -> SIMD8<Float> {
        UnsafeRawPointer(self + i).loadUnaligned(as: SIMD8<Float>.self)
    }
}

extension UnsafeMutablePointer where Pointee == Float {
    @inline(__always)
    func loadLanes(_ i: Int) -> SIMD8<Float> { UnsafePointer(self).loadLanes(i) }

    /// Stores eight floats at element i, no alignment assumed.
    @inline(__always)
    func storeLanes(_ v: SIMD8<Float>, at i: Int) {
        UnsafeMutableRawPointer(self + i).storeBytes(of: v, as: SIMD8<Float>.self)
    }
}
