#if canImport(Glibc)
import Glibc
private let systemRead = Glibc.read
private let systemWrite = Glibc.write
#elseif canImport(Darwin)
import Darwin
private let systemRead = Darwin.read
private let systemWrite = Darwin.write
#endif

// The safetensors format (https://github.com/huggingface/safetensors):
//
//   [8 bytes: N, little-endian u64] [N bytes: JSON header, UTF-8] [data section]
//
//   header = {"__metadata__": {"k": "v", ...},                       (optional, strings only)
//             "<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
//
// Offsets are relative to the data section, little-endian, row-major. A valid file's tensors
// tile the data section exactly: no gap, no overlap, nothing left over. The reference writer
// orders tensors by dtype (larger first, its enum order) then name, writes compact JSON with
// "__metadata__" first, and pads the header with spaces to a multiple of 8 bytes so the data
// starts aligned. `SafeTensors.encode` does the same, with metadata keys sorted, so equal
// tensors give byte-identical files (and the same bytes as the reference for <= 1 metadata key).

/// Element type of a safetensors tensor. Declared in the reference writer's order, which decides
/// the order of tensors in a file (later cases first).
public enum SafeTensorDType: String, CaseIterable, Sendable {
    case bool = "BOOL", u8 = "U8", i8 = "I8", i16 = "I16", u16 = "U16", f16 = "F16", bf16 = "BF16"
    case i32 = "I32", u32 = "U32", f32 = "F32", f64 = "F64", i64 = "I64", u64 = "U64"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .bool, .u8, .i8: return 1
        case .i16, .u16, .f16, .bf16: return 2
        case .i32, .u32, .f32: return 4
        case .f64, .i64, .u64: return 8
        }
    }

    fileprivate var writeRank: Int { Self.allCases.firstIndex(of: self)! }
}

/// A malformed file or a request the file cannot satisfy. `description` is one line naming the
/// file (or "<memory>"), what is wrong and what was expected.
public struct SafeTensorsError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: Sendable, Equatable {
        /// The file could not be opened, read, written or renamed.
        case io
        /// Shorter than the 8-byte header length, or the header length runs past the end.
        case truncated
        /// The header length is over the 100 MB limit of the reference implementation.
        case headerTooLarge
        /// The header is not valid JSON (or not UTF-8, or nested too deeply).
        case invalidJSON
        /// Valid JSON but not a safetensors header: wrong types, missing or unknown keys.
        case invalidHeader
        case unknownDType
        /// Negative dimension, or an element count that overflows.
        case invalidShape
        /// Offsets out of order, overlapping, leaving gaps or not ending at the end of the file.
        case invalidOffsets
        /// shape x dtype size differs from the byte span (or from the value count given).
        case sizeMismatch
        case duplicateName
        case missingTensor
        /// A typed read of the wrong dtype or shape, or a BOOL byte other than 0 or 1.
        case wrongType
    }

    public let kind: Kind
    public let description: String

    init(_ kind: Kind, _ source: String, _ message: String) {
        self.kind = kind
        self.description = "\(source): \(message)"
    }
}

/// One tensor: dtype, shape and its little-endian bytes, always consistent with each other.
public struct SafeTensorEntry: Equatable, Sendable {
    public let dtype: SafeTensorDType
    public let shape: [Int]
    public let bytes: [UInt8]

