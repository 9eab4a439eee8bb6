import Platform
import Tensor
import XCTest

/// `WinogradConvolution` against a naive float64 convolution: forward, input gradient and
/// weight gradient, for both tile sizes, on shapes whose sides are not multiples of the tile
/// (partial edge tiles), single channels, tiny images, blocks of one lane group (many blocks)
/// and of the whole batch, 1 and 2 threads.
///
/// The error of a value is |computed - exact| / sum |terms|, the exact float64 value over the
/// sum of the magnitudes of the products it adds up (the error a float sum can be expected to
/// have scales with that, not with the value, which may cancel to near zero). Measured maxima
/// over these shapes (random normal data, seed 41; 32 -> 32 channels at 14x14 in brackets, a
/// typical layer: the maxima come from values of few terms, one input channel or a 2x3 image):
///
/// | tile | forward | input gradient | weight gradient |
/// |---|---|---|---|
/// | F(2x2, 3x3) | 5.8e-7 (1.3e-7) | 2.0e-7 (1.1e-7) | 2.5e-6 (1.6e-7) |
/// | F(4x4, 3x3) | 7.7e-6 (1.4e-6) | 2.6e-6 (1.8e-6) | 9.2e-6 (1.1e-6) |
///
/// (float32's unit roundoff is 6e-8.) F(4x4, 3x3) is about 10x F(2x2, 3x3): its points +-2
/// bring entries up to 8 into A^T and down to 1/24 into G. The bounds asserted are about 3x the
/// maxima: 1e-5 for F(2x2, 3x3), 3e-5 for F(4x4, 3x3).
final class WinogradConvolutionTests: XCTestCase {
    /// (in channels, out channels, height, width, batch)
    private let shapes: [(c: Int, k: Int, h: Int, w: Int, n: Int)] = [
        (1, 8, 7, 7, 3), (3, 5, 5, 9, 3), (8, 16, 28, 28, 2), (16, 8, 1, 1, 2), (4, 4, 2, 3, 1),
        (32, 32, 14, 14, 2), (5, 7, 6, 8, 3), (2, 3, 13, 11, 3), (17, 9, 10, 10, 2),
    ]

    static func bound(_ tile: WinogradConvolution.Tile) -> Double { tile == .f2x2 ? 1e-5 : 3e-5 }

    func testAgainstFloat64Reference() {
        let saved = BLASRuntime.threads
        defer { BLASRuntime.setThreads(saved) }
        for tile in WinogradConvolution.Tile.allCases {
            var worst = [0.0, 0.0, 0.0]
            var rng = SeededRNG(seed: 41)
            for s in shapes {
                for (threads, wholeBatch) in [(1, true), (2, false)] {
                    BLASRuntime.setThreads(threads)
                    let e = errors(tile: tile, shape: s, wholeBatch: wholeBatch, rng: &rng)
                    for i in 0..<3 { worst[i] = max(worst[i], e[i]) }
                }
            }
            print(String(format: "  Winograd %@: max error forward %.2e, input gradient %.2e, weight gradient %.2e",
                         "\(tile)", worst[0], worst[1], worst[2]))
            for (i, what) in ["forward", "input gradient", "weight gradient"].enumerated() {
                XCTAssertLessThanOrEqual(worst[i], Self.bound(tile), "\(tile) \(what)")
            }
        }
    }

    /// The three errors of one shape; forward and input gradient also accumulate onto a start.
    private func errors(tile: WinogradConvolution.Tile, shape s: (c: Int, k: Int, h: Int, w: Int, n: Int),
                        wholeBatch: Bool, rng: inout SeededRNG) -> [Double] {
        let data = Operands(shape: s, rng: &rng)
        let (y, dx, dw) = compute(tile: tile, data, budget: wholeBatch ? Int.max : 0)
        let reference = ReferenceConvolution(c: s.c, k: s.k, h: s.h, w: s.w, n: s.n, x: data.x, weights: data.weights,
                                             dy: data.dy)
        let forward = reference.forward()
        let yError = zip(y.indices, forward).map { i, r in abs(Double(y[i]) - Double(data.start[i]) - r.value) / r.scale }
        return [yError.max() ?? 0, maxError(dx, reference.inputGradient()), maxError(dw, reference.weightGradient())]
    }

