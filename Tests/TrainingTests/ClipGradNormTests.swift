import AllReduce
import Layers
import Tensor
import XCTest
@testable import Training

/// `--clip-grad-norm` through the training step: the update uses the clipped gradient.
final class ClipGradNormTests: XCTestCase {
    /// One step of plain SGD (lr 0.1, no momentum or decay: the update is -lr * gradient) on the
    /// first batch of the synthetic set, from the same initial weights every time.
    /// Returns the parameters before and after, and the gradient the update used.
    private func step(clip: Float) throws -> (before: [Float], after: [Float], gradient: [Float]) {
        let config = TrainingFixture.config(batch: 16)
        var result: ([Float], [Float], [Float])?
        try InProcessWorld.run(size: 1, timeoutSeconds: 30) { comm in
            let data = try TrainingData(config: config)
            let model = try data.replica(config, comm: comm)
            let sgd = try SGD(count: model.parameterCount, learningRate: 0.1)
            let stepper = try TrainingStep(model: model, optimizer: sgd, comm: comm, batchSize: config.batchSize,
                                           bucketCapBytes: 1 << 20, overlap: false)
            stepper.clipGradNorm = clip
            let before = Array(model.parameters.buffer)
            var rng = SeededRNG(seed: 1)
            _ = try stepper.run(batches: data.trainBatches, indices: { _ in Array(0..<config.batchSize)[...] }, rng: &rng, lr: 0.1,
                                position: (1, 1), timeline: nil, globalStep: 0)
            result = (before, Array(model.parameters.buffer), Array(model.gradients.buffer))
        }
        return try XCTUnwrap(result)
    }

    private func norm(_ v: [Float]) -> Double { v.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() }

    func testAStepAboveTheLimitMovesByTheClippedGradient() throws {
        let free = try step(clip: 0)
        let raw = norm(free.gradient)
        XCTAssertGreaterThan(raw, 0.1)
        let limit = Float(raw / 4)
        let clipped = try step(clip: limit)
        XCTAssertEqual(clipped.before, free.before)
        XCTAssertEqual(norm(clipped.gradient), Double(limit), accuracy: 1e-5 * raw)
        // The update is -lr times the clipped gradient: a quarter of the free step, same direction.
        let move = zip(clipped.after, clipped.before).map { $0 - $1 }
        XCTAssertEqual(norm(move), 0.1 * Double(limit), accuracy: 1e-3 * 0.1 * Double(limit))
        for i in stride(from: 0, to: move.count, by: 97) {
            let freeMove = Double(free.after[i] - free.before[i])
            XCTAssertEqual(Double(move[i]), freeMove / 4, accuracy: 1e-6 + 1e-3 * abs(freeMove), "parameter \(i)")
        }
    }

    func testAStepBelowTheLimitIsTheUnclippedStep() throws {
        let free = try step(clip: 0)
        let loose = try step(clip: Float(norm(free.gradient) * 2))
        XCTAssertEqual(loose.after, free.after, "a limit above the norm must not touch the gradient")
    }
}
