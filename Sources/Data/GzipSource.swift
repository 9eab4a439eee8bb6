import CZlib

/// A gzip stream (RFC 1952) decompressed on the fly by the system zlib.
///
/// Nothing in the stream is trusted: the ISIZE trailer is ignored, so the caller bounds what it
/// reads by `maximumByteCount` (deflate expands at most 1032:1) and by its own header checks.
/// A stream that ends before its trailer is reported as truncated; bad deflate data, a bad
/// CRC-32 or length trailer, or garbage after the last member as corrupt. Concatenated members
/// (what `cat a.gz b.gz` produces) are read one after the other, as `gzip -d` does.
final class GzipSource: ByteSource {
    /// Deflate's largest expansion: a 258-byte match coded in 2 bits is 1032 bytes per input byte.
    static let maximumExpansion = 1032

    let name: String
    var exactByteCount: Int? { nil }
    let maximumByteCount: Int

    private let compressed: any ByteSource
    private let zlib: ZlibStream
    private var stream: UnsafeMutablePointer<z_stream> { zlib.stream }
    private var input: UnsafeMutableRawBufferPointer { zlib.input }
    private var inputEnded = false
    private var memberEnded = false
    /// True from the start of a second or later member until it yields data: an error there is
    /// garbage after a complete stream rather than damage inside it.
    private var afterMember = false
    private var compressedConsumed = 0

    init(_ compressed: any ByteSource) throws {
        self.compressed = compressed
        name = compressed.name
        let (bound, overflow) = compressed.maximumByteCount.multipliedReportingOverflow(by: Self.maximumExpansion)
        maximumByteCount = overflow ? Int.max : bound
        // windowBits 16 + MAX_WBITS: expect a gzip wrapper and check its CRC-32 and length.
        zlib = try ZlibStream(windowBits: 16 + MAX_WBITS, path: compressed.name)
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let out = buffer.baseAddress, buffer.count > 0 else { return 0 }
        // zlib counts in UInt32; large requests are served in pieces.
        let want = min(buffer.count, Int(UInt32.max))
        stream.pointee.next_out = out.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_out = uInt(want)
        while stream.pointee.avail_out > 0 {
            if memberEnded {
                // Another member may follow; anything else after a member is garbage.
                if try !refillIfEmpty() { break }
                memberEnded = false
                afterMember = true
                inflateReset(stream)
            }
            if try !refillIfEmpty() {
                throw DataError.truncated(
                    path: name, detail: "the gzip stream ends after \(compressedConsumed) compressed bytes, before its end marker")
            }
            let before = stream.pointee.avail_out
            let status = inflate(stream, Z_NO_FLUSH)
            if stream.pointee.avail_out != before || status == Z_STREAM_END { afterMember = false }
            switch status {
            case Z_OK, Z_BUF_ERROR:
                continue
            case Z_STREAM_END:
                memberEnded = true
            case Z_NEED_DICT:
                throw DataError.corruptGzip(path: name, detail: "the stream asks for a preset dictionary")
            case Z_MEM_ERROR:
                throw DataError.unreadable(path: name, reason: "zlib ran out of memory")
            default:
                let message = stream.pointee.msg.map { String(cString: $0) } ?? "zlib status \(status)"
                let position = compressedConsumed - Int(stream.pointee.avail_in)
                let place = afterMember ? "in bytes after the end of the gzip stream" : "near compressed byte \(position)"
                throw DataError.corruptGzip(path: name, detail: "\(message) \(place)")
            }
        }
        return want - Int(stream.pointee.avail_out)
    }

    /// Makes sure zlib has input; returns false at the end of the compressed data.
    private func refillIfEmpty() throws -> Bool {
        if stream.pointee.avail_in > 0 { return true }
        if inputEnded { return false }
        let n = try compressed.read(into: input)
        if n == 0 {
            inputEnded = true
            return false
        }
        compressedConsumed += n
        stream.pointee.next_in = input.baseAddress!.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_in = uInt(n)
        return true
    }
}
