import CZlib

/// One member of a `ZipArchive` as a stream of its uncompressed bytes: stored (method 0) read as
/// it is, deflated (method 8) inflated on the fly by the system zlib as raw deflate (zip has no
/// zlib or gzip wrapper around the data; window bits -15).
///
/// The stream yields exactly the size the directory declares or throws: its `exactByteCount` is
/// that size, so a parser can size its buffers from it as it does for a file. Before anything is
/// read, the declared sizes are checked against the archive (the data must lie inside the file;
/// a deflated member cannot expand more than deflate's 1032:1). Once the declared size has been
/// read, a read of more (what `isAtEnd` does) makes sure the deflate stream ends there and the
/// CRC-32 of the data matches the directory's.
final class ZipMemberSource: ByteSource {
    /// "archive.npz:x_train.npy", for messages.
    let name: String
    let exactByteCount: Int?
    var maximumByteCount: Int { size }

    private let file: any RandomAccessByteSource
    private let member: ZipArchive.Member
    private let dataStart: Int
    private var size: Int { member.size }
    private var produced = 0
    private var crc = crc32(0, nil, 0)
    private var checked = false
    /// The inflater of a deflated member (nil for a stored one).
    private let inflater: Inflater?

    init(_ archive: ZipArchive, _ member: ZipArchive.Member) throws {
        let path = archive.path
        name = "\(path):\(member.name)"
        file = archive.file
        self.member = member
        exactByteCount = member.size
        let label = "zip member \(member.name)"
        if member.flags & 1 != 0 {
            throw DataError.badArray(path: path, detail: "\(label) is encrypted (not supported)")
        }
        switch member.method {
        case 0 where member.compressedSize != member.size:
            throw DataError.badArray(path: path, detail: "\(label) is stored but its sizes differ: \(member.compressedSize) bytes stored for \(member.size)")
        case 0:
            break
        case 8 where member.size / GzipSource.maximumExpansion > member.compressedSize:
            throw DataError.badArray(
                path: path, detail: "\(label) declares \(member.size) bytes, more than its \(member.compressedSize) deflated bytes can hold")
        case 8:
            break
        default:
            throw DataError.badArray(path: path, detail: "\(label) uses compression method \(member.method) (expected 0, stored, or 8, deflated)")
        }
        let local = try file.readBytes(at: member.localHeaderOffset, count: 30)
        guard local.count == 30, ZipArchive.le32(local, 0) == ZipArchive.localSignature else {
            throw DataError.badArray(path: path, detail: "\(label) has no local header at \(member.localHeaderOffset)")
        }
        let nameLength = Int(ZipArchive.le16(local, 26)), extraLength = Int(ZipArchive.le16(local, 28))
        let localName = try file.readBytes(at: member.localHeaderOffset + 30, count: nameLength)
        if DataError.printable(localName) != member.name {
            throw DataError.badArray(path: path, detail: "\(label)'s local header names \(DataError.printable(localName))")
        }
        dataStart = member.localHeaderOffset + 30 + nameLength + extraLength
        if member.compressedSize > file.byteCount - dataStart {
            throw DataError.truncated(
                path: path, detail: "\(label) holds \(member.compressedSize) bytes from offset \(dataStart) but the archive ends at \(file.byteCount)")
        }
        inflater = member.method == 8 ? try Inflater(path: path) : nil
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let want = min(buffer.count, size - produced)
        if want == 0 {
            if buffer.count > 0 { try checkEnd() }
            return 0
        }
        let part = UnsafeMutableRawBufferPointer(rebasing: buffer[..<want])
        let n = try inflater.map { try $0.inflate(into: part, from: self) } ?? file.read(at: dataStart + produced, into: part)
        if n == 0 {
            throw inflater == nil
                ? DataError.truncated(path: name, detail: "the archive shrank while the member was read")
                : DataError.badArray(path: name, detail: "the deflate stream ends after \(produced) bytes but the zip directory declares \(size)")
        }
        var at = 0
        while at < n {
            let piece = min(n - at, Int(UInt32.max))
            crc = crc32(crc, part.baseAddress!.advanced(by: at).assumingMemoryBound(to: Bytef.self), uInt(piece))
            at += piece
        }
        produced += n
        return n
    }

    /// At the declared size: the deflate stream must end here and the CRC-32 must match.
    private func checkEnd() throws {
        if checked { return }
        if let inflater {
            var probe: UInt8 = 0
            let more = try withUnsafeMutableBytes(of: &probe) { try inflater.inflate(into: $0, from: self) }
            if more > 0 {
                throw DataError.badArray(path: name, detail: "the deflate stream holds more than the \(size) bytes the zip directory declares")
            }
        }
        if UInt32(crc) != member.crc {
            throw DataError.badArray(
                path: name, detail: "CRC-32 of the data is \(DataError.hex(UInt32(crc))) but the zip directory says \(DataError.hex(member.crc)): the archive is damaged")
        }
        checked = true
    }

    /// Compressed bytes of the member from `offset` on, for the inflater.
    fileprivate func compressed(from offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let left = member.compressedSize - offset
        if left <= 0 { return 0 }
        let n = try file.read(at: dataStart + offset, into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<min(buffer.count, left)]))
        if n == 0 { throw DataError.truncated(path: name, detail: "the archive shrank while the member was read") }
        return n
    }

}

/// zlib's raw inflate over a member's compressed bytes.
private final class Inflater {
    private let zlib: ZlibStream
    private var stream: UnsafeMutablePointer<z_stream> { zlib.stream }
    private var input: UnsafeMutableRawBufferPointer { zlib.input }
    private var consumed = 0
    private var ended = false

    init(path: String) throws {
        // Negative window bits: raw deflate, no header or trailer (zip keeps its CRC in the directory).
        zlib = try ZlibStream(windowBits: -MAX_WBITS, path: path)
    }

    /// Fills `buffer` as far as the stream goes; returns the bytes written (0 once it has ended).
    func inflate(into buffer: UnsafeMutableRawBufferPointer, from source: ZipMemberSource) throws -> Int {
        let want = min(buffer.count, Int(UInt32.max))
        stream.pointee.next_out = buffer.baseAddress!.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_out = uInt(want)
        while stream.pointee.avail_out > 0 && !ended {
            if stream.pointee.avail_in == 0 {
                let n = try source.compressed(from: consumed, into: input)
                if n == 0 {
                    throw DataError.truncated(path: source.name, detail: "the deflate stream ends after \(consumed) compressed bytes, before its end marker")
                }
                consumed += n
                stream.pointee.next_in = input.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.pointee.avail_in = uInt(n)
            }
            let status = CZlib.inflate(stream, Z_NO_FLUSH)
            switch status {
            case Z_OK, Z_BUF_ERROR:
                continue
            case Z_STREAM_END:
                ended = true
            case Z_MEM_ERROR:
                throw DataError.unreadable(path: source.name, reason: "zlib ran out of memory")
            default:
                let message = stream.pointee.msg.map { String(cString: $0) } ?? "zlib status \(status)"
                let position = consumed - Int(stream.pointee.avail_in)
                throw DataError.badArray(path: source.name, detail: "corrupt deflate data: \(message) near compressed byte \(position)")
            }
        }
        return want - Int(stream.pointee.avail_out)
    }
}
