@testable import Platform
import XCTest

/// The kernel decision as a pure function, the thread plan, the /proc/cpuinfo parser and the
/// status lines.
final class BLASRuntimeTests: XCTestCase {
    // MARK: Fixtures

    private static let avx512Flags: Set<String> = [
        "sse4_2", "avx", "avx2", "fma", "avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl",
        "avx512_bf16", "amx_tile",
    ]
    private static let avx2Flags: Set<String> = ["sse4_2", "avx", "avx2", "fma"]

    private func cpu(_ flags: Set<String>, vendor: String = "GenuineIntel", cores: Int = 2,
                     logical: Int? = nil, allowed: Int? = nil) -> CPUInfo {
        CPUInfo(modelName: "test", vendor: vendor, family: 6, model: 207, logicalCPUs: logical ?? cores,
                physicalCores: cores, allowedCPUs: allowed ?? logical ?? cores, flags: flags, source: "test")
    }

    // MARK: Kernel decision

    func testGenericKernelOnAVX512CPUIsOverriddenToSkylakeX() {
        XCTAssertEqual(BLASRuntime.decide(reportedCore: "Prescott", cpu: cpu(Self.avx512Flags), environment: [:]),
                       .override(from: "Prescott", to: "SkylakeX"))
        // Haswell is still weaker than an AVX-512 CPU supports.
        XCTAssertEqual(BLASRuntime.decide(reportedCore: "Haswell", cpu: cpu(Self.avx512Flags), environment: [:]),
                       .override(from: "Haswell", to: "SkylakeX"))
        // Anything the user does not opt out with still corrects.
        XCTAssertEqual(BLASRuntime.decide(reportedCore: "Prescott", cpu: cpu(Self.avx512Flags),
                                          environment: ["DDP_BLAS_AUTOCORE": "1"]),
                       .override(from: "Prescott", to: "SkylakeX"))
    }

    func testAVX2CPUsGetHaswellOrZenByVendor() {
        XCTAssertEqual(BLASRuntime.decide(reportedCore: "Prescott", cpu: cpu(Self.avx2Flags), environment: [:]),
                       .override(from: "Prescott", to: "Haswell"))
        XCTAssertEqual(BLASRuntime.decide(reportedCore: "Prescott", cpu: cpu(Self.avx2Flags, vendor: "AuthenticAMD"), environment: [:]),
                       .override(from: "Prescott", to: "Zen"))
        XCTAssertEqual(BLASRuntime.decide(reportedCore: "Sandybridge", cpu: cpu(Self.avx2Flags), environment: [:]),
                       .override(from: "Sandybridge", to: "Haswell"))
        XCTAssertEqual(BLASRuntime.decide(reportedCore: "Nehalem", cpu: cpu(["avx"]), environment: [:]),
                       .override(from: "Nehalem", to: "Sandybridge"))
    }

    func testAdequateOrUnrankedKernelsAreKept() {
        let cases: [(String, Set<String>)] = [
            ("SkylakeX", Self.avx512Flags), ("Cooperlake", Self.avx512Flags), ("skylakex", Self.avx512Flags),
            ("Haswell", Self.avx2Flags), ("Zen", Self.avx2Flags),
            ("Prescott", ["sse2", "sse3"]),                 // old CPU: generic is right
            ("Prescott", []),                                // no /proc/cpuinfo: do not guess
            ("Haswell", ["avx2"]),                           // AVX2 without FMA is not Haswell-capable
            ("NEOVERSEN1", ["asimd", "fp"]),                 // other architecture
            ("GraniteRapids", Self.avx512Flags),             // a newer OpenBLAS knows better
        ]
        for (core, flags) in cases {
            guard case .keep = BLASRuntime.decide(reportedCore: core, cpu: cpu(flags), environment: [:]) else {
                XCTFail("\(core) on \(flags.sorted()) should be kept")
                continue
            }
        }
        // AVX-512F alone (no BW/VL/DQ/CD) is not enough for the SkylakeX kernels: AVX2 it is.
        XCTAssertEqual(BLASRuntime.decide(reportedCore: "Prescott", cpu: cpu(["avx512f", "avx2", "fma", "avx"]), environment: [:]),
                       .override(from: "Prescott", to: "Haswell"))
    }