    /// Throws `.invalidShape` for a negative dimension and `.sizeMismatch` when `bytes` does not
    /// hold exactly `shape.product` elements.
    public init(dtype: SafeTensorDType, shape: [Int], bytes: [UInt8]) throws {
        let needed = try Self.byteCount(dtype: dtype, shape: shape, source: "<memory>")
        guard needed == bytes.count else {
            throw SafeTensorsError(.sizeMismatch, "<memory>",
                                   "shape \(shape) of \(dtype.rawValue) needs \(needed) bytes, got \(bytes.count)")
        }
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// Elements (the product of `shape`; 1 for a scalar).
    public var elementCount: Int { shape.reduce(1, *) }

    public init(floats: [Float], shape: [Int]) throws {
        self = try floats.withUnsafeBufferPointer { try SafeTensorEntry(floats: $0, shape: shape) }
    }

    /// Copies `floats` (e.g. a parameter view of the model's flat buffer).
    public init(floats: UnsafeBufferPointer<Float>, shape: [Int]) throws {
        try self.init(dtype: .f32, shape: shape, values: floats.count) { raw, i in
            raw.storeBytes(of: floats[i].bitPattern.littleEndian, toByteOffset: i &* 4, as: UInt32.self)
        }
    }

    public init(doubles: [Double], shape: [Int]) throws {
        try self.init(dtype: .f64, shape: shape, values: doubles.count) { raw, i in
            raw.storeBytes(of: doubles[i].bitPattern.littleEndian, toByteOffset: i &* 8, as: UInt64.self)
        }
    }

    public init(int64s: [Int64], shape: [Int]) throws {
        try self.init(dtype: .i64, shape: shape, values: int64s.count) { raw, i in
            raw.storeBytes(of: int64s[i].littleEndian, toByteOffset: i &* 8, as: Int64.self)
        }
    }

    public init(int32s: [Int32], shape: [Int]) throws {
        try self.init(dtype: .i32, shape: shape, values: int32s.count) { raw, i in
            raw.storeBytes(of: int32s[i].littleEndian, toByteOffset: i &* 4, as: Int32.self)
        }
    }

    public init(uint8s: [UInt8], shape: [Int]) throws {
        try self.init(dtype: .u8, shape: shape, bytes: uint8s)
    }

    public init(bools: [Bool], shape: [Int]) throws {
        try self.init(dtype: .bool, shape: shape, bytes: bools.map { $0 ? 1 : 0 })
    }

    private init(dtype: SafeTensorDType, shape: [Int], values: Int,
                 store: (UnsafeMutableRawPointer, Int) -> Void) throws {
        let needed = try Self.byteCount(dtype: dtype, shape: shape, source: "<memory>")
        guard needed == values &* dtype.byteSize else {
            throw SafeTensorsError(.sizeMismatch, "<memory>", "\(values) values for shape \(shape)")
        }
        let bytes = [UInt8](unsafeUninitializedCapacity: needed) { buffer, initialized in
            if let raw = UnsafeMutableRawPointer(buffer.baseAddress) {
                for i in 0..<values { store(raw, i) }
            }
            initialized = needed
        }
        try self.init(dtype: dtype, shape: shape, bytes: bytes)
    }

    /// shape.product * dtype size, or a thrown error for a negative dimension or an overflow.
    static func byteCount(dtype: SafeTensorDType, shape: [Int], source: String) throws -> Int {
        var total = dtype.byteSize
        for d in shape {
            guard d >= 0 else {
                throw SafeTensorsError(.invalidShape, source, "negative dimension in shape \(shape)")
            }
            let (product, overflow) = total.multipliedReportingOverflow(by: d)
            guard !overflow else {
                throw SafeTensorsError(.invalidShape, source, "shape \(shape) has too many elements")
            }
            total = product
        }
        return total
    }

    public func floats() throws -> [Float] {
        try values(.f32) { Float(bitPattern: UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: $1 &* 4, as: UInt32.self))) }
    }

    public func doubles() throws -> [Double] {
        try values(.f64) { Double(bitPattern: UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: $1 &* 8, as: UInt64.self))) }
    }

    public func int64s() throws -> [Int64] {
        try values(.i64) { Int64(littleEndian: $0.loadUnaligned(fromByteOffset: $1 &* 8, as: Int64.self)) }
    }

    public func int32s() throws -> [Int32] {
        try values(.i32) { Int32(littleEndian: $0.loadUnaligned(fromByteOffset: $1 &* 4, as: Int32.self)) }
    }

    public func uint8s() throws -> [UInt8] {
        try checkDType(.u8)
        return bytes
    }

    /// Throws `.wrongType` for a byte other than 0 or 1 (torch and numpy write only those).
    public func bools() throws -> [Bool] {
        try checkDType(.bool)
        guard let bad = bytes.first(where: { $0 > 1 }) else { return bytes.map { $0 == 1 } }
        throw SafeTensorsError(.wrongType, "<memory>", "BOOL tensor holds byte \(bad), expected 0 or 1")
    }

    /// Copies an F32 tensor into `destination` (e.g. a parameter's view of the flat buffer)
    /// without an intermediate array; the element counts must match.
    public func copyFloats(into destination: UnsafeMutableBufferPointer<Float>) throws {
        try checkDType(.f32)
        guard destination.count == elementCount else {
            throw SafeTensorsError(.wrongType, "<memory>",
                                   "F32 tensor of shape \(shape) copied into \(destination.count) Floats")
        }
        bytes.withUnsafeBytes { raw in
            for i in 0..<destination.count {
                destination[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i &* 4, as: UInt32.self)))
            }
        }
    }

    private func checkDType(_ expected: SafeTensorDType) throws {
        guard dtype == expected else {
            throw SafeTensorsError(.wrongType, "<memory>", "tensor is \(dtype.rawValue), expected \(expected.rawValue)")
        }
    }

    private func values<T>(_ expected: SafeTensorDType, _ load: (UnsafeRawBufferPointer, Int) -> T) throws -> [T] {
        try checkDType(expected)
        return bytes.withUnsafeBytes { raw in (0..<elementCount).map { load(raw, $0) } }
    }
}

