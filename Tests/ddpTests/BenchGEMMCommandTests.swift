import XCTest

/// `ddp bench gemm`: runs both kernels (the baseline in a child process) and reports
/// consistent rows; bad flags end in one clear line.
final class BenchGEMMCommandTests: XCTestCase {
    func testJSONRowsCompareRunningAndBaselineKernels() throws {
        let output = try DDPBinary.run(["bench", "gemm", "--sizes", "48,33", "--batch", "1", "--threads", "1",
                                        "--min-time", "0", "--json"])
        let rows = try DDPBinary.jsonLines(output)
        XCTAssertEqual(rows.map { $0["name"] as? String },
                       ["square 48", "square 33", "conv1 fwd", "conv2 fwd", "conv2 wgrad", "conv2 dgrad", "conv4 fwd", "fc1 fwd"])
        let info = try DDPBinary.jsonLines(DDPBinary.run(["info", "--json"]))[0]
        for row in rows {
            XCTAssertEqual(row["core"] as? String, info["blas_core"] as? String)
            XCTAssertEqual(row["baseline_core"] as? String, "Prescott", "the child must run the generic kernel: \(row)")
            XCTAssertEqual(row["threads"] as? Int, 1)
            let g = try XCTUnwrap(row["gflops"] as? Double), b = try XCTUnwrap(row["baseline_gflops"] as? Double)
            XCTAssertGreaterThan(g, 0)
            XCTAssertGreaterThan(b, 0)
            XCTAssertEqual(try XCTUnwrap(row["speedup"] as? Double), g / b, accuracy: 1e-9 * g / b)
        }
        let conv2 = try XCTUnwrap(rows.first { $0["name"] as? String == "conv2 fwd" })
        XCTAssertEqual([conv2["m"], conv2["n"], conv2["k"]] as? [Int], [32, 784, 288])
        let wgrad = try XCTUnwrap(rows.first { $0["name"] as? String == "conv2 wgrad" })
        XCTAssertEqual(wgrad["trans_b"] as? Bool, true)
    }

    func testTableWithoutBaseline() throws {
        let output = try DDPBinary.run(["bench", "gemm", "--sizes", "40", "--batch", "0", "--no-baseline", "--min-time", "0"])
        XCTAssertEqual(output.status, 0, output.stderr)
        XCTAssertTrue(output.stdout.contains("square 40"), output.stdout)
        XCTAssertFalse(output.stdout.contains("speedup"), output.stdout)
    }

    func testBadFlagsFailWithOneClearLine() throws {
        for (arguments, expected) in [
            (["--sizes", "256,0"], "--sizes: '0' is not a positive integer"),
            (["--sizes", "256,,512"], "--sizes: '' is not a positive integer"),
            (["--threads", "0"], "--threads must be >= 1"),
            (["--batch=-1"], "--batch must be >= 0"),
        ] {
            let output = try DDPBinary.run(["bench", "gemm"] + arguments)
            XCTAssertNotEqual(output.status, 0, "\(arguments)")
            let firstLine = output.stderr.split(separator: "\n").first.map(String.init) ?? ""
            XCTAssertTrue(firstLine.contains(expected), "\(arguments): \(output.stderr)")
        }
    }
}
