import XCTest
@testable import Data

/// The synthetic set is deterministic, balanced, any shape, and learnable: a nearest-centroid
/// classifier fitted on the training split classifies the test split almost perfectly.
final class SyntheticDatasetTests: XCTestCase {
    func testDeterministicAndSplitsDiffer() throws {
        let options = SyntheticDataset.Options(trainCount: 50, testCount: 20, channels: 2, height: 5, width: 3, classes: 3, seed: 9)
        let a = try SyntheticDataset.make(options, split: .train)
        let b = try SyntheticDataset.make(options, split: .train)
        let test = try SyntheticDataset.make(options, split: .test)
        XCTAssertEqual(a.images, b.images)
        XCTAssertEqual(a.labels, b.labels)
        XCTAssertEqual([a.count, a.channels, a.height, a.width, a.classes], [50, 2, 5, 3, 3])
        XCTAssertEqual(test.count, 20)
        XCTAssertNotEqual(Array(a.images.prefix(30)), Array(test.images.prefix(30)))
        var other = options
        other.seed = 10
        XCTAssertNotEqual(try SyntheticDataset.make(other, split: .train).images, a.images)
        let perClass = (0..<3).map { k in a.labels.filter { $0 == k }.count }
        XCTAssertEqual(perClass, [17, 17, 16])
    }

    func testLearnableByNearestCentroid() throws {
        for options in [SyntheticDataset.Options(trainCount: 500, testCount: 100),
                        SyntheticDataset.Options(trainCount: 200, testCount: 60, channels: 3, height: 32, width: 32, classes: 10, seed: 3)] {
            let (train, test) = try DatasetLoader.loadSplits(name: "synthetic", synthetic: options)
            let size = train.imageSize
            var centroids = [Double](repeating: 0, count: train.classes * size)
            var counts = [Double](repeating: 0, count: train.classes)
            for i in 0..<train.count {
                let k = Int(train.labels[i])
                counts[k] += 1
                for j in 0..<size { centroids[k * size + j] += Double(train.images[i * size + j]) }
            }
            for k in 0..<train.classes { for j in 0..<size { centroids[k * size + j] /= counts[k] } }
            var correct = 0
            for i in 0..<test.count {
                let distances = (0..<test.classes).map { k in
                    (0..<size).reduce(0.0) { sum, j in
                        let d = Double(test.images[i * size + j]) - centroids[k * size + j]
                        return sum + d * d
                    }
                }
                if distances.firstIndex(of: distances.min()!)! == Int(test.labels[i]) { correct += 1 }
            }
            XCTAssertGreaterThan(Double(correct) / Double(test.count), 0.95)
        }
    }
}
