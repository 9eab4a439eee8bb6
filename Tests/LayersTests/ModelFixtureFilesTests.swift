import Formats
import Foundation
import XCTest
import Layers

/// The PyTorch model fixtures (scripts/fixtures/make_fixtures.py) hold what they promise.
final class ModelFixtureFilesTests: XCTestCase {
    /// The model fixtures hold what scripts/fixtures/README.md promises, and nothing else: the
    /// state-dict list in the metadata, `init_stats.` of every float entry, every parameter's
    /// gradient and update (whole, or 512 samples at sorted distinct indices with the first and
    /// the last) with their statistics, the buffers after one forward and after 3 steps, the batch.
    func testModelFixturesAreComplete() throws {
        let expected: [(file: String, parameters: Int, names: [String: [Int]])] = [
            ("fmnist_cnn", 468_010, ["0.weight": [32, 1, 3, 3], "1.weight": [32], "1.running_var": [32], "1.num_batches_tracked": [],
                                     "3.weight": [32, 32, 3, 3], "7.weight": [64, 32, 3, 3], "10.weight": [64, 64, 3, 3],
                                     "16.weight": [128, 3136], "16.bias": [128], "19.weight": [10, 128], "19.bias": [10]]),
            ("resnet20", 272_186, ["conv1.weight": [16, 1, 3, 3], "bn1.running_mean": [16], "layer1.0.conv1.weight": [16, 16, 3, 3],
                                   "layer1.2.bn2.bias": [16], "layer2.0.conv1.weight": [32, 16, 3, 3],
                                   "layer2.0.shortcut.0.weight": [32, 16, 1, 1], "layer2.0.shortcut.1.running_var": [32],
                                   "layer3.0.shortcut.0.weight": [64, 32, 1, 1], "layer3.2.conv2.weight": [64, 64, 3, 3],
                                   "fc.weight": [10, 64], "fc.bias": [10]]),
        ]
        for (name, parameterCount, names) in expected {
            let file = try FixtureFiles.load(name)
            let state = try fixtureStateDict(file)
            let shapes = Dictionary(uniqueKeysWithValues: state.map { ($0.name, $0.shape) })
            for (key, shape) in names { XCTAssertEqual(shapes[key], shape, "\(name) \(key)") }
            var parameters = 0
            var promised: Set<String> = ["x", "y", "logits", "eval_logits", "loss", "losses"]
            func has(_ tensor: String, _ shape: [Int], _ dtype: SafeTensorDType) throws {
                let entry = try file.entry(tensor)
                XCTAssertEqual(entry.shape, shape, "\(name) \(tensor)")
                XCTAssertEqual(entry.dtype, dtype, "\(name) \(tensor)")
                promised.insert(tensor)
            }
            for (key, shape) in state {
                let count = shape.reduce(1, *)
                if key.hasSuffix("num_batches_tracked") {
                    try has("after_fwd." + key, shape, .i64)
                    try has("step3." + key, shape, .i64)
                    continue
                }
                try has("init_stats." + key, [3], .f64)
                if key.hasSuffix("running_mean") || key.hasSuffix("running_var") {
                    try has("after_fwd." + key, shape, .f32)
                    try has("step3." + key, shape, .f32)
                    continue
                }
                parameters += count
                try has("grad_stats." + key, [3], .f64)
                try has("update_stats." + key, [3], .f64)
                var stored = count
                if count > 1024 {
                    stored = 512
                    try has("sample." + key, [stored], .i64)
                    let indices = try file.int64s("sample." + key)
                    XCTAssertEqual(indices.first, 0, key)
                    XCTAssertEqual(indices.last, Int64(count - 1), key)
                    XCTAssertTrue(zip(indices, indices.dropFirst()).allSatisfy { $0 < $1 }, "\(key): sorted, distinct")
                }
                try has("grad." + key, [stored], .f32)
                try has("update." + key, [stored], .f64)
            }
            XCTAssertEqual(Set(file.names), promised, "\(name): the tensors the README lists")
            XCTAssertEqual(parameters, parameterCount, name)
            XCTAssertEqual(try file.entry("x").shape, [4, 1, 28, 28])
            XCTAssertEqual(try file.int64s("y", shape: [4]).filter { !(0..<10).contains($0) }, [])
            XCTAssertEqual(try file.entry("logits").shape, [4, 10])
            XCTAssertEqual(try file.entry("eval_logits").shape, [4, 10])
            XCTAssertEqual(try file.floats("loss", shape: []), [try file.floats("losses", shape: [3])[0]])
            XCTAssertEqual(file.metadata["dropout"], "all Dropout modules set to p=0")
            // The script's Python writer and this one agree byte for byte (metadata keys sorted).
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: try FixtureFiles.path(name))))
            XCTAssertEqual(try SafeTensors.encode(file.names.map { ($0, file.entries[$0]!) }, metadata: file.metadata), bytes, name)
        }
    }
}

/// The committed fixture files (Tests/LayersTests/Fixtures, copied into the test bundle).
enum FixtureFiles {
    static func path(_ name: String) throws -> String {
        guard let url = Bundle.module.url(forResource: name, withExtension: "safetensors", subdirectory: "Fixtures") else {
            throw SafeTensorsFixtureMissing(name: name)
        }
        return url.path
    }

    /// Reads Fixtures/<name>.safetensors.
    static func load(_ name: String) throws -> SafeTensorsFile {
        try SafeTensors.read(path: path(name))
    }
}

struct SafeTensorsFixtureMissing: Error, CustomStringConvertible {
    let name: String
    var description: String { "Fixtures/\(name).safetensors is not in the test bundle (run scripts/fixtures/make_fixtures.py)" }
}
