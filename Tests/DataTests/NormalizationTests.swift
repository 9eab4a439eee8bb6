import Foundation
import XCTest
@testable import Data

/// Training-set statistics against a two-pass Double reference; Codable round trip and validation.
final class NormalizationTests: XCTestCase {
    func testStatisticsMatchDoubleReference() throws {
        let dataset = try SyntheticDataset.make(SyntheticDataset.Options(trainCount: 37, channels: 3, height: 5, width: 9, classes: 4, seed: 5), split: .train)
        let stats = Normalization.statistics(of: dataset)
        XCTAssertEqual(stats.channels, 3)
        let plane = 45
        for c in 0..<3 {
            var values: [Double] = []
            for i in 0..<dataset.count {
                let start = (i * 3 + c) * plane
                values += dataset.images[start..<(start + plane)].map { Double($0) / 255 }
            }
            let mean = values.reduce(0, +) / Double(values.count)
            let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1)
            XCTAssertEqual(stats.mean[c], mean, accuracy: 1e-12)
            XCTAssertEqual(stats.std[c], variance.squareRoot(), accuracy: 1e-12)
        }
    }

    func testConstantChannelGetsUnitStd() throws {
        let dataset = Dataset(name: "flat", split: .train, images: [UInt8](repeating: 51, count: 8), labels: [0, 1],
                              channels: 1, height: 2, width: 2, classes: 2)
        let stats = Normalization.statistics(of: dataset)
        XCTAssertEqual(stats.mean, [0.2])
        XCTAssertEqual(stats.std, [1])
    }

    func testRealFashionMNISTStatistics() throws {
        guard FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") else {
            throw XCTSkip("/usr/share/datasets/fashion-mnist is absent")
        }
        let train = try DatasetLoader.load(name: "fashion-mnist", split: .train)
        let start = Date()
        let stats = Normalization.statistics(of: train)
        print("Fashion-MNIST statistics in \(String(format: "%.3f", Date().timeIntervalSince(start))) s: mean \(stats.mean[0]) std \(stats.std[0])")
        // The widely quoted values (torchvision tutorials): mean 0.2860, std 0.3530.
        XCTAssertEqual(stats.mean[0], 0.2860, accuracy: 1e-4)
        XCTAssertEqual(stats.std[0], 0.3530, accuracy: 1e-4)
    }

    func testCodableRoundTripAndValidation() throws {
        let stats = try Normalization(mean: [0.4914, 0.4822, 0.4465], std: [0.2470, 0.2435, 0.2616])
        let json = try JSONEncoder().encode(stats)
        XCTAssertEqual(try JSONDecoder().decode(Normalization.self, from: json), stats)
        let text = String(decoding: json, as: UTF8.self)
        XCTAssertTrue(text.contains("\"mean\"") && text.contains("\"std\""), text)
        for bad in [#"{"mean":[0.5],"std":[0]}"#, #"{"mean":[0.5,0.1],"std":[1]}"#, #"{"mean":[],"std":[]}"#, #"{"mean":[0.5],"std":[-1]}"#] {
            XCTAssertThrowsError(try JSONDecoder().decode(Normalization.self, from: Foundation.Data(bad.utf8)), bad)
        }
        XCTAssertEqual(Normalization.identity(channels: 2).normalize(255, channel: 1), 1)
    }
}