/// A decoded file: its tensors by name, their names in file order, and the metadata.
public struct SafeTensorsFile: Sendable {
    /// Path the file was read from, or "<memory>"; used in error messages.
    public let source: String
    public let entries: [String: SafeTensorEntry]
    /// Tensor names in the order of their data in the file.
    public let names: [String]
    public let metadata: [String: String]

    /// The tensor called `name`, or `.missingTensor`.
    public func entry(_ name: String) throws -> SafeTensorEntry {
        guard let entry = entries[name] else {
            throw SafeTensorsError(.missingTensor, source, "no tensor \(name.debugDescription)")
        }
        return entry
    }

    /// The values of F32 tensor `name`, checking its shape when one is given.
    public func floats(_ name: String, shape: [Int]? = nil) throws -> [Float] {
        try typed(name, .f32, shape).floats()
    }

    /// The values of I64 tensor `name`, checking its shape when one is given.
    public func int64s(_ name: String, shape: [Int]? = nil) throws -> [Int64] {
        try typed(name, .i64, shape).int64s()
    }

    /// Copies F32 tensor `name` of exactly `shape` into `destination`.
    public func copyFloats(_ name: String, shape: [Int], into destination: UnsafeMutableBufferPointer<Float>) throws {
        try typed(name, .f32, shape).copyFloats(into: destination)
    }

    private func typed(_ name: String, _ dtype: SafeTensorDType, _ shape: [Int]?) throws -> SafeTensorEntry {
        let entry = try entry(name)
        guard entry.dtype == dtype else {
            throw SafeTensorsError(.wrongType, source,
                                   "tensor \(name.debugDescription) is \(entry.dtype.rawValue), expected \(dtype.rawValue)")
        }
        if let shape, entry.shape != shape {
            throw SafeTensorsError(.wrongType, source,
                                   "tensor \(name.debugDescription) has shape \(entry.shape), expected \(shape)")
        }
        return entry
    }
}

/// Reading and writing safetensors files; the decoder trusts nothing in its input.
public enum SafeTensors {
    /// Largest header accepted, as in the reference implementation.
    public static let maxHeaderLength = 100_000_000

    // MARK: Encoding

