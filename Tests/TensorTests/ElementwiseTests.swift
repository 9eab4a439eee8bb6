import XCTest
import Tensor

final class ElementwiseTests: XCTestCase {
    /// The ReLU mask split over threads: dy where the output is positive, 0 where it is zero or
    /// negative (PyTorch's subgradient), whatever the count's tail and the thread count.
    func testReLUBackwardOverThreadsFollowsTheDefinition() {
        var rng = SeededRNG(seed: 17)
        for count in [1, 7, 8, 9, 64, 1003] {
            let y = (0..<count).map { i in i % 5 == 0 ? 0 : rng.uniform() - 0.5 }
            let dy = (0..<count).map { _ in rng.uniform() + 1 }
            let expected = zip(y, dy).map { $0 > 0 ? $1 : 0 }
            for threads in [1, 2, 3] {
                var dx = [Float](repeating: .nan, count: count)
                dx.withUnsafeMutableBufferPointer { dx in
                    Elementwise.reluBackward(output: y, outputGradient: dy, inputGradient: dx.baseAddress!, count: count,
                                             threads: threads)
                }
                XCTAssertEqual(dx, expected, "count \(count), threads \(threads)")
            }
        }
    }
}
