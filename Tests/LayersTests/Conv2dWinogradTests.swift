import Layers
import Platform
import Tensor
import XCTest

/// Conv2d on its Winograd paths: against the im2col path (forward, dW, db and dx accumulated as
/// a residual block does) with blocks of one lane group and of the whole batch, at 1 and 2
/// threads; the gradient checker; and the choice of algorithm. The transforms' own error
/// against float64 is measured in TensorTests' WinogradConvolutionTests; the tolerances here
/// follow from it (F(4x4, 3x3) rounds about 10x F(2x2, 3x3)).
final class Conv2dWinogradTests: XCTestCase {
    /// (in channels, height, width, out channels, batch, bias)
    private let shapes: [(c: Int, h: Int, w: Int, out: Int, n: Int, bias: Bool)] = [
        (1, 7, 7, 8, 3, false), (3, 5, 9, 5, 3, true), (32, 14, 14, 32, 2, false), (8, 1, 1, 16, 2, true),
        (16, 28, 28, 8, 1, false), (5, 6, 8, 7, 3, true),
    ]

    private static func tolerance(_ algorithm: ConvolutionRequest) -> Float { algorithm == .winograd2 ? 2e-5 : 1e-4 }

    func testWinogradPathsMatchIm2colPath() throws {
        let saved = BLASRuntime.threads
        defer { BLASRuntime.setThreads(saved) }
        var rng = SeededRNG(seed: 23)
        for request in [ConvolutionRequest.winograd2, .winograd4] {
            let tol = Self.tolerance(request)
            for s in shapes {
                let input = FeatureShape.map(channels: s.c, height: s.h, width: s.w)
                let wino = try Conv2d(name: "w", input: input, outChannels: s.out, kernelSize: 3, padding: 1, bias: s.bias,
                                      algorithm: request)
                let im2col = try Conv2d(name: "i", input: input, outChannels: s.out, kernelSize: 3, padding: 1, bias: s.bias,
                                        algorithm: .im2col)
                XCTAssertEqual(wino.algorithm.rawValue, request.rawValue)
                let storeW = bind(wino, seed: 8), storeI = bind(im2col, seed: 8)
                if s.bias {
                    for i in 0..<s.out {
                        let b = rng.normal()
                        storeW.parameterViews(ofLayer: 0)[1].value[i] = b
                        storeI.parameterViews(ofLayer: 0)[1].value[i] = b
                    }
                }
                for (threads, budget) in [(1, Int.max), (2, 0)] {
                    BLASRuntime.setThreads(threads)
                    wino.columnBudget = budget
                    let label = "\(request) c\(s.c) \(s.h)x\(s.w) -> \(s.out), batch \(s.n), \(threads) thread(s), budget \(budget)"
                    let pixels = s.n * s.h * s.w
                    let x = makeTensor([s.c, s.n, s.h, s.w], randomValues(s.c * pixels, rng: &rng))
                    assertClose(wino.forward(x, training: true).array, im2col.forward(x, training: true).array,
                                atol: tol, rtol: tol, "\(label) forward")
                    let dy = makeTensor([s.out, s.n, s.h, s.w], randomValues(s.out * pixels, rng: &rng))
                    let start = randomValues(s.c * pixels, rng: &rng)
                    let dxW = makeTensor([s.c, s.n, s.h, s.w], start), dxI = makeTensor([s.c, s.n, s.h, s.w], start)
                    wino.backward(dy, inputGradient: dxW, accumulate: true)
                    im2col.backward(dy, inputGradient: dxI, accumulate: true)
                    let gW = gradientArrays(storeW), gI = gradientArrays(storeI)
                    assertClose(gW[0], gI[0], atol: 10 * tol, rtol: tol, "\(label) dW")
                    if s.bias { assertClose(gW[1], gI[1], atol: 1e-4, rtol: 1e-5, "\(label) db") }
                    assertClose(dxW.array, dxI.array, atol: tol, rtol: tol, "\(label) dx accumulated")
                }
            }
        }
    }

    func testGradientCheck() throws {
        for (i, request) in [ConvolutionRequest.winograd2, .winograd4].enumerated() {
            for (c, h, w, out, bias) in [(2, 5, 7, 3, true), (8, 6, 6, 8, false), (1, 3, 2, 4, false)] {
                let conv = try Conv2d(name: "wino\(i)", input: .map(channels: c, height: h, width: w), outChannels: out,
                                      kernelSize: 3, padding: 1, bias: bias, algorithm: request)
                XCTAssertEqual(conv.algorithm.rawValue, request.rawValue)
                assertPassed(GradientCheck.check(layer: conv, batch: 2, seed: UInt64(50 + i)))
            }
        }
    }

