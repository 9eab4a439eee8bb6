import CTurboJPEG
import XCTest
@testable import Data

/// Every PNG layout and both JPEG colour models, decoded from files the tests write themselves
/// (`ImageFiles`): PNG pixels must come back exactly, JPEG ones within the stated tolerance.
final class ImageDecoderTests: XCTestCase {
    private func decode(_ bytes: [UInt8], _ name: String = "test-image") throws -> DecodedImage {
        try bytes.withUnsafeBytes { try ImageDecoder.decode($0, path: name) }
    }

    /// w x h samples per channel, all different where the depth allows: (7 i + 3 c + 1) mod `levels`.
    private func pattern(width: Int, height: Int, channels: Int, levels: Int) -> [Int] {
        (0..<(width * height * channels)).map { (7 * ($0 / channels) + 3 * ($0 % channels) + 1) % levels }
    }

    func testPNGGray8BitIsExact() throws {
        let samples = pattern(width: 5, height: 3, channels: 1, levels: 256)
        let image = try decode(ImageFiles.png(width: 5, height: 3, bitDepth: 8, colourType: .gray, samples: samples))
        XCTAssertEqual(image, DecodedImage(channels: 1, height: 3, width: 5, pixels: samples.map { UInt8($0) }))
    }

    func testPNGGrayLowBitDepthsScaleToFullRange() throws {
        // Widths that leave a partial last byte in each row.
        for (depth, factor) in [(1, 255), (2, 85), (4, 17)] {
            let samples = pattern(width: 7, height: 3, channels: 1, levels: 1 << depth)
            let image = try decode(ImageFiles.png(width: 7, height: 3, bitDepth: depth, colourType: .gray, samples: samples))
            XCTAssertEqual(image.pixels, samples.map { UInt8($0 * factor) }, "bit depth \(depth)")
            XCTAssertEqual(image.channels, 1)
        }
    }

    func testPNG16BitScalesTo8Bit() throws {
        let values = [0, 1, 128, 129, 257, 32767, 32768, 40000, 65279, 65534, 65535, 12345]
        let gray = try decode(ImageFiles.png(width: 4, height: 3, bitDepth: 16, colourType: .gray, samples: values))
        // 255 / 65535 = 1 / 257, rounded to nearest.
        XCTAssertEqual(gray.pixels, values.map { UInt8((Double($0) / 257).rounded()) })
        let rgbSamples = (0..<(2 * 2 * 3)).map { ($0 * 5471 + 300) % 65536 }
        let rgb = try decode(ImageFiles.png(width: 2, height: 2, bitDepth: 16, colourType: .rgb, samples: rgbSamples))
        let expected = rgbSamples.map { UInt8((Double($0) / 257).rounded()) }
        XCTAssertEqual(rgb, DecodedImage(channels: 3, height: 2, width: 2, pixels: ImageFiles.planar(expected, channels: 3)))
    }

    func testPNGRGBIsPlanar() throws {
        let samples = pattern(width: 4, height: 3, channels: 3, levels: 256)
        let image = try decode(ImageFiles.png(width: 4, height: 3, bitDepth: 8, colourType: .rgb, samples: samples))
        XCTAssertEqual(image, DecodedImage(channels: 3, height: 3, width: 4, pixels: ImageFiles.planar(samples.map { UInt8($0) }, channels: 3)))
        // Plane 0 is red: pixel (0,0) has R = 1, G = 4, B = 7.
        XCTAssertEqual([image.pixels[0], image.pixels[12], image.pixels[24]], [1, 4, 7])
    }