    func testUserSettingAlwaysWins() {
        for value in ["Haswell", "Prescott", "SkylakeX", "nonsense", ""] {
            XCTAssertEqual(BLASRuntime.decide(reportedCore: "Prescott", cpu: cpu(Self.avx512Flags),
                                              environment: ["OPENBLAS_CORETYPE": value]),
                           .userSet(core: value))
        }
        // Even against an opt-out or a stale marker.
        XCTAssertEqual(BLASRuntime.decide(reportedCore: "Haswell", cpu: cpu(Self.avx512Flags),
                                          environment: ["OPENBLAS_CORETYPE": "Haswell", "DDP_BLAS_AUTOCORE": "0",
                                                        "DDP_BLAS_CORRECTION": "corrected:Prescott:SkylakeX"]),
                       .userSet(core: "Haswell"))
        XCTAssertEqual(BLASRuntime.decide(reportedCore: "Haswell", cpu: cpu(Self.avx512Flags),
                                          environment: ["OPENBLAS_CORETYPE": "Haswell",
                                                        "DDP_BLAS_CORRECTION": "fellback:Prescott:SkylakeX"]),
                       .userSet(core: "Haswell"))
    }

    func testOptOut() {
        for value in ["0", "false", "OFF", "no"] {
            XCTAssertEqual(BLASRuntime.decide(reportedCore: "Prescott", cpu: cpu(Self.avx512Flags),
                                              environment: ["DDP_BLAS_AUTOCORE": value]), .optedOut, value)
        }
    }

    func testMarkerMakesTheReexecTerminate() {
        let flags = cpu(Self.avx512Flags)
        // The re-executed process recognises its own correction (case-insensitively) ...
        XCTAssertEqual(BLASRuntime.decide(reportedCore: "SkylakeX", cpu: flags,
                                          environment: ["OPENBLAS_CORETYPE": "SkylakeX",
                                                        "DDP_BLAS_CORRECTION": "corrected:Prescott:SkylakeX"]),
                       .corrected(from: "Prescott", to: "SkylakeX"))
        XCTAssertEqual(BLASRuntime.decide(reportedCore: "SkylakeX", cpu: flags,
                                          environment: ["OPENBLAS_CORETYPE": "skylakex",
                                                        "DDP_BLAS_CORRECTION": "corrected:Prescott:SkylakeX"]),
                       .corrected(from: "Prescott", to: "SkylakeX"))
        // ... and after a failed verification it runs the weak kernel rather than loop.
        XCTAssertEqual(BLASRuntime.decide(reportedCore: "Prescott", cpu: flags,
                                          environment: ["DDP_BLAS_CORRECTION": "fellback:Prescott:SkylakeX"]),
                       .fellBack(from: "Prescott", attempted: "SkylakeX"))
        // A marker that no longer matches the environment, or garbage, is ignored.
        for marker in ["corrected:Prescott:SkylakeX", "fellback::", "corrected:Prescott", "junk", ""] {
            XCTAssertEqual(BLASRuntime.decide(reportedCore: "Prescott", cpu: flags,
                                              environment: ["DDP_BLAS_CORRECTION": marker]),
                           .override(from: "Prescott", to: "SkylakeX"), marker)
        }
    }

    func testKernelLevels() {
        XCTAssertEqual(BLASKernelLevel(coreName: "PRESCOTT"), .generic)
        XCTAssertEqual(BLASKernelLevel(coreName: "Sandybridge"), .avx)
        XCTAssertEqual(BLASKernelLevel(coreName: "Zen"), .avx2)
        XCTAssertEqual(BLASKernelLevel(coreName: "SapphireRapids"), .avx512)
        XCTAssertNil(BLASKernelLevel(coreName: "ARMV8"))
        XCTAssertEqual(BLASKernelLevel(cpu: cpu(Self.avx512Flags)), .avx512)
        XCTAssertEqual(BLASKernelLevel(cpu: cpu(Self.avx2Flags)), .avx2)
        XCTAssertEqual(BLASKernelLevel(cpu: cpu(["avx", "fma"])), .avx)
        XCTAssertEqual(BLASKernelLevel(cpu: cpu([])), .generic)
        XCTAssertLessThan(BLASKernelLevel.generic, .avx512)
    }

    // MARK: Threads

