/// An 8-bit gray PNG from the format's definition, with nothing of zlib: the signature, IHDR,
/// one IDAT holding a zlib stream (RFC 1950) of stored deflate blocks (RFC 1951 3.2.4: BTYPE 00,
/// LEN, NLEN, the bytes) of the scanlines each led by filter byte 0, its Adler-32, IEND; every
/// chunk's CRC-32 (ISO 3309 polynomial, reflected) computed here. Shared by the test targets
/// that have no zlib (TrainingTests, ddpTests); `Tests/DataTests/ImageFiles.swift` writes
/// compressed PNGs of every kind.
public enum StoredPNG {
    static let crcTable: [UInt32] = (0..<256).map { (n: Int) -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    static func adler32(_ bytes: [UInt8]) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        for x in bytes { a = (a + UInt32(x)) % 65521; b = (b + a) % 65521 }
        return b << 16 | a
    }

    static func bigEndian(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let typed = Array(type.utf8) + data
        return bigEndian(UInt32(data.count)) + typed + bigEndian(crc32(typed))
    }

    static func zlibStored(_ raw: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01] // deflate, 32K window; (0x78 * 256 + 0x01) % 31 == 0
        var start = 0
        repeat {
            let n = min(65535, raw.count - start)
            let length = UInt16(n), complement = ~UInt16(n)
            out.append(start + n == raw.count ? 1 : 0) // BFINAL, BTYPE 00
            out += [UInt8(length & 0xFF), UInt8(length >> 8), UInt8(complement & 0xFF), UInt8(complement >> 8)]
            out += raw[start..<(start + n)]
            start += n
        } while start < raw.count
        return out + bigEndian(adler32(raw))
    }

    public static func gray(width: Int, height: Int, pixels: [UInt8]) -> [UInt8] {
        precondition(pixels.count == width * height)
        var raw: [UInt8] = []
        for y in 0..<height {
            raw.append(0)
            raw += pixels[(y * width)..<((y + 1) * width)]
        }
        let header = bigEndian(UInt32(width)) + bigEndian(UInt32(height)) + [8, 0, 0, 0, 0] // 8-bit gray, no interlace
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", header) + chunk("IDAT", zlibStored(raw)) + chunk("IEND", [])
    }
}
