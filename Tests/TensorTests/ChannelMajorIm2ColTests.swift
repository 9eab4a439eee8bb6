import XCTest
import Tensor

/// The fused channel-major im2col / col2im against `Im2Col` applied plane by plane.
final class ChannelMajorIm2ColTests: XCTestCase {
    private let planes: [ConvGeometry] = [
        ConvGeometry(channels: 1, height: 6, width: 5, kernelH: 3, kernelW: 3, padH: 1, padW: 1),
        ConvGeometry(channels: 1, height: 7, width: 6, kernelH: 3, kernelW: 2, strideH: 2, strideW: 2, padH: 1, padW: 0),
        ConvGeometry(channels: 1, height: 5, width: 5, kernelH: 1, kernelW: 1),
        ConvGeometry(channels: 1, height: 8, width: 8, kernelH: 5, kernelW: 5, strideH: 3, strideW: 1, padH: 2, padW: 3),
        ConvGeometry(channels: 1, height: 6, width: 6, kernelH: 1, kernelW: 1, strideH: 2, strideW: 2),
        ConvGeometry(channels: 1, height: 4, width: 9, kernelH: 2, kernelW: 4, strideH: 1, strideW: 3, padH: 0, padW: 2),
        // Stride 1 with output rows as wide as input rows (im2col's one-copy-per-image path),
        // including windows wider than the image and valid rows that run out.
        ConvGeometry(channels: 1, height: 2, width: 1, kernelH: 3, kernelW: 3, padH: 1, padW: 1),
        ConvGeometry(channels: 1, height: 3, width: 3, kernelH: 5, kernelW: 5, padH: 2, padW: 2),
        ConvGeometry(channels: 1, height: 7, width: 4, kernelH: 5, kernelW: 3, padH: 0, padW: 1),
        ConvGeometry(channels: 1, height: 2, width: 3, kernelH: 7, kernelW: 1, padH: 3, padW: 0),
    ]

    func testMatchesPlaneByPlaneIm2ColAndCol2Im() {
        var rng = SeededRNG(seed: 3)
        let channels = 3, batch = 5
        for g in planes {
            let hw = g.height * g.width, ohw = g.outPixels, kk = g.kernelH * g.kernelW
            let x = (0..<(channels * batch * hw)).map { _ in rng.normal() }
            for (first, count) in [(0, batch), (1, 3), (4, 1)] {
                let rowStride = count * ohw, threads = count % 3 + 1  // 3, 1 and 2 threads
                var fused = [Float](repeating: .nan, count: channels * kk * rowStride)
                var reference = fused
                x.withUnsafeBufferPointer { xp in
                    fused.withUnsafeMutableBufferPointer {
                        ChannelMajorIm2Col.im2col(input: xp.baseAddress!, channels: channels, batch: batch, first: first,
                                                  count: count, geometry: g, columns: $0.baseAddress!, threads: threads)
                    }
                    reference.withUnsafeMutableBufferPointer { r in
                        for c in 0..<channels {
                            for b in 0..<count {
                                Im2Col.im2col(image: xp.baseAddress! + (c * batch + first + b) * hw, geometry: g,
                                              columns: r.baseAddress! + c * kk * rowStride + b * ohw, columnStride: rowStride)
                            }
                        }
                    }
                }
                XCTAssertEqual(fused, reference, "im2col \(g) slice \(first)+\(count)")

                let dcols = (0..<fused.count).map { _ in rng.normal() }
                var back = [Float](repeating: 0.5, count: x.count), backReference = back
                dcols.withUnsafeBufferPointer { dp in
                    back.withUnsafeMutableBufferPointer {
                        ChannelMajorIm2Col.col2im(columns: dp.baseAddress!, channels: channels, batch: batch, first: first,
                                                  count: count, geometry: g, input: $0.baseAddress!, threads: threads)
                    }
                    backReference.withUnsafeMutableBufferPointer { r in
                        for c in 0..<channels {
                            for b in 0..<count {
                                Im2Col.col2im(columns: dp.baseAddress! + c * kk * rowStride + b * ohw, columnStride: rowStride,
                                              geometry: g, image: r.baseAddress! + (c * batch + first + b) * hw)
                            }
                        }
                    }
                }
                XCTAssertEqual(back, backReference, "col2im \(g) slice \(first)+\(count)")
            }
        }
    }
}
