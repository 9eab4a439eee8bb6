import CKernels
import Platform
import Tensor
import XCTest

/// The bf16 rounding against its definition, and `BF16DirectConvolution` against a float64
/// convolution: forward, input gradient (accumulated) and weight gradient, 1 and 2 threads.
///
/// Two references, errors as in `WinogradConvolutionTests` (|computed - exact| / the sum of the
/// terms' magnitudes):
/// - of the rounded operands (bf16(x), bf16(W), bf16(dy) in float64): the kernels' own error,
///   the FP32 sums'. Measured at most 1.2e-7 (seed 43); asserted 1e-5, as for the FP32 kernels.
/// - of the operands as given: what a user gets against FP32, the operands' rounding included.
///   Each operand rounds by at most 2^-8 relative (8 significant bits), so each product by at
///   most 2^-7 = 7.8e-3, which bounds the error; measured at most 5.4e-3 on these shapes
///   (forward 4.9e-3, input gradient 3.5e-3, weight gradient 5.4e-3). Asserted: 2^-7 + 1e-5.
final class BF16DirectConvolutionTests: XCTestCase {
    /// (in channels, out channels, height, width, batch): fmnist-cnn's and resnet20's shapes
    /// (small batches), a lone input channel, odd channel counts, images shorter than a vector
    /// and than the 32 pixels of a weight-gradient step.
    private let shapes: [(c: Int, k: Int, h: Int, w: Int, n: Int)] = [
        (16, 32, 28, 28, 1), (32, 64, 14, 14, 1), (64, 64, 7, 7, 2), (1, 32, 28, 28, 2), (3, 16, 9, 6, 3),
        (8, 24, 3, 9, 2), (16, 8, 1, 1, 3), (9, 8, 2, 3, 2), (16, 16, 5, 5, 3),
    ]

