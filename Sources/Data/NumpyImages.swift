/// The images of one split read from a `.npy` array into ddp's layout: NCHW bytes.
///
/// Shapes: (N, H, W) is grayscale; (N, C, H, W) and (N, H, W, C) with C = 1 or 3 as the
/// `ImageLayout` says. Element types:
/// - `|u1`: bytes 0...255, taken as they are.
/// - `<f4`: floats that must lie in [0, 1] (a NaN or a value outside is refused, naming the
///   sample); stored as round(x * 255). Such arrays are almost always 8-bit images divided by
///   255, which this restores exactly (x * 255 is within an ulp of the original byte); finer
///   steps are lost, as they would be anyway: the data set holds bytes and `BatchAssembler`
///   normalizes them per batch.
///
/// The data is read a chunk of samples at a time and converted into place, so a float32 array
/// never needs a copy of its own four times the size of the result; bytes already in NCHW order
/// are read straight into the result.
struct NumpyImages {
    let count: Int
    let channels: Int
    let height: Int
    let width: Int
    /// `count * channels * height * width` pixels, NCHW.
    let pixels: [UInt8]

    /// Bytes of samples converted at a time.
    private static let chunkBytes = 1 << 20

    /// Reads an image array from `source` (which must end where the data ends).
    static func read(from source: any ByteSource, layout: ImageLayout) throws -> NumpyImages {
        let path = source.name
        let header = try NumpyArray.readHeader(from: source)
        let shape = header.shape, type = header.elementType
        let described = NumpyHeader.describe(shape)
        if type != .uint8 && type != .float32 {
            throw DataError.badArray(
                path: path, detail: "images of element type '\(type.descr)' (expected |u1, bytes 0...255, or <f4, floats in [0, 1])")
        }
        let order: ImageLayout
        let count: Int, channels: Int, height: Int, width: Int
        switch shape.count {
        case 3:
            order = .nchw
            (count, channels, height, width) = (shape[0], 1, shape[1], shape[2])
        case 4:
            order = try layout.resolved(for: shape, path: path)
            (count, channels, height, width) = order == .nchw ? (shape[0], shape[1], shape[2], shape[3]) : (shape[0], shape[3], shape[1], shape[2])
        default:
            throw DataError.badArray(path: path, detail: "images of shape \(described) (expected (N, H, W), (N, C, H, W) or (N, H, W, C))")
        }
        if shape.contains(0) {
            throw DataError.badArray(path: path, detail: "images of shape \(described) hold no pixels (expected every dimension at least 1)")
        }
        if channels != 1 && channels != 3 {
            throw DataError.badArray(path: path, detail: "images of shape \(described) read as \(order.rawValue.uppercased()) have \(channels) channels (expected 1 or 3)")
        }
        let sample = channels * height * width
        let pixels = try [UInt8](unsafeUninitializedCapacity: count * sample) { out, initialized in
            if type == .uint8 && (order == .nchw || channels == 1) {
                let n = try source.readFully(into: UnsafeMutableRawBufferPointer(out))
                if n < out.count {
                    throw DataError.truncated(path: path, detail: "\(header.promise) but the file holds only \(n)")
                }
            } else {
                let plan = Conversion(header: header, channels: channels, plane: height * width, fromNHWC: order == .nhwc)
                try plan.run(from: source, into: out)
            }
            initialized = out.count
        }
        try NumpyArray.expectEnd(of: source, after: header)
        return NumpyImages(count: count, channels: channels, height: height, width: width, pixels: pixels)
    }

    /// Samples read in chunks and converted to NCHW bytes: transposed from NHWC, floats scaled.
    private struct Conversion {
        let header: NumpyArray.Header
        let channels: Int
        let plane: Int
        let fromNHWC: Bool

        func run(from source: any ByteSource, into out: UnsafeMutableBufferPointer<UInt8>) throws {
            let sample = channels * plane
            let sampleBytes = sample * header.elementType.size
            let count = out.count / sample
            let chunkSamples = min(count, max(1, NumpyImages.chunkBytes / sampleBytes))
            let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSamples * sampleBytes, alignment: 16)
            defer { chunk.deallocate() }
            var first = 0
            while first < count {
                let samples = min(chunkSamples, count - first)
                let got = try source.readFully(into: UnsafeMutableRawBufferPointer(rebasing: chunk[..<(samples * sampleBytes)]))
                if got < samples * sampleBytes {
                    throw DataError.truncated(path: source.name, detail: "\(header.promise) but the file holds only \(first * sampleBytes + got)")
                }
                for s in 0..<samples {
                    try convert(UnsafeRawBufferPointer(rebasing: chunk[(s * sampleBytes)..<((s + 1) * sampleBytes)]),
                                into: UnsafeMutableBufferPointer(rebasing: out[((first + s) * sample)..<((first + s + 1) * sample)]),
                                index: first + s, path: source.name)
                }
                first += samples
            }
        }

        /// One sample: element i of the file's order goes to its NCHW place.
        private func convert(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableBufferPointer<UInt8>, index: Int, path: String) throws {
            let isFloat = header.elementType == .float32
            var i = 0
            for p in 0..<plane {
                for c in 0..<channels {
                    let place = fromNHWC ? c &* plane &+ p : i
                    if isFloat {
                        let x = Float(bitPattern: UInt32(littleEndian: input.loadUnaligned(fromByteOffset: 4 &* i, as: UInt32.self)))
                        guard x >= 0 && x <= 1 else {
                            throw DataError.badArray(
                                path: path, detail: "sample \(index) holds the value \(x) (expected float32 pixels in [0, 1]; divide 0...255 data by 255 or save it as uint8)")
                        }
                        output[place] = UInt8((x * 255).rounded())
                    } else {
                        output[place] = input[i]
                    }
                    i &+= 1
                }
            }
        }
    }
}
