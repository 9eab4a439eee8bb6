/// An image of 8-bit samples, gray or RGB, stored planar (channel by channel, each row by row:
/// CHW), the layout the data sets hand to the network, so packing one is a copy.
public struct DecodedImage: Sendable, Equatable {
    /// 1 (gray) or 3 (red, green, blue).
    public let channels: Int
    public let height: Int
    public let width: Int
    /// `channels * height * width` samples: plane c holds `pixels[c*height*width ..< (c+1)*height*width]`,
    /// row-major.
    public let pixels: [UInt8]

    /// A shape that does not match the pixels is a programming error, not bad input: it traps.
    public init(channels: Int, height: Int, width: Int, pixels: [UInt8]) {
        precondition(channels == 1 || channels == 3, "DecodedImage: \(channels) channels (expected 1 or 3)")
        precondition(height >= 1 && width >= 1, "DecodedImage: \(width)x\(height) pixels (expected both sides at least 1)")
        precondition(pixels.count == channels * height * width,
                     "DecodedImage: \(pixels.count) samples for \(channels)x\(height)x\(width)")
        self.channels = channels
        self.height = height
        self.width = width
        self.pixels = pixels
    }

    /// The image with 1 or 3 channels: gray to RGB copies the plane three times; RGB to gray is
    /// ITU-R 601 luma, L = (299 R + 587 G + 114 B) / 1000 rounded half up, the formula of
    /// Pillow's `convert("L")` (Pillow evaluates it in 16-bit fixed point, which differs by 1
    /// for 9,040 of the 2^24 colours). The same channel count returns the image itself.
    public func converted(toChannels target: Int) -> DecodedImage {
        precondition(target == 1 || target == 3, "DecodedImage.converted: \(target) channels (expected 1 or 3)")
        if target == channels { return self }
        let plane = height * width
        if target == 3 {
            return DecodedImage(channels: 3, height: height, width: width, pixels: pixels + pixels + pixels)
        }
        let gray = [UInt8](unsafeUninitializedCapacity: plane) { out, initialized in
            pixels.withUnsafeBufferPointer { rgb in
                for i in 0..<plane {
                    let weighted = 299 &* Int(rgb[i]) &+ 587 &* Int(rgb[plane &+ i]) &+ 114 &* Int(rgb[2 &* plane &+ i])
                    out[i] = UInt8((weighted &+ 500) / 1000)
                }
            }
            initialized = plane
        }
        return DecodedImage(channels: 1, height: height, width: width, pixels: gray)
    }
}
