/// The pixel bytes of a data set: an array in memory (what the decoders produce), or a range of
/// a mapped packed file (`MappedFile`: one copy in the page cache for all ranks of a node,
/// nothing decoded per epoch). Either way an immutable view that keeps its storage alive, so a
/// `Dataset` and its subsets can share it across rank threads.
public struct ImageBytes: Sendable, RandomAccessCollection, Equatable {
    private enum Storage: Sendable {
        case array([UInt8], Range<Int>)
        case mapped(MappedFile, Range<Int>)
    }

    private let storage: Storage

    public init(_ bytes: [UInt8]) { storage = .array(bytes, bytes.indices) }

    /// The bytes `range` of `file`.
    public init(_ file: MappedFile, range: Range<Int>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= file.byteCount, "bytes \(range) of \(file.path)")
        storage = .mapped(file, range)
    }

    private var range: Range<Int> {
        switch storage {
        case .array(_, let r), .mapped(_, let r): return r
        }
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { range.count }

    public subscript(i: Int) -> UInt8 {
        precondition(i >= 0 && i < count, "byte \(i) of \(count)")
        switch storage {
        case .array(let bytes, let r): return bytes[r.lowerBound + i]
        case .mapped(let file, let r): return file.bytes(r)[i]
        }
    }

    /// The bytes `range` (indices of this view), sharing the storage.
    public func slice(_ sub: Range<Int>) -> ImageBytes {
        precondition(sub.lowerBound >= 0 && sub.upperBound <= count, "slice \(sub) of \(count) bytes")
        let r = range.lowerBound + sub.lowerBound ..< range.lowerBound + sub.upperBound
        switch storage {
        case .array(let bytes, _): return ImageBytes(storage: .array(bytes, r))
        case .mapped(let file, _): return ImageBytes(storage: .mapped(file, r))
        }
    }

    private init(storage: Storage) { self.storage = storage }

    /// Calls `body` with the bytes in one contiguous buffer (no copy).
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        switch storage {
        case .array(let bytes, let r):
            return try bytes.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[r])) }
        case .mapped(let file, let r):
            return try body(file.bytes(r).bindMemory(to: UInt8.self))
        }
    }

    public static func == (a: ImageBytes, b: ImageBytes) -> Bool {
        a.count == b.count && a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { y in x.elementsEqual(y) } }
    }
}
