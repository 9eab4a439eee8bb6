import Formats
import XCTest
import Layers
import Tensor

/// SGD and Adam against (1) a plain Double transcription of the textbook rule and (2) the numbers
/// torch.optim produced (Fixtures/optimizers.safetensors, scripts/fixtures/make_fixtures.py),
/// which must match bit for bit; plus checkpointed state and torch's argument checks.
final class OptimizerTests: XCTestCase {
    // MARK: Double transcriptions (independent of the Float code's operation order)

    private struct SGDConfig {
        var lr = 0.1, momentum = 0.0, dampening = 0.0, weightDecay = 0.0, nesterov = false
    }

    private func referenceSGD(_ c: SGDConfig, p0: [Float], grads: [[Float]]) -> [Double] {
        var p = p0.map(Double.init)
        var buffer = [Double](repeating: 0, count: p.count)
        for (step, g) in grads.enumerated() {
            for i in p.indices {
                var d = Double(g[i]) + c.weightDecay * p[i]
                if c.momentum != 0 {
                    buffer[i] = step == 0 ? d : c.momentum * buffer[i] + (1 - c.dampening) * d
                    d = c.nesterov ? d + c.momentum * buffer[i] : buffer[i]
                }
                p[i] -= c.lr * d
            }
        }
        return p
    }

    private func referenceAdam(lr: Double, beta1: Double, beta2: Double, eps: Double, weightDecay: Double,
                               p0: [Float], grads: [[Float]]) -> [Double] {
        var p = p0.map(Double.init)
        var m = [Double](repeating: 0, count: p.count), v = m
        for (step, g) in grads.enumerated() {
            let t = Double(step + 1)
            for i in p.indices {
                let gi = Double(g[i]) + weightDecay * p[i]
                m[i] = beta1 * m[i] + (1 - beta1) * gi
                v[i] = beta2 * v[i] + (1 - beta2) * gi * gi
                let mHat = m[i] / (1 - pow(beta1, t)), vHat = v[i] / (1 - pow(beta2, t))
                p[i] -= lr * mHat / (vHat.squareRoot() + eps)
            }
        }
        return p
    }

    private func randomVectors(seed: UInt64, count: Int, vectors: Int) -> [[Float]] {
        var rng = SeededRNG(seed: seed)
        return (0..<vectors).map { _ in (0..<count).map { _ in rng.normal() } }
    }

    private func run(_ optimizer: Optimizer, p0: [Float], grads: [[Float]]) -> [Float] {
        var p = p0
        for g in grads {
            p.withUnsafeMutableBufferPointer { pp in
                g.withUnsafeBufferPointer { gp in
                    optimizer.step(parameters: pp.baseAddress!, gradients: gp.baseAddress!, count: p0.count)
                }
            }
        }
        return p
    }

    /// max |a - b| / (1 + |b|): Float rounding of O(1) numbers over a few steps stays near 1e-7.
    private func maxScaledDifference(_ a: [Float], _ b: [Double]) -> Double {
        zip(a, b).map { abs(Double($0) - $1) / (1 + abs($1)) }.max() ?? 0
    }

    func testSGDMatchesDoubleTranscription() throws {
        let configs = [
            SGDConfig(lr: 0.1),
            SGDConfig(lr: 0.05, weightDecay: 1e-2),
            SGDConfig(lr: 0.1, momentum: 0.9),
            SGDConfig(lr: 0.1, momentum: 0.9, weightDecay: 5e-4, nesterov: true),
            SGDConfig(lr: 0.02, momentum: 0.8, dampening: 0.3, weightDecay: 1e-3),
            SGDConfig(lr: 0.3, momentum: 0.5, dampening: 0.5),
        ]
        let n = 257
        let vectors = randomVectors(seed: 1, count: n, vectors: 6)
        for c in configs {
            let sgd = try SGD(count: n, learningRate: c.lr, momentum: c.momentum, dampening: c.dampening,
                              weightDecay: c.weightDecay, nesterov: c.nesterov)
            let got = run(sgd, p0: vectors[0], grads: Array(vectors[1...]))
            let want = referenceSGD(c, p0: vectors[0], grads: Array(vectors[1...]))
            let diff = maxScaledDifference(got, want)
            print("SGD \(c) vs Double: max scaled difference \(diff)")
            XCTAssertLessThan(diff, 2e-6, "\(c)")
            XCTAssertEqual(sgd.stepCount, 5)
        }
    }

    func testAdamMatchesDoubleTranscription() throws {
        let n = 257
        let vectors = randomVectors(seed: 2, count: n, vectors: 6)
        for (lr, beta1, beta2, eps, wd) in [(1e-3, 0.9, 0.999, 1e-8, 0.0), (0.01, 0.8, 0.99, 1e-6, 0.1), (0.1, 0.0, 0.5, 1e-3, 0.0)] {
            let adam = try Adam(count: n, learningRate: lr, beta1: beta1, beta2: beta2, eps: eps, weightDecay: wd)
            let got = run(adam, p0: vectors[0], grads: Array(vectors[1...]))
            let want = referenceAdam(lr: lr, beta1: beta1, beta2: beta2, eps: eps, weightDecay: wd,
                                     p0: vectors[0], grads: Array(vectors[1...]))
            let diff = maxScaledDifference(got, want)
            print("Adam lr \(lr) betas (\(beta1), \(beta2)) eps \(eps) wd \(wd) vs Double: max scaled difference \(diff)")
            XCTAssertLessThan(diff, 2e-6)
        }
    }