    func testPNGAlphaIsDroppedKeepingTheStoredColour() throws {
        // Opaque, half and fully transparent pixels: the colour under the alpha comes back as stored.
        let rgba = [200, 10, 30, 255, 90, 180, 250, 128, 17, 34, 51, 0, 255, 255, 255, 1]
        let image = try decode(ImageFiles.png(width: 2, height: 2, bitDepth: 8, colourType: .rgba, samples: rgba))
        let rgb = stride(from: 0, to: 16, by: 4).flatMap { rgba[$0..<($0 + 3)] }.map { UInt8($0) }
        XCTAssertEqual(image, DecodedImage(channels: 3, height: 2, width: 2, pixels: ImageFiles.planar(rgb, channels: 3)))

        let grayAlpha = [12, 255, 99, 0, 250, 77]
        let gray = try decode(ImageFiles.png(width: 3, height: 1, bitDepth: 8, colourType: .grayAlpha, samples: grayAlpha))
        XCTAssertEqual(gray, DecodedImage(channels: 1, height: 1, width: 3, pixels: [12, 99, 250]))
    }

    func testPNGPaletteBecomesRGB() throws {
        // A 4-bit palette of five colours, one of them transparent (tRNS).
        let palette: [UInt8] = [0, 0, 0, 255, 0, 0, 10, 200, 30, 40, 50, 60, 255, 255, 255]
        let indices = pattern(width: 5, height: 2, channels: 1, levels: 5)
        let image = try decode(ImageFiles.png(width: 5, height: 2, bitDepth: 4, colourType: .palette, samples: indices,
                                              palette: palette, alpha: [255, 255, 0]))
        let rgb = indices.flatMap { palette[(3 * $0)..<(3 * $0 + 3)] }
        XCTAssertEqual(image, DecodedImage(channels: 3, height: 2, width: 5, pixels: ImageFiles.planar(rgb, channels: 3)))
        // Even an all-gray palette is a colour image.
        let grayPalette: [UInt8] = [0, 0, 0, 128, 128, 128]
        let grayish = try decode(ImageFiles.png(width: 2, height: 1, bitDepth: 8, colourType: .palette, samples: [1, 0], palette: grayPalette))
        XCTAssertEqual(grayish, DecodedImage(channels: 3, height: 1, width: 2, pixels: [128, 0, 128, 0, 128, 0]))
    }

    func testPNGColourSpaceChunksOfSRGBLeaveSamplesAlone() throws {
        // What most writers add: gAMA 1/2.2 (45455 in units of 1e-5), or an sRGB chunk (intent 0).
        // A gAMA far from it (1.0 here) makes libpng re-encode the samples to sRGB.
        let samples = pattern(width: 6, height: 2, channels: 1, levels: 256)
        let stored = samples.map { UInt8($0) }
        for ancillary in [ImageFiles.chunk("gAMA", ImageFiles.bigEndian(45455)), ImageFiles.chunk("sRGB", [0])] {
            let image = try decode(ImageFiles.png(width: 6, height: 2, bitDepth: 8, colourType: .gray, samples: samples, ancillary: ancillary))
            XCTAssertEqual(image.pixels, stored)
        }
        let linear = ImageFiles.chunk("gAMA", ImageFiles.bigEndian(100_000))
        let image = try decode(ImageFiles.png(width: 6, height: 2, bitDepth: 8, colourType: .gray, samples: samples, ancillary: linear))
        XCTAssertNotEqual(image.pixels, stored)
    }

    /// A smooth pattern (JPEG's 8x8 blocks keep it nearly exactly at high quality).
    private func smooth(width: Int, height: Int, channels: Int) -> [UInt8] {
        (0..<(width * height * channels)).map { i in
            let p = i / channels, c = i % channels, x = p % width, y = p / width
            return UInt8(40 + 6 * x + 5 * y + 30 * c)
        }
    }

    func testJPEGGrayWithinTolerance() throws {
        let pixels = smooth(width: 16, height: 16, channels: 1)
        let file = ImageFiles.jpeg(pixels, width: 16, height: 16, format: TJPF_GRAY, subsampling: TJSAMP_GRAY, quality: 100)
        let image = try decode(file)
        XCTAssertEqual([image.channels, image.height, image.width], [1, 16, 16])
        // Quality 100 quantizes with step 1: the round trip is within 2 levels (1 when written).
        XCTAssertLessThanOrEqual(maxDifference(image.pixels, pixels), 2)
    }

