import XCTest
@testable import Data

/// `ImageResize.fit` against a naive reference written here from the documented formulas (whole
/// image resized in Doubles, row pass then column pass, then cropped), and against results worked
/// out by hand.
final class ImageResizeTests: XCTestCase {
    /// The reference: the covering size from s in floating point, every source sample visited for
    /// every output one (the triangle is zero outside its window), the whole covering image
    /// computed, then the centre cut out.
    private func referenceFit(_ image: DecodedImage, height: Int, width: Int) -> DecodedImage {
        let (h, w) = (Double(image.height), Double(image.width))
        let s = max(Double(height) / h, Double(width) / w)
        let coverHeight = s == Double(height) / h ? height : Int((h * Double(width) / w).rounded(.down))
        let coverWidth = s == Double(height) / h ? Int((w * Double(height) / h).rounded(.down)) : width
        let top = Int((Double(coverHeight - height) / 2).rounded(.toNearestOrEven))
        let left = Int((Double(coverWidth - width) / 2).rounded(.toNearestOrEven))
        var out: [UInt8] = []
        for c in 0..<image.channels {
            let plane = Array(image.pixels[(c * image.height * image.width)..<((c + 1) * image.height * image.width)])
            // Row pass: image.height x coverWidth; column pass: coverHeight x coverWidth.
            let wide = resample(plane, rows: image.height, columns: image.width, alongRows: true, to: coverWidth)
            let full = resample(wide, rows: image.height, columns: coverWidth, alongRows: false, to: coverHeight)
            for y in top..<(top + height) { out += full[(y * coverWidth + left)..<(y * coverWidth + left + width)] }
        }
        return DecodedImage(channels: image.channels, height: height, width: width, pixels: out)
    }

    /// One pass of the triangle filter over a rows x columns plane, along rows (changing the
    /// number of columns) or along columns, to `size` samples on that axis.
    private func resample(_ plane: [UInt8], rows: Int, columns: Int, alongRows: Bool, to size: Int) -> [UInt8] {
        let source = alongRows ? columns : rows
        let scale = Double(source) / Double(size)
        let f = max(scale, 1)
        // weights[j][x]: output j's weight of source sample x, 2^22 = 1, rounded half up.
        let weights: [[Double]] = (0..<size).map { j in
            let centre = (Double(j) + 0.5) * scale
            let raw = (0..<source).map { x in max(0, 1 - abs((Double(x) - centre + 0.5) * (1 / f))) }
            let total = raw.reduce(0, +)
            return raw.map { ($0 / total * 4_194_304 + 0.5).rounded(.down) }
        }
        let (outRows, outColumns) = alongRows ? (rows, size) : (size, columns)
        var out = [UInt8](repeating: 0, count: outRows * outColumns)
        for r in 0..<outRows {
            for q in 0..<outColumns {
                var sum = 0.0
                for x in 0..<source {
                    sum += alongRows ? weights[q][x] * Double(plane[r * columns + x]) : weights[r][x] * Double(plane[x * columns + q])
                }
                out[r * outColumns + q] = UInt8(min(255, max(0, ((sum + 2_097_152) / 4_194_304).rounded(.down))))
            }
        }
        return out
    }

