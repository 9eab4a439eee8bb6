import Foundation
import Tensor
import XCTest

/// `DDP_KERNELS` chooses between ddp's AVX-512 kernels and the portable code, and every kernel
/// wrapper follows the one choice.
final class KernelPathTests: XCTestCase {
    func testChoiceFollowsTheCPUAndTheVariable() {
        XCTAssertEqual(KernelPath.choose(requested: nil, cpuHasAVX512: true).path, .avx512)
        XCTAssertEqual(KernelPath.choose(requested: "", cpuHasAVX512: true).path, .avx512)
        XCTAssertEqual(KernelPath.choose(requested: nil, cpuHasAVX512: false).path, .portable)
        XCTAssertEqual(KernelPath.choose(requested: "portable", cpuHasAVX512: true).path, .portable)
        XCTAssertEqual(KernelPath.choose(requested: "portable", cpuHasAVX512: false).path, .portable)
        XCTAssertEqual(KernelPath.choose(requested: "avx512", cpuHasAVX512: true).path, .avx512)
        XCTAssertNil(KernelPath.choose(requested: "portable", cpuHasAVX512: true).error)
        XCTAssertEqual(KernelPath.choose(requested: "portable", cpuHasAVX512: true).reason, "DDP_KERNELS=portable")
    }

    /// Asking for kernels the CPU lacks is refused (it would be SIGILL), as is a value that is no path.
    func testImpossibleRequestsAreErrors() throws {
        let lacking = KernelPath.choose(requested: "avx512", cpuHasAVX512: false)
        XCTAssertEqual(lacking.path, .portable)
        XCTAssertTrue(try XCTUnwrap(lacking.error).contains("this CPU has no AVX-512"))
        let typo = KernelPath.choose(requested: "avx2", cpuHasAVX512: true)
        XCTAssertEqual(try XCTUnwrap(typo.error), "DDP_KERNELS must be one of avx512, portable (got 'avx2')")
    }

    /// This process runs what its environment asks for, in every wrapper (scripts/test.sh runs
    /// the numerics tests a second time with DDP_KERNELS=portable).
    func testEveryKernelFollowsThisProcesssPath() {
        let requested = ProcessInfo.processInfo.environment[KernelPath.variable]
        XCTAssertEqual(KernelPath.current, KernelPath.choose(requested: requested, cpuHasAVX512: KernelPath.cpuHasAVX512).path)
        if requested == "portable" { XCTAssertEqual(KernelPath.current, .portable) }
        let avx512 = KernelPath.usesAVX512
        XCTAssertEqual(SGDKernel.isAvailable, avx512)
        XCTAssertEqual(MaxPoolKernel.isAvailable, avx512)
        XCTAssertEqual(BatchNormKernel.isAvailable, avx512)
        if !avx512 { XCTAssertFalse(DirectConvolution.isAvailable) }
        XCTAssertTrue(KernelPath.describe().hasPrefix(KernelPath.current.rawValue + ": "), KernelPath.describe())
    }
}
