import Platform
import Tensor
import XCTest

/// `ddp info` from the outside: the BLAS kernel the binary ends up with after its start-up
/// check, for a clean environment, a user's OPENBLAS_CORETYPE, the opt-out and the
/// fell-back marker, and the thread default.
final class InfoCommandTests: XCTestCase {
    private func info(_ environment: [String: String] = [:]) throws -> [String: Any] {
        let lines = try DDPBinary.jsonLines(DDPBinary.run(["info", "--json"], environment: environment))
        XCTAssertEqual(lines.count, 1)
        return try XCTUnwrap(lines.first)
    }

    /// OpenBLAS's own choice on this machine, as the binary sees it with correction off.
    private func libraryChoice() throws -> String {
        try XCTUnwrap(info(["DDP_BLAS_AUTOCORE": "0"])["blas_core"] as? String)
    }

    func testReportsAVerifiedCoreAndCorrectsAWeakOne() throws {
        let own = try libraryChoice()
        let report = try info()
        XCTAssertEqual(report["blas_verified"] as? Bool, true, "\(report)")
        XCTAssertLessThan(try XCTUnwrap(report["blas_verify_max_error"] as? Double), BLASRuntime.verificationTolerance)
        XCTAssertEqual(report["blas_user_set"] as? Bool, false)
        XCTAssertEqual(report["blas_fell_back"] as? Bool, false)
        // What the binary should have done, by the same pure decision the unit tests cover.
        switch BLASRuntime.decide(reportedCore: own, cpu: CPUInfo.current(), environment: [:]) {
        case .override(let from, let to):
            XCTAssertEqual(report["blas_corrected"] as? Bool, true, "\(report)")
            XCTAssertEqual(report["blas_original_core"] as? String, from)
            XCTAssertEqual((report["blas_core"] as? String)?.lowercased(), to.lowercased())
            XCTAssertEqual(report["blas_core_summary"] as? String, "\(report["blas_core"]!) (auto-corrected from \(from), verified)")
        case .keep:
            XCTAssertEqual(report["blas_corrected"] as? Bool, false, "\(report)")
            XCTAssertEqual(report["blas_core"] as? String, own)
        case let other:
            XCTFail("a clean environment cannot lead to \(other)")
        }
        // The rest of the report is there and typed.
        XCTAssertTrue((report["mpi_library"] as? String)?.isEmpty == false)
        XCTAssertEqual(report["ranks"] as? Int, 1)
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(report["blas_threads"] as? Int), 1)
        XCTAssertTrue((report["blas_config"] as? String)?.hasPrefix("OpenBLAS") == true)
        let flags = try XCTUnwrap(report["cpu_flags"] as? [String: Bool])
        XCTAssertEqual(Set(flags.keys), Set(CPUInfo.relevantFlags))
    }

    /// The convolutions line follows the CPU and DDP_CONV.
    func testConvolutionKernelsFollowTheCPUAndTheSwitch() throws {
        let direct = try XCTUnwrap(info()["convolutions"] as? String)
        let forced = try XCTUnwrap(info(["DDP_CONV": "im2col"])["convolutions"] as? String)
        if DirectConvolution.isAvailable {
            XCTAssertTrue(direct.hasPrefix("direct AVX-512 kernels"), direct)
            XCTAssertEqual(forced, "im2col + BLAS (DDP_CONV=im2col)")
        } else {
            XCTAssertTrue(direct.hasPrefix("im2col + BLAS"), direct)
            XCTAssertTrue(forced.hasPrefix("im2col + BLAS"), forced)
        }
    }

    /// The kernels line follows the CPU and DDP_KERNELS; a value the CPU cannot honour is one line.
    func testKernelPathFollowsTheCPUAndTheSwitch() throws {
        let auto = try XCTUnwrap(info()["kernels"] as? String)
        XCTAssertTrue(auto.hasPrefix(KernelPath.cpuHasAVX512 ? "avx512: " : "portable: "), auto)
        let portable = try info(["DDP_KERNELS": "portable"])
        XCTAssertEqual(portable["kernels"] as? String, "portable: im2col + BLAS and Swift loops (DDP_KERNELS=portable)")
        XCTAssertEqual(portable["convolutions"] as? String, "im2col + BLAS (portable kernel path)")
        let typo = try DDPBinary.run(["info"], environment: ["DDP_KERNELS": "avx2"])
        XCTAssertEqual(typo.status, 64)
        XCTAssertEqual(typo.stdout, "")
        XCTAssertEqual(typo.stderr, "ddp: error: DDP_KERNELS must be one of avx512, portable (got 'avx2') (see 'ddp info --help')\n")
    }

    func testUserCoreTypeWins() throws {
        try XCTSkipUnless(BLASKernelLevel(cpu: CPUInfo.current()) >= .avx2, "needs an AVX2 CPU to run Haswell")
        let report = try info(["OPENBLAS_CORETYPE": "Haswell"])
        XCTAssertEqual(report["blas_core"] as? String, "Haswell")
        XCTAssertEqual(report["blas_user_set"] as? Bool, true)
        XCTAssertEqual(report["blas_corrected"] as? Bool, false)
        XCTAssertEqual(report["blas_verified"] as? Bool, true)
        XCTAssertEqual(report["blas_core_summary"] as? String, "Haswell (user-set OPENBLAS_CORETYPE, verified)")
    }

    func testOptOutKeepsTheLibrarysChoice() throws {
        let report = try info(["DDP_BLAS_AUTOCORE": "0"])
        XCTAssertEqual(report["blas_autocore_disabled"] as? Bool, true)
        XCTAssertEqual(report["blas_corrected"] as? Bool, false)
        XCTAssertEqual(report["blas_verified"] as? Bool, true)
    }

    func testFellBackMarkerIsNotCorrectedAgain() throws {
        let own = try libraryChoice()
        let report = try info(["DDP_BLAS_CORRECTION": "fellback:\(own):SkylakeX"])
        XCTAssertEqual(report["blas_core"] as? String, own)
        XCTAssertEqual(report["blas_fell_back"] as? Bool, true)
        XCTAssertEqual(report["blas_attempted_core"] as? String, "SkylakeX")
        XCTAssertEqual(report["blas_corrected"] as? Bool, false)
        XCTAssertEqual(report["blas_core_summary"] as? String,
                       "\(own) (correction to SkylakeX failed verification; fell back, verified)")
    }

    func testThreadsSplitCoresAcrossLocalRanksUnlessTheUserSaysOtherwise() throws {
        let cpu = CPUInfo.current()
        let env = ["OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_LOCAL_SIZE": "2", "OMPI_COMM_WORLD_RANK": "0"]
        let shared = try info(env)
        XCTAssertEqual(shared["ranks"] as? Int, 2)
        XCTAssertEqual(shared["local_ranks"] as? Int, 2)
        XCTAssertEqual(shared["blas_threads"] as? Int, max(1, min(cpu.cores / 2, cpu.allowedCPUs)))
        let user = try info(env.merging(["OPENBLAS_NUM_THREADS": "1"]) { $1 })
        XCTAssertEqual(user["blas_threads"] as? Int, 1)
        XCTAssertEqual(user["blas_threads_source"] as? String, "OPENBLAS_NUM_THREADS=1 (user)")
        // Under mpirun only rank 0 reports, unless asked.
        let rank1 = ["OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": "1"]
        XCTAssertEqual(try DDPBinary.run(["info"], environment: rank1).stdout, "")
        let all = try DDPBinary.jsonLines(DDPBinary.run(["info", "--json", "--all-ranks"], environment: rank1))
        XCTAssertEqual(all.first?["rank"] as? Int, 1)
    }

    func testTableNamesEachFact() throws {
        let output = try DDPBinary.run(["info"])
        XCTAssertEqual(output.status, 0, output.stderr)
        for label in ["MPI library", "ranks", "BLAS core", "BLAS threads", "BLAS config", "CPU", "CPU SIMD"] {
            XCTAssertTrue(output.stdout.contains(label + " "), "missing \(label) in:\n\(output.stdout)")
        }
        XCTAssertTrue(output.stdout.contains(BLASRuntime.status.libraryVersion), output.stdout)
    }

    func testHelpListsTheCommands() throws {
        let output = try DDPBinary.run(["--help"])
        XCTAssertEqual(output.status, 0)
        XCTAssertTrue(output.stdout.contains("info"))
        XCTAssertTrue(output.stdout.contains("bench"))
        let bench = try DDPBinary.run(["bench", "--help"])
        XCTAssertTrue(bench.stdout.contains("gemm"), bench.stdout)
    }
}