    // MARK: torch fixtures, bit for bit

    /// The fixture is exact only where torch's elementwise kernels fuse multiply-adds, as its
    /// AVX2 and AVX-512 kernels (the only ones on current x86-64) do.
    private func optimizerFixture() throws -> SafeTensorsFile {
        let file = try FixtureFiles.load("optimizers")
        let capability = file.metadata["cpu_capability"] ?? "unknown"
        guard capability.hasPrefix("AVX2") || capability.hasPrefix("AVX512") else {
            throw XCTSkip("optimizers.safetensors was made with torch CPU capability \(capability): no FMA, not bit-exact")
        }
        return file
    }

    /// Number of elements whose bits differ, and the largest distance in units in the last place
    /// (floats mapped to integers in their order, so the distance across zero is right too).
    private func bitDifferences(_ a: [Float], _ b: [Float]) -> (count: Int, maxULP: Int64) {
        func ordinal(_ x: Float) -> Int64 {
            let magnitude = Int64(x.bitPattern & 0x7FFF_FFFF)
            return x.sign == .minus ? -magnitude : magnitude
        }
        var count = 0, maxULP: Int64 = 0
        for (x, y) in zip(a, b) where x.bitPattern != y.bitPattern {
            count += 1
            maxULP = max(maxULP, abs(ordinal(x) - ordinal(y)))
        }
        return (count, maxULP)
    }

    private func checkFixture(_ file: SafeTensorsFile, case name: String, optimizer: Optimizer,
                              state: [String]) throws {
        let p0 = try file.floats("\(name).p0")
        let grads = try (1...3).map { try file.floats("\(name).g\($0)", shape: [p0.count]) }
        let got = run(optimizer, p0: p0, grads: grads)
        let (count, ulp) = bitDifferences(got, try file.floats("\(name).p3", shape: [p0.count]))
        print("\(name): parameters after 3 steps differ from torch in \(count) of \(p0.count) elements (max \(ulp) ulp)")
        XCTAssertEqual(count, 0, "\(name): parameters after 3 steps, max \(ulp) ulp")
        let buffers = Dictionary(uniqueKeysWithValues: optimizer.stateTensors().map { ($0.name, $0.values) })
        XCTAssertEqual(buffers.keys.sorted(), state.sorted(), name)
        for key in state {
            let (count, ulp) = bitDifferences(buffers[key] ?? [], try file.floats("\(name).\(key)", shape: [p0.count]))
            XCTAssertEqual(count, 0, "\(name).\(key): max \(ulp) ulp")
        }
    }

    /// Both update paths: the vectorized kernel (where the CPU has it) and the element loop.
    func testSGDMatchesTorchBitForBit() throws {
        let file = try optimizerFixture()
        let n = try file.entry("sgd_nesterov.p0").elementCount
        for scalar in [false, true] {
            func sgd(_ lr: Double, momentum: Double = 0, dampening: Double = 0, weightDecay: Double = 0,
                     nesterov: Bool = false) throws -> SGD {
                let o = try SGD(count: n, learningRate: lr, momentum: momentum, dampening: dampening,
                                weightDecay: weightDecay, nesterov: nesterov)
                o.forceScalar = scalar
                return o
            }
            print("SGD \(scalar || !SGDKernel.isAvailable ? "element loop" : "vector kernel"):")
            try checkFixture(file, case: "sgd_nesterov", optimizer: sgd(0.1, momentum: 0.9, weightDecay: 5e-4, nesterov: true),
                             state: ["momentum_buffer"])
            try checkFixture(file, case: "sgd_dampening", optimizer: sgd(0.05, momentum: 0.8, dampening: 0.3, weightDecay: 1e-2),
                             state: ["momentum_buffer"])
            try checkFixture(file, case: "sgd_plain", optimizer: sgd(0.3), state: [])
        }
    }

    func testAdamMatchesTorchBitForBit() throws {
        let file = try optimizerFixture()
        let n = try file.entry("adam.p0").elementCount
        try checkFixture(file, case: "adam", optimizer: Adam(count: n, learningRate: 1e-3),
                         state: ["exp_avg", "exp_avg_sq"])
        try checkFixture(file, case: "adam_wd",
                         optimizer: Adam(count: n, learningRate: 0.01, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.1),
                         state: ["exp_avg", "exp_avg_sq"])
    }

    // MARK: State

