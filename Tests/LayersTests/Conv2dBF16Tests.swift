import Platform
import XCTest
import Layers
import Tensor

/// Conv2d under `--precision bf16`: which layers take the bf16 kernels, that they compute the
/// FP32 layer's function to bf16's accuracy (forward, dW, dx accumulated; 1 and 2 threads), and
/// that their gradients pass the finite-difference check against the FP32 function. The kernels
/// themselves are held to float64 references in `BF16DirectConvolutionTests`.
final class Conv2dBF16Tests: XCTestCase {
    /// The rule: bf16 moves the direct path only (3x3 stride-2 layers included), and not a layer
    /// of one input channel.
    func testChoiceUnderPrecision() {
        let direct = (algorithm: Conv2d.Algorithm.direct, reason: "default")
        func layer(_ inChannels: Int = 32) -> ConvolutionChoice.Layer {
            .init(kernelSize: 3, stride: 1, padding: 1, inChannels: inChannels, outChannels: 32, height: 14, width: 14)
        }
        func choose(_ choice: (algorithm: Conv2d.Algorithm, reason: String), _ precision: Precision,
                    _ l: ConvolutionChoice.Layer = layer(), available: Bool = true) -> Conv2d.Algorithm {
            ConvolutionChoice.withPrecision(choice, precision, layer: l, bf16Available: available).algorithm
        }
        XCTAssertEqual(choose(direct, .bf16), .directBF16)
        XCTAssertEqual(choose(direct, .fp32), .direct)
        XCTAssertEqual(choose(direct, .bf16, layer(1)), .direct)
        XCTAssertEqual(choose(direct, .bf16, available: false), .direct)
        XCTAssertEqual(choose((.im2col, "default"), .bf16), .im2col)
        XCTAssertEqual(choose((.winograd4, "DDP_CONV=winograd4"), .bf16), .winograd4)
        XCTAssertEqual(ConvolutionChoice.withPrecision((.im2col, "default"), .bf16, layer: layer(8), bf16Available: true).reason,
                       "default; FP32: bf16 runs on the direct kernels only")
        let strided = ConvolutionChoice.Layer(kernelSize: 3, stride: 2, padding: 1, inChannels: 16, outChannels: 32,
                                              height: 28, width: 28)
        XCTAssertEqual(choose(ConvolutionChoice.choose(strided, request: nil, directAvailable: true), .bf16, strided), .directBF16)
    }

    /// fmnist-cnn under bf16: its three inner 3x3 layers in bf16, the first (one channel) FP32.
    func testModelRunsItsInnerConvolutionsInBF16() throws {
        guard BF16DirectConvolution.isAvailable else { throw XCTSkip("no AVX512_BF16 kernels in this process") }
        let model = try Model(spec: "fmnist-cnn", inputShape: [1, 28, 28], classes: 10, seed: 0,
                              options: ModelOptions(precision: .bf16))
        XCTAssertEqual(model.convolutionRuns.map(\.algorithm), [.direct, .directBF16, .directBF16, .directBF16])
        XCTAssertEqual(Precision.bf16.problem, nil)
    }

    /// resnet20 under bf16: every 3x3 layer but the first on the bf16 kernels, the two stride-2
    /// ones included; the 1x1 projections FP32.
    func testResNetRunsItsStridedLayersInBF16() throws {
        guard BF16DirectConvolution.isAvailable else { throw XCTSkip("no AVX512_BF16 kernels in this process") }
        let model = try Model(spec: "resnet20", inputShape: [1, 28, 28], classes: 10, seed: 0, options: ModelOptions(precision: .bf16))
        let runs = Dictionary(uniqueKeysWithValues: model.convolutionRuns.map { ($0.layer, $0.algorithm) })
        XCTAssertEqual(runs["conv1"], .direct)
        XCTAssertEqual(runs["layer2.0.conv1"], .directBF16)
        XCTAssertEqual(runs["layer3.0.conv1"], .directBF16)
        XCTAssertEqual(runs["layer2.0.shortcut.0"], .im2col)
        XCTAssertEqual(runs.values.filter { $0 == .directBF16 }.count, 18)
    }

