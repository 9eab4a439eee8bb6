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

/// The first bytes of every gzip member (RFC 1952).
let gzipMagic: [UInt8] = [0x1F, 0x8B]

/// A regular file read with POSIX calls (no Foundation copies: parsers read straight into the
/// dataset's arrays).
final class FileSource: ByteSource {
    let name: String
    let exactByteCount: Int?
    var maximumByteCount: Int { exactByteCount ?? 0 }
    private let fd: Int32

    /// Opens `path`; a missing file, a directory, a named pipe or device, or an unreadable file is
    /// a `DataError`. The path is checked with `stat` before it is opened, so a named pipe never
    /// holds the open waiting for a writer and a device is never opened; `O_NONBLOCK` and the
    /// `fstat` of what was opened cover a path replaced in between.
    init(path: String, expected: String) throws {
        name = path
        var info = stat()
        if stat(path, &info) != 0 { throw Self.openFailure(errno, path: path, expected: expected) }
        try Self.requireRegular(info, path: path, expected: expected)
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        if fd < 0 { throw Self.openFailure(errno, path: path, expected: expected) }
        do {
            if fstat(fd, &info) != 0 { throw DataError.unreadable(path: path, reason: String(cString: strerror(errno))) }
            try Self.requireRegular(info, path: path, expected: expected)
        } catch {
            close(fd)
            throw error
        }
        self.fd = fd
        exactByteCount = Int(info.st_size)
    }

    private static func openFailure(_ code: Int32, path: String, expected: String) -> DataError {
        code == ENOENT ? .missingFile(path: path, expected: expected) : .unreadable(path: path, reason: String(cString: strerror(code)))
    }

    private static func requireRegular(_ info: stat, path: String, expected: String) throws {
        let type = info.st_mode & S_IFMT
        if type != S_IFREG {
            let what = type == S_IFDIR ? "is a directory" : "is not a regular file"
            throw DataError.unreadable(path: path, reason: "\(what) (expected \(expected))")
        }
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
        var bytes = [UInt8](repeating: 0, count: count)
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, 0) }
        if n < 0 { throw DataError.unreadable(path: name, reason: String(cString: strerror(errno))) }
        bytes.removeLast(count - n)
        return bytes
    }
}

/// Bytes already in memory (the fuzz loop and tests parse these without touching the disk).
final class MemorySource: ByteSource {
    let name: String
    private let bytes: [UInt8]
    private var offset = 0
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
}
