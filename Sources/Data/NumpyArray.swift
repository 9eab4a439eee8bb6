/// A NumPy array as a `.npy` file stores it (numpy.lib.format, versions 1.0, 2.0 and 3.0):
///
///     offset  bytes        field
///     0       6            magic "\x93NUMPY"
///     6       1, 1         major, minor version: 1.0, 2.0 or 3.0
///     8       2 (1.0) or   header length L, little-endian
///             4 (2.0, 3.0)
///     10/12   L            header: a Python dict literal padded with spaces, ending in "\n"
///                          (`NumpyHeader`); 3.0 differs from 2.0 only in allowing UTF-8 there
///     10/12+L              data: the elements in C (row-major) order
///
/// Element types: `|u1` and `<f4` (what images are stored as) and every little-endian integer
/// `|i1 <u2 <i2 <u4 <i4 <u8 <i8` (what labels come as). For one-byte types the byte-order
/// character means nothing and any is accepted; `=` and `|` on wider types mean the writer's
/// native order, which numpy reads as its own, little-endian on every machine ddp runs on.
/// Big-endian data (`>`) and `fortran_order: True` are refused, not converted: numpy writes
/// neither unless asked to, and `a.astype('<f4')` or `np.ascontiguousarray(a)` fixes the file
/// once instead of every load converting it again.
///
/// Nothing read from the file is trusted: the header length is bounded by numpy's own limit and
/// by the bytes present before the header is read; the data size is the shape's product computed
/// with overflow checks, bounded by `maximumDataBytes`, and must equal what follows the header
/// exactly (a shorter file is truncated, a longer one has trailing data) before anything is
/// allocated for it.
public struct NumpyArray: Sendable {
    /// The element types the reader accepts; raw values are the type part of numpy's `descr`.
    public enum ElementType: String, Sendable, CaseIterable {
        case uint8 = "u1", int8 = "i1", uint16 = "u2", int16 = "i2"
        case uint32 = "u4", int32 = "i4", uint64 = "u8", int64 = "i8"
        case float32 = "f4"

        /// Bytes per element.
        public var size: Int { Int(rawValue.dropFirst())! }

        /// numpy's `descr` for the type as numpy writes it ("|u1", "<f4").
        public var descr: String { (size == 1 ? "|" : "<") + rawValue }
    }

