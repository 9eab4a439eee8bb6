import XCTest
import Layers
import Tensor

/// MaxPool2d, AvgPool2d and GlobalAvgPool against window loops, and the gradient checker.
final class PoolingTests: XCTestCase {
    /// Window reference on NCHW planes: (max or mean, argmax within the plane).
    private func naivePool(_ x: [Float], planes: Int, h: Int, w: Int, k: Int, s: Int, max isMax: Bool)
        -> (y: [Float], arg: [Int], oh: Int, ow: Int) {
        let oh = (h - k) / s + 1, ow = (w - k) / s + 1
        var y: [Float] = [], arg: [Int] = []
        for p in 0..<planes { for oy in 0..<oh { for ox in 0..<ow {
            var best = -Float.infinity, at = -1, sum = 0.0
            for i in 0..<k { for j in 0..<k {
                let idx = (oy * s + i) * w + ox * s + j, v = x[p * h * w + idx]
                sum += Double(v)
                if v > best { best = v; at = idx }
            } }
            y.append(isMax ? best : Float(sum / Double(k * k))); arg.append(at)
        } } }
        return (y, arg, oh, ow)
    }

    func testMaxPoolMatchesWindowsAndRoutesGradients() throws {
        var rng = SeededRNG(seed: 51)
        // 2x2 s2 on even planes takes MaxPoolKernel where the CPU runs it: rows of 14, 7 and 18
        // windows (full and masked groups of 8).
        for (c, h, w, k, s) in [(2, 4, 4, 2, 2), (3, 7, 5, 3, 2), (1, 6, 6, 2, 1), (2, 5, 5, 2, 2),
                                (2, 28, 28, 2, 2), (3, 14, 14, 2, 2), (1, 2, 36, 2, 2)] {
            let n = 2
            let pool = try MaxPool2d(name: "mp", input: .map(channels: c, height: h, width: w), kernelSize: k, stride: s)
            bind(pool)
            // Channel-major planes are (c, n) ordered; the reference works plane by plane either way.
            let x = randomValues(c * n * h * w, rng: &rng)
            let y = pool.forward(makeTensor([c, n, h, w], x), training: true)
            let ref = naivePool(x, planes: c * n, h: h, w: w, k: k, s: s, max: true)
            XCTAssertEqual(y.shape, [c, n, ref.oh, ref.ow])
            XCTAssertEqual(y.array, ref.y, "max pool k\(k) s\(s)")
            let dy = randomValues(y.count, rng: &rng)
            let dx = Tensor(shape: [c, n, h, w])
            pool.backward(makeTensor(y.shape, dy), inputGradient: dx)
            var expected = [Float](repeating: 0, count: x.count)
            for p in 0..<(c * n) { for o in 0..<(ref.oh * ref.ow) {
                expected[p * h * w + ref.arg[p * ref.oh * ref.ow + o]] += dy[p * ref.oh * ref.ow + o]
            } }
            assertClose(dx.array, expected, atol: 1e-6, rtol: 1e-6, "max pool k\(k) s\(s) dx")
        }
    }

    func testMaxPoolTiesGoToTheFirstElement() throws {
        let pool = try MaxPool2d(name: "mp", input: .map(channels: 1, height: 2, width: 2), kernelSize: 2)
        bind(pool)
        _ = pool.forward(makeTensor([1, 1, 2, 2], [1, 3, 3, 0]), training: true)
        let dx = Tensor(shape: [1, 1, 2, 2])
        pool.backward(makeTensor([1, 1, 1, 1], [5]), inputGradient: dx)
        XCTAssertEqual(dx.array, [0, 5, 0, 0])
    }

    /// The vector kernel and the scalar loops choose the same elements where it matters most:
    /// ties (values from a set of three) and NaNs.
    func testMaxPoolKernelChoosesLikeTheScalarLoop() throws {
        guard MaxPoolKernel.isAvailable else { throw XCTSkip("\(KernelPath.describe()): only the scalar loops run here") }
        var rng = SeededRNG(seed: 52)
        let c = 3, n = 2, h = 14, w = 22
        let x = (0..<(c * n * h * w)).map { _ -> Float in
            let u = rng.uniform()
            return u < 0.05 ? .nan : Float(Int(u * 3))
        }
        let dy = randomValues(c * n * (h / 2) * (w / 2), rng: &rng)
        var results: [([UInt32], [Float])] = []
        for scalar in [false, true] {
            let pool = try MaxPool2d(name: "mp", input: .map(channels: c, height: h, width: w), kernelSize: 2)
            pool.forceScalar = scalar
            bind(pool)
            let y = pool.forward(makeTensor([c, n, h, w], x), training: true)
            let dx = makeTensor([c, n, h, w], randomValues(x.count, rng: &rng))  // every element must be overwritten
            pool.backward(makeTensor(y.shape, dy), inputGradient: dx)
            results.append((y.array.map(\.bitPattern), dx.array))
        }
        XCTAssertEqual(results[0].0, results[1].0, "outputs (bit patterns, NaNs included)")
        XCTAssertEqual(results[0].1, results[1].1, "gradients routed to the same elements")
        XCTAssertTrue(results[0].0.contains(Float.nan.bitPattern) || results[0].0.contains { Float(bitPattern: $0).isNaN },
                      "the data has NaN windows")
    }

