import Foundation
import XCTest
import Layers
import Tensor

/// An in-process "allreduce" for ranks that are threads: each rank deposits its vector, all wait
/// at a barrier, each sums the deposits in rank order (identical result everywhere), and all wait
/// again before the slots are reused.
private final class ThreadRanks {
    let size: Int
    private var slots: [[Float]]
    private let condition = NSCondition()
    private var arrived = 0, generation = 0

    init(size: Int) {
        self.size = size
        slots = Array(repeating: [], count: size)
    }

    private func barrier() {
        condition.lock()
        let g = generation
        arrived += 1
        if arrived == size {
            arrived = 0; generation += 1
            condition.broadcast()
        } else {
            while g == generation { condition.wait() }
        }
        condition.unlock()
    }

    func sum(rank: Int, _ values: UnsafeMutablePointer<Float>, count: Int) {
        condition.lock(); slots[rank] = Array(UnsafeBufferPointer(start: values, count: count)); condition.unlock()
        barrier()
        condition.lock()
        for i in 0..<count { values[i] = slots.reduce(0) { $0 + $1[i] } }
        condition.unlock()
        barrier()
    }
}

private final class RankReducer: BatchNormReducer {
    let ranks: ThreadRanks, rank: Int
    private(set) var calls = 0
    init(ranks: ThreadRanks, rank: Int) { self.ranks = ranks; self.rank = rank }
    func sumAcrossRanks(_ values: UnsafeMutablePointer<Float>, count: Int) {
        calls += 1
        ranks.sum(rank: rank, values, count: count)
    }
}

/// Runs `body(rank)` on `count` threads at once and waits for all.
private func runRanks(_ count: Int, _ body: @escaping (Int) -> Void) {
    let group = DispatchGroup()
    for rank in 0..<count {
        group.enter()
        let thread = Thread { body(rank); group.leave() }
        thread.start()
    }
    group.wait()
}

/// SyncBatchNorm: P ranks with B samples each equal one BatchNorm2d over the P*B samples.
final class SyncBatchNormTests: XCTestCase {
    func testRanksEqualOneBatchNormOverTheWholeBatch() throws {
        for ranks in [2, 3, 4] {
            var rng = SeededRNG(seed: 70 + UInt64(ranks))
            let (b, c, h, w) = (3, 4, 3, 5)
            let hw = h * w, n = ranks * b
            // Whole batch (NCHW), rank r holds samples r*b ..< (r+1)*b; a shared output gradient.
            let x = randomValues(n * c * hw, rng: &rng, scale: 2).map { $0 + 1 }
            let dy = randomValues(n * c * hw, rng: &rng)
            let gamma = (0..<c).map { _ in 1 + 0.3 * rng.normal() }, beta = randomValues(c, rng: &rng)

            func makeLayer() throws -> (BatchNorm2d, ParameterStore) {
                let bn = try BatchNorm2d(name: "bn", input: .map(channels: c, height: h, width: w))
                let store = bind(bn)
                store.parameterViews(ofLayer: 0)[0].value.copy(from: makeTensor([c], gamma))
                store.parameterViews(ofLayer: 0)[1].value.copy(from: makeTensor([c], beta))
                return (bn, store)
            }
            // Reference: one layer, the whole batch.
            let (whole, wholeStore) = try makeLayer()
            let yWhole = whole.forward(makeTensor([c, n, h, w], channelMajor(x, n: n, c: c, hw: hw)), training: true)
            let dxWhole = Tensor(shape: [c, n, h, w])
            whole.backward(makeTensor([c, n, h, w], channelMajor(dy, n: n, c: c, hw: hw)), inputGradient: dxWhole)
            let yRef = batchMajor(yWhole.array, n: n, c: c, hw: hw), dxRef = batchMajor(dxWhole.array, n: n, c: c, hw: hw)

            let shared = ThreadRanks(size: ranks)
            var outputs = Array(repeating: [Float](), count: ranks), inputGradients = outputs
            var parameterGradients = outputs, statistics = outputs, calls = Array(repeating: 0, count: ranks)
            let lock = NSLock()
            let layers = try (0..<ranks).map { _ in try makeLayer() }
            runRanks(ranks) { r in
                let (bn, store) = layers[r]
                let reducer = RankReducer(ranks: shared, rank: r)
                store.context.batchNormReducer = reducer
                let slice = r * b * c * hw ..< (r + 1) * b * c * hw
                let y = bn.forward(makeTensor([c, b, h, w], channelMajor(Array(x[slice]), n: b, c: c, hw: hw)), training: true)
                let dx = Tensor(shape: [c, b, h, w])
                bn.backward(makeTensor([c, b, h, w], channelMajor(Array(dy[slice]), n: b, c: c, hw: hw)), inputGradient: dx)
                lock.lock()
                outputs[r] = batchMajor(y.array, n: b, c: c, hw: hw)
                inputGradients[r] = batchMajor(dx.array, n: b, c: c, hw: hw)
                parameterGradients[r] = store.gradients.array
                statistics[r] = store.buffers.array
                calls[r] = reducer.calls
                lock.unlock()
            }
            XCTAssertEqual(calls, Array(repeating: 3, count: ranks), "two reductions forward, one backward")
            assertClose(outputs.flatMap { $0 }, yRef, atol: 2e-5, rtol: 1e-5, "\(ranks) ranks: output")
            assertClose(inputGradients.flatMap { $0 }, dxRef, atol: 2e-5, rtol: 1e-4, "\(ranks) ranks: input gradient")
            // Parameter gradients are local sums: summed over ranks (the allreduce) they equal the whole batch's.
            let summed = (0..<(2 * c)).map { i in parameterGradients.reduce(Float(0)) { $0 + $1[i] } }
            assertClose(summed, wholeStore.gradients.array, atol: 1e-4, rtol: 1e-4, "\(ranks) ranks: summed dgamma, dbeta")
            for r in 0..<ranks {
                assertClose(statistics[r], wholeStore.buffers.array, atol: 1e-6, rtol: 1e-5, "\(ranks) ranks: rank \(r) running stats")
            }
        }
    }
}