    /// The file bytes for `entries` (any order; written in the reference writer's order) and
    /// `metadata`. Throws `.duplicateName` for a repeated name or the reserved "__metadata__".
    public static func encode(_ entries: [(name: String, entry: SafeTensorEntry)],
                              metadata: [String: String] = [:]) throws -> [UInt8] {
        var seen = Set<String>()
        for (name, _) in entries {
            guard name != "__metadata__" else {
                throw SafeTensorsError(.duplicateName, "<memory>", "tensor name \"__metadata__\" is reserved")
            }
            guard seen.insert(name).inserted else {
                throw SafeTensorsError(.duplicateName, "<memory>", "tensor name \(name.debugDescription) given twice")
            }
        }
        let ordered = entries.sorted { a, b in
            if a.entry.dtype != b.entry.dtype { return a.entry.dtype.writeRank > b.entry.dtype.writeRank }
            return a.name.utf8.lexicographicallyPrecedes(b.name.utf8)
        }
        var header: [UInt8] = [UInt8(ascii: "{")]
        var first = true
        func separator() {
            if !first { header.append(UInt8(ascii: ",")) }
            first = false
        }
        if !metadata.isEmpty {
            separator()
            appendJSONString("__metadata__", to: &header)
            header.append(contentsOf: Array(":{".utf8))
            for (index, key) in metadata.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }).enumerated() {
                if index > 0 { header.append(UInt8(ascii: ",")) }
                appendJSONString(key, to: &header)
                header.append(UInt8(ascii: ":"))
                appendJSONString(metadata[key]!, to: &header)
            }
            header.append(UInt8(ascii: "}"))
        }
        var offset = 0
        for (name, entry) in ordered {
            separator()
            appendJSONString(name, to: &header)
            let end = offset + entry.bytes.count
            let shape = entry.shape.map(String.init).joined(separator: ",")
            header.append(contentsOf: Array(":{\"dtype\":\"\(entry.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(end)]}".utf8))
            offset = end
        }
        header.append(UInt8(ascii: "}"))
        header.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - header.count % 8) % 8))

        var file: [UInt8] = []
        file.reserveCapacity(8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(contentsOf: header)
        for (_, entry) in ordered { file.append(contentsOf: entry.bytes) }
        return file
    }

    /// JSON string with the escapes serde_json (the reference writer) uses: \" \\ \b \f \n \r \t,
    /// other control characters as \u00xx, everything else as raw UTF-8.
    private static func appendJSONString(_ string: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): out.append(contentsOf: [0x5C, 0x5C])
            case 0x08: out.append(contentsOf: [0x5C, UInt8(ascii: "b")])
            case 0x0C: out.append(contentsOf: [0x5C, UInt8(ascii: "f")])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 15)]])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    // MARK: Decoding

    /// Parses and validates a whole file held in memory; `source` names it in errors.
    public static func decode(_ bytes: [UInt8], source: String = "<memory>") throws -> SafeTensorsFile {
        guard bytes.count >= 8 else {
            throw SafeTensorsError(.truncated, source, "\(bytes.count) bytes, shorter than the 8-byte header length")
        }
        let declared = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard declared <= UInt64(maxHeaderLength) else {
            throw SafeTensorsError(.headerTooLarge, source,
                                   "header length \(declared) exceeds the limit of \(maxHeaderLength) bytes")
        }
        let headerLength = Int(declared)
        guard headerLength <= bytes.count - 8 else {
            throw SafeTensorsError(.truncated, source,
                                   "header length \(headerLength) runs past the end: only \(bytes.count - 8) bytes follow the 8-byte prefix")
        }
        let headerBytes = bytes[8 ..< 8 + headerLength]
        guard headerBytes.first == UInt8(ascii: "{") else {
            throw SafeTensorsError(.invalidJSON, source, "header does not start with '{'")
        }
        let json: JSONValue
        do {
            json = try JSONParser.parse(headerBytes)
        } catch let error as JSONParser.Failure {
            throw SafeTensorsError(.invalidJSON, source, "header is not valid JSON: \(error.message)")
        }
        guard case .object(let members) = json else {
            throw SafeTensorsError(.invalidHeader, source, "header is not a JSON object")
        }

        let dataLength = bytes.count - 8 - headerLength
        var metadata: [String: String] = [:]
        var spans: [(name: String, begin: Int, end: Int)] = []
        var infos: [String: (dtype: SafeTensorDType, shape: [Int])] = [:]
        for (name, value) in members {
            if name == "__metadata__" {
                metadata = try decodeMetadata(value, source: source)
                continue
            }
            let info = try decodeTensorInfo(name: name, value, source: source)
            let needed = try SafeTensorEntry.byteCount(dtype: info.dtype, shape: info.shape, source: source)
            guard info.end - info.begin == needed else {
                throw SafeTensorsError(.sizeMismatch, source,
                                       "tensor \(name.debugDescription): shape \(info.shape) of \(info.dtype.rawValue) needs \(needed) bytes, data_offsets span \(info.end - info.begin)")
            }
            infos[name] = (info.dtype, info.shape)
            spans.append((name, info.begin, info.end))
        }

        // The tensors must tile the data section: sorted by offset, each starts where the last ended.
        spans.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var position = 0
        for span in spans {
            guard span.begin == position else {
                let problem = span.begin < position ? "overlaps the previous tensor" : "leaves a gap after the previous tensor"
                throw SafeTensorsError(.invalidOffsets, source,
                                       "tensor \(span.name.debugDescription) begins at \(span.begin) and \(problem) (expected \(position))")
            }
            guard span.end <= dataLength else {
                throw SafeTensorsError(.invalidOffsets, source,
                                       "tensor \(span.name.debugDescription) ends at \(span.end), past the \(dataLength)-byte data section")
            }
            position = span.end
        }
        guard position == dataLength else {
            throw SafeTensorsError(.invalidOffsets, source,
                                   "tensors cover \(position) bytes but the data section has \(dataLength)")
        }

        let dataStart = 8 + headerLength
        var entries: [String: SafeTensorEntry] = [:]
        for span in spans {
            let info = infos[span.name]!
            entries[span.name] = try SafeTensorEntry(dtype: info.dtype, shape: info.shape,
                                                     bytes: Array(bytes[dataStart + span.begin ..< dataStart + span.end]))
        }
        return SafeTensorsFile(source: source, entries: entries, names: spans.map(\.name), metadata: metadata)
    }

    private static func decodeMetadata(_ value: JSONValue, source: String) throws -> [String: String] {
        guard case .object(let members) = value else {
            throw SafeTensorsError(.invalidHeader, source, "\"__metadata__\" is not an object of strings")
        }
        var metadata: [String: String] = [:]
        for (key, value) in members {
            guard case .string(let text) = value else {
                throw SafeTensorsError(.invalidHeader, source, "metadata value for \(key.debugDescription) is not a string")
            }
            metadata[key] = text
        }
        return metadata
    }

    private static func decodeTensorInfo(name: String, _ value: JSONValue, source: String) throws
        -> (dtype: SafeTensorDType, shape: [Int], begin: Int, end: Int) {
        let what = "tensor \(name.debugDescription)"
        guard case .object(let members) = value else {
            throw SafeTensorsError(.invalidHeader, source, "\(what) is not an object with dtype, shape and data_offsets")
        }
        var fields: [String: JSONValue] = [:]
        for (key, value) in members {
            guard ["dtype", "shape", "data_offsets"].contains(key) else {
                throw SafeTensorsError(.invalidHeader, source, "\(what) has unknown field \(key.debugDescription)")
            }
            fields[key] = value
        }
        guard case .string(let dtypeName)? = fields["dtype"] else {
            throw SafeTensorsError(.invalidHeader, source, "\(what) lacks a string \"dtype\"")
        }
        guard let dtype = SafeTensorDType(rawValue: dtypeName) else {
            throw SafeTensorsError(.unknownDType, source,
                                   "\(what) has unknown dtype \(dtypeName.debugDescription) (expected one of \(SafeTensorDType.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard case .array(let dims)? = fields["shape"] else {
            throw SafeTensorsError(.invalidHeader, source, "\(what) lacks an array \"shape\"")
        }
        var shape: [Int] = []
        for dim in dims {
            guard case .number(let text) = dim, let d = Int(text) else {
                throw SafeTensorsError(.invalidShape, source, "\(what) has a shape entry that is not an integer")
            }
            guard d >= 0 else {
                throw SafeTensorsError(.invalidShape, source, "\(what) has negative dimension \(d) in its shape")
            }
            shape.append(d)
        }
        guard case .array(let offsets)? = fields["data_offsets"], offsets.count == 2,
              case .number(let beginText) = offsets[0], case .number(let endText) = offsets[1] else {
            throw SafeTensorsError(.invalidHeader, source, "\(what) lacks \"data_offsets\": [begin, end]")
        }
        guard let begin = Int(beginText), let end = Int(endText), begin >= 0, begin <= end else {
            throw SafeTensorsError(.invalidOffsets, source,
                                   "\(what) has data_offsets [\(beginText), \(endText)], expected integers 0 <= begin <= end")
        }
        return (dtype, shape, begin, end)
    }

    // MARK: Files

    /// Writes atomically: a temporary file beside `path`, fsynced, renamed over `path`, then the
    /// directory fsynced; a crash leaves either the old file or the new one, never half of one.
    public static func write(_ entries: [(name: String, entry: SafeTensorEntry)],
                             metadata: [String: String] = [:], to path: String) throws {
        let bytes = try encode(entries, metadata: metadata)
        let temporary = "\(path).tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ioError("cannot create \(temporary)", path) }
        var failure: SafeTensorsError?
        bytes.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = systemWrite(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { failure = ioError("cannot write \(temporary)", path); return }
                done += n
            }
        }
        if failure == nil && fsync(fd) != 0 { failure = ioError("cannot fsync \(temporary)", path) }
        if close(fd) != 0 && failure == nil { failure = ioError("cannot close \(temporary)", path) }
        if failure == nil && rename(temporary, path) != 0 { failure = ioError("cannot rename \(temporary) to \(path)", path) }
        if let failure {
            unlink(temporary)
            throw failure
        }
        syncDirectory(of: path)
    }

    /// Reads and decodes the file at `path`.
    public static func read(path: String) throws -> SafeTensorsFile {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ioError("cannot open", path) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw ioError("cannot stat", path) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw SafeTensorsError(.io, path, "not a regular file")
        }
        let size = Int(info.st_size)
        var failure: SafeTensorsError?
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            while initialized < size {
                let n = systemRead(fd, buffer.baseAddress! + initialized, size - initialized)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    failure = n == 0 ? SafeTensorsError(.io, path, "file shrank while being read")
                                     : ioError("cannot read", path)
                    return
                }
                initialized += n
            }
        }
        if let failure { throw failure }
        return try decode(bytes, source: path)
    }

    private static func ioError(_ what: String, _ path: String) -> SafeTensorsError {
        SafeTensorsError(.io, path, "\(what): \(String(cString: strerror(errno)))")
    }

    /// Makes the rename durable. Best effort: some filesystems cannot fsync a directory, and the
    /// file itself is already complete and in place.
    private static func syncDirectory(of path: String) {
        let directory = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        let fd = open(directory.isEmpty ? "/" : directory, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }
}

