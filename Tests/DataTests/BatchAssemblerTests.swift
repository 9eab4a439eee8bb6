import Foundation
import XCTest
@testable import Data
import Tensor

/// Batches against a naive reference: normalization by the Double formula, augmentation by
/// materializing the padded image, cropping and mirroring it.
final class BatchAssemblerTests: XCTestCase {
    private func dataset(channels: Int = 3, height: Int = 5, width: Int = 7, count: Int = 40) throws -> Dataset {
        try SyntheticDataset.make(SyntheticDataset.Options(trainCount: count, channels: channels, height: height, width: width, classes: 4, seed: 1), split: .train)
    }

    private func fill(_ assembler: BatchAssembler, _ indices: [Int], _ rng: inout SeededRNG) -> (images: [Float], labels: [Int32]) {
        var images = [Float](repeating: .nan, count: indices.count * assembler.dataset.imageSize)
        var labels = [Int32](repeating: -1, count: indices.count)
        images.withUnsafeMutableBufferPointer { im in
            labels.withUnsafeMutableBufferPointer { lb in
                assembler.fill(indices: indices[...], rng: &rng, images: im.baseAddress!, labels: lb.baseAddress!)
            }
        }
        return (images, labels)
    }

    /// (x/255 - mean)/std in Double, rounded once.
    private func normalized(_ x: UInt8, _ c: Int, _ n: Normalization) -> Float {
        Float((Double(x) / 255 - n.mean[c]) / n.std[c])
    }

    func testNormalizedBatchMatchesReference() throws {
        let data = try dataset()
        let stats = Normalization.statistics(of: data)
        let assembler = try BatchAssembler(dataset: data, normalization: stats)
        var rng = SeededRNG(seed: 4)
        let before = rng
        let indices = [39, 0, 7, 7, 12]
        let (images, labels) = fill(assembler, indices, &rng)
        XCTAssertEqual(rng, before, "no augmentation: the generator is not touched")
        let size = data.imageSize, plane = data.height * data.width
        for (slot, index) in indices.enumerated() {
            XCTAssertEqual(labels[slot], Int32(data.labels[index]))
            for j in 0..<size {
                let expected = normalized(data.images[index * size + j], j / plane, stats)
                XCTAssertEqual(images[slot * size + j], expected)
                // The Float32 formula PyTorch would apply agrees to a few ulps.
                let torchLike = (Float(data.images[index * size + j]) / 255 - Float(stats.mean[j / plane])) / Float(stats.std[j / plane])
                XCTAssertEqual(images[slot * size + j], torchLike, accuracy: 1e-5)
            }
        }
        // The evaluation path (a contiguous range) gives the same numbers.
        var evalImages = [Float](repeating: .nan, count: 3 * size)
        var evalLabels = [Int32](repeating: -1, count: 3)
        assembler.fill(range: 6..<9, images: &evalImages, labels: &evalLabels)
        XCTAssertEqual(Array(evalImages[size..<(2 * size)]), Array(images[(2 * size)..<(3 * size)]))
        XCTAssertEqual(evalLabels, [6, 7, 8].map { Int32(data.labels[$0]) })
    }

    /// The reference: zero-pad by p, crop h x w at (dy, dx), mirror, normalize.
    private func augmentedReference(_ data: Dataset, _ index: Int, _ aug: Augmentation, _ stats: Normalization,
                                    _ rng: inout SeededRNG) -> [Float] {
        let p = aug.cropPadding, h = data.height, w = data.width
        var dy = p, dx = p
        if p > 0 {
            dy = rng.below(2 * p + 1)
            dx = rng.below(2 * p + 1)
        }
        let flip = aug.horizontalFlip && rng.below(2) == 1
        var out: [Float] = []
        for c in 0..<data.channels {
            var padded = [[UInt8]](repeating: [UInt8](repeating: 0, count: w + 2 * p), count: h + 2 * p)
            for y in 0..<h { for x in 0..<w { padded[y + p][x + p] = data.images[((index * data.channels + c) * h + y) * w + x] } }
            var crop = (0..<h).map { y in Array(padded[y + dy][dx..<(dx + w)]) }
            if flip { crop = crop.map { Array($0.reversed()) } }
            for row in crop { out += row.map { normalized($0, c, stats) } }
        }
        return out
    }

    func testAugmentationMatchesPadCropFlipReference() throws {
        for (channels, height, width) in [(3, 5, 7), (1, 28, 28), (3, 32, 32), (2, 1, 1)] {
            let data = try dataset(channels: channels, height: height, width: width)
            let stats = Normalization.statistics(of: data)
            for aug in [Augmentation(cropPadding: 0, horizontalFlip: true), Augmentation(cropPadding: 1),
                        Augmentation(cropPadding: 2, horizontalFlip: true), Augmentation(cropPadding: 4, horizontalFlip: true),
                        Augmentation(cropPadding: 40, horizontalFlip: true)] {
                let assembler = try BatchAssembler(dataset: data, normalization: stats, augmentation: aug)
                var rng = SeededRNG(seed: 77)
                var referenceRNG = rng
                let indices = Array(0..<data.count) + [3, 3, 3]
                let (images, labels) = fill(assembler, indices, &rng)
                for (slot, index) in indices.enumerated() {
                    let expected = augmentedReference(data, index, aug, stats, &referenceRNG)
                    XCTAssertEqual(Array(images[(slot * data.imageSize)..<((slot + 1) * data.imageSize)]), expected,
                                   "\(channels)x\(height)x\(width) \(aug) sample \(index)")
                    XCTAssertEqual(labels[slot], Int32(data.labels[index]))
                }
                // Same draws in the same order: a checkpointed generator resumes exactly.
                XCTAssertEqual(rng, referenceRNG)
            }
        }
    }

    func testFlipMirrorsAndCropsVary() throws {
        let data = try dataset(channels: 1, height: 28, width: 28, count: 1)
        let stats = Normalization.identity(channels: 1)
        let plain = try BatchAssembler(dataset: data, normalization: stats)
        var rng = SeededRNG(seed: 0)
        let original = fill(plain, [0], &rng).images
        let flipper = try BatchAssembler(dataset: data, normalization: stats, augmentation: Augmentation(horizontalFlip: true))
        var flips = 0
        for _ in 0..<400 {
            let out = fill(flipper, [0], &rng).images
            if out == original { continue }
            flips += 1
            for y in 0..<28 { for x in 0..<28 { XCTAssertEqual(out[y * 28 + x], original[y * 28 + 27 - x]) } }
        }
        XCTAssertEqual(Double(flips) / 400, 0.5, accuracy: 0.1)
        // All (2p+1)^2 crop positions occur.
        let cropper = try BatchAssembler(dataset: data, normalization: stats, augmentation: Augmentation(cropPadding: 2))
        var distinct = Set<[Float]>()
        for _ in 0..<400 { distinct.insert(fill(cropper, [0], &rng).images) }
        XCTAssertEqual(distinct.count, 25)
        XCTAssertThrowsError(try BatchAssembler(dataset: data, normalization: stats, augmentation: Augmentation(cropPadding: -1)))
        XCTAssertThrowsError(try BatchAssembler(dataset: data, normalization: Normalization.identity(channels: 3)))
    }
}
