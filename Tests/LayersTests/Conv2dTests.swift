import Platform
import XCTest
import Layers
import Tensor

/// Conv2d against direct convolution loops (forward and all three gradients) and the gradient checker.
final class Conv2dTests: XCTestCase {
    /// (in channels, height, width, out channels, kernel, stride, padding, bias)
    private let configurations: [(Int, Int, Int, Int, Int, Int, Int, Bool)] = [
        (1, 6, 6, 4, 3, 1, 1, false),  // the fmnist-cnn first layer, small
        (3, 7, 5, 2, 3, 2, 1, true),   // stride 2, odd sizes, bias
        (2, 8, 8, 3, 5, 1, 2, true),   // 5x5 "same"
        (4, 5, 5, 6, 1, 1, 0, true),   // pointwise: no im2col
        (3, 6, 6, 5, 1, 2, 0, false),  // 1x1 stride 2: the residual projection
        (2, 5, 6, 2, 2, 3, 0, true),   // stride larger than kernel
        (8, 5, 7, 16, 3, 1, 1, true),  // 3x3 "same", channels in 8s: the direct kernels (odd sizes, bias)
        (16, 1, 1, 8, 3, 1, 1, false), // direct on a 1x1 image: every tap but the centre in the padding
    ]

    /// Both the one-GEMM path (whole batch in one column matrix) and the blocked path (one image
    /// per block, the weight gradient accumulated over blocks) against the direct loops.
    func testForwardAndBackwardMatchDirectLoops() throws {
        var rng = SeededRNG(seed: 21)
        for budget in [Int.max, 1] { for (c, h, w, outC, k, s, p, hasBias) in configurations {
            let n = 3
            let conv = try Conv2d(name: "conv", input: .map(channels: c, height: h, width: w), outChannels: outC,
                                  kernelSize: k, stride: s, padding: p, bias: hasBias)
            conv.columnBudget = budget
            let store = bind(conv, seed: 5)
            // Non-zero bias so that its use is visible.
            if hasBias { for i in 0..<outC { store.parameterViews(ofLayer: 0)[1].value[i] = rng.normal() } }
            let params = parameterArrays(store)
            let x = randomValues(n * c * h * w, rng: &rng)
            let y = conv.forward(makeTensor([c, n, h, w], channelMajor(x, n: n, c: c, hw: h * w)), training: true)
            let ref = naiveConv(x: x, n: n, c: c, h: h, w: w, weight: params[0], bias: hasBias ? params[1] : nil,
                                outC: outC, k: k, stride: s, pad: p)
            XCTAssertEqual(y.shape, [outC, n, ref.oh, ref.ow])
            let label = "c\(c) \(h)x\(w) -> \(outC) k\(k) s\(s) p\(p) budget \(budget)"
            assertClose(batchMajor(y.array, n: n, c: outC, hw: ref.oh * ref.ow), ref.y, atol: 1e-5, rtol: 1e-5, "\(label) forward")

            // Backward against the direct adjoint loops.
            let dyNCHW = randomValues(ref.y.count, rng: &rng)
            let dx = Tensor(shape: [c, n, h, w])
            conv.backward(makeTensor(y.shape, channelMajor(dyNCHW, n: n, c: outC, hw: ref.oh * ref.ow)), inputGradient: dx)
            var dW = [Double](repeating: 0, count: params[0].count), dB = [Double](repeating: 0, count: outC)
            var dX = [Double](repeating: 0, count: x.count)
            for b in 0..<n { for o in 0..<outC { for oy in 0..<ref.oh { for ox in 0..<ref.ow {
                let g = Double(dyNCHW[((b * outC + o) * ref.oh + oy) * ref.ow + ox])
                dB[o] += g
                for ci in 0..<c { for i in 0..<k { for j in 0..<k {
                    let yy = oy * s - p + i, xx = ox * s - p + j
                    guard yy >= 0 && yy < h && xx >= 0 && xx < w else { continue }
                    let wi = ((o * c + ci) * k + i) * k + j, xi = ((b * c + ci) * h + yy) * w + xx
                    dW[wi] += g * Double(x[xi])
                    dX[xi] += g * Double(params[0][wi])
                } } }
            } } } }
            let grads = gradientArrays(store)
            assertClose(grads[0], dW.map(Float.init), atol: 1e-4, rtol: 1e-4, "\(label) dW")
            if hasBias { assertClose(grads[1], dB.map(Float.init), atol: 1e-4, rtol: 1e-4, "\(label) db") }
            assertClose(batchMajor(dx.array, n: n, c: c, hw: h * w), dX.map(Float.init), atol: 1e-4, rtol: 1e-4, "\(label) dx")
        } }
    }

