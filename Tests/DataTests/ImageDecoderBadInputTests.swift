import CTurboJPEG
import Foundation
import XCTest
@testable import Data

/// Broken and wrong image files: each must fail at once with the right `DataError`, on one line
/// naming the file.
final class ImageDecoderBadInputTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        dir = try TestFiles.temporaryDirectory(self)
    }

    /// Writes `bytes` to `name` in the test's directory and decodes it by path; returns the error.
    private func failure(_ bytes: [UInt8], _ name: String, file: StaticString = #filePath, line: UInt = #line) throws
        -> (DataError, String)? {
        let path = "\(dir)/\(name)"
        try TestFiles.write(bytes, to: path)
        return failure(path: path, file: file, line: line).map { ($0, path) }
    }

    private func failure(path: String, file: StaticString = #filePath, line: UInt = #line) -> DataError? {
        do {
            let image = try ImageDecoder.decode(path: path)
            XCTFail("decoded \(image.width)x\(image.height) from \(path)", file: file, line: line)
        } catch let error as DataError {
            XCTAssertFalse(error.description.contains("\n"), "multi-line message: \(error)", file: file, line: line)
            XCTAssertTrue(error.description.hasPrefix(path + ": "), "'\(error)' does not start with the path", file: file, line: line)
            return error
        } catch {
            XCTFail("expected a DataError, got \(error)", file: file, line: line)
        }
        return nil
    }

    private var validPNG: [UInt8] {
        ImageFiles.png(width: 16, height: 16, bitDepth: 8, colourType: .rgb, samples: (0..<768).map { ($0 * 31) % 256 })
    }

    private var validJPEG: [UInt8] {
        let pixels = (0..<(32 * 32 * 3)).map { UInt8(($0 * 7) % 256) }
        return ImageFiles.jpeg(pixels, width: 32, height: 32, format: TJPF_RGB, subsampling: TJSAMP_420, quality: 90)
    }

    private func assertCorrupt(_ result: (DataError, String)?, _ fragment: String, line: UInt = #line) {
        guard let (error, path) = result else { return }
        guard case let .corruptImage(errorPath, detail) = error else { return XCTFail("expected corruptImage, got \(error)", line: line) }
        XCTAssertEqual(errorPath, path, line: line)
        XCTAssertTrue(detail.contains(fragment), "'\(detail)' lacks '\(fragment)'", line: line)
    }

    private func assertNotAnImage(_ result: (DataError, String)?, _ fragment: String, line: UInt = #line) {
        guard let (error, path) = result else { return }
        guard case let .notAnImage(errorPath, detail) = error else { return XCTFail("expected notAnImage, got \(error)", line: line) }
        XCTAssertEqual(errorPath, path, line: line)
        XCTAssertTrue(detail.contains(fragment), "'\(detail)' lacks '\(fragment)'", line: line)
    }

    func testTruncatedPNG() throws {
        let png = validPNG
        // Cut inside the IDAT data: the image rows run out.
        let idat = png.count - 12 - 4 - 20
        assertCorrupt(try failure(Array(png[..<idat]), "truncated.png"), "read beyond end of data")
        // Cut inside the header.
        assertCorrupt(try failure(Array(png[..<20]), "header-only.png"), "read beyond end of data")
    }

    func testPNGWithBadCRC() throws {
        var png = validPNG
        png[png.count - 12 - 1] ^= 0x01 // the last byte of IDAT's CRC (IEND's 12 bytes follow it)
        let (error, path) = try XCTUnwrap(try failure(png, "bad-crc.png"))
        XCTAssertEqual(error.description, "\(path): corrupt image: IDAT: CRC error")
    }

    func testPNGWithBadIDAT() throws {
        // A well-formed chunk (right CRC) whose zlib stream is damaged after its 2-byte header.
        let raw = ImageFiles.scanlines(Array(repeating: 7, count: 48), width: 4, height: 4, bitDepth: 8, samplesPerPixel: 3)
        var stream = ImageFiles.zlib(raw)
        stream[2] = 0xFF // BTYPE 11: an invalid block type
        let png = ImageFiles.pngSignature + ImageFiles.header(width: 4, height: 4, bitDepth: 8, colourType: .rgb)
            + ImageFiles.chunk("IDAT", stream) + ImageFiles.chunk("IEND", [])
        assertCorrupt(try failure(png, "bad-idat.png"), "IDAT: invalid block type")
        // An IHDR of a colour type PNG does not have.
        let badHeader = ImageFiles.pngSignature + ImageFiles.chunk("IHDR", ImageFiles.bigEndian(4) + ImageFiles.bigEndian(4) + [8, 5, 0, 0, 0])
            + ImageFiles.chunk("IDAT", stream) + ImageFiles.chunk("IEND", [])
        assertCorrupt(try failure(badHeader, "bad-colour-type.png"), "Invalid IHDR data")
    }

    func testTruncatedJPEGIsAnErrorNotAGreyImage() throws {
        let jpeg = validJPEG
        assertCorrupt(try failure(Array(jpeg[..<(jpeg.count * 2 / 3)]), "truncated.jpg"), "Premature end of JPEG file")
        // Only the start-of-image marker and one byte; only the tables.
        assertCorrupt(try failure(Array(jpeg[..<3]), "stub.jpg"), "no image in the JPEG data")
        let frame = try XCTUnwrap((2..<(jpeg.count - 1)).first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 })
        assertCorrupt(try failure(Array(jpeg[..<frame]) + [0xFF, 0xD9], "tables-only.jpg"), "no image in the JPEG data")
    }

    func testJPEGWithDamagedEntropyData() throws {
        var jpeg = validJPEG
        // 160 one bits in the scan (FF 00 is a stuffed FF): no Huffman code is all ones.
        for i in stride(from: jpeg.count - 300, to: jpeg.count - 260, by: 2) { jpeg[i] = 0xFF; jpeg[i + 1] = 0x00 }
        assertCorrupt(try failure(jpeg, "damaged.jpg"), "Corrupt JPEG data")
    }

    func testNotImages() throws {
        assertNotAnImage(try failure([], "empty.png"), "the file is empty")
        let (html, htmlPath) = try XCTUnwrap(try failure(Array("<!DOCTYPE html><html></html>\n".utf8), "page.jpg"))
        XCTAssertEqual(html.description, "\(htmlPath): not a PNG or JPEG file (starts with 0x3C 0x21 0x44 0x4F 0x43 0x54 0x59 0x50 ...)")
        var rng = SeededRNGForTests(seed: 7)
        let random = (0..<100).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        XCTAssertFalse([0x89, 0xFF].contains(random[0]), "this seed's bytes start like an image")
        let start = random[..<8].map { String(format: "0x%02X", $0) }.joined(separator: " ")
        assertNotAnImage(try failure(random, "random.png"), "not a PNG or JPEG file (starts with \(start) ...)")
        // A PNG signature cut short, and JPEG's FF D8 without a marker after it.
        assertNotAnImage(try failure(Array(ImageFiles.pngSignature[..<5]), "short.png"), "starts with 0x89 0x50 0x4E 0x47 0x0D)")
        assertNotAnImage(try failure([0xFF, 0xD8, 0x00, 0x01], "half.jpg"), "starts with 0xFF 0xD8 0x00 0x01)")
    }

    func testMissingFileAndDirectory() throws {
        XCTAssertEqual(failure(path: "\(dir)/absent.png"), .missingFile(path: "\(dir)/absent.png", expected: "a PNG or JPEG image"))
        let sub = "\(dir)/folder.png"
        try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: false)
        XCTAssertEqual(failure(path: sub), .unreadable(path: sub, reason: "is a directory (expected a PNG or JPEG image)"))
    }

    /// Opening a named pipe for reading waits for a writer; the decoder must refuse it instead.
    func testNamedPipeIsRefusedWithoutWaiting() throws {
        let fifo = "\(dir)/pipe.png"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0, String(cString: strerror(errno)))
        let done = DispatchSemaphore(value: 0)
        let outcome = LockedBox<Result<DecodedImage, Error>?>(nil)
        Thread.detachNewThread {
            outcome.set(Result { try ImageDecoder.decode(path: fifo) })
            done.signal()
        }
        // The call returns in microseconds; the bound only keeps a regression from hanging the suite.
        if done.wait(timeout: .now() + 60) == .timedOut {
            // Release the stuck open (a read-write open of a FIFO never blocks) before failing.
            let fd = open(fifo, O_RDWR)
            XCTFail("decode(path:) blocked on a named pipe")
            _ = done.wait(timeout: .now() + 10)
            close(fd)
        }
        guard case let .failure(error)? = outcome.value else { return XCTFail("decoded a named pipe") }
        XCTAssertEqual(error as? DataError, .unreadable(path: fifo, reason: "is a named pipe, not a regular file (expected a PNG or JPEG image)"))
    }

    /// A PNG whose header claims `width` x `height` pixels, with one row's worth of image data.
    private func pngClaiming(width: Int, height: Int, bitDepth: UInt8, colourType: ImageFiles.ColourType) -> [UInt8] {
        ImageFiles.pngSignature + ImageFiles.header(width: width, height: height, bitDepth: bitDepth, colourType: colourType)
            + ImageFiles.chunk("IDAT", ImageFiles.zlib([0, 1, 2, 3])) + ImageFiles.chunk("IEND", [])
    }

    func testHeaderClaimingTooManyPixelsIsRefusedBeforeAllocating() throws {
        // 65535 x 65535 RGBA would need 17 GB: reaching the allocation would crash, not throw.
        let (pngError, pngPath) = try XCTUnwrap(try failure(pngClaiming(width: 65535, height: 65535, bitDepth: 8, colourType: .rgba), "huge.png"))
        XCTAssertEqual(pngError.description, "\(pngPath): wrong dimensions: the image is 65535x65535 pixels (width x height), "
                       + "4294836225 in all, more than the limit of 67108864 (ImageDecoder.maximumPixels)")
        let jpeg = ImageFiles.jpeg(validJPEG, claimingWidth: 65000, height: 60000)
        let (jpegError, jpegPath) = try XCTUnwrap(try failure(jpeg, "huge.jpg"))
        guard case let .wrongDimensions(path, detail) = jpegError else { return XCTFail("expected wrongDimensions, got \(jpegError)") }
        XCTAssertEqual(path, jpegPath)
        XCTAssertTrue(detail.hasPrefix("the image is 65000x60000 pixels"), detail)
        // Just over the limit is refused; at the limit only the missing data is the problem.
        let (overError, overPath) = try XCTUnwrap(try failure(pngClaiming(width: 8193, height: 8192, bitDepth: 1, colourType: .gray), "over.png"))
        XCTAssertEqual(overError, .wrongDimensions(path: overPath, detail: "the image is 8193x8192 pixels (width x height), "
                                                   + "67117056 in all, more than the limit of 67108864 (ImageDecoder.maximumPixels)"))
        assertCorrupt(try failure(pngClaiming(width: 8192, height: 8192, bitDepth: 1, colourType: .gray), "at-limit.png"), "Not enough image data")
    }
}

/// A value shared between the test thread and a helper thread.
final class LockedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value { lock.withLock { stored } }
    func set(_ value: Value) { lock.withLock { stored = value } }
}
