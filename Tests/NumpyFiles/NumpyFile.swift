import CZlib

/// NumPy files written byte by byte from the formats' definitions, independently of ddp's
/// reader, for the tests that make data sets, good and broken.
///
/// `.npy`: the magic "\x93NUMPY", the version, the header length (2 bytes little-endian for 1.0,
/// 4 for 2.0 and 3.0), the dict padded with spaces and a newline to a multiple of 64 bytes, as
/// numpy pads it, then the data.
///
/// `.npz`: a zip written here from PKWARE's APPNOTE: per member a local header and the data
/// (stored, or raw deflate: zlib's `compress2` output without its 2-byte header and 4-byte
/// Adler-32 trailer), then the central directory and the end record. With `zip64`, every member
/// carries ZIP64 extra fields and the end record points at a ZIP64 end record, as Python's
/// zipfile writes them past 4 GiB. The CRC-32 is computed bit by bit from its polynomial.
public enum NumpyFile {
    /// An `.npy` file with the standard dict for `descr`, `shape` and `fortranOrder`.
    public static func npy(descr: String, shape: [Int], data: [UInt8], version: UInt8 = 1, fortranOrder: Bool = false) -> [UInt8] {
        let dims = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        return npy(dict: "{'descr': '\(descr)', 'fortran_order': \(fortranOrder ? "True" : "False"), 'shape': \(dims), }",
                   data: data, version: version)
    }

    /// An `.npy` file whose header is `dict` (any text), padded with spaces and a newline.
    public static func npy(dict: String, data: [UInt8], version: UInt8 = 1) -> [UInt8] {
        let lengthBytes = version == 1 ? 2 : 4
        var text = Array(dict.utf8)
        let unpadded = 8 + lengthBytes + text.count + 1
        text += [UInt8](repeating: 0x20, count: (64 - unpadded % 64) % 64) + [0x0A]
        return [0x93] + Array("NUMPY".utf8) + [version, 0] + littleEndian(UInt64(text.count), bytes: lengthBytes) + text + data
    }

    /// `values` as little-endian bytes of their own width.
    public static func littleEndian<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
        values.flatMap { littleEndian(UInt64(truncatingIfNeeded: $0), bytes: T.bitWidth / 8) }
    }

    /// `values` as little-endian IEEE-754 single-precision bytes.
    public static func float32(_ values: [Float]) -> [UInt8] {
        littleEndian(values.map(\.bitPattern))
    }

    /// One member of an archive: its name, its contents, and whether to deflate them.
    public struct Member {
        public let name: String
        public let data: [UInt8]
        public let deflated: Bool

        public init(_ name: String, _ data: [UInt8], deflated: Bool = false) {
            self.name = name
            self.data = data
            self.deflated = deflated
        }
    }

    /// A zip archive of `members`, in order.
    public static func zip(_ members: [Member], zip64: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        var central: [UInt8] = []
        for member in members {
            let name = Array(member.name.utf8)
            let payload = member.deflated ? rawDeflate(member.data) : member.data
            let offset = out.count
            let version: UInt16 = zip64 ? 45 : 20
            let fixed = littleEndian([version, 0, member.deflated ? 8 : 0, 0, 0x21]) + littleEndian([crc32(member.data)])
            out += littleEndian([UInt32(0x0403_4B50)]) + fixed
            out += littleEndian([UInt32(payload.count), UInt32(member.data.count)])
            let localExtra = zip64 ? littleEndian([UInt16(1), 16]) + littleEndian([UInt64(member.data.count), UInt64(payload.count)]) : []
            out += littleEndian([UInt16(name.count), UInt16(localExtra.count)]) + name + localExtra + payload
            central += littleEndian([UInt32(0x0201_4B50)]) + littleEndian([version]) + fixed
            if zip64 {
                let extra = littleEndian([UInt16(1), 24]) + littleEndian([UInt64(member.data.count), UInt64(payload.count), UInt64(offset)])
                central += littleEndian([UInt32.max, UInt32.max]) + littleEndian([UInt16(name.count), UInt16(extra.count), 0, 0, 0])
                central += littleEndian([UInt32(0), UInt32.max]) + name + extra
            } else {
                central += littleEndian([UInt32(payload.count), UInt32(member.data.count)])
                central += littleEndian([UInt16(name.count), 0, 0, 0, 0]) + littleEndian([UInt32(0), UInt32(offset)]) + name
            }
        }
        let directoryOffset = out.count
        out += central
        if zip64 {
            let recordOffset = out.count
            out += littleEndian([UInt32(0x0606_4B50)]) + littleEndian([UInt64(44)]) + littleEndian([UInt16(45), 45])
            out += littleEndian([UInt32(0), 0]) + littleEndian([UInt64(members.count), UInt64(members.count), UInt64(central.count), UInt64(directoryOffset)])
            out += littleEndian([UInt32(0x0706_4B50), 0]) + littleEndian([UInt64(recordOffset)]) + littleEndian([UInt32(1)])
            out += littleEndian([UInt32(0x0605_4B50)]) + littleEndian([UInt16(0), 0, 0xFFFF, 0xFFFF]) + littleEndian([UInt32.max, UInt32.max]) + [0, 0]
        } else {
            out += littleEndian([UInt32(0x0605_4B50)]) + littleEndian([UInt16(0), 0, UInt16(members.count), UInt16(members.count)])
            out += littleEndian([UInt32(central.count), UInt32(directoryOffset)]) + [0, 0]
        }
        return out
    }

    /// The CRC-32 of zip (and gzip): reflected polynomial 0xEDB88320, initial and final XOR all ones.
    public static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    /// Raw deflate data (no zlib header or trailer), as zip stores a deflated member.
    public static func rawDeflate(_ bytes: [UInt8]) -> [UInt8] {
        var length = compressBound(uLong(bytes.count))
        var out = [UInt8](repeating: 0, count: Int(length))
        let status = compress2(&out, &length, bytes, uLong(bytes.count), 9)
        precondition(status == Z_OK, "compress2 failed with status \(status)")
        return Array(out[2..<(Int(length) - 4)])
    }

    private static func littleEndian(_ v: UInt64, bytes: Int) -> [UInt8] {
        (0..<bytes).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) }
    }
}
