/// IDX files (MNIST's format) written byte by byte from the format's definition, independently
/// of ddp's reader: a big-endian magic 0x0000_08nn (unsigned bytes, n dimensions), n big-endian
/// UInt32 dimensions, then the payload. Shared by the tests that make data sets, good and broken.
public enum IDXFile {
    public static let imagesMagic: UInt32 = 0x0000_0803
    public static let labelsMagic: UInt32 = 0x0000_0801

    public static func bigEndian(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
    }

    /// A file with the given magic (right or wrong) and dimensions, whatever the payload's length.
    public static func bytes(magic: UInt32, dims: [UInt32], payload: [UInt8]) -> [UInt8] {
        bigEndian(magic) + dims.flatMap(bigEndian) + payload
    }

    /// An unsigned-byte file with the magic its dimension count calls for.
    public static func bytes(dims: [Int], payload: [UInt8]) -> [UInt8] {
        bytes(magic: 0x0800 | UInt32(dims.count), dims: dims.map { UInt32(truncatingIfNeeded: $0) }, payload: payload)
    }
}
