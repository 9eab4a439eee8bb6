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
        let members = try headerObject(bytes[8 ..< 8 + headerLength], source: source)
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

        spans.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        try checkTiling(spans, dataLength: dataLength, source: source)

        let dataStart = 8 + headerLength
        var entries: [String: SafeTensorEntry] = [:]
        for span in spans {
            let info = infos[span.name]!
            entries[span.name] = try SafeTensorEntry(dtype: info.dtype, shape: info.shape,
                                                     bytes: Array(bytes[dataStart + span.begin ..< dataStart + span.end]))
        }
        return SafeTensorsFile(source: source, entries: entries, names: spans.map(\.name), metadata: metadata)
    }

    /// The header's JSON object, member by member.
    private static func headerObject(_ headerBytes: ArraySlice<UInt8>, source: String) throws -> [(String, JSONValue)] {
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
        return members
    }

    /// The tensors must tile the data section: sorted by offset, each starts where the last ended.
    private static func checkTiling(_ spans: [(name: String, begin: Int, end: Int)], dataLength: Int,
                                    source: String) throws {
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

    /// Writes atomically (`DurableFile.write`): a crash leaves the old file or the new one.
    public static func write(_ entries: [(name: String, entry: SafeTensorEntry)],
                             metadata: [String: String] = [:], to path: String) throws {
        let bytes = try encode(entries, metadata: metadata)
        do { try DurableFile.write(bytes, to: path) } catch let failure as DurableFile.Failure {
            throw SafeTensorsError(.io, path, failure.message)
        }
    }

    /// Reads and decodes the file at `path`.
    public static func read(path: String) throws -> SafeTensorsFile {
        let bytes: [UInt8]
        do { bytes = try DurableFile.read(path) } catch let failure as DurableFile.Failure {
            throw SafeTensorsError(.io, path, failure.message)
        }
        return try decode(bytes, source: path)
    }
}