    /// The threads take whole blocks (and groups of blocks for the weight gradient): 1, 2 and 3
    /// threads over 7 blocks give the same bits, and so does one block on 2 threads sharing out
    /// each step.
    func testThreadCountChangesNothing() {
        let saved = BLASRuntime.threads
        defer { BLASRuntime.setThreads(saved) }
        var rng = SeededRNG(seed: 5)
        let data = Operands(shape: (8, 16, 28, 28, 2), rng: &rng)
        for (tile, budget) in [(WinogradConvolution.Tile.f4x4, 0), (.f2x2, Int.max)] {
            var results: [[[Float]]] = []
            for threads in [1, 2, 3] {
                BLASRuntime.setThreads(threads)
                let (y, dx, dw) = compute(tile: tile, data, budget: budget)
                results.append([y, dx, dw])
            }
            for threads in [2, 3] {
                XCTAssertTrue(results[threads - 1] == results[0], "\(tile), budget \(budget): \(threads) threads differ from one")
            }
        }
    }

    /// F(4x4, 3x3)'s AVX-512 passes over the tiles (winograd_f4x4_avx512.c) give the portable
    /// passes' bits: forward (accumulating onto a start), input gradient and weight gradient, on
    /// every shape above (edge tiles, absent lanes of a last group, 1x1 and 2x3 images), in
    /// blocks of one lane group and of the whole batch.
    func testAVX512PassesGiveThePortableBits() throws {
        try XCTSkipUnless(KernelPath.cpuHasAVX512, "no AVX-512 on this CPU")
        var rng = SeededRNG(seed: 17)
        for s in shapes {
            let data = Operands(shape: s, rng: &rng)
            for budget in [0, Int.max] {
                let portable = compute(tile: .f4x4, data, budget: budget, vectorPasses: false)
                let vector = compute(tile: .f4x4, data, budget: budget, vectorPasses: true)
                for (what, a, b) in [("forward", portable.0, vector.0), ("input gradient", portable.1, vector.1),
                                     ("weight gradient", portable.2, vector.2)] {
                    let differing = zip(a, b).filter { $0.bitPattern != $1.bitPattern }.count
                    XCTAssertEqual(differing, 0, "\(s), budget \(budget): \(what), \(differing) of \(a.count) values differ")
                }
            }
        }
    }

    /// Random operands of one shape, and a start for the accumulating forward.
    private struct Operands {
        let shape: (c: Int, k: Int, h: Int, w: Int, n: Int)
        let x: [Float], dy: [Float], weights: [Float], start: [Float]
        init(shape s: (c: Int, k: Int, h: Int, w: Int, n: Int), rng: inout SeededRNG) {
            func normals(_ count: Int) -> [Float] { (0..<count).map { _ in rng.normal() } }
            shape = s
            x = normals(s.c * s.n * s.h * s.w); dy = normals(s.k * s.n * s.h * s.w)
            weights = normals(s.k * s.c * 9); start = normals(s.k * s.n * s.h * s.w)
        }
    }

    /// y = start + x (*) w, dx and dw by `tile` on the current thread count, in blocks that fit
    /// `budget` (0: one lane group a block); `vectorPasses` as given, else the default.
    private func compute(tile: WinogradConvolution.Tile, _ data: Operands, budget: Int,
                         vectorPasses: Bool? = nil) -> ([Float], [Float], [Float]) {
        let s = data.shape
        var wino = WinogradConvolution(tile: tile, height: s.h, width: s.w)
        if let vectorPasses { wino.vectorPasses = vectorPasses }
        let block = max(wino.tilesPerBlock(inputs: s.c, outputs: s.k, batch: s.n, budget: budget),
                        wino.tilesPerBlock(inputs: s.k, outputs: s.c, batch: s.n, budget: budget))
        let threads = BLASRuntime.threads
        var scratch = [Float](repeating: .nan, count: wino.scratchCount(inputs: s.c, outputs: s.k, tilesPerBlock: block,
                                                                        threads: threads))
        var u = [Float](repeating: .nan, count: wino.filterCount(outputs: s.k, inputs: s.c))
        var y = data.start, dx = [Float](repeating: .nan, count: data.x.count)
        var dw = [Float](repeating: .nan, count: data.weights.count)
        var sums = [Float](repeating: .nan, count: wino.sumsCount(outChannels: s.k, inChannels: s.c))
        scratch.withUnsafeMutableBufferPointer { scratch in u.withUnsafeMutableBufferPointer { u in
            wino.transformFilters(data.weights, outputs: s.k, inputs: s.c, flipped: false, into: u.baseAddress!)
            wino.convolve(input: data.x, channels: s.c, filters: u.baseAddress!, output: &y, outChannels: s.k, batch: s.n,
                          accumulate: true, block: block, scratch: scratch.baseAddress!, threads: threads)
            wino.transformFilters(data.weights, outputs: s.c, inputs: s.k, flipped: true, into: u.baseAddress!)
            wino.convolve(input: data.dy, channels: s.k, filters: u.baseAddress!, output: &dx, outChannels: s.c,
                          batch: s.n, accumulate: false, block: block, scratch: scratch.baseAddress!, threads: threads)
            wino.weightGradient(outputGradient: data.dy, outChannels: s.k, input: data.x, inChannels: s.c, batch: s.n,
                                block: block, scratch: scratch.baseAddress!, sums: &sums, into: &dw, threads: threads)
        } }
        return (y, dx, dw)
    }

