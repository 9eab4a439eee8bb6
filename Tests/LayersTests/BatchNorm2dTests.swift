import Platform
import XCTest
import Layers
import Tensor

/// BatchNorm2d: training and evaluation against hand-computed numbers and a Double reference,
/// PyTorch's running-statistics rule, the fused ReLU, and the gradient checker.
final class BatchNorm2dTests: XCTestCase {
    /// One channel, N = 2, H*W = 2, values worked out by hand.
    func testHandComputedTrainingStepsAndEvaluation() throws {
        let bn = try BatchNorm2d(name: "1", input: .map(channels: 1, height: 1, width: 2))
        let store = bind(bn)
        // Step 1: x = [1, 2, 3, 6]: mean 3, biased var 14/4 = 3.5, unbiased 14/3.
        let y1 = bn.forward(makeTensor([1, 2, 1, 2], [1, 2, 3, 6]), training: true).array
        let s = Float(1 / (3.5 + 1e-5).squareRoot())
        assertClose(y1, [-2 * s, -1 * s, 0, 3 * s], atol: 1e-6, rtol: 1e-6, "step 1 output")
        assertClose(store.buffers.array, [0.3, 0.9 + 0.1 * 14 / 3], atol: 1e-6, rtol: 1e-6, "running stats after step 1")
        // Step 2: x = [0, 0, 2, 2]: mean 1, var 1, unbiased 4/3.
        _ = bn.forward(makeTensor([1, 2, 1, 2], [0, 0, 2, 2]), training: true)
        let rm: Float = 0.9 * 0.3 + 0.1 * 1, rv: Float = 0.9 * (0.9 + 0.1 * 14 / 3) + 0.1 * 4 / 3
        assertClose(store.buffers.array, [rm, rv], atol: 1e-6, rtol: 1e-6, "running stats after step 2")
        XCTAssertEqual(bn.stateSpecs.map(\.name), ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"])
        let counter = store.stateDict().first { $0.name == "1.num_batches_tracked" }!
        guard case .int64(let tracked) = counter.value else { return XCTFail("num_batches_tracked is not int64") }
        XCTAssertEqual(tracked, 2)
        XCTAssertEqual(counter.shape, [])
        // Evaluation uses the running statistics and leaves them alone.
        let y3 = bn.forward(makeTensor([1, 2, 1, 2], [1, 2, 3, 6]), training: false).array
        let e = 1 / (rv + 1e-5).squareRoot()
        assertClose(y3, [1, 2, 3, 6].map { ($0 - rm) * e }, atol: 1e-6, rtol: 1e-6, "evaluation output")
        assertClose(store.buffers.array, [rm, rv], atol: 0, rtol: 0, "running stats unchanged by evaluation")
    }

    func testTrainingMatchesDoubleReferenceWithAffineParameters() throws {
        var rng = SeededRNG(seed: 61)
        let (n, c, h, w) = (3, 4, 5, 3)
        let bn = try BatchNorm2d(name: "bn", input: .map(channels: c, height: h, width: w))
        let store = bind(bn)
        let params = store.parameterViews(ofLayer: 0)
        for j in 0..<c { params[0].value[j] = 1 + 0.5 * rng.normal(); params[1].value[j] = rng.normal() }
        let x = randomValues(n * c * h * w, rng: &rng, scale: 2).map { $0 + 3 } // offset mean: tests centering
        let y = bn.forward(makeTensor([c, n, h, w], channelMajor(x, n: n, c: c, hw: h * w)), training: true)
        let ref = naiveBatchNorm(x: x, n: n, c: c, hw: h * w, gamma: params[0].value.array, beta: params[1].value.array)
        assertClose(batchMajor(y.array, n: n, c: c, hw: h * w), ref.y, atol: 1e-5, rtol: 1e-5, "BN forward")
        let m = Double(n * h * w)
        let expectedStats = ref.mean.map { Float(0.1 * $0) } + ref.variance.map { Float(0.9 + 0.1 * $0 * m / (m - 1)) }
        assertClose(store.buffers.array, expectedStats, atol: 1e-6, rtol: 1e-5, "running mean / unbiased running var")
    }

    func testEvaluationBackwardIsTheAffineMap() throws {
        var rng = SeededRNG(seed: 62)
        let bn = try BatchNorm2d(name: "bn", input: .map(channels: 2, height: 2, width: 2))
        let store = bind(bn)
        store.buffers.copy(from: makeTensor([4], [0.5, -1, 2, 0.25])) // means, vars
        store.parameterViews(ofLayer: 0)[0].value.copy(from: makeTensor([2], [1.5, -0.5]))
        let x = randomValues(16, rng: &rng), dy = randomValues(16, rng: &rng)
        _ = bn.forward(makeTensor([2, 2, 2, 2], x), training: false)
        let dx = Tensor(shape: [2, 2, 2, 2])
        bn.backward(makeTensor([2, 2, 2, 2], dy), inputGradient: dx)
        let a: [Float] = [1.5 / (2 + 1e-5).squareRoot(), -0.5 / (0.25 + 1e-5).squareRoot()]
        assertClose(dx.array, (0..<16).map { a[$0 / 8] * dy[$0] }, atol: 1e-6, rtol: 1e-6, "eval dx")
    }

    /// The fused BN+ReLU equals BatchNorm2d followed by ReLU, bit for bit, forward and backward.
    func testFusedReLUEqualsSeparateLayers() throws {
        var rng = SeededRNG(seed: 63)
        let fused = try Model(spec: "c2k1nb-bn-relu-flatten-fc3", inputShape: [1, 6, 6], classes: 3, seed: 9)
        let separate = try Model(spec: "c2k1nb-bn-relu-flatten-fc3", inputShape: [1, 6, 6], classes: 3, seed: 9,
                                 options: ModelOptions(fuseBatchNormReLU: false))
        XCTAssertTrue(fused.layers[1].kind.contains("ReLU") && fused.layers[2].passesInputThrough)
        XCTAssertFalse(separate.layers[2].passesInputThrough)
        let batch = Tensor(shape: [2, 1, 6, 6])
        for i in 0..<batch.count { batch[i] = rng.normal() }
        let a = fused.forward(batch, training: true).array, b = separate.forward(batch, training: true).array
        XCTAssertEqual(a, b)
        let dy = makeTensor([2, 3], randomValues(6, rng: &rng))
        fused.backward(outputGradient: dy)
        separate.backward(outputGradient: dy)
        XCTAssertEqual(fused.gradients.array, separate.gradients.array)
        XCTAssertEqual(fused.buffers.array, separate.buffers.array)
    }

    func testGradientChecks() throws {
        let plain = try BatchNorm2d(name: "bn", input: .map(channels: 3, height: 4, width: 4))
        assertPassed(GradientCheck.check(layer: plain, batch: 2, seed: 64))
        let model = try Model(spec: "bn-relu-flatten-fc", inputShape: [2, 4, 4], classes: 3, seed: 65)
        XCTAssertTrue(model.layers[0].kind.contains("+ ReLU"))
        let rows = GradientCheck.checkLayers(of: model, batch: 3, seed: 66)
        rows.forEach { assertPassed($0) }
    }

    /// Channels are split over the threads; each channel's numbers must not depend on that.
    func testThreadCountChangesNoBit() throws {
        let saved = BLASRuntime.threads
        defer { BLASRuntime.setThreads(saved) }
        var rng = SeededRNG(seed: 63)
        let (n, c, h, w) = (4, 6, 7, 5)
        let x = randomValues(n * c * h * w, rng: &rng), dy = randomValues(n * c * h * w, rng: &rng)
        var results: [[Float]] = []
        for threads in [1, 2, 3] {
            BLASRuntime.setThreads(threads)
            let bn = try BatchNorm2d(name: "bn", input: .map(channels: c, height: h, width: w))
            let store = bind(bn)
            let y = bn.forward(makeTensor([c, n, h, w], x), training: true).array
            let dx = Tensor(shape: [c, n, h, w])
            bn.backward(makeTensor([c, n, h, w], dy), inputGradient: dx)
            results.append(y + dx.array + gradientArrays(store).flatMap { $0 } + store.buffers.array)
        }
        XCTAssertEqual(results[0].map(\.bitPattern), results[1].map(\.bitPattern), "1 vs 2 threads")
        XCTAssertEqual(results[0].map(\.bitPattern), results[2].map(\.bitPattern), "1 vs 3 threads")
    }

    func testRejectsFlatInput() {
        XCTAssertThrowsError(try BatchNorm2d(name: "3", input: .flat(10)))
    }
}
