import AllReduce
import Data
import Layers
import Tensor
import XCTest
@testable import Training

/// `ddp sanity` and `ddp lr-find` on real (synthetic) training runs.
final class ToolkitTests: XCTestCase {
    private func sanity(_ config: TrainConfig, ranks: Int = 1, options: SanityCheck.Options = .init()) throws -> [SanityCheck.Verdict] {
        var verdicts: [SanityCheck.Verdict] = []
        try InProcessWorld.run(size: ranks, timeoutSeconds: 60) { comm in
            let v = try SanityCheck.run(config: config, options: options, comm: comm)
            if comm.rank == 0 { verdicts = v }
        }
        return verdicts
    }

    /// With `--init kaiming`: this small net starts outside the band with the default init
    /// (`testEveryPresetStartsNearLnClassesWithTheDefaultInit`).
    func testSanityPassesOnAHealthyNet() throws {
        var options = SanityCheck.Options()
        options.flatSteps = 60
        options.overfitSamples = 16
        var c = TrainingFixture.config(spec: "c8k3p1nb-bn-relu-mp2-flatten-fc32-relu-fc", batch: 8)
        c.weightInit = .kaiming
        let v = try sanity(c, options: options)
        for verdict in v { XCTAssertTrue(verdict.passed, "\(verdict.name): \(verdict.detail)") }
        XCTAssertEqual(v.count, 3)
    }

    /// The preset itself (its layers unchanged) on synthetic 1x12x12 images with 10 classes, and
    /// shorter runs than the command's defaults: at 1x28x28 the debug build takes 20-40 s here.
    /// The initial loss must be within 15% of ln(10) with the default init.
    func testSanityPassesOnFmnistCNN() throws {
        var c = TrainingFixture.config(spec: "fmnist-cnn", batch: 4)
        c.synthetic = SyntheticDataset.Options(trainCount: 128, testCount: 16, channels: 1, height: 12, width: 12,
                                               classes: 10, seed: 3)
        var options = SanityCheck.Options()
        options.flatSteps = 12
        options.overfitSamples = 8
        options.overfitSteps = 100
        let v = try sanity(c, options: options)
        XCTAssertEqual(v.map(\.name), ["initial loss", "lr=0 keeps the loss flat", "overfit 8 samples"])
        for verdict in v { XCTAssertTrue(verdict.passed, "\(verdict.name): \(verdict.detail)") }
    }

    /// The issue's rule for the default init: every preset starts within 15% of ln(classes) with
    /// it, on 10 classes of 1x12x12 images (the other checks are cut short here: the two tests
    /// above run them). `kaiming` does too, and a 4-class net of its own shows why it is
    /// kept: its small classifier holds the first loss at ln(classes) on any net, where torch's
    /// starts that net at 1.60, above the band's 1.59.
    func testEveryPresetStartsNearLnClassesWithTheDefaultInit() throws {
        var options = SanityCheck.Options()
        options.flatSteps = 4
        options.overfitSamples = 4
        options.overfitSteps = 1
        for preset in ModelSpec.presetNames {
            for scheme in [WeightInit.standard, .kaiming] {
                var c = TrainingFixture.config(spec: preset, batch: 16)
                c.synthetic = SyntheticDataset.Options(trainCount: 128, testCount: 16, channels: 1, height: 12, width: 12,
                                                       classes: 10, seed: 5)
                c.weightInit = scheme
                let initial = try XCTUnwrap(sanity(c, options: options).first)
                XCTAssertEqual(initial.name, "initial loss")
                XCTAssertTrue(initial.passed, "\(preset), --init \(scheme.rawValue): \(initial.detail)")
            }
        }
        var small = TrainingFixture.config(spec: "c8k3p1nb-bn-relu-mp2-flatten-fc32-relu-fc", batch: 8)
        small.weightInit = .torch
        options.flatSteps = 10  // the verdict averages the first 10 losses
        XCTAssertFalse(try XCTUnwrap(sanity(small, options: options).first).passed)
    }

    /// A net that cannot express the data (global average of the raw image, then one linear
    /// layer: 1 feature for 4 classes) must fail the overfit check and say what to do.
    func testSanityFailsOnANetThatCannotLearn() throws {
        var options = SanityCheck.Options()
        options.flatSteps = 40
        options.overfitSamples = 16
        options.overfitSteps = 150
        let v = try sanity(TrainingFixture.config(spec: "gap-fc", batch: 8), options: options)
        let fit = try XCTUnwrap(v.first { $0.name.hasPrefix("overfit") })
        XCTAssertFalse(fit.passed, fit.detail)
        XCTAssertTrue(fit.advice.contains("too small"), fit.advice)
    }

    /// The flat-loss judge: iid batch noise is flat; a drifting loader or a jump is not.
    func testFlatLossJudge() {
        var rng = SeededRNG(seed: 1)
        let noise = (0..<200).map { _ in 2.3 + 0.05 * Double(rng.normal()) }
        XCTAssertTrue(FlatLoss.analyze(noise).isFlat, FlatLoss.analyze(noise).summary)
        // A data loader double whose images slowly fade: the loss drifts although nothing learns.
        let drifting = noise.enumerated().map { $0.element + 0.002 * Double($0.offset) }
        XCTAssertFalse(FlatLoss.analyze(drifting).isFlat)
        var jump = noise
        jump[120] += 3
        XCTAssertFalse(FlatLoss.analyze(jump).isFlat)
    }

    /// The curve read as the command reads it: a minimum before the blow-up, a tenth of its LR
    /// suggested, and at that LR the loss already falling. The sweep goes to LR 100: the net fits
    /// this easy synthetic set within the sweep, and with its small classifier (the default init)
    /// still trains at LRs of 10 (measured: no blow-up up to 10; the minimum near 60, the blow-up
    /// beyond 70).
    func testLRFinderSuggestsASensibleRate() throws {
        // No BatchNorm: a plain net must blow up at the top of the sweep.
        var c = TrainingFixture.config(spec: "c8k3p1-relu-mp2-flatten-fc32-relu-fc", batch: 16)
        c.synthetic.trainCount = 2048
        var options = LRFinder.Options()
        options.steps = 120
        options.endLR = 100
        var result: LRFinder.Result?
        try InProcessWorld.run(size: 1) { comm in result = try LRFinder.run(config: c, options: options, comm: comm) }
        let r = try XCTUnwrap(result)
        print("lr-find: suggested \(r.suggested), minimum at \(r.minimumLR), diverged \(r.diverged), \(r.points.count) steps")
        XCTAssertTrue(r.diverged, "a sweep to lr 100 should blow the loss up")
        XCTAssertLessThan(r.minimumLR, try XCTUnwrap(r.points.last).lr, "the minimum comes before the blow-up")
        XCTAssertEqual(r.suggested, r.minimumLR / 10)
        XCTAssertGreaterThanOrEqual(r.suggested, 1e-3)
        let start = r.points.prefix(10).map(\.loss).reduce(0, +) / 10
        let atSuggestion = try XCTUnwrap(r.points.first { $0.lr >= r.suggested })
        XCTAssertLessThan(atSuggestion.smoothed, start, "the loss falls by the suggested LR")
        let svg = LRFinderPlot.chart(r, title: "test").render()
        XCTAssertTrue(svg.contains("suggested"))
    }
}