    func testThreadPlan() {
        func plan(_ c: CPUInfo, _ env: [String: String]) -> BLASThreadPlan { BLASRuntime.planThreads(cpu: c, environment: env) }
        XCTAssertEqual(plan(cpu([], cores: 2), [:]).threads, 2)
        XCTAssertEqual(plan(cpu([], cores: 2), ["OMPI_COMM_WORLD_LOCAL_SIZE": "4"]).threads, 1)
        XCTAssertEqual(plan(cpu([], cores: 8), ["OMPI_COMM_WORLD_LOCAL_SIZE": "2"]).threads, 4)
        XCTAssertEqual(plan(cpu([], cores: 8), ["MPI_LOCALNRANKS": "3"]).threads, 2)
        // Hyperthreads do not count as cores for BLAS.
        XCTAssertEqual(plan(cpu([], cores: 4, logical: 8), [:]).threads, 4)
        // mpirun bound each rank to a CPU set: a rank uses its set, up to its share of the node
        // (--bind-to socket gives ranks one shared set).
        let bound = ["OMPI_COMM_WORLD_LOCAL_SIZE": "2", "OMPI_MCA_orte_bound_at_launch": "1"]
        XCTAssertEqual(plan(cpu([], cores: 8, allowed: 1), bound).threads, 1)
        XCTAssertEqual(plan(cpu([], cores: 8, allowed: 3), bound).threads, 3)
        XCTAssertEqual(plan(cpu([], cores: 8, allowed: 8), bound).threads, 4)
        XCTAssertEqual(plan(cpu([], cores: 8, allowed: 3), bound).source, "CPUs bound to this rank = 3, local ranks = 2")
        // Unbound ranks share what the job may use: a cpuset of 16 of 64 cores, 2 ranks -> 8 each.
        let cpuset = plan(cpu([], cores: 64, allowed: 16), ["OMPI_COMM_WORLD_LOCAL_SIZE": "2"])
        XCTAssertEqual(cpuset.threads, 8)
        XCTAssertEqual(cpuset.source, "allowed CPUs/local ranks = 16/2 (of 64 cores)")
        XCTAssertEqual(plan(cpu([], cores: 8, allowed: 1), ["OMPI_COMM_WORLD_LOCAL_SIZE": "2"]).threads, 1)
        // A cpuset of 8 hyperthreads is 4 cores' worth.
        XCTAssertEqual(plan(cpu([], cores: 8, logical: 16, allowed: 8), [:]).threads, 4)
        // The user's variables win, in OpenBLAS's order; nonsense is ignored.
        let user = plan(cpu([], cores: 8), ["OMP_NUM_THREADS": "3", "OPENBLAS_NUM_THREADS": "5"])
        XCTAssertNil(user.threads)
        XCTAssertEqual(user.source, "OPENBLAS_NUM_THREADS=5 (user)")
        XCTAssertNil(plan(cpu([], cores: 8), ["OMP_NUM_THREADS": "3"]).threads)
        XCTAssertEqual(plan(cpu([], cores: 8), ["OPENBLAS_NUM_THREADS": "abc", "OMPI_COMM_WORLD_LOCAL_SIZE": "0"]).threads, 8)
        // Ranks as threads of one process (--local-ranks) share its CPUs like ranks on the node,
        // and the user's variables still win over the split.
        func local(_ c: CPUInfo, _ env: [String: String], _ ranks: Int) -> BLASThreadPlan {
            BLASRuntime.planThreads(cpu: c, environment: env, ranksInProcess: ranks)
        }
        XCTAssertEqual(local(cpu([], cores: 8), [:], 2).threads, 4)
        XCTAssertEqual(local(cpu([], cores: 8), [:], 2).source, "cores/local ranks = 8/2")
        XCTAssertEqual(local(cpu([], cores: 8), ["OMPI_COMM_WORLD_LOCAL_SIZE": "2"], 2).threads, 2)
        XCTAssertEqual(local(cpu([], cores: 64, allowed: 16), [:], 4).threads, 4)
        XCTAssertEqual(local(cpu([], cores: 8, allowed: 4), bound, 2).threads, 2)
        XCTAssertEqual(local(cpu([], cores: 2), [:], 8).threads, 1)
        XCTAssertNil(local(cpu([], cores: 8), ["OPENBLAS_NUM_THREADS": "3"], 2).threads)
    }

    // MARK: /proc/cpuinfo