    /// The bf16 layer against the FP32 direct layer with the same weights: every value within
    /// 2^-7 of the largest magnitude of its tensor (each product's operands round by at most
    /// 2^-8 each; sums of many products average the roundings, so the bound is loose), and
    /// not equal to it (the bf16 path did run).
    func testMatchesTheFP32LayerToBF16Accuracy() throws {
        guard BF16DirectConvolution.isAvailable else { throw XCTSkip("no AVX512_BF16 kernels in this process") }
        let saved = BLASRuntime.threads
        defer { BLASRuntime.setThreads(saved) }
        var rng = SeededRNG(seed: 91)
        // Stride 2 (the last four) against the FP32 strided kernels; sides past 16 and 32 pixels
        // take more than one vector per phase row and per image row.
        for (c, h, w, outC, stride) in [(32, 14, 14, 32, 1), (8, 5, 7, 16, 1), (24, 3, 3, 8, 1), (16, 1, 1, 8, 1),
                                        (16, 14, 14, 32, 2), (8, 6, 40, 16, 2), (32, 2, 2, 8, 2), (9, 4, 6, 8, 2)] {
            func make(_ precision: Precision) throws -> Conv2d {
                let conv = try Conv2d(name: "c", input: .map(channels: c, height: h, width: w), outChannels: outC,
                                      kernelSize: 3, stride: stride, padding: 1, bias: true, algorithm: .direct)
                conv.setPrecision(precision)
                return conv
            }
            let bf16 = try make(.bf16), fp32 = try make(.fp32)
            XCTAssertEqual(bf16.algorithm, .directBF16)
            let storeB = bind(bf16, seed: 4), storeF = bind(fp32, seed: 4)
            for threads in [1, 2] {
                BLASRuntime.setThreads(threads)
                let n = 3, label = "c\(c) \(h)x\(w) -> \(outC) stride \(stride), \(threads) thread(s)"
                let oh = stride == 2 ? h / 2 : h, ow = stride == 2 ? w / 2 : w
                let x = makeTensor([c, n, h, w], randomValues(c * n * h * w, rng: &rng))
                let yB = bf16.forward(x, training: true).array, yF = fp32.forward(x, training: true).array
                assertWithinBF16(yB, yF, "\(label) forward")
                let dy = makeTensor([outC, n, oh, ow], randomValues(outC * n * oh * ow, rng: &rng))
                let start = randomValues(c * n * h * w, rng: &rng)
                let dxB = makeTensor([c, n, h, w], start), dxF = makeTensor([c, n, h, w], start)
                let withDx = c % 8 == 0  // else the bf16 layer's input gradient goes through im2col
                bf16.backward(dy, inputGradient: withDx ? dxB : nil, accumulate: true)
                fp32.backward(dy, inputGradient: withDx ? dxF : nil, accumulate: true)
                assertWithinBF16(gradientArrays(storeB)[0], gradientArrays(storeF)[0], "\(label) dW")
                XCTAssertEqual(gradientArrays(storeB)[1], gradientArrays(storeF)[1], "\(label) db: FP32 on both")
                if withDx {
                    assertWithinBF16(zip(dxB.array, start).map { $0 - $1 }, zip(dxF.array, start).map { $0 - $1 }, "\(label) dx")
                }
            }
        }
    }