    private func maxError(_ computed: [Float], _ exact: [(value: Double, scale: Double)]) -> Double {
        zip(computed, exact).map { abs(Double($0) - $1.value) / $1.scale }.max() ?? 0
    }
}

/// The 3x3, stride-1, padding-1 convolution and its gradients by the definition, in float64, on
/// channel-major [C][N][H][W] maps: each value with the sum of the magnitudes of its terms.
struct ReferenceConvolution {
    let c: Int, k: Int, h: Int, w: Int, n: Int
    let x: [Float], weights: [Float], dy: [Float]

    /// The tap (i, j) of output pixel (p, q) reads input pixel (p + i - 1, q + j - 1).
    private func inside(_ p: Int, _ q: Int) -> Bool { p >= 0 && p < h && q >= 0 && q < w }
    private func map(_ channel: Int, _ image: Int, _ p: Int, _ q: Int) -> Int { ((channel * n + image) * h + p) * w + q }
    private func weight(_ o: Int, _ i: Int, _ tap: Int) -> Double { Double(weights[(o * c + i) * 9 + tap]) }

    func forward() -> [(value: Double, scale: Double)] {
        var out = [(value: Double, scale: Double)](repeating: (0, 0), count: k * n * h * w)
        for o in 0..<k { for b in 0..<n { for p in 0..<h { for q in 0..<w {
            var sum = 0.0, scale = 0.0
            for i in 0..<c { for tap in 0..<9 where inside(p + tap / 3 - 1, q + tap % 3 - 1) {
                let term = weight(o, i, tap) * Double(x[map(i, b, p + tap / 3 - 1, q + tap % 3 - 1)])
                sum += term; scale += abs(term)
            } }
            out[map(o, b, p, q)] = (sum, max(scale, .leastNormalMagnitude))
        } } } }
        return out
    }

    /// dx[i][b][p][q] = sum over o and taps of w[o][i][tap] dy[o][b][p - di + 1][q - dj + 1].
    func inputGradient() -> [(value: Double, scale: Double)] {
        var out = [(value: Double, scale: Double)](repeating: (0, 0), count: c * n * h * w)
        for i in 0..<c { for b in 0..<n { for p in 0..<h { for q in 0..<w {
            var sum = 0.0, scale = 0.0
            for o in 0..<k { for tap in 0..<9 where inside(p - tap / 3 + 1, q - tap % 3 + 1) {
                let term = weight(o, i, tap) * Double(dy[(((o * n + b) * h) + p - tap / 3 + 1) * w + q - tap % 3 + 1])
                sum += term; scale += abs(term)
            } }
            out[map(i, b, p, q)] = (sum, max(scale, .leastNormalMagnitude))
        } } } }
        return out
    }

    /// dw[o][i][tap] = sum over images and pixels of dy[o][b][p][q] x[i][b][p + di - 1][q + dj - 1].
    func weightGradient() -> [(value: Double, scale: Double)] {
        var out = [(value: Double, scale: Double)](repeating: (0, 0), count: k * c * 9)
        for o in 0..<k { for i in 0..<c { for tap in 0..<9 {
            var sum = 0.0, scale = 0.0
            for b in 0..<n { for p in 0..<h { for q in 0..<w where inside(p + tap / 3 - 1, q + tap % 3 - 1) {
                let term = Double(dy[map(o, b, p, q)]) * Double(x[map(i, b, p + tap / 3 - 1, q + tap % 3 - 1)])
                sum += term; scale += abs(term)
            } } }
            out[(o * c + i) * 9 + tap] = (sum, max(scale, .leastNormalMagnitude))
        } } }
        return out
    }
}
