#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file mapped read-only and shared (`mmap(PROT_READ, MAP_SHARED)`): its pages are the
/// kernel's page cache, so every process of a node that maps the same file shares one copy, and
/// a file larger than the memory still works (pages are read on first touch and dropped under
/// pressure). Unmapped when the last reference goes.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let byteCount: Int
    /// Nil for an empty file (nothing to map).
    let base: UnsafeRawPointer?

    /// Throws `DataError` when `path` is missing, not a regular file, or cannot be mapped;
    /// `expected` says what it should hold.
    public init(path: String, expected: String) throws {
        let (fd, size) = try RegularFile.open(path, expected: expected)
        defer { close(fd) }
        self.path = path
        byteCount = size
        guard byteCount > 0 else { base = nil; return }
        guard let address = mmap(nil, byteCount, PROT_READ, MAP_SHARED, fd, 0), address != MAP_FAILED else {
            throw DataError.unreadable(path: path, reason: "cannot map it into memory: " + RegularFile.reason(errno))
        }
        base = UnsafeRawPointer(address)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), byteCount) }
    }

    /// The bytes `range` of the file.
    public func bytes(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        precondition(range.lowerBound >= 0 && range.upperBound <= byteCount, "bytes \(range) of a \(byteCount)-byte file")
        guard let base else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count)
    }
}