    /// The file's magic: 0x93 then "NUMPY".
    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)
    /// numpy's reader refuses longer headers (`max_header_size`, 10000 bytes) as unsafe to
    /// evaluate; ddp refuses them as not written by numpy.
    static let maximumHeaderBytes = 10_000
    /// The most data bytes one array may hold (4 GiB), the bound the other dataset readers use.
    public static let maximumDataBytes = 1 << 32

    public let elementType: ElementType
    /// The dimensions, outermost first (C order).
    public let shape: [Int]
    /// The elements as the file stores them: little-endian, C order, `shape`'s product of them.
    public let data: [UInt8]

    /// Reads the array in `path`; any flaw is a one-line `DataError` naming the file.
    public static func read(path: String) throws -> NumpyArray {
        try read(from: FileSource(path: path, expected: "a NumPy .npy array"))
    }

    /// What the header says: enough to size and interpret the data that follows it.
    struct Header {
        let elementType: ElementType
        let shape: [Int]
        /// `shape`'s product times the element size: exactly what follows the header.
        let dataBytes: Int

        /// "shape (60000, 28, 28) of <f4 = 188160000 data bytes", for messages.
        var promise: String {
            "the header promises shape \(NumpyHeader.describe(shape)) of \(elementType.descr) = \(dataBytes) data bytes"
        }
    }

    /// Reads the whole array from `source`, which must end where the data ends.
    static func read(from source: any ByteSource) throws -> NumpyArray {
        let header = try readHeader(from: source)
        let data = try [UInt8](unsafeUninitializedCapacity: header.dataBytes) { buffer, initialized in
            initialized = try source.readFully(into: UnsafeMutableRawBufferPointer(buffer))
            if initialized < header.dataBytes {
                throw DataError.truncated(path: source.name, detail: "\(header.promise) but the file holds only \(initialized)")
            }
        }
        try expectEnd(of: source, after: header)
        return NumpyArray(elementType: header.elementType, shape: header.shape, data: data)
    }

    /// Throws unless `source` has nothing left after the data `header` promised.
    static func expectEnd(of source: any ByteSource, after header: Header) throws {
        if try !source.isAtEnd() {
            throw DataError.trailingData(path: source.name, detail: "\(header.promise) but more bytes follow them")
        }
    }

    /// Reads magic, version, header length and header, leaving `source` at the first data byte,
    /// and checks the data's size against the bytes `source` holds.
    static func readHeader(from source: any ByteSource) throws -> Header {
        let path = source.name
        let prefix = try source.readBytes(8)
        if prefix.isEmpty {
            throw DataError.truncated(path: path, detail: "the file is empty (expected a NumPy .npy array)")
        }
        if !magic.starts(with: prefix.prefix(magic.count)) {
            let zip = prefix.starts(with: [0x50, 0x4B, 0x03, 0x04]) ? "; this is a zip archive, an .npz" : ""
            throw DataError.badArray(path: path, detail: "not a .npy file: it starts with \(hexBytes(prefix)), not \\x93NUMPY\(zip)")
        }
        if prefix.count < 8 {
            throw DataError.truncated(path: path, detail: "the file ends after \(prefix.count) bytes, inside the 8-byte magic and version")
        }
        let (major, minor) = (prefix[6], prefix[7])
        if !(1...3).contains(major) || minor != 0 {
            throw DataError.badArray(path: path, detail: "format version \(major).\(minor) is not supported (expected 1.0, 2.0 or 3.0)")
        }
        let lengthBytes = major == 1 ? 2 : 4
        let lengthField = try source.readBytes(lengthBytes)
        if lengthField.count < lengthBytes {
            throw DataError.truncated(path: path, detail: "the file ends inside the \(lengthBytes)-byte header length")
        }
        let headerLength = lengthField.reversed().reduce(0) { $0 << 8 | Int($1) }
        if headerLength > maximumHeaderBytes {
            throw DataError.badArray(path: path, detail: "header length \(headerLength) bytes is over numpy's limit of \(maximumHeaderBytes)")
        }
        let dataStart = 8 + lengthBytes + headerLength
        if dataStart > source.maximumByteCount {
            throw DataError.truncated(
                path: path, detail: "the header length promises \(headerLength) bytes but the file ends after \(source.maximumByteCount - 8 - lengthBytes)")
        }
        let text = try source.readBytes(headerLength)
        if text.count < headerLength {
            throw DataError.truncated(path: path, detail: "the header length promises \(headerLength) bytes but the file ends after \(text.count)")
        }
        let dict = try NumpyHeader(parsing: text, path: path)
        let header = try checked(dict, path: path)
        let held = source.maximumByteCount - dataStart
        if let exact = source.exactByteCount, exact - dataStart > header.dataBytes {
            throw DataError.trailingData(path: path, detail: "\(header.promise) but the file holds \(exact - dataStart)")
        }
        if header.dataBytes > held {
            throw DataError.truncated(path: path, detail: "\(header.promise) but the file holds \(held)")
        }
        return header
    }

    /// The element type, order and size the dict declares, or the reason they cannot be read.
    private static func checked(_ dict: NumpyHeader, path: String) throws -> Header {
        let descr = dict.descr
        let order = descr.first ?? " "
        guard "<>|=".contains(order), let type = ElementType(rawValue: String(descr.dropFirst())) else {
            throw DataError.badArray(
                path: path, detail: "element type '\(descr)' is not supported (expected one of \(ElementType.allCases.map(\.descr).joined(separator: " ")))")
        }
        if order == ">" && type.size > 1 {
            throw DataError.badArray(
                path: path, detail: "element type '\(descr)' is big-endian (expected little-endian '<\(type.rawValue)'; convert with a.astype('<\(type.rawValue)'))")
        }
        if dict.fortranOrder {
            throw DataError.badArray(
                path: path, detail: "fortran_order is True: the data is column-major (expected C order; save np.ascontiguousarray(a))")
        }
        // An empty array holds no bytes whatever its other dimensions.
        var bytes = dict.shape.contains(0) ? 0 : type.size
        for d in dict.shape where bytes > 0 {
            let (product, overflow) = bytes.multipliedReportingOverflow(by: d)
            if overflow || product > maximumDataBytes {
                throw DataError.tooLarge(path: path, bytes: overflow ? Int.max : product, limit: maximumDataBytes)
            }
            bytes = product
        }
        return Header(elementType: type, shape: dict.shape, dataBytes: bytes)
    }

    /// "93 4E 55 4D": bytes in hex for messages.
    static func hexBytes(_ bytes: [UInt8]) -> String {
        bytes.map { b in
            let hex = String(b, radix: 16, uppercase: true)
            return hex.count == 1 ? "0" + hex : hex
        }.joined(separator: " ")
    }
}
