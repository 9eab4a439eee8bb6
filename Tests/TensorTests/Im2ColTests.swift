import XCTest
@testable import Tensor

final class Im2ColTests: XCTestCase {
    private let geometries: [ConvGeometry] = [
        ConvGeometry(channels: 1, height: 5, width: 5, kernelH: 3, kernelW: 3, padH: 1, padW: 1),
        ConvGeometry(channels: 3, height: 7, width: 6, kernelH: 3, kernelW: 2, strideH: 2, strideW: 2, padH: 1, padW: 0),
        ConvGeometry(channels: 2, height: 4, width: 9, kernelH: 1, kernelW: 1),
        ConvGeometry(channels: 2, height: 8, width: 8, kernelH: 5, kernelW: 5, strideH: 3, strideW: 1, padH: 2, padW: 3),
        ConvGeometry(channels: 4, height: 6, width: 6, kernelH: 2, kernelW: 2, strideH: 2, strideW: 2),
    ]

    /// <im2col(x), y> == <x, col2im(y)>: col2im is exactly the adjoint the conv backward needs.
    func testAdjointness() {
        var rng = SeededRNG(seed: 11)
        for g in geometries {
            let x = (0..<g.imageSize).map { _ in rng.normal() }
            let y = (0..<(g.patchSize * g.outPixels)).map { _ in rng.normal() }
            var cols = [Float](repeating: .nan, count: y.count)
            var back = [Float](repeating: 0, count: x.count)
            x.withUnsafeBufferPointer { xp in
                cols.withUnsafeMutableBufferPointer {
                    Im2Col.im2col(image: xp.baseAddress!, geometry: g, columns: $0.baseAddress!, columnStride: g.outPixels)
                }
            }
            y.withUnsafeBufferPointer { yp in
                back.withUnsafeMutableBufferPointer {
                    Im2Col.col2im(columns: yp.baseAddress!, columnStride: g.outPixels, geometry: g, image: $0.baseAddress!)
                }
            }
            let lhs = zip(cols, y).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let rhs = zip(x, back).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            XCTAssertEqual(lhs, rhs, accuracy: 1e-4 * max(1, abs(lhs)), "\(g)")
        }
    }

    /// im2col + GEMM equals a direct 7-loop convolution, with images side by side in one matrix.
    func testConvolutionMatchesDirect() {
        var rng = SeededRNG(seed: 12)
        for g in geometries {
            let batch = 3, outC = 4
            let x = (0..<(batch * g.imageSize)).map { _ in rng.normal() }
            let w = (0..<(outC * g.patchSize)).map { _ in rng.normal() }
            let wide = batch * g.outPixels
            var cols = [Float](repeating: .nan, count: g.patchSize * wide)
            var out = [Float](repeating: 0, count: outC * wide)
            x.withUnsafeBufferPointer { xp in
                cols.withUnsafeMutableBufferPointer { cp in
                    for n in 0..<batch {
                        Im2Col.im2col(image: xp.baseAddress! + n * g.imageSize, geometry: g,
                                      columns: cp.baseAddress! + n * g.outPixels, columnStride: wide)
                    }
                }
            }
            w.withUnsafeBufferPointer { wp in
                cols.withUnsafeBufferPointer { cp in
                    out.withUnsafeMutableBufferPointer { op in
                        GEMM.multiply(transposeA: false, transposeB: false, m: outC, n: wide, k: g.patchSize,
                                      a: wp.baseAddress!, lda: g.patchSize, b: cp.baseAddress!, ldb: wide,
                                      c: op.baseAddress!, ldc: wide)
                    }
                }
            }
            var maxErr: Float = 0
            for n in 0..<batch {
                for o in 0..<outC {
                    for oy in 0..<g.outHeight {
                        for ox in 0..<g.outWidth {
                            var s: Double = 0
                            for c in 0..<g.channels {
                                for i in 0..<g.kernelH {
                                    for j in 0..<g.kernelW {
                                        let y = oy * g.strideH - g.padH + i, xx = ox * g.strideW - g.padW + j
                                        guard y >= 0, y < g.height, xx >= 0, xx < g.width else { continue }
                                        s += Double(x[n * g.imageSize + (c * g.height + y) * g.width + xx])
                                            * Double(w[o * g.patchSize + (c * g.kernelH + i) * g.kernelW + j])
                                    }
                                }
                            }
                            let got = out[o * wide + n * g.outPixels + oy * g.outWidth + ox]
                            maxErr = max(maxErr, abs(got - Float(s)))
                        }
                    }
                }
            }
            XCTAssertLessThan(maxErr, 1e-4, "\(g)")
        }
    }
}