    private func randomImage(channels: Int, height: Int, width: Int, seed: UInt64) -> DecodedImage {
        var rng = SeededRNGForTests(seed: seed)
        return DecodedImage(channels: channels, height: height, width: width,
                            pixels: (0..<(channels * height * width)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
    }

    func testMatchesReferenceExactly() {
        // Shrinking (by whole and odd factors), enlarging, mixed, tiny and thin images, square and
        // non-square targets.
        let cases: [(channels: Int, h: Int, w: Int, H: Int, W: Int)] = [
            (1, 56, 56, 28, 28), (3, 97, 61, 28, 28), (1, 28, 28, 64, 64), (3, 45, 80, 32, 32), (1, 1, 1, 5, 5),
            (3, 3, 200, 16, 16), (1, 200, 3, 8, 8), (1, 30, 20, 12, 25), (3, 17, 17, 7, 13), (1, 64, 48, 64, 64),
            (3, 120, 90, 64, 64), (1, 9, 31, 9, 9),
        ]
        for (i, t) in cases.enumerated() {
            let image = randomImage(channels: t.channels, height: t.h, width: t.w, seed: UInt64(i + 1))
            let got = ImageResize.fit(image, height: t.H, width: t.W)
            XCTAssertEqual(got, referenceFit(image, height: t.H, width: t.W), "\(t.w)x\(t.h) to \(t.W)x\(t.H)")
        }
    }

    func testSameSizeIsReturnedUnchanged() {
        for channels in [1, 3] {
            let image = randomImage(channels: channels, height: 28, width: 28, seed: 9)
            XCTAssertEqual(ImageResize.fit(image, height: 28, width: 28), image)
        }
    }

    func testConstantImageStaysConstant() {
        for (h, w, H, W) in [(28, 28, 64, 64), (37, 100, 28, 28), (3, 5, 11, 7), (500, 375, 64, 64), (64, 64, 13, 13)] {
            for value: UInt8 in [0, 1, 128, 254, 255] {
                let image = DecodedImage(channels: 3, height: h, width: w, pixels: Array(repeating: value, count: 3 * h * w))
                let out = ImageResize.fit(image, height: H, width: W)
                XCTAssertEqual(out.pixels, Array(repeating: value, count: 3 * H * W), "\(value) at \(w)x\(h) to \(W)x\(H)")
            }
        }
    }

    func testHalvingStripesByHand() {
        // Columns alternate 0, 255. Halving widens the triangle to 4 samples: inside, weights
        // 1/8, 3/8, 3/8, 1/8 give 255/2 = 127.5, rounded up to 128; at the edges the window is cut
        // to 3 samples, renormalized to 3/7, 3/7, 1/7 (left: 255 * 3/7 = 109.3) and 1/7, 3/7, 3/7
        // (right: 255 * 4/7 = 145.7).
        let image = DecodedImage(channels: 1, height: 8, width: 8, pixels: (0..<64).map { $0 % 2 == 1 ? 255 : 0 })
        let half = ImageResize.fit(image, height: 4, width: 4)
        let row: [UInt8] = [109, 128, 128, 146]
        XCTAssertEqual(half.pixels, row + row + row + row)
    }

    func testEnlargingInterpolatesLinearly() {
        // 2 x 1 (w x h) to 4 x 4: s = 4, covering 8 x 4; columns 2..<6 are kept, with centres
        // at 0.625, 0.875, 1.125, 1.375 source pixels. Enlarging is linear interpolation between the
        // sample centres (0.5 and 1.5): 200 times the distance past 0.5, exact halves rounded up.
        let image = DecodedImage(channels: 1, height: 1, width: 2, pixels: [0, 200])
        let out = ImageResize.fit(image, height: 4, width: 4)
        let row: [UInt8] = [25, 75, 125, 175]
        XCTAssertEqual(out.pixels, row + row + row + row)
    }

    func testCentreCropOfNonSquareImages() {
        let image = DecodedImage(channels: 1, height: 4, width: 9, pixels: (0..<36).map { UInt8($0) })
        // Height already fits (s = 1): no resampling, the crop starts at round(5 / 2) = 2 (ties to even).
        XCTAssertEqual(ImageResize.fit(image, height: 4, width: 4).pixels,
                       (0..<4).flatMap { y in (2..<6).map { UInt8(9 * y + $0) } })
        let seven = DecodedImage(channels: 1, height: 4, width: 7, pixels: (0..<28).map { UInt8($0) })
        // round(3 / 2) = 2, round(1 / 2) = 0.
        XCTAssertEqual(ImageResize.fit(seven, height: 4, width: 4).pixels, (0..<4).flatMap { y in (2..<6).map { UInt8(7 * y + $0) } })
        XCTAssertEqual(ImageResize.fit(seven, height: 4, width: 6).pixels, (0..<4).flatMap { y in (0..<6).map { UInt8(7 * y + $0) } })
        // A tall image to a wide target: 10 x 20 (w x h) covers 8 x 4 at 8 x 16, rows 6..<10 kept.
        let tall = randomImage(channels: 3, height: 20, width: 10, seed: 3)
        let wide = ImageResize.fit(tall, height: 4, width: 8)
        XCTAssertEqual([wide.channels, wide.height, wide.width], [3, 4, 8])
        XCTAssertEqual(wide, referenceFit(tall, height: 4, width: 8))
    }
}
