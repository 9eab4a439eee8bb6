import Foundation
import Platform
import Tensor

/// Assembles the next training batch on a background thread while the current step computes,
/// so a step waits for its data only when assembling takes longer than forward and backward.
///
/// ```
/// main thread:    [take k] forward k, backward k, update k   [take k+1] forward k+1 ...
///                    |request k+1                               |request k+2
/// fill thread:       +-> fill k+1 into slot B ---------+        +-> fill k+2 into slot A ...
/// ```
///
/// Two slots alternate, so a batch handed out by `take` stays intact until the second `request`
/// after it: through its own step. The fill draws the augmentation from a copy of the caller's
/// generator as it stood after the previous batch, and `take` hands back the generator as it
/// stands after this one: the same draws, in the same order, as filling in line, so results and
/// checkpoints are bit-identical with or without prefetching. Nothing is allocated per step.
public final class BatchPrefetcher: @unchecked Sendable {
    /// One batch's buffers.
    public struct Slot {
        public let images: Tensor
        public let labels: UnsafeMutablePointer<Int32>
    }

    private let worker: Worker

    /// Batches of exactly `batchSize` samples of `imageShape` (C, H, W).
    public init(batchSize: Int, imageShape: [Int]) {
        worker = Worker(batchSize: batchSize, imageShape: imageShape)
        // The thread holds the worker, not this object, so this object's deinit can stop it.
        let thread = Thread { [worker] in worker.fillLoop() }
        thread.name = "ddp batch prefetch"
        thread.start()
    }

    deinit { worker.stop() }

    /// Seconds the fill thread has spent assembling batches since the start.
    public var fillSeconds: Double { worker.locked { worker.fillSeconds } }

    /// Starts assembling `indices` of `assembler` in the background, drawing from a copy of `rng`.
    public func request(_ assembler: BatchAssembler, indices: ArraySlice<Int>, rng: SeededRNG) {
        worker.request(assembler, indices: indices, rng: rng)
    }

    /// The batch of the pending request when it was for `indices` of `assembler` with `rng`
    /// (waiting for it to finish), and the generator after it; nil when nothing matching is
    /// pending (the caller fills in line).
    public func take(_ assembler: BatchAssembler, indices: ArraySlice<Int>, rng: SeededRNG) -> (slot: Slot, rng: SeededRNG)? {
        worker.take(assembler, indices: indices, rng: rng)
    }

    /// The state the two threads share, under one lock.
    private final class Worker: @unchecked Sendable {
        let slots: [Slot]
        let capacity: Int
        let condition = NSCondition()
        /// The request being filled or filled: its indices (a copy), its generator before and after.
        let indices: UnsafeMutablePointer<Int>
        var rngBefore = SeededRNG(seed: 0)
        var rngAfter = SeededRNG(seed: 0)
        var assembler: BatchAssembler?
        var filling = 0
        var pending = false, done = false, stopping = false, stopped = false
        var fillSeconds = 0.0

        init(batchSize: Int, imageShape: [Int]) {
            capacity = batchSize
            slots = (0..<2).map { _ in
                Slot(images: Tensor(shape: [batchSize] + imageShape), labels: .allocate(capacity: batchSize))
            }
            indices = .allocate(capacity: batchSize)
        }

        deinit {
            slots.forEach { $0.labels.deallocate() }
            indices.deallocate()
        }

        func locked<T>(_ body: () -> T) -> T {
            condition.lock()
            defer { condition.unlock() }
            return body()
        }

        func stop() {
            condition.lock()
            stopping = true
            condition.broadcast()
            while !stopped { condition.wait() }
            condition.unlock()
        }

        func request(_ assembler: BatchAssembler, indices requested: ArraySlice<Int>, rng: SeededRNG) {
            precondition(requested.count == capacity, "\(requested.count) samples for a batch of \(capacity)")
            condition.lock()
            while pending && !done { condition.wait() }
            self.assembler = assembler
            var i = 0
            for index in requested { indices[i] = index; i &+= 1 }
            rngBefore = rng
            filling = 1 &- filling
            pending = true
            done = false
            condition.broadcast()
            condition.unlock()
        }

        func take(_ assembler: BatchAssembler, indices wanted: ArraySlice<Int>, rng: SeededRNG) -> (slot: Slot, rng: SeededRNG)? {
            condition.lock()
            defer { condition.unlock() }
            guard pending else { return nil }
            while !done { condition.wait() }
            pending = false
            guard self.assembler === assembler, rngBefore == rng, wanted.count == capacity,
                  zip(UnsafeBufferPointer(start: indices, count: capacity), wanted).allSatisfy({ $0 == $1 }) else {
                return nil
            }
            return (slots[filling], rngAfter)
        }

        func fillLoop() {
            condition.lock()
            while true {
                while !stopping && !(pending && !done) { condition.wait() }
                if stopping { break }
                let slot = slots[filling], assembler = self.assembler!
                var rng = rngBefore
                condition.unlock()
                let start = MonotonicClock.seconds()
                assembler.fill(indices: UnsafeBufferPointer(start: indices, count: capacity), rng: &rng,
                               images: slot.images.data, labels: slot.labels)
                let seconds = MonotonicClock.seconds() - start
                condition.lock()
                fillSeconds += seconds
                rngAfter = rng
                done = true
                condition.broadcast()
            }
            stopped = true
            condition.broadcast()
            condition.unlock()
        }
    }
}