    func testParsesProcCpuinfo() {
        let text = """
            processor\t: 0
            vendor_id\t: GenuineIntel
            cpu family\t: 6
            model\t\t: 207
            model name\t: Intel(R) Xeon(R) Processor
            physical id\t: 0
            core id\t\t: 0
            flags\t\t: fpu sse2 avx avx2 fma avx512f avx512_bf16

            processor\t: 1
            vendor_id\t: GenuineIntel
            model name\t: Intel(R) Xeon(R) Processor
            physical id\t: 0
            core id\t\t: 0
            flags\t\t: fpu sse2 avx avx2 fma avx512f avx512_bf16

            processor\t: 2
            physical id\t: 1
            core id\t\t: 0
            flags\t\t: fpu

            """
        let info = CPUInfo.parse(cpuinfo: text, onlineCPUs: 3, allowedCPUs: 8)
        XCTAssertEqual(info.modelName, "Intel(R) Xeon(R) Processor")
        XCTAssertEqual(info.vendor, "GenuineIntel")
        XCTAssertEqual(info.family, 6)
        XCTAssertEqual(info.model, 207)
        XCTAssertEqual(info.logicalCPUs, 3)
        XCTAssertEqual(info.physicalCores, 2, "processors 0 and 1 are hyperthreads of one core")
        XCTAssertEqual(info.allowedCPUs, 3, "capped by the logical count")
        XCTAssertEqual(info.flags, ["fpu", "sse2", "avx", "avx2", "fma", "avx512f", "avx512_bf16"],
                       "flags come from the first block")
        XCTAssertEqual(info.relevantFlagStates.filter(\.present).map(\.flag), ["avx", "avx2", "fma", "avx512f", "avx512_bf16"])

        let arm = CPUInfo.parse(cpuinfo: "processor\t: 0\nFeatures\t: fp asimd\n\nprocessor\t: 1\nFeatures\t: fp asimd\n",
                                onlineCPUs: 2, allowedCPUs: 2)
        XCTAssertEqual(arm.modelName, "unknown")
        XCTAssertEqual(arm.flags, ["fp", "asimd"])
        XCTAssertNil(arm.physicalCores)
        XCTAssertEqual(arm.cores, 2)
    }

    func testCPUListCount() {
        XCTAssertEqual(CPUInfo.countCPUList("0-3,8,10-11"), 7)
        XCTAssertEqual(CPUInfo.countCPUList("5"), 1)
        XCTAssertNil(CPUInfo.countCPUList(""))
        XCTAssertNil(CPUInfo.countCPUList("3-1"))
        XCTAssertNil(CPUInfo.countCPUList("a-b"))
    }

    func testCurrentCPUIsSane() {
        let info = CPUInfo.current()
        XCTAssertGreaterThanOrEqual(info.logicalCPUs, 1)
        XCTAssertGreaterThanOrEqual(info.allowedCPUs, 1)
        XCTAssertLessThanOrEqual(info.allowedCPUs, info.logicalCPUs)
        XCTAssertLessThanOrEqual(info.cores, info.logicalCPUs)
    }

    // MARK: Status

    func testStatusSummaries() {
        var s = BLASStatus(coreName: "SkylakeX", corrected: true, originalCore: "Prescott", attemptedCore: nil,
                           fellBack: false, userSet: false, autoCoreDisabled: false, verified: true,
                           verifyMaxError: 1e-7, threads: 2, threadsSource: "x",
                           config: "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH")
        XCTAssertEqual(s.coreSummary, "SkylakeX (auto-corrected from Prescott, verified)")
        XCTAssertEqual(s.libraryVersion, "OpenBLAS 0.3.21")
        s = BLASStatus(coreName: "Prescott", corrected: false, originalCore: "Prescott", attemptedCore: "SkylakeX",
                       fellBack: true, userSet: false, autoCoreDisabled: false, verified: true,
                       verifyMaxError: 1e-7, threads: 1, threadsSource: "x", config: "")
        XCTAssertEqual(s.coreSummary, "Prescott (correction to SkylakeX failed verification; fell back, verified)")
        s = BLASStatus(coreName: "Haswell", corrected: false, originalCore: nil, attemptedCore: nil,
                       fellBack: false, userSet: true, autoCoreDisabled: false, verified: false,
                       verifyMaxError: 0.5, threads: 1, threadsSource: "x", config: "")
        XCTAssertEqual(s.coreSummary, "Haswell (user-set OPENBLAS_CORETYPE, FAILED verification, scaled error 0.5)")
    }

    func testSetThreads() {
        let before = BLASRuntime.status.threads
        defer { BLASRuntime.setThreads(before) }
        BLASRuntime.setThreads(1)
        XCTAssertEqual(BLASRuntime.status.threads, 1)
        XCTAssertEqual(BLASRuntime.status.threadsSource, "--threads")
        XCTAssertTrue(BLASRuntime.describe().contains("1 thread (--threads)"), BLASRuntime.describe())
    }
}
