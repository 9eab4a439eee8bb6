import CPNG

/// PNG through libpng's simplified API (`png_image_begin_read_from_memory`, then
/// `png_image_finish_read`), which reports errors in the `png_image` rather than by `longjmp`.
///
/// libpng expands every layout to 8-bit samples: bit depths 1, 2 and 4 are scaled to 0...255
/// (gray 4-bit v becomes 17 v), palettes are looked up, and 16-bit samples are scaled by
/// 255/65535 and rounded. Gray (with or without alpha) stays one channel; colour and palette
/// images, even an all-gray palette, become RGB, as Pillow's `convert("RGB")` does.
///
/// Alpha is dropped: libpng is asked for the colour channels with their alpha (straight, not
/// premultiplied), and the alpha is then left out, so a transparent pixel keeps the colour stored
/// under it, as Pillow's `convert("RGB")` and `convert("L")` do. Compositing onto a background
/// would invent a colour the data set never had.
///
/// Colour handling: 16-bit samples without a gAMA or sRGB chunk are taken as sRGB-encoded
/// (`PNG_IMAGE_FLAG_16BIT_sRGB`; libpng's default would take them as linear and re-encode them)
/// so they are only rescaled. A gAMA chunk far from sRGB's (1/2.2), which is rare, makes libpng
/// re-encode the samples to sRGB, where Pillow would pass them through. libpng's warnings (an
/// ICC profile it does not trust, bytes after the image data) are common in valid files and are
/// not errors; its errors (a bad CRC in a critical chunk, bad zlib data, too little image data)
/// are `DataError.corruptImage`.
enum PNGDecoder {
    static func decode(_ bytes: UnsafeRawBufferPointer, path: String) throws -> DecodedImage {
        var image = png_image()
        image.version = png_uint_32(PNG_IMAGE_VERSION)
        // On failure libpng has already released what it allocated.
        if png_image_begin_read_from_memory(&image, bytes.baseAddress, bytes.count) == 0 {
            throw DataError.corruptImage(path: path, detail: message(image))
        }
        defer { png_image_free(&image) }
        let width = Int(image.width), height = Int(image.height)
        try ImageDecoder.checkSize(width: width, height: height, path: path)
        let channels = image.format & PNG_FORMAT_FLAG_COLOR != 0 ? 3 : 1
        let hasAlpha = image.format & PNG_FORMAT_FLAG_ALPHA != 0
        image.format = (channels == 3 ? PNG_FORMAT_FLAG_COLOR : 0) | (hasAlpha ? PNG_FORMAT_FLAG_ALPHA : 0)
        image.flags |= png_uint_32(PNG_IMAGE_FLAG_16BIT_sRGB)
        let plane = width * height
        if channels == 1 && !hasAlpha {
            // One plane: libpng writes the planar result directly.
            let pixels = try [UInt8](unsafeUninitializedCapacity: plane) { buffer, initialized in
                try finish(&image, into: UnsafeMutableRawBufferPointer(buffer), path: path)
                initialized = plane
            }
            return DecodedImage(channels: 1, height: height, width: width, pixels: pixels)
        }
        let stride = channels + (hasAlpha ? 1 : 0)
        let interleaved = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: plane * stride)
        defer { interleaved.deallocate() }
        try finish(&image, into: UnsafeMutableRawBufferPointer(interleaved), path: path)
        let pixels = [UInt8](unsafeUninitializedCapacity: channels * plane) { out, initialized in
            for c in 0..<channels {
                let base = c &* plane
                for i in 0..<plane { out[base &+ i] = interleaved[i &* stride &+ c] }
            }
            initialized = channels * plane
        }
        return DecodedImage(channels: channels, height: height, width: width, pixels: pixels)
    }

    /// Decodes the image data into `buffer` (rows packed, `image.format`'s samples interleaved).
    private static func finish(_ image: inout png_image, into buffer: UnsafeMutableRawBufferPointer, path: String) throws {
        if png_image_finish_read(&image, nil, buffer.baseAddress, 0, nil) == 0 {
            throw DataError.corruptImage(path: path, detail: message(image))
        }
    }

    /// libpng's message, a NUL-terminated string of at most 63 characters.
    private static func message(_ image: png_image) -> String {
        let text = withUnsafeBytes(of: image.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return text.isEmpty ? "libpng failed without a message" : text
    }
}