    /// Round to nearest bf16, ties to even, by comparing the two neighbours in float64;
    /// subnormals flush to signed zero, NaN stays NaN.
    private func definedRounding(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(bits >> 16) | 0x40 }
        if value.isSubnormal || value == 0 { return UInt16(bits >> 16) & 0x8000 }
        if value.isInfinite { return UInt16(bits >> 16) }
        let down = bits & 0xFFFF_0000
        let low = Double(Float(bitPattern: down))
        // One bf16 step at this exponent: 2^16 float32 steps (beyond the largest bf16 value it
        // reaches infinity, as RNE does).
        let step = Double(Float(bitPattern: down).magnitude.ulp) * 65536
        let high = low + (value.sign == .minus ? -step : step)
        let below = abs(Double(value) - low), above = abs(high - Double(value))
        let up = above < below || (above == below && (down >> 16) & 1 == 1)
        return UInt16((up ? down &+ 0x1_0000 : down) >> 16)
    }

    func testRoundingFollowsItsDefinition() throws {
        var rng = SeededRNG(seed: 5)
        var values: [Float] = [0, -0, 1, -1, .infinity, -.infinity, .nan, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
                               .leastNormalMagnitude, .leastNonzeroMagnitude, -.leastNonzeroMagnitude,
                               Float(bitPattern: 0x3F80_8000), Float(bitPattern: 0x3F81_8000),  // ties: to even, both ways
                               Float(bitPattern: 0x3F80_8001), Float(bitPattern: 0x3F80_7FFF), Float(bitPattern: 0x7F7F_FFFF)]
        for _ in 0..<20_000 { values.append(Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))) }
        for _ in 0..<2_000 { values.append(rng.normal()) }
        for v in values {
            let got = ddp_bf16_round(v), want = definedRounding(v)
            if v.isNaN {
                XCTAssertTrue(Float(bitPattern: UInt32(got) << 16).isNaN, "NaN \(v.bitPattern)")
            } else {
                XCTAssertEqual(got, want, "bits \(String(v.bitPattern, radix: 16))")
            }
        }
        guard BF16DirectConvolution.cpuHasBF16 else { throw XCTSkip("no AVX512_BF16 here: the vector conversions do not run") }
        // The vector conversions (VCVTNEPS2BF16) give the scalar rule's bits, in both layouts.
        let finite = values.filter { !$0.isNaN }
        let n = finite.count / 2
        var rows = [UInt16](repeating: 0, count: 2 * n), pairs = [UInt32](repeating: 0, count: n)
        ddp_bf16_convert(finite, n, 2, 0, n, &rows, n)
        ddp_bf16_pack_pairs(finite, n, 2, 0, n, &pairs, n)
        for p in 0..<n {
            XCTAssertEqual(rows[p], ddp_bf16_round(finite[p]))
            XCTAssertEqual(rows[n + p], ddp_bf16_round(finite[n + p]))
            XCTAssertEqual(pairs[p], UInt32(ddp_bf16_round(finite[p])) | UInt32(ddp_bf16_round(finite[n + p])) << 16)
        }
    }

    /// The backward's one read of dy: the rows and the pairs the two conversions give, over a
    /// sub-range that ends in a partial vector, an odd last channel paired with zero, nothing
    /// written outside the range.
    func testConvertAndPackGivesBothLayouts() throws {
        guard BF16DirectConvolution.cpuHasBF16 else { throw XCTSkip("no AVX512_BF16 here") }
        var rng = SeededRNG(seed: 9)
        let channels = 3, stride = 53, begin = 5, end = 50
        let values = (0..<(channels * stride)).map { _ in rng.normal() * 3 }
        let untouchedRow: UInt16 = 0xBEEF, untouchedPair: UInt32 = 0xDEAD_BEEF
        var rows = [UInt16](repeating: untouchedRow, count: channels * stride)
        var pairs = [UInt32](repeating: untouchedPair, count: 2 * stride)
        ddp_bf16_convert_and_pack(values, stride, Int32(channels), begin, end, &rows, stride, &pairs, stride)
        for c in 0..<channels {
            for p in 0..<stride {
                let want = (begin..<end).contains(p) ? ddp_bf16_round(values[c * stride + p]) : untouchedRow
                XCTAssertEqual(rows[c * stride + p], want, "row of channel \(c) at \(p)")
            }
        }
        for k in 0..<2 {
            for p in 0..<stride {
                var want = untouchedPair
                if (begin..<end).contains(p) {
                    let hi = 2 * k + 1 < channels ? UInt32(ddp_bf16_round(values[(2 * k + 1) * stride + p])) : 0
                    want = UInt32(ddp_bf16_round(values[2 * k * stride + p])) | hi << 16
                }
                XCTAssertEqual(pairs[k * stride + p], want, "pair \(k) at \(p)")
            }
        }
    }

    func testKernelsAgainstFloat64References() throws {
        guard BF16DirectConvolution.isAvailable else { throw XCTSkip("no AVX512_BF16 kernels in this process") }
        let saved = BLASRuntime.threads
        defer { BLASRuntime.setThreads(saved) }
        var rng = SeededRNG(seed: 43)
        var ownWorst = [0.0, 0.0, 0.0], fp32Worst = [0.0, 0.0, 0.0]
        for s in shapes {
            let (own, fp32) = errors(shape: s, rng: &rng)
            for i in 0..<3 { ownWorst[i] = max(ownWorst[i], own[i]); fp32Worst[i] = max(fp32Worst[i], fp32[i]) }
        }
        print(String(format: "  bf16 direct: max error of the rounded operands forward %.2e, input gradient %.2e, weight gradient %.2e; "
                        + "of the FP32 operands %.2e, %.2e, %.2e", ownWorst[0], ownWorst[1], ownWorst[2],
                     fp32Worst[0], fp32Worst[1], fp32Worst[2]))
        for (i, what) in ["forward", "input gradient", "weight gradient"].enumerated() {
            XCTAssertLessThanOrEqual(ownWorst[i], 1e-5, "\(what), rounded operands")
            XCTAssertLessThanOrEqual(fp32Worst[i], 1.0 / 128 + 1e-5, "\(what), FP32 operands")
        }
    }

    /// The worst errors of forward, input gradient and weight gradient against the two
    /// references, at 1 and 2 threads.
    private func errors(shape s: (c: Int, k: Int, h: Int, w: Int, n: Int), rng: inout SeededRNG) -> (own: [Double], fp32: [Double]) {
        let x = normals(s.c * s.n * s.h * s.w, &rng), dy = normals(s.k * s.n * s.h * s.w, &rng)
        let weights = normals(s.k * s.c * 9, &rng), start = normals(s.c * s.n * s.h * s.w, &rng)
        let rounded = { (v: [Float]) in v.map { Float(bitPattern: UInt32(ddp_bf16_round($0)) << 16) } }
        let references = [
            ReferenceConvolution(c: s.c, k: s.k, h: s.h, w: s.w, n: s.n, x: rounded(x), weights: rounded(weights), dy: rounded(dy)),
            ReferenceConvolution(c: s.c, k: s.k, h: s.h, w: s.w, n: s.n, x: x, weights: weights, dy: dy),
        ].map { [$0.forward(), $0.inputGradient(), $0.weightGradient()] }
        var worst = [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
        for threads in [1, 2] {
            BLASRuntime.setThreads(threads)
            let computed = passes(shape: s, x: x, dy: dy, weights: weights, start: start, threads: threads)
            for (r, reference) in references.enumerated() {
                for i in 0..<3 where !computed[i].isEmpty { worst[r][i] = max(worst[r][i], maxError(computed[i], reference[i])) }
            }
        }
        return (worst[0], worst[1])
    }

    /// The forward output, the input gradient (empty for a first layer) and the weight gradient.
    private func passes(shape s: (c: Int, k: Int, h: Int, w: Int, n: Int), x: [Float], dy: [Float], weights: [Float],
                        start: [Float], threads: Int) -> [[Float]] {
        let masks = TapMasks(height: s.h, width: s.w)
        let pixels = s.n * s.h * s.w
        var blocks = [UInt32](repeating: 0, count: BF16DirectConvolution.blockCount(outChannels: s.k, inChannels: s.c))
        var scratch = [Float](repeating: .nan, count: BF16DirectConvolution.scratchFloats(inChannels: s.c, outChannels: s.k, pixels: pixels))
        var partials = [Float](repeating: .nan, count: DirectConvolution.partialsCount(outChannels: s.k, inChannels: s.c, threads: threads))
        var y = [Float](repeating: .nan, count: dy.count), dx = start, dw = [Float](repeating: .nan, count: weights.count)
        let hasInputGradient = DirectConvolution.supportsInputGradient(inChannels: s.c)
        BF16DirectConvolution.arrangeForward(weights, outChannels: s.k, inChannels: s.c, into: &blocks)
        BF16DirectConvolution.forward(input: x, inChannels: s.c, masks: masks, blocks: blocks, output: &y, outChannels: s.k,
                                      batch: s.n, threads: threads, scratch: &scratch)
        if hasInputGradient { BF16DirectConvolution.arrangeBackward(weights, outChannels: s.k, inChannels: s.c, into: &blocks) }
        blocks.withUnsafeBufferPointer { blocks in dx.withUnsafeMutableBufferPointer { dx in
            let gradient = hasInputGradient ? BF16DirectConvolution.InputGradient(dx: dx.baseAddress!, blocks: blocks.baseAddress!,
                                                                                 accumulate: true) : nil
            BF16DirectConvolution.backward(outputGradient: dy, outChannels: s.k, input: x, inChannels: s.c, batch: s.n, masks: masks,
                                           weightGradient: &dw, partials: &partials, inputGradient: gradient, threads: threads,
                                           scratch: &scratch)
        } }
        // dx was accumulated onto `start`.
        return [y, hasInputGradient ? zip(dx, start).map { $0 - $1 } : [], dw]
    }

    private func maxError(_ computed: [Float], _ exact: [(value: Double, scale: Double)]) -> Double {
        zip(computed, exact).map { abs(Double($0) - $1.value) / $1.scale }.max() ?? 0
    }

    private func normals(_ count: Int, _ rng: inout SeededRNG) -> [Float] { (0..<count).map { _ in rng.normal() } }
}
