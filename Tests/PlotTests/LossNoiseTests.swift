import Foundation
import Tensor
import XCTest
@testable import Plot

final class LossNoiseTests: XCTestCase {
    private let steps = 600
    /// A typical loss trend: fast initial drop, then a slow approach to 0.3.
    private func trend(_ i: Int) -> Double { 0.3 + 2.0 * exp(-Double(i) / 120) }

    func testSmoothDecayGivesNoHint() throws {
        let noise = try XCTUnwrap(LossNoise(losses: (0..<steps).map(trend)))
        XCTAssertLessThan(noise.ratio, 0.01)
        XCTAssertNil(noise.hint)
        XCTAssertFalse(noise.isVeryNoisy)
        XCTAssertEqual(noise.count, steps)
        XCTAssertEqual(noise.window, 51)
        XCTAssertGreaterThan(noise.trendDrop, 1.5)  // the trend over the interior fell from ~2 to ~0.35
    }

    func testModerateNoiseIsMeasuredAndGivesNoHint() throws {
        var rng = SeededRNG(seed: 1)
        let losses = (0..<steps).map { trend($0) * (1 + 0.05 * Double(rng.normal())) }
        let noise = try XCTUnwrap(LossNoise(losses: losses))
        // The ratio recovers the injected relative noise (a window of 51 removes ~2% of it).
        XCTAssertEqual(noise.ratio, 0.05, accuracy: 0.006)
        XCTAssertNil(noise.hint)
    }

    func testHeavyNoiseGivesTheHint() throws {
        var rng = SeededRNG(seed: 2)
        let losses = (0..<steps).map { max(0.001, trend($0) * (1 + 0.6 * Double(rng.normal()))) }
        let noise = try XCTUnwrap(LossNoise(losses: losses))
        XCTAssertEqual(noise.ratio, 0.6, accuracy: 0.08)
        XCTAssertTrue(noise.isVeryNoisy)
        let hint = try XCTUnwrap(noise.hint)
        XCTAssertTrue(hint.hasPrefix("the per-step loss is very noisy relative to its trend (noise/trend ratio 0."), hint)
        XCTAssertTrue(hint.contains("--batch-size") && hint.contains("lower learning rate"), hint)
    }

    func testThresholdSitsAtOneHalf() throws {
        // A spike of relative height a every 4th step: a median of 5 never sees more than 2
        // spikes, so the trend is 1 and the RMS residual is exactly a / 2.
        for (a, expectHint) in [(0.6, false), (0.98, false), (1.02, true), (1.4, true)] {
            let losses = (0..<200).map { $0 % 4 == 0 ? 1 + a : 1 }
            let noise = try XCTUnwrap(LossNoise(losses: losses, window: 5))
            XCTAssertEqual(noise.ratio, a / 2, accuracy: 1e-12)
            XCTAssertEqual(noise.ratio, naiveRatio(losses, window: 5), accuracy: 1e-12)
            XCTAssertEqual(noise.hint != nil, expectHint, "a = \(a), ratio \(noise.ratio)")
        }
    }

    func testAgreesWithANaiveTranscriptionOnRandomData() throws {
        var rng = SeededRNG(seed: 9)
        let losses = (0..<137).map { _ in 0.5 + Double(rng.uniformDouble()) }
        let noise = try XCTUnwrap(LossNoise(losses: losses, window: 9))
        XCTAssertEqual(noise.ratio, naiveRatio(losses, window: 9), accuracy: 1e-12)
    }

    func testTooFewOrNonFiniteValues() {
        XCTAssertNil(LossNoise(losses: [Double](repeating: 1, count: LossNoise.minimumCount - 1)))
        let withGaps = (0..<30).map { $0 % 3 == 0 ? Double.nan : 1.0 }  // 20 finite values
        XCTAssertEqual(LossNoise(losses: withGaps)?.count, 20)
        XCTAssertEqual(LossNoise(losses: withGaps)?.ratio, 0)
        XCTAssertNotNil(LossNoise(losses: [Float](repeating: 2, count: 40)))
    }

    func testNearZeroLossIsNotCalledNoisy() throws {
        var rng = SeededRNG(seed: 4)
        // A model that fits its batches: losses around 1e-3 with 100% relative jitter.
        let losses = (0..<100).map { _ in 0.001 * (1 + Double(rng.normal())).magnitude }
        let noise = try XCTUnwrap(LossNoise(losses: losses))
        XCTAssertLessThan(noise.ratio, 0.2)
        XCTAssertNil(noise.hint)
    }

    /// The definition written out plainly: centred median of `window`, interior points only,
    /// RMS of (loss - trend) / max(trend, floor).
    private func naiveRatio(_ losses: [Double], window: Int) -> Double {
        let half = window / 2
        var sum = 0.0
        var count = 0
        for i in half..<(losses.count - half) {
            let median = losses[(i - half)...(i + half)].sorted()[half]
            sum += pow((losses[i] - median) / max(median, LossNoise.levelFloor), 2)
            count += 1
        }
        return (sum / Double(count)).squareRoot()
    }
}
