import XCTest

/// `ddp bench step` from the outside: the step's phases and, with `--layers`, one row per layer
/// whose times add up to no more than the step.
final class BenchStepCommandTests: XCTestCase {
    private let tiny = ["bench", "step", "--dataset", "synthetic", "--model", "c8k3p1nb-bn-relu-mp2-flatten-fc",
                        "--batch-size", "16", "--threads", "1", "--warmup", "1", "--steps", "3"]

    func testLayersAreTimedAndAddUpToTheStep() throws {
        let rows = try DDPBinary.jsonLines(DDPBinary.run(tiny + ["--layers", "--json"]))
        XCTAssertEqual(rows.count, 1)
        let r = try XCTUnwrap(rows.first)
        let layers = try XCTUnwrap(r["layers"] as? [[String: Any]])
        XCTAssertEqual(layers.map { $0["layer"] as? String }, [
            "0: Conv2d(1->8, 3x3, s1, p1, no bias)", "1: BatchNorm2d(8) + ReLU", "2: ReLU (fused into the BatchNorm2d before)",
            "3: MaxPool2d(2x2, s2)", "4: Flatten", "5: Linear(1568->10)"])
        let times = try layers.map { (try XCTUnwrap($0["forward_s"] as? Double), try XCTUnwrap($0["backward_s"] as? Double)) }
        XCTAssertTrue(times.allSatisfy { $0.0 >= 0 && $0.1 >= 0 }, "\(times)")
        XCTAssertGreaterThan(times[0].0, 0, "the convolution's forward takes time")
        // Medians of the phases against the mean per layer: allow the spread of 3 steps.
        let forward = try XCTUnwrap(r["forward_s"] as? Double), backward = try XCTUnwrap(r["backward_s"] as? Double)
        let step = try XCTUnwrap(r["step_s"] as? Double)
        XCTAssertLessThanOrEqual(forward + backward, 1.5 * step, "\(r)")
        XCTAssertLessThanOrEqual(times.reduce(0) { $0 + $1.0 + $1.1 }, 2 * step, "\(r)")
        for key in ["data_s", "update_s"] { XCTAssertGreaterThanOrEqual(try XCTUnwrap(r[key] as? Double), 0, key) }
    }

    func testWithoutLayersThereIsNoLayerTable() throws {
        let output = try DDPBinary.run(tiny)
        XCTAssertEqual(output.status, 0, output.stderr)
        XCTAssertTrue(output.stdout.contains("compute: data"), output.stdout)
        XCTAssertFalse(output.stdout.contains("backward ms"), output.stdout)
        let layered = try DDPBinary.run(tiny + ["--layers"])
        XCTAssertTrue(layered.stdout.contains("0: Conv2d(1->8, 3x3, s1, p1, no bias)"), layered.stdout)
        XCTAssertTrue(layered.stdout.contains("all layers"), layered.stdout)
    }
}