    /// The default rule puts the 3x3 stride-1 layers where F(4x4, 3x3) measured faster than the
    /// direct kernels on Winograd (fmnist-cnn's three of 32 channels or more, resnet20's of 32
    /// and 64), keeps the others direct (one input channel, resnet20's 16 channels, images under
    /// 7 pixels), stays on im2col without AVX-512, and under bf16 moves its Winograd layers to the
    /// bf16 direct kernels.
    func testDefaultRuleRunsWinogradWhereItBeatTheDirectKernels() throws {
        func layer(_ c: Int, _ k: Int, side: Int, s: Int = 1) -> ConvolutionChoice.Layer {
            .init(kernelSize: 3, stride: s, padding: 1, inChannels: c, outChannels: k, height: side, width: side)
        }
        func rule(_ l: ConvolutionChoice.Layer, direct: Bool = true) -> Conv2d.Algorithm {
            ConvolutionChoice.choose(l, request: nil, directAvailable: direct).algorithm
        }
        for l in [layer(32, 32, side: 28), layer(32, 64, side: 14), layer(64, 64, side: 14), layer(32, 32, side: 14),
                  layer(64, 64, side: 7), layer(32, 32, side: 16)] {
            XCTAssertEqual(rule(l), .winograd4, "\(l)")
            XCTAssertEqual(rule(l, direct: false), .im2col, "\(l) without AVX-512")
            let bf16 = ConvolutionChoice.withPrecision(ConvolutionChoice.choose(l, request: nil, directAvailable: true), .bf16,
                                                       layer: l, bf16Available: true)
            XCTAssertEqual(bf16.algorithm, .directBF16, "\(l) under bf16")
        }
        for l in [layer(1, 32, side: 28), layer(16, 16, side: 28), layer(64, 64, side: 6), layer(64, 64, side: 14, s: 2)] {
            XCTAssertEqual(rule(l), .direct, "\(l)")
        }
        // Winograd runs any channel count; the direct kernels need output channels in 8s.
        XCTAssertEqual(rule(layer(60, 60, side: 20)), .winograd4)
        // A model built here takes the rule (on the AVX-512 path, with no DDP_CONV).
        if ConvolutionRequest.environment == nil && DirectConvolution.isAvailable {
            let fmnist = try Model(spec: "fmnist-cnn", inputShape: [1, 28, 28], classes: 10, seed: 0)
            XCTAssertEqual(fmnist.layers.flatMap(\.convolutions).map(\.algorithm), [.direct, .winograd4, .winograd4, .winograd4])
        }
    }

    /// Requests that cannot run fall back to the default, saying why; `winograd` picks the tile.
    func testChoiceOfAlgorithm() {
        func layer(k: Int = 3, s: Int = 1, p: Int = 1, c: Int = 16, out: Int = 16, side: Int = 14) -> ConvolutionChoice.Layer {
            .init(kernelSize: k, stride: s, padding: p, inChannels: c, outChannels: out, height: side, width: side)
        }
        func choose(_ l: ConvolutionChoice.Layer, _ r: ConvolutionRequest?, direct: Bool = true) -> Conv2d.Algorithm {
            ConvolutionChoice.choose(l, request: r, directAvailable: direct).algorithm
        }
        XCTAssertEqual(choose(layer(), nil), .direct)
        XCTAssertEqual(choose(layer(), nil, direct: false), .im2col)
        XCTAssertEqual(choose(layer(out: 5), nil), .im2col)
        XCTAssertEqual(choose(layer(), .winograd), .winograd4)
        XCTAssertEqual(choose(layer(side: 3), .winograd), .winograd2)
        XCTAssertEqual(choose(layer(), .winograd2, direct: false), .winograd2)
        XCTAssertEqual(choose(layer(c: 1, out: 5), .winograd4), .winograd4)
        XCTAssertEqual(choose(layer(s: 2), .winograd4), .direct == choose(layer(s: 2), nil) ? .direct : .im2col)
        XCTAssertEqual(choose(layer(k: 1, p: 0), .winograd4), .im2col)
        XCTAssertEqual(choose(layer(), .im2col), .im2col)
        XCTAssertEqual(choose(layer(), .direct, direct: false), .im2col)
        let stride2 = ConvolutionChoice.choose(layer(s: 2), request: .winograd4, directAvailable: true)
        XCTAssertEqual(stride2.reason, "DDP_CONV=winograd4 cannot run here (not a 3x3 stride-1 padding-1 window)")
        let noAVX = ConvolutionChoice.choose(layer(), request: .direct, directAvailable: false)
        XCTAssertEqual(noAVX.reason, "DDP_CONV=direct cannot run here (no AVX-512 kernels in this process)")
    }
}