    /// The strided bf16 kernels on operands already in bf16 (x, dy and the weights rounded
    /// beforehand) compute what im2col + BLAS computes in FP32 on the same values, to FP32
    /// summation order (1e-5 of each tensor's scale): a wrong tap, phase or border mask moves
    /// whole products, far beyond that.
    func testStridedKernelsMatchIm2colOnBF16Values() throws {
        guard BF16DirectConvolution.isAvailable else { throw XCTSkip("no AVX512_BF16 kernels in this process") }
        func rounded(_ v: Float) -> Float {  // to nearest, ties to even (no NaNs or subnormals here)
            let bits = v.bitPattern
            return Float(bitPattern: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) & 0xFFFF_0000)
        }
        var rng = SeededRNG(seed: 17)
        for (c, h, w, outC) in [(16, 14, 14, 32), (8, 6, 40, 16), (24, 2, 2, 8)] {
            let label = "c\(c) \(h)x\(w) -> \(outC) stride 2"
            func make(_ request: ConvolutionRequest) throws -> (Conv2d, ParameterStore) {
                let conv = try Conv2d(name: "s2", input: .map(channels: c, height: h, width: w), outChannels: outC,
                                      kernelSize: 3, stride: 2, padding: 1, bias: false, algorithm: request)
                conv.setPrecision(.bf16)
                let store = bind(conv, seed: 5)
                let weights = store.parameterViews(ofLayer: 0)[0].value
                for i in 0..<weights.count { weights[i] = rounded(weights[i]) }
                return (conv, store)
            }
            let (strided, storeS) = try make(.direct), (columns, storeC) = try make(.im2col)
            XCTAssertEqual(strided.algorithm, .directBF16, label)
            XCTAssertEqual(columns.algorithm, .im2col, label)
            let n = 3, oh = h / 2, ow = w / 2
            let x = makeTensor([c, n, h, w], randomValues(c * n * h * w, rng: &rng).map(rounded))
            let dy = makeTensor([outC, n, oh, ow], randomValues(outC * n * oh * ow, rng: &rng).map(rounded))
            func close(_ a: [Float], _ b: [Float], _ what: String) {
                let scale = b.map(abs).max() ?? 0
                assertClose(a, b, atol: 1e-5 * scale, rtol: 0, "\(label) \(what)")
            }
            close(strided.forward(x, training: true).array, columns.forward(x, training: true).array, "forward")
            let dxS = makeTensor([c, n, h, w], Array(repeating: 0, count: c * n * h * w))
            let dxC = makeTensor([c, n, h, w], Array(repeating: 0, count: c * n * h * w))
            strided.backward(dy, inputGradient: dxS)
            columns.backward(dy, inputGradient: dxC)
            close(gradientArrays(storeS)[0], gradientArrays(storeC)[0], "dW")
            close(dxS.array, dxC.array, "dx")
        }
    }

    /// Analytic gradients of the bf16 passes against finite differences of the FP32 function
    /// (`GradientCheck` runs a bf16 layer's probes in FP32), at bf16's tolerance 5e-2: measured
    /// 0.6-2.5% (the largest on a 1x1 image, whose gradients are sums of few products); a wrong
    /// tap or transpose is off by O(1).
    func testGradientCheckAgainstTheFP32Function() throws {
        guard BF16DirectConvolution.isAvailable else { throw XCTSkip("no AVX512_BF16 kernels in this process") }
        for (i, (c, h, w, outC, stride)) in [(8, 6, 6, 8, 1), (16, 5, 7, 16, 1), (8, 1, 1, 8, 1), (8, 6, 4, 16, 2)].enumerated() {
            let conv = try Conv2d(name: "bf16-\(i)", input: .map(channels: c, height: h, width: w), outChannels: outC,
                                  kernelSize: 3, stride: stride, padding: 1, bias: i == 0)
            conv.setPrecision(.bf16)
            XCTAssertEqual(conv.algorithm, .directBF16)
            var options = GradientCheckOptions()
            options.tolerance = 5e-2
            assertPassed(GradientCheck.check(layer: conv, batch: 2, seed: UInt64(60 + i), options: options))
            XCTAssertFalse(conv.runsInFP32, "the check hands the layer back in bf16")
        }
    }

    /// A model with a residual block under bf16: every row passes at 5e-2, the block's row in FP32
    /// (see `GradientCheck`), the convolution and the model against the FP32 function.
    func testGradientCheckOfAModelWithAResidualBlock() throws {
        guard BF16DirectConvolution.isAvailable else { throw XCTSkip("no AVX512_BF16 kernels in this process") }
        let model = try Model(spec: "c8nb-bn-relu-c8nb-res8-gap-fc", inputShape: [1, 6, 6], classes: 3, seed: 2,
                              options: ModelOptions(precision: .bf16))
        XCTAssertEqual(model.convolutionRuns.map(\.algorithm), [.direct, .directBF16, .directBF16, .directBF16])
        var options = GradientCheckOptions()
        options.tolerance = 5e-2
        let rows = GradientCheck.checkAll(model, batch: 2, seed: 8, options: options)
        for row in rows { assertPassed(row) }
        XCTAssertEqual(rows.first { $0.name == "4" }?.kind.hasSuffix("[in FP32]"), true)
        XCTAssertEqual(rows.first { $0.name == "3" }?.kind.hasSuffix("[in FP32]"), false)
        XCTAssertGreaterThan(rows.last?.parameterError ?? 0, 0)
    }

    private func assertWithinBF16(_ actual: [Float], _ expected: [Float], _ label: String,
                                  file: StaticString = #filePath, line: UInt = #line) {
        let scale = expected.map { abs(Double($0)) }.max() ?? 0
        let worst = zip(actual, expected).map { abs(Double($0) - Double($1)) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst, scale / 128, "\(label): largest difference \(worst), scale \(scale)", file: file, line: line)
        XCTAssertGreaterThan(worst, 0, "\(label): bf16 gave the FP32 bits", file: file, line: line)
    }
}