    func testAvgPoolMatchesWindows() throws {
        var rng = SeededRNG(seed: 52)
        for (c, h, w, k, s) in [(2, 4, 4, 2, 2), (3, 7, 6, 3, 2)] {
            let n = 2
            let pool = try AvgPool2d(name: "ap", input: .map(channels: c, height: h, width: w), kernelSize: k, stride: s)
            bind(pool)
            let x = randomValues(c * n * h * w, rng: &rng)
            let y = pool.forward(makeTensor([c, n, h, w], x), training: true)
            let ref = naivePool(x, planes: c * n, h: h, w: w, k: k, s: s, max: false)
            assertClose(y.array, ref.y, "avg pool k\(k) s\(s)")
            let dy = randomValues(y.count, rng: &rng)
            let dx = Tensor(shape: [c, n, h, w])
            pool.backward(makeTensor(y.shape, dy), inputGradient: dx)
            var expected = [Float](repeating: 0, count: x.count)
            for p in 0..<(c * n) { for oy in 0..<ref.oh { for ox in 0..<ref.ow {
                for i in 0..<k { for j in 0..<k {
                    expected[p * h * w + (oy * s + i) * w + ox * s + j] += dy[(p * ref.oh + oy) * ref.ow + ox] / Float(k * k)
                } }
            } } }
            assertClose(dx.array, expected, "avg pool dx")
        }
    }

    func testGlobalAvgPoolGivesSampleMajorChannelMeans() throws {
        var rng = SeededRNG(seed: 53)
        let (n, c, h, w) = (3, 4, 3, 5)
        let gap = try GlobalAvgPool(name: "gap", input: .map(channels: c, height: h, width: w))
        bind(gap)
        let x = randomValues(n * c * h * w, rng: &rng) // NCHW
        let y = gap.forward(makeTensor([c, n, h, w], channelMajor(x, n: n, c: c, hw: h * w)), training: true)
        XCTAssertEqual(y.shape, [n, c])
        var ref: [Float] = []
        for i in 0..<n { for j in 0..<c { ref.append(Float(x[((i * c + j) * h * w)..<((i * c + j + 1) * h * w)].reduce(0.0) { $0 + Double($1) } / Double(h * w))) } }
        assertClose(y.array, ref, "gap")
        let dy = randomValues(n * c, rng: &rng)
        let dx = Tensor(shape: [c, n, h, w])
        gap.backward(makeTensor([n, c], dy), inputGradient: dx)
        let back = batchMajor(dx.array, n: n, c: c, hw: h * w)
        for i in 0..<n { for j in 0..<c { for p in 0..<(h * w) {
            XCTAssertEqual(back[(i * c + j) * h * w + p], dy[i * c + j] / Float(h * w), accuracy: 1e-7)
        } } }
    }

    func testGradientChecks() throws {
        assertPassed(GradientCheck.check(layer: try MaxPool2d(name: "mp", input: .map(channels: 2, height: 6, width: 6), kernelSize: 2), batch: 2, seed: 54))
        assertPassed(GradientCheck.check(layer: try MaxPool2d(name: "mp3", input: .map(channels: 2, height: 7, width: 7), kernelSize: 3, stride: 2), batch: 2, seed: 55))
        assertPassed(GradientCheck.check(layer: try AvgPool2d(name: "ap", input: .map(channels: 2, height: 6, width: 6), kernelSize: 2), batch: 2, seed: 56))
        assertPassed(GradientCheck.check(layer: try AvgPool2d(name: "ap3", input: .map(channels: 1, height: 7, width: 5), kernelSize: 3, stride: 2), batch: 2, seed: 57))
        assertPassed(GradientCheck.check(layer: try GlobalAvgPool(name: "gap", input: .map(channels: 3, height: 4, width: 4)), batch: 2, seed: 58))
    }

    /// Inputs whose windows hold near-ties: the checker must skip the steps that change a
    /// window's choice instead of reporting a false failure.
    func testMaxPoolKinksAreSkipped() throws {
        let pool = try MaxPool2d(name: "mp", input: .map(channels: 1, height: 4, width: 4), kernelSize: 2)
        var values = [Float](repeating: 0, count: 16)
        for i in 0..<16 { values[i] = Float(i % 4) * 0.5 + (i % 2 == 0 ? 0.004 : 0) }
        let row = GradientCheck.check(layer: pool, batch: 1, seed: 59, input: makeTensor([1, 1, 4, 4], values))
        assertPassed(row)
        XCTAssertGreaterThan(row.skipped, 0, "near-ties must be skipped")
    }

    func testRejectsWindowsLargerThanTheInput() {
        XCTAssertThrowsError(try MaxPool2d(name: "5", input: .map(channels: 8, height: 1, width: 1), kernelSize: 2)) {
            XCTAssertTrue("\($0)".contains("smaller than the 2x2 MaxPool2d window"), "\($0)")
        }
        XCTAssertThrowsError(try GlobalAvgPool(name: "9", input: .flat(3)))
    }
}
