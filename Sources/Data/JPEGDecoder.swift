import CTurboJPEG

/// JPEG through TurboJPEG (`tjDecompressHeader3`, then `tjDecompress2`) with its defaults, the
/// same as Pillow gets from libjpeg: the accurate integer IDCT and smooth ("fancy") chroma
/// upsampling. Baseline and progressive files, with any chroma subsampling, are read.
///
/// Grayscale JPEGs stay one channel; YCbCr and RGB ones become RGB. CMYK and YCCK ones (Adobe
/// Photoshop's, found in the wild and in ImageNet, for one) are read as CMYK and turned into RGB with
/// R = C K / 255 (G, B likewise from M, Y), rounded: Photoshop stores the inks inverted
/// (255 = no ink), and this is what Pillow's `convert("RGB")` gives after its own inversion.
///
/// Any warning is an error: libjpeg "recovers" from a truncated file ("Premature end of JPEG
/// file") or damaged entropy data by filling the rest of the image with grey, which would put a
/// silently broken sample in the data set. TurboJPEG reports such a warning as a failure;
/// `TJFLAG_STOPONWARNING` makes it stop there rather than decode the rest first.
/// `TJFLAG_LIMITSCANS` refuses progressive files with an absurd number of scans, which take
/// minutes to decode.
enum JPEGDecoder {
    static func decode(_ bytes: UnsafeRawBufferPointer, path: String) throws -> DecodedImage {
        guard let handle = tjInitDecompress() else {
            throw DataError.unreadable(path: path, reason: "TurboJPEG cannot start: \(String(cString: tjGetErrorStr2(nil)))")
        }
        defer { tjDestroy(handle) }
        let jpeg = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        if tjDecompressHeader3(handle, jpeg, UInt(bytes.count), &width, &height, &subsampling, &colorspace) != 0 {
            throw failure(handle, path: path)
        }
        // A tables-only stream (or one cut short before its frame header) reads as a header of no size.
        if width < 1 || height < 1 {
            throw DataError.corruptImage(path: path, detail: "no image in the JPEG data (no frame header before its end)")
        }
        try ImageDecoder.checkSize(width: Int(width), height: Int(height), path: path)
        let plane = Int(width) * Int(height)
        let flags = TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS
        // Decodes into `buffer` (rows packed, samples of `format` interleaved).
        func decompress(into buffer: UnsafeMutablePointer<UInt8>, format: TJPF) throws {
            if tjDecompress2(handle, jpeg, UInt(bytes.count), buffer, width, 0, height, format.rawValue, flags) != 0 {
                throw failure(handle, path: path)
            }
        }
        if colorspace == TJCS_GRAY.rawValue {
            let pixels = try [UInt8](unsafeUninitializedCapacity: plane) { buffer, initialized in
                try decompress(into: buffer.baseAddress!, format: TJPF_GRAY)
                initialized = plane
            }
            return DecodedImage(channels: 1, height: Int(height), width: Int(width), pixels: pixels)
        }
        let inks = colorspace == TJCS_CMYK.rawValue || colorspace == TJCS_YCCK.rawValue
        let stride = inks ? 4 : 3
        let interleaved = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: plane * stride)
        defer { interleaved.deallocate() }
        try decompress(into: interleaved.baseAddress!, format: inks ? TJPF_CMYK : TJPF_RGB)
        let pixels = [UInt8](unsafeUninitializedCapacity: 3 * plane) { out, initialized in
            for c in 0..<3 {
                let base = c &* plane
                if inks {
                    for i in 0..<plane {
                        let ink = UInt32(interleaved[i &* 4 &+ c]) &* UInt32(interleaved[i &* 4 &+ 3])
                        // No product of two bytes is an odd multiple of 127.5: no ties to break.
                        out[base &+ i] = UInt8((ink &+ 127) / 255)
                    }
                } else {
                    for i in 0..<plane { out[base &+ i] = interleaved[i &* 3 &+ c] }
                }
            }
            initialized = 3 * plane
        }
        return DecodedImage(channels: 3, height: Int(height), width: Int(width), pixels: pixels)
    }

    /// TurboJPEG's message for the last failure on `handle` (a warning included).
    private static func failure(_ handle: tjhandle, path: String) -> DataError {
        let text = tjGetErrorStr2(handle).map { String(cString: $0) } ?? ""
        return DataError.corruptImage(path: path, detail: text.isEmpty ? "TurboJPEG failed without a message" : text)
    }
}
