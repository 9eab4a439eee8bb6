import Data
import Tensor
import XCTest

/// The background batch: the same floats, labels and generator state as filling in line, and
/// a request for other indices (or another generator) is not handed out.
final class BatchPrefetcherTests: XCTestCase {
    func testSameBatchesAndGeneratorAsInLine() throws {
        let options = SyntheticDataset.Options(trainCount: 64, testCount: 8, channels: 2, height: 6, width: 6, classes: 4, seed: 5)
        let data = try SyntheticDataset.make(options, split: .train)
        let assembler = try BatchAssembler(dataset: data, normalization: Normalization.statistics(of: data),
                                           augmentation: Augmentation(cropPadding: 2, horizontalFlip: true))
        let batch = 8, size = 2 * 6 * 6
        let prefetcher = BatchPrefetcher(batchSize: batch, imageShape: [2, 6, 6])
        let order = Array((0..<64).reversed())
        var inLineRNG = SeededRNG(seed: 11), prefetchRNG = SeededRNG(seed: 11)
        let images = Tensor(shape: [batch, 2, 6, 6])
        let labels = UnsafeMutablePointer<Int32>.allocate(capacity: batch)
        defer { labels.deallocate() }
        XCTAssertNil(prefetcher.take(assembler, indices: order[0..<8], rng: prefetchRNG), "nothing requested yet")
        prefetcher.request(assembler, indices: order[0..<8], rng: prefetchRNG)
        for step in 0..<8 {
            let indices = order[(step * batch)..<((step + 1) * batch)]
            assembler.fill(indices: indices, rng: &inLineRNG, images: images.data, labels: labels)
            let ready = try XCTUnwrap(prefetcher.take(assembler, indices: indices, rng: prefetchRNG))
            prefetchRNG = ready.rng
            if step + 1 < 8 { prefetcher.request(assembler, indices: order[((step + 1) * batch)..<((step + 2) * batch)], rng: prefetchRNG) }
            XCTAssertEqual(Array(UnsafeBufferPointer(start: ready.slot.images.data, count: batch * size)),
                           Array(UnsafeBufferPointer(start: images.data, count: batch * size)), "step \(step)")
            XCTAssertEqual(Array(UnsafeBufferPointer(start: ready.slot.labels, count: batch)),
                           Array(UnsafeBufferPointer(start: labels, count: batch)))
            XCTAssertEqual(prefetchRNG, inLineRNG, "the generator after step \(step)")
        }
        // A request for other indices, or from another generator state, is not what is taken.
        prefetcher.request(assembler, indices: order[0..<8], rng: prefetchRNG)
        XCTAssertNil(prefetcher.take(assembler, indices: order[8..<16], rng: prefetchRNG))
        prefetcher.request(assembler, indices: order[0..<8], rng: prefetchRNG)
        XCTAssertNil(prefetcher.take(assembler, indices: order[0..<8], rng: SeededRNG(seed: 12)))
    }
}
