/// Reader for the IDX files of MNIST and Fashion-MNIST, raw or gzip-compressed.
///
/// Layout (big-endian): a 4-byte magic `0x00 0x00 type ndims` (type 0x08 = unsigned byte), then
/// `ndims` UInt32 dimensions, then the data, row-major. Labels are `0x00000801` with dimension
/// [N]; images are `0x00000803` with dimensions [N, height, width]. A file is gzip when it starts
/// with 1F 8B, whatever its name.
///
/// Nothing read from the file is trusted: the data size the header promises is computed with
/// overflow checks and compared with the file's size (raw: must match exactly; gzip: must fit
/// deflate's 1032:1 bound) and with `maximumDataBytes` before anything is allocated; the file must
/// then end exactly where the data ends (for gzip, with a valid CRC-32 and length trailer).
public enum IDXReader {
    /// Magic of an IDX file of unsigned-byte labels, one dimension [N].
    public static let labelsMagic: UInt32 = 0x0000_0801
    /// Magic of an IDX file of unsigned-byte images, three dimensions [N, height, width].
    public static let imagesMagic: UInt32 = 0x0000_0803
    /// The most data bytes one file may hold (4 GiB): a sanity bound far above any IDX dataset,
    /// far below what would take the machine down.
    public static let maximumDataBytes = 1 << 32

    /// The contents of an IDX image file: `count` images of `height` x `width` bytes, row-major.
    public struct Images: Sendable {
        public let count: Int
        public let height: Int
        public let width: Int
        /// `count * height * width` pixels, 0 (background) ... 255.
        public let pixels: [UInt8]
    }

    /// Reads an image file (magic 0x00000803), raw or gzip.
    public static func readImages(path: String) throws -> Images {
        try readImages(from: open(path: path, expected: "an IDX image file"))
    }

    /// Reads a label file (magic 0x00000801), raw or gzip, and checks every label is below `classes`.
    public static func readLabels(path: String, classes: Int) throws -> [UInt8] {
        try readLabels(from: open(path: path, expected: "an IDX label file"), classes: classes)
    }

    // MARK: Parsing any byte source (files, memory in tests)

    static func readImages(from source: any ByteSource) throws -> Images {
        let (dims, pixels) = try readArray(from: source, magic: imagesMagic, kind: "IDX images: unsigned bytes, 3 dimensions")
        if dims[1] == 0 || dims[2] == 0 {
            throw DataError.wrongDimensions(path: source.name, detail: "images of \(dims[1])x\(dims[2]) pixels (expected both sides at least 1)")
        }
        return Images(count: dims[0], height: dims[1], width: dims[2], pixels: pixels)
    }

    static func readLabels(from source: any ByteSource, classes: Int) throws -> [UInt8] {
        let (_, labels) = try readArray(from: source, magic: labelsMagic, kind: "IDX labels: unsigned bytes, 1 dimension")
        try checkLabels(labels, classes: classes, path: source.name)
        return labels
    }

    /// Throws for the first label that is not in `0..<classes`.
    static func checkLabels(_ labels: [UInt8], classes: Int, path: String) throws {
        let limit = UInt8(clamping: classes)
        let bad = labels.withUnsafeBufferPointer { p -> Int? in
            // Only a failing file pays for locating the culprit.
            guard classes <= 255, let top = p.max(), top >= limit else { return nil }
            return p.firstIndex { $0 >= limit }
        }
        if let index = bad {
            throw DataError.labelOutOfRange(path: path, index: index, label: Int(labels[index]), classes: classes)
        }
    }

    /// Opens `path`, decompressing on the fly when it starts with the gzip magic.
    static func open(path: String, expected: String) throws -> any ByteSource {
        let file = try FileSource(path: path, expected: expected)
        return try file.peek(2) == gzipMagic ? GzipSource(file) : file
    }

    /// Bytes in memory, decompressed when they start with the gzip magic.
    static func source(bytes: [UInt8], name: String) throws -> any ByteSource {
        let memory = MemorySource(bytes, name: name)
        return try memory.peek(2) == gzipMagic ? GzipSource(memory) : memory
    }

    /// Reads header and data of an IDX file with the given magic; returns the dimensions and the
    /// data bytes. At least one sample (dims[0] >= 1) is required.
    private static func readArray(from source: any ByteSource, magic expected: UInt32, kind: String) throws -> (dims: [Int], data: [UInt8]) {
        let path = source.name
        let magicBytes = try source.readBytes(4)
        if magicBytes.isEmpty {
            throw DataError.truncated(path: path, detail: "the file is empty (expected \(kind))")
        }
        if magicBytes.count < 4 {
            throw DataError.truncated(path: path, detail: "the file ends after \(magicBytes.count) bytes, inside the 4-byte IDX magic")
        }
        let magic = bigEndian(magicBytes, 0)
        if magic != expected {
            var note = kind
            if magic == imagesMagic { note += "; this looks like an image file" }
            if magic == labelsMagic { note += "; this looks like a label file" }
            throw DataError.wrongMagic(path: path, found: magic, expected: expected, kind: note)
        }
        let rank = Int(expected & 0xFF)
        let headerBytes = 4 + 4 * rank
        let dimBytes = try source.readBytes(4 * rank)
        if dimBytes.count < 4 * rank {
            throw DataError.truncated(path: path, detail: "the header ends after \(4 + dimBytes.count) of its \(headerBytes) bytes")
        }
        let dims = (0..<rank).map { Int(bigEndian(dimBytes, 4 * $0)) }
        if dims[0] == 0 {
            throw DataError.wrongDimensions(path: path, detail: "the header declares 0 samples (expected at least 1)")
        }
        let shape = dims.map(String.init).joined(separator: "x")
        // UInt32 dimensions multiply to at most 2^96: check every product for overflow.
        var dataBytes = 1
        for d in dims {
            let (p, overflow) = dataBytes.multipliedReportingOverflow(by: d)
            if overflow { throw DataError.tooLarge(path: path, bytes: Int.max, limit: maximumDataBytes) }
            dataBytes = p
        }
        if dataBytes > maximumDataBytes {
            throw DataError.tooLarge(path: path, bytes: dataBytes, limit: maximumDataBytes)
        }
        let promise = "the header promises \(shape) = \(dataBytes) data bytes"
        if let exact = source.exactByteCount {
            if exact < headerBytes + dataBytes {
                throw DataError.truncated(path: path, detail: "\(promise) but the file holds \(exact - headerBytes)")
            }
            if exact > headerBytes + dataBytes {
                throw DataError.trailingData(path: path, detail: "\(promise) but the file holds \(exact - headerBytes)")
            }
        } else if dataBytes > source.maximumByteCount {
            throw DataError.truncated(path: path, detail: "\(promise), more than its compressed size can hold (at most \(source.maximumByteCount))")
        }
        let data = try [UInt8](unsafeUninitializedCapacity: dataBytes) { buffer, initialized in
            initialized = try source.readFully(into: UnsafeMutableRawBufferPointer(buffer))
            if initialized < dataBytes {
                throw DataError.truncated(path: path, detail: "\(promise) but the file holds only \(initialized)")
            }
        }
        if try !source.isAtEnd() {
            throw DataError.trailingData(path: path, detail: "\(promise) but more bytes follow them")
        }
        return (dims, data)
    }

    private static func bigEndian(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
    }
}