    /// Two steps, state through a safetensors checkpoint into a new optimizer, two more steps:
    /// bit-identical to four uninterrupted steps.
    func testStateRestoresExactlyThroughSafeTensors() throws {
        let n = 101
        let vectors = randomVectors(seed: 3, count: n, vectors: 5)
        let makers: [() throws -> Optimizer] = [
            { try SGD(count: n, learningRate: 0.1, momentum: 0.9, weightDecay: 5e-4, nesterov: true) },
            { try Adam(count: n, learningRate: 0.01, weightDecay: 1e-2) },
        ]
        for make in makers {
            let straight = run(try make(), p0: vectors[0], grads: Array(vectors[1...4]))

            let first = try make()
            let halfway = run(first, p0: vectors[0], grads: Array(vectors[1...2]))
            let bytes = try SafeTensors.encode(first.stateTensors().map { (name: $0.name, entry: try SafeTensorEntry(floats: $0.values, shape: [n])) },
                                               metadata: ["step": String(first.stepCount)])
            let checkpoint = try SafeTensors.decode(bytes)
            let second = try make()
            let restored = try Dictionary(uniqueKeysWithValues: checkpoint.names.map { ($0, try checkpoint.floats($0)) })
            try second.loadState(restored, stepCount: Int(checkpoint.metadata["step"]!)!)
            XCTAssertEqual(second.stepCount, 2)
            let resumed = run(second, p0: halfway, grads: Array(vectors[3...4]))
            XCTAssertEqual(resumed.map(\.bitPattern), straight.map(\.bitPattern), "\(type(of: first)) resumed differs")
        }
    }

    func testLoadStateRejectsWrongBuffersAndChangesNothing() throws {
        let sgd = try SGD(count: 4, learningRate: 0.1, momentum: 0.9)
        let adam = try Adam(count: 4)
        let cases: [(Optimizer, [String: [Float]], Int, String)] = [
            (sgd, [:], 1, "missing buffer \"momentum_buffer\""),
            (sgd, ["momentum_buffer": [1, 2, 3]], 1, "has 3 values, expected 4"),
            (sgd, ["momentum_buffer": [1, 2, 3, 4], "exp_avg": [1, 2, 3, 4]], 1, "unexpected buffer \"exp_avg\""),
            (sgd, ["momentum_buffer": [1, 2, 3, 4]], -1, "step count -1 is negative"),
            (adam, ["exp_avg": [1, 2, 3, 4]], 1, "missing buffer \"exp_avg_sq\""),
        ]
        for (optimizer, tensors, steps, message) in cases {
            XCTAssertThrowsError(try optimizer.loadState(tensors, stepCount: steps)) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains(message), "\(text) lacks \(message)")
                XCTAssertFalse(text.contains("\n"))
            }
            XCTAssertEqual(optimizer.stepCount, 0)
            XCTAssertTrue(optimizer.stateTensors().allSatisfy { $0.values == [0, 0, 0, 0] })
        }
        XCTAssertTrue(try SGD(count: 4, learningRate: 0.1).stateTensors().isEmpty)
        try SGD(count: 4, learningRate: 0.1).loadState([:], stepCount: 7)
    }

    // MARK: Arguments

    func testInvalidHyperparametersAreRejectedLikeTorch() {
        let bad: [(String, () throws -> Optimizer)] = [
            ("invalid learning rate -0.1", { try SGD(count: 1, learningRate: -0.1) }),
            ("invalid learning rate nan", { try SGD(count: 1, learningRate: .nan) }),
            ("invalid momentum -0.5", { try SGD(count: 1, learningRate: 0.1, momentum: -0.5) }),
            ("invalid weight decay -1.0", { try SGD(count: 1, learningRate: 0.1, weightDecay: -1) }),
            ("Nesterov momentum requires a momentum > 0", { try SGD(count: 1, learningRate: 0.1, nesterov: true) }),
            ("zero dampening", { try SGD(count: 1, learningRate: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true) }),
            ("invalid learning rate -1.0", { try Adam(count: 1, learningRate: -1) }),
            ("invalid epsilon -1e-08", { try Adam(count: 1, eps: -1e-8) }),
            ("invalid beta1 1.0", { try Adam(count: 1, beta1: 1) }),
            ("invalid beta2 -0.1", { try Adam(count: 1, beta2: -0.1) }),
            ("invalid weight decay -0.1", { try Adam(count: 1, weightDecay: -0.1) }),
        ]
        for (message, make) in bad {
            XCTAssertThrowsError(try make()) { error in
                XCTAssertTrue("\(error)".contains(message), "\"\(error)\" lacks \"\(message)\"")
            }
        }
        // Accepted by torch, so accepted here: zero learning rate, dampening without Nesterov.
        XCTAssertNoThrow(try SGD(count: 1, learningRate: 0, momentum: 0.9, dampening: 0.9))
        XCTAssertNoThrow(try Adam(count: 1, learningRate: 0, beta1: 0, beta2: 0))
    }

    func testEmptyParameterBufferIsANoOp() throws {
        var p: [Float] = [1], g: [Float] = [1]
        for optimizer: Optimizer in [try SGD(count: 0, learningRate: 0.1, momentum: 0.9), try Adam(count: 0)] {
            optimizer.step(parameters: &p, gradients: &g, count: 0)
            XCTAssertEqual(p, [1])
            XCTAssertEqual(optimizer.stepCount, 1)
        }
    }
}