    /// The direct kernels against the im2col path on the fmnist-cnn layer shapes (and odd ones):
    /// forward, dW and dx, with dx accumulated (as a residual block does), at 1 and 2 threads,
    /// and after a larger batch. Images of 27, 6 and 1 pixels leave every tap-mask phase and
    /// images shorter than a vector; odd input channels take the weight gradient's lone pair.
    /// Stride 2 (`StridedConvolution`, the last six): rows past 16 and 32 pixels, a first layer,
    /// 2x2 images.
    func testDirectPathMatchesIm2colPath() throws {
        guard DirectConvolution.isAvailable else {
            throw XCTSkip("\(ConvolutionChoice.describe()): only the im2col path runs here")
        }
        let saved = BLASRuntime.threads
        defer { BLASRuntime.setThreads(saved) }
        var rng = SeededRNG(seed: 77)
        // First layers of 1 and 3 channels: direct output and weight gradient, dx through columns.
        let shapes: [(c: Int, h: Int, w: Int, out: Int, s: Int)] = [
            (32, 28, 28, 32, 1), (32, 14, 14, 64, 1), (64, 14, 14, 64, 1), (8, 3, 9, 24, 1), (16, 7, 7, 8, 1),
            (1, 28, 28, 32, 1), (3, 9, 6, 16, 1), (9, 2, 3, 8, 1), (8, 1, 1, 16, 1),
            (16, 28, 28, 32, 2), (32, 14, 14, 64, 2), (8, 6, 40, 16, 2), (3, 8, 6, 16, 2), (9, 4, 6, 8, 2), (8, 2, 2, 8, 2),
        ]
        for (c, h, w, outC, stride) in shapes {
            let direct = try Conv2d(name: "d", input: .map(channels: c, height: h, width: w), outChannels: outC,
                                    kernelSize: 3, stride: stride, padding: 1, bias: false, algorithm: .direct)
            let im2col = try Conv2d(name: "i", input: .map(channels: c, height: h, width: w), outChannels: outC,
                                    kernelSize: 3, stride: stride, padding: 1, bias: false, algorithm: .im2col)
            let oh = h / stride, ow = w / stride  // stride 2: even sides
            XCTAssertEqual(direct.algorithm, .direct)
            XCTAssertEqual(im2col.algorithm, .im2col)
            let storeD = bind(direct, seed: 9), storeI = bind(im2col, seed: 9)
            for (threads, n) in [(1, 5), (2, 5), (1, 2)] {
                BLASRuntime.setThreads(threads)
                let label = "c\(c) \(h)x\(w) -> \(outC) stride \(stride), batch \(n), \(threads) thread(s)"
                let x = makeTensor([c, n, h, w], randomValues(c * n * h * w, rng: &rng))
                let yD = direct.forward(x, training: true).array, yI = im2col.forward(x, training: true).array
                assertClose(yD, yI, atol: 1e-5, rtol: 1e-4, "\(label) forward")
                let dy = makeTensor([outC, n, oh, ow], randomValues(outC * n * oh * ow, rng: &rng))
                let start = randomValues(c * n * h * w, rng: &rng)
                let dxD = makeTensor([c, n, h, w], start), dxI = makeTensor([c, n, h, w], start)
                direct.backward(dy, inputGradient: dxD, accumulate: true)
                im2col.backward(dy, inputGradient: dxI, accumulate: true)
                assertClose(gradientArrays(storeD)[0], gradientArrays(storeI)[0], atol: 1e-4, rtol: 1e-4, "\(label) dW")
                assertClose(dxD.array, dxI.array, atol: 1e-5, rtol: 1e-4, "\(label) dx accumulated")
                // Without an input gradient (a first layer) the weight gradient is the direct one.
                direct.backward(dy, inputGradient: nil)
                assertClose(gradientArrays(storeD)[0], gradientArrays(storeI)[0], atol: 1e-4, rtol: 1e-4,
                            "\(label) dW, no dx")
            }
        }
    }

    func testGradientCheck() throws {
        for (i, (c, h, w, outC, k, s, p, hasBias)) in configurations.enumerated() {
            let conv = try Conv2d(name: "conv\(i)", input: .map(channels: c, height: h, width: w), outChannels: outC,
                                  kernelSize: k, stride: s, padding: p, bias: hasBias)
            assertPassed(GradientCheck.check(layer: conv, batch: 2, seed: UInt64(30 + i)))
        }
    }

    func testStateSpecsFollowPyTorch() throws {
        let conv = try Conv2d(name: "3", input: .map(channels: 32, height: 14, width: 14), outChannels: 64,
                              kernelSize: 3, padding: 1, bias: true)
        XCTAssertEqual(conv.stateSpecs.map(\.name), ["weight", "bias"])
        XCTAssertEqual(conv.stateSpecs.map(\.shape), [[64, 32, 3, 3], [64]])
        XCTAssertEqual(conv.outputShape, .map(channels: 64, height: 14, width: 14))
        XCTAssertEqual(conv.parameterCount, 64 * 32 * 9 + 64)
    }

    func testRejectsBadGeometry() {
        XCTAssertThrowsError(try Conv2d(name: "0", input: .map(channels: 1, height: 2, width: 2), outChannels: 4, kernelSize: 5)) {
            XCTAssertTrue("\($0)".contains("smaller than the 5x5"), "\($0)")
        }
        XCTAssertThrowsError(try Conv2d(name: "0", input: .flat(10), outChannels: 4, kernelSize: 3))
        XCTAssertThrowsError(try Conv2d(name: "0", input: .map(channels: 1, height: 8, width: 8), outChannels: 4, kernelSize: 3, stride: 0))
    }
}
