#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A forward-only stream of bytes that the parsers pull from: a file, a buffer in memory (tests
/// and the fuzz loop), or a gzip stream decompressing either.
///
/// Parsers never trust a length read from the data: they compare it against `exactByteCount`
/// (raw data) or `maximumByteCount` (an upper bound for compressed data) before allocating.
protocol ByteSource: AnyObject {
    /// Where the bytes come from, for error messages.
    var name: String { get }
    /// The number of bytes the stream will yield, when known without reading it (raw data).
    var exactByteCount: Int? { get }
    /// An upper bound on the number of bytes the stream can yield.
    var maximumByteCount: Int { get }
    /// Reads up to `buffer.count` bytes; returns 0 only at the end of the data.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

extension ByteSource {
    /// Reads until `buffer` is full or the data ends; returns the number of bytes read.
    func readFully(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var filled = 0
        while filled < buffer.count {
            let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
            if n == 0 { break }
            filled += n
        }
        return filled
    }

    /// Reads up to `count` bytes into a new array (headers: a few bytes only).
    func readBytes(_ count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let n = try bytes.withUnsafeMutableBytes { try readFully(into: $0) }
        bytes.removeLast(count - n)
        return bytes
    }

    /// True when the stream has nothing left; reading one byte is how a gzip stream verifies its
    /// trailer (CRC-32 and length) and how trailing garbage is found.
    func isAtEnd() throws -> Bool {
        var probe: UInt8 = 0
        return try withUnsafeMutableBytes(of: &probe) { try read(into: $0) } == 0
    }
}

/// Bytes that can be read at any offset, as a zip archive needs: its directory is at its end and
/// points back at the members.
protocol RandomAccessByteSource: AnyObject {
    /// Where the bytes come from, for error messages.
    var name: String { get }
    var byteCount: Int { get }
    /// Reads up to `buffer.count` bytes starting at `offset`; returns 0 at or past the end.
    func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

extension RandomAccessByteSource {
    /// Up to `count` bytes from `offset` into a new array (fewer only where the data ends).
    func readBytes(at offset: Int, count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        try bytes.withUnsafeMutableBytes { buffer in
            while filled < count {
                let n = try read(at: offset + filled, into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
                if n == 0 { break }
                filled += n
            }
        }
        bytes.removeLast(count - filled)
        return bytes
    }
}

/// The first bytes of every gzip member (RFC 1952).
let gzipMagic: [UInt8] = [0x1F, 0x8B]

/// A regular file read with POSIX calls (no Foundation copies: parsers read straight into the
/// dataset's arrays).
final class FileSource: ByteSource, RandomAccessByteSource {
    let name: String
    let byteCount: Int
    var exactByteCount: Int? { byteCount }
    var maximumByteCount: Int { byteCount }
    private let fd: Int32

    /// Opens `path`; a missing file, anything but a regular file (a directory, a named pipe)
    /// or an unreadable file is a `DataError`.
    init(path: String, expected: String) throws {
        name = path
        (fd, byteCount) = try RegularFile.open(path, expected: expected)
    }

    deinit { close(fd) }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        while true {
            #if canImport(Glibc)
            let n = Glibc.read(fd, base, buffer.count)
            #else
            let n = Darwin.read(fd, base, buffer.count)
            #endif
            if n >= 0 { return n }
            if errno != EINTR { throw DataError.unreadable(path: name, reason: String(cString: strerror(errno))) }
        }
    }

    /// The first `count` bytes (fewer if the file is shorter), without moving the read position.
    func peek(_ count: Int) throws -> [UInt8] {
        try readBytes(at: 0, count: count)
    }

    func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        while true {
            let n = pread(fd, base, buffer.count, off_t(offset))
            if n >= 0 { return n }
            if errno != EINTR { throw DataError.unreadable(path: name, reason: String(cString: strerror(errno))) }
        }
    }
}

/// Bytes already in memory (the fuzz loop and tests parse these without touching the disk).
final class MemorySource: ByteSource, RandomAccessByteSource {
    let name: String
    private let bytes: [UInt8]
    private var offset = 0
    var byteCount: Int { bytes.count }
    var exactByteCount: Int? { bytes.count }
    var maximumByteCount: Int { bytes.count }

    init(_ bytes: [UInt8], name: String) {
        self.bytes = bytes
        self.name = name
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(buffer.count, bytes.count - offset)
        guard n > 0 else { return 0 }
        bytes.withUnsafeBytes { src in
            buffer.baseAddress!.copyMemory(from: src.baseAddress! + offset, byteCount: n)
        }
        offset += n
        return n
    }

    func peek(_ count: Int) -> [UInt8] { Array(bytes.prefix(count)) }

    func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(buffer.count, bytes.count - min(offset, bytes.count))
        guard n > 0 else { return 0 }
        bytes.withUnsafeBytes { src in
            buffer.baseAddress!.copyMemory(from: src.baseAddress! + offset, byteCount: n)
        }
        return n
    }
}
