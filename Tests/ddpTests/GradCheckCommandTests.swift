import XCTest

/// `ddp gradcheck --layer TOKEN` from the outside: how a new layer gets checked by naming it.
final class GradCheckCommandTests: XCTestCase {
    func testOneLayerByItsTokenPrintsTheTableAndPasses() throws {
        let out = try DDPBinary.run(["gradcheck", "--layer", "c8k3p1"])
        XCTAssertEqual(out.status, 0, out.stdout + out.stderr)
        let lines = out.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first, "gradient check of layer c8k3p1 on a random 2x3x8x8 batch (tolerance 0.01)")
        XCTAssertTrue(lines.contains { $0.hasPrefix("layer") && $0.contains("input err  param err") }, out.stdout)
        let row = try XCTUnwrap(lines.first { $0.hasPrefix("c8k3p1 ") }, out.stdout)
        XCTAssertTrue(row.contains(" pass ") && row.hasSuffix("Conv2d(3->8, 3x3, s1, p1)"), row)
        XCTAssertEqual(lines.last, "all 1 checks pass")
    }

    func testAFlatOnlyLayerGetsFlatFeatures() throws {
        let out = try DDPBinary.run(["gradcheck", "--layer", "fc10"])
        XCTAssertEqual(out.status, 0, out.stdout + out.stderr)
        XCTAssertTrue(out.stdout.contains("on a random 2x192 batch") && out.stdout.contains("Linear(192->10)"), out.stdout)
    }

    func testAFailingCheckExitsWithStatus2() throws {
        // No Float32 finite difference agrees with backward to 1e-9: every comparison fails.
        let out = try DDPBinary.run(["gradcheck", "--layer", "c8k3p1", "--tolerance", "1e-9"])
        XCTAssertEqual(out.status, 2, out.stdout + out.stderr)
        XCTAssertTrue(out.stdout.contains("1 of 1 checks FAIL: c8k3p1"), out.stdout)
    }

    func testAnUnknownTokenIsRefusedWithTheGrammar() throws {
        let out = try DDPBinary.run(["gradcheck", "--layer", "zz"])
        XCTAssertNotEqual(out.status, 0)
        XCTAssertTrue(out.stderr.contains("layer token 'zz'") && out.stderr.contains("expected c<out>"), out.stderr)
    }
}
