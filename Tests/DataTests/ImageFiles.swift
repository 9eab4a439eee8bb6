import CTurboJPEG
import CZlib
import XCTest

/// Small PNG and JPEG files made by the tests, never by the decoder under test.
///
/// PNG is written from the format's definition (the 8-byte signature, then chunks of a big-endian
/// length, a 4-letter type, the data and the CRC-32 of type and data: IHDR, optional PLTE and
/// tRNS, one IDAT holding the zlib stream of the scanlines each led by filter byte 0, IEND),
/// with zlib's `compress` and `crc32`. JPEG is made by TurboJPEG's encoder (`tjCompress2`).
enum ImageFiles {
    static let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// PNG colour types (IHDR byte 9).
    enum ColourType: UInt8 {
        case gray = 0, rgb = 2, palette = 3, grayAlpha = 4, rgba = 6
        var samplesPerPixel: Int { [0: 1, 2: 3, 3: 1, 4: 2, 6: 4][rawValue]! }
    }

    static func bigEndian(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }

    /// A chunk with its CRC-32, or with `crc` instead when a test wants a wrong one.
    static func chunk(_ type: String, _ data: [UInt8], crc: UInt32? = nil) -> [UInt8] {
        let typed = Array(type.utf8) + data
        let sum = crc ?? typed.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
        return bigEndian(UInt32(data.count)) + typed + bigEndian(sum)
    }

    static func header(width: Int, height: Int, bitDepth: UInt8, colourType: ColourType) -> [UInt8] {
        // Compression 0 (deflate), filter method 0, no interlace.
        chunk("IHDR", bigEndian(UInt32(width)) + bigEndian(UInt32(height)) + [bitDepth, colourType.rawValue, 0, 0, 0])
    }

    /// The zlib stream (RFC 1950) of `bytes`.
    static func zlib(_ bytes: [UInt8]) -> [UInt8] {
        var length = compressBound(uLong(bytes.count))
        var out = [UInt8](repeating: 0, count: Int(length))
        let status = out.withUnsafeMutableBufferPointer { o in
            bytes.withUnsafeBufferPointer { compress(o.baseAddress, &length, $0.baseAddress, uLong($0.count)) }
        }
        precondition(status == Z_OK, "zlib compress failed: \(status)")
        return Array(out[..<Int(length)])
    }

    /// The scanlines of `samples` (row-major, `samplesPerPixel` per pixel): each led by filter
    /// byte 0 (None), samples packed most significant bit first below 8 bits, big-endian at 16.
    static func scanlines(_ samples: [Int], width: Int, height: Int, bitDepth: Int, samplesPerPixel: Int) -> [UInt8] {
        let perRow = width * samplesPerPixel
        var bytes: [UInt8] = []
        for y in 0..<height {
            bytes.append(0)
            let row = samples[(y * perRow)..<((y + 1) * perRow)]
            switch bitDepth {
            case 16:
                for s in row { bytes += [UInt8(s >> 8), UInt8(s & 0xFF)] }
            case 8:
                bytes += row.map { UInt8($0) }
            default:
                var byte = 0, used = 0
                for s in row {
                    byte = byte << bitDepth | s
                    used += bitDepth
                    if used == 8 { bytes.append(UInt8(byte)); byte = 0; used = 0 }
                }
                if used > 0 { bytes.append(UInt8(byte << (8 - used))) }
            }
        }
        return bytes
    }

    /// A complete PNG; `ancillary` chunks (gAMA, sRGB...) right after IHDR, `palette` (RGB
    /// triples) and `alpha` (tRNS entries) when given.
    static func png(width: Int, height: Int, bitDepth: Int, colourType: ColourType, samples: [Int],
                    ancillary: [UInt8] = [], palette: [UInt8]? = nil, alpha: [UInt8]? = nil) -> [UInt8] {
        var file = pngSignature + header(width: width, height: height, bitDepth: UInt8(bitDepth), colourType: colourType) + ancillary
        if let palette { file += chunk("PLTE", palette) }
        if let alpha { file += chunk("tRNS", alpha) }
        let raw = scanlines(samples, width: width, height: height, bitDepth: bitDepth, samplesPerPixel: colourType.samplesPerPixel)
        return file + chunk("IDAT", zlib(raw)) + chunk("IEND", [])
    }

    /// A JPEG of `pixels` (interleaved, `format`'s layout) by TurboJPEG's encoder.
    static func jpeg(_ pixels: [UInt8], width: Int, height: Int, format: TJPF, subsampling: TJSAMP, quality: Int32,
                     progressive: Bool = false) -> [UInt8] {
        let handle = tjInitCompress()!
        defer { tjDestroy(handle) }
        var buffer: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        let status = pixels.withUnsafeBufferPointer {
            tjCompress2(handle, $0.baseAddress, Int32(width), 0, Int32(height), format.rawValue, &buffer, &size,
                        Int32(subsampling.rawValue), quality, progressive ? TJFLAG_PROGRESSIVE : 0)
        }
        precondition(status == 0, "tjCompress2 failed: \(String(cString: tjGetErrorStr2(handle)))")
        defer { tjFree(buffer) }
        return Array(UnsafeBufferPointer(start: buffer, count: Int(size)))
    }

    /// `bytes` with the frame size in the first SOFn marker (FF C0 ... FF CF but C4, C8, CC)
    /// replaced: a header claiming another size.
    static func jpeg(_ bytes: [UInt8], claimingWidth width: Int, height: Int) -> [UInt8] {
        var out = bytes
        var i = 2
        while i + 9 < out.count {
            precondition(out[i] == 0xFF, "JPEG marker expected at \(i)")
            let marker = out[i + 1]
            if (0xC0...0xCF).contains(marker) && ![0xC4, 0xC8, 0xCC].contains(marker) {
                // Marker, length (2), precision (1), height (2), width (2).
                out[i + 5] = UInt8(height >> 8); out[i + 6] = UInt8(height & 0xFF)
                out[i + 7] = UInt8(width >> 8); out[i + 8] = UInt8(width & 0xFF)
                return out
            }
            i += 2 + Int(out[i + 2]) << 8 + Int(out[i + 3])
        }
        preconditionFailure("no SOF marker")
    }

    /// Interleaved samples to planar (CHW), the decoder's layout.
    static func planar(_ interleaved: [UInt8], channels: Int) -> [UInt8] {
        (0..<channels).flatMap { c in stride(from: c, to: interleaved.count, by: channels).map { interleaved[$0] } }
    }
}
