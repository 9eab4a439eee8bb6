import Tensor

/// Turns dataset indices into a normalized Float32 batch, optionally augmented; runs every step.
///
/// Normalization is a lookup: at init every (channel, byte) pair is mapped once through
/// `Normalization.normalize` into a `channels x 256` table, so a pixel costs one load, and the
/// batch equals the Double formula rounded once to Float. Nothing is allocated per call. The
/// assembler is immutable after init and may be shared by rank threads.
public final class BatchAssembler: @unchecked Sendable {
    public let dataset: Dataset
    public let normalization: Normalization
    public let augmentation: Augmentation
    /// [channels, 256]: table[c * 256 + x] = (x / 255 - mean[c]) / std[c].
    private let table: UnsafeMutablePointer<Float>

    /// Throws `DataError.invalidArgument` when the normalization's channel count differs from the
    /// dataset's (e.g. statistics from a checkpoint of another dataset) or the padding is negative.
    public init(dataset: Dataset, normalization: Normalization, augmentation: Augmentation = .none) throws {
        guard normalization.channels == dataset.channels else {
            throw DataError.invalidArgument(
                "normalization has \(normalization.channels) channels but \(dataset.name) images have \(dataset.channels) (expected equal)")
        }
        guard augmentation.cropPadding >= 0 else {
            throw DataError.invalidArgument("crop padding must be 0 or more (got \(augmentation.cropPadding))")
        }
        self.dataset = dataset
        self.normalization = normalization
        self.augmentation = augmentation
        table = .allocate(capacity: dataset.channels * 256)
        for c in 0..<dataset.channels {
            for x in 0..<256 { table[c * 256 + x] = normalization.normalize(UInt8(x), channel: c) }
        }
    }

    deinit { table.deallocate() }

    /// Fills a training batch: sample `indices[i]` goes to slot i. `images` holds
    /// `indices.count * channels * height * width` floats (NCHW), `labels` `indices.count` Int32s.
    /// Draws from `rng` only when augmentation is on (see `Augmentation` for the exact draws).
    public func fill(indices: ArraySlice<Int>, rng: inout SeededRNG,
                     images: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Int32>) {
        indices.withUnsafeBufferPointer { fill(indices: $0, rng: &rng, images: images, labels: labels) }
    }

    /// `fill(indices:rng:images:labels:)` for indices in a buffer.
    public func fill(indices: UnsafeBufferPointer<Int>, rng: inout SeededRNG,
                     images: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Int32>) {
        dataset.images.withUnsafeBufferPointer { pixels in
            dataset.labels.withUnsafeBufferPointer { source in
                for (slot, index) in indices.enumerated() {
                    precondition(index >= 0 && index < dataset.count, "sample \(index) outside 0..<\(dataset.count)")
                    labels[slot] = Int32(source[index])
                    if augmentation.isEnabled {
                        writeAugmented(pixels, index, images + slot &* dataset.imageSize, &rng)
                    } else {
                        write(pixels, index, images + slot &* dataset.imageSize)
                    }
                }
            }
        }
    }

    /// Fills an evaluation batch with samples `range` in order; never augments.
    public func fill(range: Range<Int>, images: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Int32>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= dataset.count, "samples \(range) outside 0..<\(dataset.count)")
        dataset.images.withUnsafeBufferPointer { pixels in
            dataset.labels.withUnsafeBufferPointer { source in
                for (slot, index) in range.enumerated() {
                    labels[slot] = Int32(source[index])
                    write(pixels, index, images + slot &* dataset.imageSize)
                }
            }
        }
    }

    /// Sample `index`, normalized, unchanged in geometry.
    @inline(__always)
    private func write(_ pixels: UnsafeBufferPointer<UInt8>, _ index: Int, _ out: UnsafeMutablePointer<Float>) {
        let plane = dataset.height &* dataset.width
        var src = pixels.baseAddress! + index &* dataset.imageSize
        var dst = out
        for c in 0..<dataset.channels {
            let lut = table + c &* 256
            for p in 0..<plane { dst[p] = lut[Int(src[p])] }
            src += plane
            dst += plane
        }
    }

    /// Sample `index` cropped from its zero-padded self and maybe mirrored, normalized.
    ///
    /// Output pixel (y, x) comes from the padded image at (y + dy, x' + dx) with x' = W-1-x when
    /// flipped, else x; that is source pixel (y + dy - p, x' + dx - p), or padding when outside.
    private func writeAugmented(_ pixels: UnsafeBufferPointer<UInt8>, _ index: Int,
                                _ out: UnsafeMutablePointer<Float>, _ rng: inout SeededRNG) {
        let h = dataset.height, w = dataset.width, p = augmentation.cropPadding
        var dy = p, dx = p
        if p > 0 {
            dy = rng.below(2 &* p &+ 1)
            dx = rng.below(2 &* p &+ 1)
        }
        let flip = augmentation.horizontalFlip && rng.below(2) == 1
        let shiftY = dy &- p, shiftX = dx &- p
        // Output columns whose source column lies inside the image (see the formula above).
        let xLow = max(0, flip ? shiftX : -shiftX)
        let xHigh = min(w, flip ? w &+ shiftX : w &- shiftX)
        let image = pixels.baseAddress! + index &* dataset.imageSize
        for c in 0..<dataset.channels {
            let lut = table + c &* 256
            let padValue = lut[0]
            let plane = image + c &* h &* w
            for y in 0..<h {
                let row = out + (c &* h &+ y) &* w
                let sy = y &+ shiftY
                guard sy >= 0 && sy < h && xLow < xHigh else {
                    row.update(repeating: padValue, count: w)
                    continue
                }
                let src = plane + sy &* w
                for x in 0..<xLow { row[x] = padValue }
                if flip {
                    let base = w &- 1 &+ shiftX
                    for x in xLow..<xHigh { row[x] = lut[Int(src[base &- x])] }
                } else {
                    for x in xLow..<xHigh { row[x] = lut[Int(src[x &+ shiftX])] }
                }
                for x in xHigh..<w { row[x] = padValue }
            }
        }
    }
}