// MARK: - A strict JSON reader for the header

/// A JSON value; numbers keep their text so integers are converted exactly (or rejected).
private enum JSONValue {
    case object([(String, JSONValue)])
    case array([JSONValue])
    case string(String)
    case number(String)
    case bool(Bool)
    case null
}

/// RFC 8259 JSON, strictly: no trailing commas, no leading zeros, no lone surrogates, no raw
/// control characters in strings, no duplicate object keys, valid UTF-8, nesting at most 64 deep
/// (a safetensors header needs 3), only whitespace after the value.
private struct JSONParser {
    struct Failure: Error {
        let message: String
    }

    private let bytes: ArraySlice<UInt8>
    private var index: Int
    private var depth = 0

    static func parse(_ bytes: ArraySlice<UInt8>) throws -> JSONValue {
        var parser = JSONParser(bytes: bytes, index: bytes.startIndex)
        let value = try parser.value()
        parser.skipWhitespace()
        guard parser.index == bytes.endIndex else { throw parser.failure("unexpected text after the header object") }
        return value
    }

    private init(bytes: ArraySlice<UInt8>, index: Int) {
        self.bytes = bytes
        self.index = index
    }

    private func failure(_ message: String) -> Failure {
        Failure(message: "\(message) at byte \(index - bytes.startIndex) of the header")
    }

