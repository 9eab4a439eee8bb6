import AllReduce
import Foundation
import Layers
import XCTest
@testable import Training

/// `DDP_CONV=auto` in a run: one plan on every rank, recorded, and run again by a resume.
final class ConvolutionPlanTrainingTests: XCTestCase {
    /// Each rank times the layers itself; they end with rank 0's picks, every convolution on one
    /// of its candidates, and the run's checkpoint records the plan.
    func testAutoGivesEveryRankOnePlanAndTheCheckpointRecordsIt() throws {
        var config = TrainingFixture.config(batch: 8, epochs: 1, steps: 2)
        config.checkpointDir = TrainingFixture.temporaryDirectory("auto")
        let data = try TrainingData(config: config)
        let lock = NSLock()
        var plans: [ConvolutionPlan?] = [nil, nil]
        try InProcessWorld.run(size: 2, timeoutSeconds: 60) { comm in
            let model = try data.model(config, comm: comm, request: .auto)
            for conv in model.layers.flatMap(\.convolutions) {
                XCTAssertTrue(ConvolutionChoice.candidates(conv.choiceLayer, precision: .fp32).contains(conv.algorithm))
                XCTAssertTrue(conv.algorithmReason.hasPrefix("DDP_CONV=auto: "), conv.algorithmReason)
            }
            lock.lock(); plans[comm.rank] = model.convolutionPlan; lock.unlock()
        }
        let plan = try XCTUnwrap(plans[0])
        XCTAssertEqual(plans[1], plan)
        XCTAssertEqual(Set(plan.algorithms.keys), ["0", "4"], "the two convolutions of \(TrainingFixture.bnSpec)")

        _ = try TrainingFixture.train(config, ranks: 2, convolutions: .auto)
        let recorded = try XCTUnwrap(Checkpoint.savedRun(config.checkpointDir!).config.convolutionPlan)
        XCTAssertEqual(Set(recorded.algorithms.keys), ["0", "4"])
        let fixed = config.checkpointDir! + "-direct"
        config.checkpointDir = fixed
        _ = try TrainingFixture.train(config, ranks: 2, convolutions: .direct)
        XCTAssertNil(try Checkpoint.savedRun(fixed).config.convolutionPlan, "no plan without auto")
    }

    /// A resume runs the plan its checkpoint recorded, whether DDP_CONV says auto or nothing
    /// (the default rule would put these layers elsewhere), and ends bit for bit where the
    /// uninterrupted run does; DDP_CONV naming an algorithm wins over the plan.
    func testAResumeRunsTheRecordedPlanBitExactly() throws {
        var straight = TrainingFixture.config(batch: 8, epochs: 2)
        var plan = ConvolutionPlan(convolutions: [], candidates: [], seconds: [], picks: [])
        plan.algorithms = ["0": .winograd4, "4": .winograd2]
        straight.convolutionPlan = plan  // as if timed: auto with a plan runs it
        let a = try TrainingFixture.train(straight, ranks: 2, convolutions: .auto)

        var first = straight
        first.checkpointDir = TrainingFixture.temporaryDirectory("plan")
        first.maxSteps = 16  // one epoch: 256 samples / (8 x 2)
        _ = try TrainingFixture.train(first, ranks: 2, convolutions: .auto)
        XCTAssertEqual(try Checkpoint.savedRun(first.checkpointDir!).config.convolutionPlan, plan)

        for request in [ConvolutionRequest.auto, nil] {
            var rest = TrainingFixture.config(batch: 8, epochs: 2)
            rest.resume = first.checkpointDir
            rest.checkpointDir = TrainingFixture.temporaryDirectory("plan-rest")
            let b = try TrainingFixture.train(rest, ranks: 2, convolutions: request)
            XCTAssertEqual(a.parameters, b.parameters, "resumed under \(request?.rawValue ?? "no DDP_CONV")")
        }
        var other = TrainingFixture.config(batch: 8, epochs: 2)
        other.resume = first.checkpointDir
        other.checkpointDir = TrainingFixture.temporaryDirectory("plan-direct")
        let c = try TrainingFixture.train(other, ranks: 2, convolutions: .im2col)
        XCTAssertNotEqual(a.parameters, c.parameters, "im2col instead of the plan's Winograd changes the rounding")
    }
}