    func testJPEGColourBecomesPlanarRGBWithinTolerance() throws {
        let pixels = smooth(width: 16, height: 8, channels: 3)
        for progressive in [false, true] {
            let file = ImageFiles.jpeg(pixels, width: 16, height: 8, format: TJPF_RGB, subsampling: TJSAMP_444, quality: 100,
                                       progressive: progressive)
            let image = try decode(file)
            XCTAssertEqual([image.channels, image.height, image.width], [3, 8, 16])
            // No subsampling, quality 100: within 2 levels (1 when written), YCbCr's rounding included.
            XCTAssertLessThanOrEqual(maxDifference(image.pixels, ImageFiles.planar(pixels, channels: 3)), 2, "progressive \(progressive)")
            // Planes in R, G, B order: the pattern adds 30 per channel.
            XCTAssertEqual(Int(image.pixels[128]) - Int(image.pixels[0]), 30, accuracy: 2)
            XCTAssertEqual(Int(image.pixels[256]) - Int(image.pixels[0]), 60, accuracy: 2)
        }
    }

    func testJPEGCMYKBecomesRGB() throws {
        // Inverted inks as Photoshop stores them; RGB = C K / 255 (and M, Y likewise).
        let cmyk = (0..<(8 * 8 * 4)).map { (i: Int) -> UInt8 in
            let p: Int = i / 4, c: Int = i % 4
            let ink: Int = 60 + 20 * c + (2 * p) % 64
            return UInt8(c == 3 ? 200 + p % 8 : ink)
        }
        let file = ImageFiles.jpeg(cmyk, width: 8, height: 8, format: TJPF_CMYK, subsampling: TJSAMP_444, quality: 100)
        let image = try decode(file)
        XCTAssertEqual([image.channels, image.height, image.width], [3, 8, 8])
        var rgb: [UInt8] = []
        for p in 0..<64 {
            for c in 0..<3 { rgb.append(UInt8((Double(cmyk[4 * p + c]) * Double(cmyk[4 * p + 3]) / 255).rounded())) }
        }
        // Within 2 levels (0 when written): the inks round-trip like colour, then one rounding.
        XCTAssertLessThanOrEqual(maxDifference(image.pixels, ImageFiles.planar(rgb, channels: 3)), 2)
    }

    func testFormatIsChosenByContentNotName() throws {
        let png = ImageFiles.png(width: 2, height: 1, bitDepth: 8, colourType: .gray, samples: [5, 6])
        XCTAssertEqual(try decode(png, "photo.jpg").pixels, [5, 6])
        let jpeg = ImageFiles.jpeg([100, 100, 100, 100], width: 2, height: 2, format: TJPF_GRAY, subsampling: TJSAMP_GRAY, quality: 100)
        XCTAssertEqual(try decode(jpeg, "scan.png").pixels, [100, 100, 100, 100])
    }

    func testDecodeFromPath() throws {
        let dir = try TestFiles.temporaryDirectory(self)
        let samples = pattern(width: 3, height: 2, channels: 3, levels: 256)
        let path = "\(dir)/image.png"
        try TestFiles.write(ImageFiles.png(width: 3, height: 2, bitDepth: 8, colourType: .rgb, samples: samples), to: path)
        let image = try ImageDecoder.decode(path: path)
        XCTAssertEqual(image.pixels, ImageFiles.planar(samples.map { UInt8($0) }, channels: 3))
    }

    private func maxDifference(_ a: [UInt8], _ b: [UInt8]) -> Int {
        XCTAssertEqual(a.count, b.count)
        return zip(a, b).map { abs(Int($0) - Int($1)) }.max() ?? 0
    }
}