    private var current: UInt8? { index < bytes.endIndex ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while let c = current, c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { index += 1 }
    }

    private mutating func expect(_ c: UInt8) throws {
        guard current == c else { throw failure("expected '\(Character(Unicode.Scalar(c)))'") }
        index += 1
    }

    private mutating func value() throws -> JSONValue {
        skipWhitespace()
        guard let c = current else { throw failure("unexpected end") }
        switch c {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default: throw failure("unexpected character")
        }
    }

    private mutating func nest() throws {
        depth += 1
        guard depth <= 64 else { throw failure("nesting deeper than 64") }
    }

    private mutating func object() throws -> JSONValue {
        try nest()
        index += 1
        var members: [(String, JSONValue)] = []
        var keys = Set<String>()
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            index += 1
        } else {
            while true {
                skipWhitespace()
                guard current == UInt8(ascii: "\"") else { throw failure("expected a string key") }
                let key = try string()
                guard keys.insert(key).inserted else { throw failure("duplicate key \(key.debugDescription)") }
                skipWhitespace()
                try expect(UInt8(ascii: ":"))
                members.append((key, try value()))
                skipWhitespace()
                if current == UInt8(ascii: ",") { index += 1; continue }
                try expect(UInt8(ascii: "}"))
                break
            }
        }
        depth -= 1
        return .object(members)
    }

    private mutating func array() throws -> JSONValue {
        try nest()
        index += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            index += 1
        } else {
            while true {
                elements.append(try value())
                skipWhitespace()
                if current == UInt8(ascii: ",") { index += 1; continue }
                try expect(UInt8(ascii: "]"))
                break
            }
        }
        depth -= 1
        return .array(elements)
    }

    private mutating func literal(_ word: String) throws {
        for byte in word.utf8 {
            guard current == byte else { throw failure("invalid literal") }
            index += 1
        }
    }

    private mutating func number() throws -> String {
        let start = index
        if current == UInt8(ascii: "-") { index += 1 }
        func digits(_ parser: inout JSONParser) -> Int {
            var n = 0
            while let c = parser.current, c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") { parser.index += 1; n += 1 }
            return n
        }
        if current == UInt8(ascii: "0") {
            index += 1
        } else if digits(&self) == 0 {
            throw failure("invalid number")
        }
        if current == UInt8(ascii: ".") {
            index += 1
            guard digits(&self) > 0 else { throw failure("invalid number") }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            index += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
            guard digits(&self) > 0 else { throw failure("invalid number") }
        }
        return String(decoding: bytes[start ..< index], as: UTF8.self)
    }

    private mutating func string() throws -> String {
        index += 1
        var utf8: [UInt8] = []
        while true {
            guard let c = current else { throw failure("unterminated string") }
            index += 1
            switch c {
            case UInt8(ascii: "\""):
                return try validUTF8(utf8)
            case UInt8(ascii: "\\"):
                guard let e = current else { throw failure("unterminated string") }
                index += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(e)
                case UInt8(ascii: "b"): utf8.append(0x08)
                case UInt8(ascii: "f"): utf8.append(0x0C)
                case UInt8(ascii: "n"): utf8.append(0x0A)
                case UInt8(ascii: "r"): utf8.append(0x0D)
                case UInt8(ascii: "t"): utf8.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard current == UInt8(ascii: "\\") else { throw failure("lone surrogate") }
                        index += 1
                        try expect(UInt8(ascii: "u"))
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw failure("lone surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(scalar) {
                        throw failure("lone surrogate")
                    }
                    utf8.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar)!)).utf8))
                default:
                    throw failure("invalid escape")
                }
            case 0..<0x20:
                throw failure("control character in string")
            default:
                utf8.append(c)
            }
        }
    }

    private mutating func hex4() throws -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let c = current else { throw failure("unterminated \\u escape") }
            let digit: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = c - UInt8(ascii: "A") + 10
            default: throw failure("invalid \\u escape")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    /// Strict UTF-8 (String(decoding:) would silently substitute U+FFFD).
    private func validUTF8(_ utf8: [UInt8]) throws -> String {
        var iterator = utf8.makeIterator()
        var decoder = UTF8()
        var scalars = String.UnicodeScalarView()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): scalars.append(scalar)
            case .emptyInput: return String(scalars)
            case .error: throw failure("invalid UTF-8 in string")
            }
        }
    }
}
