import Formats
import Foundation
import XCTest
@testable import Training

/// A NaN prints as "nan": x86 arithmetic makes NaNs with the sign bit set, which printf and
/// Swift print as "-nan", a "negative" number that is none.
final class PrintableNumberTests: XCTestCase {
    func testANaNFromArithmeticPrintsWithoutASign() {
        let nan = 0 * -Double.infinity
        XCTAssertEqual(String(format: "%.4f", nan), "-nan", "this CPU's NaN has no sign bit: the test shows nothing")
        XCTAssertEqual(String(format: "%.4f", nan.printable), "nan")
        XCTAssertEqual("\(nan.printable)", "nan")
        XCTAssertEqual(1.5.printable, 1.5)
        XCTAssertTrue(ProgressLine.text(epoch: 1, epochs: 2, step: 3, steps: 4, loss: nan, elapsed: 1, images: 10)
            .contains("loss nan "))
        let metrics = EpochMetrics(epoch: 1, step: 4, trainLoss: nan, trainAcc: 0.5, testLoss: nan, testAcc: 0.5, lr: 0.1,
                                   elapsed: 1, imagesPerSecond: 10)
        XCTAssertEqual(metrics.humanLine(epochs: 2).components(separatedBy: "nan").count - 1, 2)
        XCTAssertFalse(metrics.humanLine(epochs: 2).contains("-nan"))
        XCTAssertTrue("\(TrainError.nonFinite(epoch: 1, step: 2, lr: 0.1, loss: nan, checkpoint: nil))".hasPrefix("the loss became nan at"))
    }
}
