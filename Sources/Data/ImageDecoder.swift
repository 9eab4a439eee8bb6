/// Decodes PNG and JPEG files into `DecodedImage`s: gray stays one channel, colour becomes RGB.
///
/// The format is chosen by the file's first bytes, never by its name: the 8-byte PNG signature
/// (89 50 4E 47 0D 0A 1A 0A) goes to libpng (`PNGDecoder`), a JPEG start of image followed by a
/// marker (FF D8 FF) to TurboJPEG (`JPEGDecoder`); anything else, an empty file included, is
/// `DataError.notAnImage`. A file the library cannot decode completely is
/// `DataError.corruptImage` with the library's message.
///
/// Nothing in the header is trusted: the pixel count it declares is checked against
/// `maximumPixels` before any pixel buffer is allocated, so a few bytes claiming a gigapixel image
/// cost nothing. Each call uses its own library state, so threads may decode concurrently.
public enum ImageDecoder {
    /// The most pixels (width x height) one image may have: 2^26, an 8192 x 8192 photo, far above
    /// what a training set holds; 192 MB as RGB, 256 MB while a PNG's alpha is being dropped.
    public static let maximumPixels = 1 << 26

    static let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    static let jpegStart: [UInt8] = [0xFF, 0xD8, 0xFF]

    /// Decodes a PNG or JPEG file held in memory; `path` names it in errors.
    public static func decode(_ bytes: UnsafeRawBufferPointer, path: String) throws -> DecodedImage {
        if bytes.starts(with: pngSignature) { return try PNGDecoder.decode(bytes, path: path) }
        if bytes.starts(with: jpegStart) { return try JPEGDecoder.decode(bytes, path: path) }
        if bytes.isEmpty { throw DataError.notAnImage(path: path, detail: "the file is empty (expected a PNG or JPEG image)") }
        let start = bytes.prefix(8).map { "0x" + ($0 < 16 ? "0" : "") + String($0, radix: 16, uppercase: true) }
        throw DataError.notAnImage(
            path: path, detail: "not a PNG or JPEG file (starts with \(start.joined(separator: " "))\(bytes.count > 8 ? " ..." : ""))")
    }

    /// Reads and decodes the file at `path`. Anything but a regular file (a directory, a named
    /// pipe, a device) is refused before it is opened, so the call never waits on a pipe.
    public static func decode(path: String) throws -> DecodedImage {
        let file = try FileSource(path: path, expected: "a PNG or JPEG image")
        let size = file.exactByteCount ?? 0
        // A file that shrank since it was opened yields fewer bytes; the decoder reports it truncated.
        let bytes = try [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            initialized = try file.readFully(into: UnsafeMutableRawBufferPointer(buffer))
        }
        return try bytes.withUnsafeBytes { try decode($0, path: path) }
    }

    /// Throws unless a `width` x `height` image is within `maximumPixels`; both decoders call it
    /// after reading the header and before allocating pixels.
    static func checkSize(width: Int, height: Int, path: String) throws {
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        if overflow || pixels > maximumPixels {
            let count = overflow ? "more than \(Int.max)" : "\(pixels)"
            throw DataError.wrongDimensions(
                path: path, detail: "the image is \(width)x\(height) pixels (width x height), \(count) in all, "
                    + "more than the limit of \(maximumPixels) (ImageDecoder.maximumPixels)")
        }
    }
}
