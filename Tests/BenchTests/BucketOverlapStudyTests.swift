import XCTest
@testable import Bench

final class BucketOverlapStudyTests: XCTestCase {
    /// The layer table comes from the model and says what DESIGN.md's fmnist-cnn says: per layer
    /// with parameters, the parameter count and the forward multiply-adds per sample (28*28*32*9
    /// for the first convolution, ...; BatchNorm counts its activations).
    func testFMNISTLayerTableFromTheModel() throws {
        let table = try BucketOverlapStudy.fmnistLayers()
        XCTAssertEqual(table.map(\.parameters), [288, 64, 9_216, 64, 18_432, 128, 36_864, 128, 401_536, 1_290])
        XCTAssertEqual(table.map(\.work), [225_792, 25_088, 7_225_344, 25_088, 3_612_672, 12_544, 7_225_344, 12_544,
                                           401_408, 1_280])
    }

    func testMedian() {
        XCTAssertEqual(Median.of([3, 1, 2]), 2)
        XCTAssertEqual(Median.of([4, 1, 3, 2]), 2.5)
        XCTAssertTrue(Median.of([]).isNaN)
    }
}
