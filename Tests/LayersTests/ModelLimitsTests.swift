import XCTest
import Layers

/// `ModelLimits`: real networks fit with room to spare; absurd sizes are refused with one line
/// naming the limit, before anything of their size is allocated.
final class ModelLimitsTests: XCTestCase {
    /// VGG-16 (138M parameters, ~29M floats of outputs per 224x224 sample plus up to 29M of
    /// im2col columns) is the largest classic CNN the spec grammar can write.
    static let vgg16 = "c64-relu-c64-relu-mp2-c128-relu-c128-relu-mp2-c256-relu-c256-relu-c256-relu-mp2-"
        + "c512-relu-c512-relu-c512-relu-mp2-c512-relu-c512-relu-c512-relu-mp2-flatten-fc4096-relu-fc4096-relu-fc"

    func testRealNetworksFitTheLimits() throws {
        // Layers only: building them allocates no parameters (the model would take 1 GB).
        let layers = try ModelSpec.layers(for: Self.vgg16, input: .map(channels: 3, height: 224, width: 224), classes: 1000)
        XCTAssertEqual(layers.reduce(0) { $0 + $1.parameterCount }, 138_357_544)
        let outputs = layers.reduce(0) { $0 + $1.activationsPerSample }
        XCTAssertLessThan(outputs + (layers.map(\.scratchPerSample).max() ?? 0), ModelLimits.maxActivationsPerSample / 2)
        for preset in ModelSpec.presetNames {
            XCTAssertNoThrow(try Model(spec: preset, inputShape: [3, 32, 32], classes: 10, seed: 1))
        }
    }

    func testEachLimitIsNamedInOneLine() {
        func message(_ spec: String, _ shape: [Int] = [1, 8, 8], classes: Int = 10) -> String {
            do { _ = try Model(spec: spec, inputShape: shape, classes: classes, seed: 0) } catch { return "\(error)" }
            return "built"
        }
        XCTAssertEqual(message("c65537-flatten-fc"),
                       "model spec 'c65537-flatten-fc', token 1 'c65537': number 65537 is above the limit of 65536")
        XCTAssertEqual(message("flatten-fc65536-fc65536-fc"),
                       "model spec 'flatten-fc65536-fc65536-fc', token 3 'fc65536': the model reaches more than 268435456 "
                       + "parameters (the limit) at this layer, which alone has 4295032832")
        XCTAssertTrue(message("c8k3p30000-flatten-fc").contains(
            "token 1 'c8k3p30000': one sample needs more than 134217728 floats of layer outputs and scratch (the limit)"))
        XCTAssertEqual(message("flatten-fc", [1, 65536, 65536]),
                       "model input 1x65536x65536 is 4294967296 values per sample, above the limit of 134217728")
        XCTAssertEqual(message("flatten-fc", [1, 8, 70000]),
                       "model input shape must be [channels, height, width], each between 1 and 65536, got [1, 8, 70000]")
        XCTAssertEqual(message("flatten-fc", classes: 70000), "model needs between 1 and 65536 classes, got 70000")
    }

    /// Sizes whose products do not fit in an Int give an error, not an overflow trap.
    func testOverflowingSizesSaturate() {
        XCTAssertNil(ModelLimits.elements([1 << 40, 1 << 40]))
        XCTAssertEqual(ModelLimits.elements([3, 4, 5]), 60)
        XCTAssertThrowsError(try ModelSpec.layers(for: "c65536k65536p65536-flatten-fc", input: .map(channels: 65536, height: 1, width: 1),
                                                  classes: 10)) { error in
            XCTAssertTrue((error as? ModelError)?.message.contains("(the limit)") == true, "\(error)")
        }
    }
}
