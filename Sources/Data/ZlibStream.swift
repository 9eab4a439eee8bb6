import CZlib

/// A zlib inflate stream and its input buffer, for the readers that decompress on the fly
/// (`GzipSource`, the `.npz` members). zlib keeps a pointer back to its `z_stream`, so the
/// stream lives at a fixed heap address; it is ended and freed with this object.
final class ZlibStream {
    let stream: UnsafeMutablePointer<z_stream>
    let input: UnsafeMutableRawBufferPointer

    /// `windowBits` as `inflateInit2` takes it: 16 + MAX_WBITS for gzip, -MAX_WBITS for raw deflate.
    init(windowBits: Int32, path: String) throws {
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let status = inflateInit2_(stream, windowBits, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        if status != Z_OK {
            stream.deallocate()
            throw DataError.unreadable(path: path, reason: "zlib inflateInit2 failed with status \(status)")
        }
        self.stream = stream
        input = .allocate(byteCount: 1 << 18, alignment: 16)
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
        input.deallocate()
    }
}
