import XCTest
@testable import Training

/// Rank 0's progress line: epoch, step, loss, images/s and the epoch's ETA (DESIGN.md).
final class ProgressLineTests: XCTestCase {
    func testProgressLineShowsEpochStepLossRateAndETA() {
        // 50 of 100 steps in 32.5 s, 26 000 images: 800 img/s, another 32.5 s to go (rounded to 33).
        let line = ProgressLine.text(epoch: 2, epochs: 10, step: 50, steps: 100, loss: 0.31416, elapsed: 32.5, images: 26_000)
        XCTAssertEqual(line, "epoch 2/10  step 50/100  loss 0.3142  800 img/s  ETA 33s")
        let later = ProgressLine.text(epoch: 10, epochs: 10, step: 1, steps: 3751, loss: 2.5, elapsed: 2, images: 256)
        XCTAssertEqual(later, "epoch 10/10  step 1/3751  loss 2.5000  128 img/s  ETA 2h05m")
    }
}
