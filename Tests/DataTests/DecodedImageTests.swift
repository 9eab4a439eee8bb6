import XCTest
@testable import Data

final class DecodedImageTests: XCTestCase {
    func testGrayToRGBCopiesThePlane() {
        let gray = DecodedImage(channels: 1, height: 2, width: 2, pixels: [0, 50, 200, 255])
        let rgb = gray.converted(toChannels: 3)
        XCTAssertEqual(rgb, DecodedImage(channels: 3, height: 2, width: 2, pixels: [0, 50, 200, 255, 0, 50, 200, 255, 0, 50, 200, 255]))
        XCTAssertEqual(gray.converted(toChannels: 1), gray)
        XCTAssertEqual(rgb.converted(toChannels: 3), rgb)
    }

    func testRGBToGrayIsRoundedLuma() {
        // (R, G, B) -> (299 R + 587 G + 114 B) / 1000: red 76.245, green 149.685, blue 29.07,
        // white 255, (0, 0, 250) exactly 28.5 (half up: 29), (10, 20, 30) 18.15, (1, 1, 1) 1.
        let colours: [(UInt8, UInt8, UInt8)] = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 0, 250), (10, 20, 30), (1, 1, 1)]
        let image = DecodedImage(channels: 3, height: 1, width: colours.count,
                                 pixels: colours.map { $0.0 } + colours.map { $0.1 } + colours.map { $0.2 })
        XCTAssertEqual(image.converted(toChannels: 1), DecodedImage(channels: 1, height: 1, width: 7, pixels: [76, 150, 29, 255, 29, 18, 1]))
    }
}
