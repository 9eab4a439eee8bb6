import CBLAS
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How many BLAS threads to use and why; `threads == nil` means the user's environment already
/// told OpenBLAS (it reads OPENBLAS_NUM_THREADS and friends when it loads).
public struct BLASThreadPlan: Equatable, Sendable {
    public var threads: Int?
    public var source: String
}

/// OpenBLAS as this process runs it: the kernel ("core") check and correction at start-up,
/// its verification, and the thread count.
///
/// Why: Debian's OpenBLAS 0.3.21 (DYNAMIC_ARCH) picks its kernel when the library loads, before
/// `main`, from the CPU model number. On CPUs newer than its tables (e.g. Xeon family 6 model 207
/// with AVX-512) it silently falls back to the generic "Prescott" kernel: about 25 GFLOP/s per
/// core for sgemm instead of about 140 with SkylakeX. The only way to change the kernel is the
/// OPENBLAS_CORETYPE variable read at load time, so `prepareProcess` sets it and re-executes
/// the binary before anything else (in particular before MPI_Init) happens.
///
/// Environment: OPENBLAS_CORETYPE set by the user always wins; DDP_BLAS_AUTOCORE=0 turns the
/// correction off; DDP_BLAS_CORRECTION is ddp's own marker between a process and its re-exec
/// ("corrected:FROM:TO" or "fellback:FROM:TO") so it never loops.
public enum BLASRuntime {
    public static let coreTypeVariable = "OPENBLAS_CORETYPE"
    public static let autoCoreVariable = "DDP_BLAS_AUTOCORE"
    public static let markerVariable = "DDP_BLAS_CORRECTION"
    /// In OpenBLAS's own order of precedence.
    public static let threadVariables = ["OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"]
    /// Ranks on this node, as Open MPI (and MPICH) tell each rank.
    public static let localRanksVariables = ["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"]
    /// Open MPI sets this to 1 in a rank it bound to CPUs of its own (`--bind-to core`, ...).
    public static let boundAtLaunchVariable = "OMPI_MCA_orte_bound_at_launch"

    /// Bound on `BLASVerification.maxError`. Rounding alone gives at most k * 2^-24 = 4.4e-6
    /// for k = 73 (and typically ~1e-7); a wrong kernel (lost block, wrong stride or
    /// transpose) gives errors of order 0.1 to 1. 1e-4 sits between with room on both sides.
    public static let verificationTolerance = 1e-4

    // Set once by `prepareProcess` on the main thread before anything else runs; later only
    // `setThreads` (also start-up, from the command line) writes it.
    nonisolated(unsafe) private static var prepared: BLASStatus?

    /// The kernel, its story and the threads; meaningful (unverified) even if
    /// `prepareProcess` never ran, e.g. inside a test process.
    public static var status: BLASStatus { prepared ?? unpreparedStatus() }

    /// One line for a start banner, e.g.
    /// "OpenBLAS 0.3.21, core SkylakeX (auto-corrected from Prescott, verified), 2 threads (cores/local ranks = 2/1)".
    public static func describe() -> String {
        let s = status
        return "\(s.libraryVersion), core \(s.coreSummary), \(s.threads) thread\(s.threads == 1 ? "" : "s") (\(s.threadsSource))"
    }

    /// The core name OpenBLAS runs, e.g. "Prescott".
    public static var runningCore: String { String(cString: openblas_get_corename()) }

    /// OpenBLAS's build configuration string.
    public static var config: String { String(cString: openblas_get_config()) }

    /// The threads ddp computes with: its own kernels split their work over them, and `GEMM`
    /// splits every product over them, each part on one OpenBLAS thread. OpenBLAS itself is set
    /// to one thread: its idle workers spin for a long while after every call (about 0.1 s), and
    /// between calls they took the cores from ddp's threads (15% of the CPU at 2 threads,
    /// measured). Starts at what OpenBLAS chose (its default or the user's OPENBLAS_NUM_THREADS).
    public static var threads: Int { computeThreads }

    nonisolated(unsafe) private static var computeThreads: Int = takeOverThreads()

    /// OpenBLAS's own choice of threads, which ddp takes over (OpenBLAS goes down to one).
    private static func takeOverThreads() -> Int {
        let n = max(1, Int(openblas_get_num_threads()))
        openblas_set_num_threads(1)
        return n
    }

    /// Sets the thread count (an explicit `--threads` beats every default and variable);
    /// `source` says where the number came from, for `describe()`.
    public static func setThreads(_ n: Int, source: String = "--threads") {
        precondition(n >= 1, "BLAS thread count must be at least 1, got \(n)")
        takeThreads(n)
        var s = status
        s.threads = n
        s.threadsSource = source
        prepared = s
    }

    private static func takeThreads(_ n: Int) {
        _ = computeThreads  // OpenBLAS's own choice is read (and replaced by one) first
        computeThreads = n
    }

    // MARK: Start-up

    /// Call first thing in `main`, before MPI_Init and before any BLAS call.
    ///
    /// If OpenBLAS picked a kernel weaker than the CPU supports (and the user set no
    /// OPENBLAS_CORETYPE and did not opt out), sets OPENBLAS_CORETYPE and re-executes
    /// /proc/self/exe with the same `arguments`; this call then never returns in the original
    /// process. Then sets the default thread count and verifies the running kernel on a small
    /// product; if a kernel ddp chose fails (or dies on an illegal instruction), warns on
    /// stderr and re-executes once more without the override.
    public static func prepareProcess(arguments: [String], verify: () -> BLASVerification) {
        let environment = environmentSnapshot()
        let cpu = CPUInfo.current()
        var decision = decide(reportedCore: runningCore, cpu: cpu, environment: environment)

        if case .override(let from, let to) = decision {
            setenv(coreTypeVariable, to, 1)
            setenv(markerVariable, "corrected:\(from):\(to)", 1)
            let err = ProcessRestart.reexec(arguments)
            warn("ddp: warning: could not restart with OPENBLAS_CORETYPE=\(to) (\(errnoText(err))); keeping \(from)")
            unsetenv(coreTypeVariable)
            unsetenv(markerVariable)
            decision = .keep(reason: "re-exec failed")
        }

        let plan = planThreads(cpu: cpu, environment: environment)
        if let n = plan.threads { takeThreads(n) }

        let check: BLASVerification
        if case .corrected(let from, let to) = decision {
            check = verifyChosenKernel(from: from, to: to, arguments: arguments, verify: verify)
        } else {
            check = verify()
            if !check.passed {
                warn("ddp: warning: OpenBLAS core \(runningCore) fails the start-up sgemm check (scaled error \(check.maxError) > \(verificationTolerance) in \(check.worstCase)); results may be wrong")
            }
        }

        var s = unpreparedStatus()
        s.threadsSource = plan.source
        s.verified = check.passed
        s.verifyMaxError = check.maxError
        switch decision {
        case .keep, .override:
            break
        case .userSet:
            s.userSet = true
        case .optedOut:
            s.autoCoreDisabled = true
        case .corrected(let from, _):
            s.corrected = true
            s.originalCore = from
            s.userSet = false
        case .fellBack(let from, let attempted):
            s.fellBack = true
            s.originalCore = from
            s.attemptedCore = attempted
        }
        prepared = s
    }


    /// The start-up decision as a pure function of what OpenBLAS reports, the CPU, and the
    /// environment (only the variables named on `BLASRuntime` matter).
    public static func decide(reportedCore: String, cpu: CPUInfo, environment: [String: String]) -> BLASCoreDecision {
        let userCore = environment[coreTypeVariable]
        // The marker only counts if the environment still looks the way ddp left it; anything
        // else means the user changed OPENBLAS_CORETYPE since, and the user wins.
        if let marker = environment[markerVariable] {
            let parts = marker.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            if parts.count == 3, !parts[1].isEmpty, !parts[2].isEmpty {
                if parts[0] == "corrected", let set = userCore, set.lowercased() == parts[2].lowercased() {
                    return .corrected(from: parts[1], to: parts[2])
                }
                if parts[0] == "fellback", userCore == nil {
                    return .fellBack(from: parts[1], attempted: parts[2])
                }
            }
        }
        if let core = userCore { return .userSet(core: core) }
        if let off = environment[autoCoreVariable], ["0", "false", "no", "off"].contains(off.lowercased()) {
            return .optedOut
        }
        guard let running = BLASKernelLevel(coreName: reportedCore) else {
            return .keep(reason: "OpenBLAS core \(reportedCore) is not one ddp ranks")
        }
        let capable = BLASKernelLevel(cpu: cpu)
        guard running < capable, let target = capable.selectedCore(vendor: cpu.vendor) else {
            return .keep(reason: "\(reportedCore) (\(running)) matches the CPU (\(capable))")
        }
        return .override(from: reportedCore, to: target)
    }

    /// Default BLAS threads: the user's OPENBLAS_NUM_THREADS / GOTO_NUM_THREADS /
    /// OMP_NUM_THREADS if set. Otherwise the CPUs this process may use (its affinity mask:
    /// all cores, or the cpuset a scheduler such as SLURM gave the job), split over the ranks
    /// on this node, which share them; a rank mpirun bound to a CPU set uses that set, up to
    /// its share of the node's cores. `ranksInProcess` ranks run as threads of this process
    /// (`--local-ranks`) and share its CPUs.
    public static func planThreads(cpu: CPUInfo, environment: [String: String], ranksInProcess: Int = 1) -> BLASThreadPlan {
        for name in threadVariables {
            if let value = environment[name], let n = Int(value), n > 0 {
                return BLASThreadPlan(threads: nil, source: "\(name)=\(n) (user)")
            }
        }
        // The affinity mask counts logical CPUs; hyperthreads do not count as cores for BLAS.
        let usable = max(1, min(cpu.cores, cpu.allowedCPUs * cpu.cores / max(1, cpu.logicalCPUs)))
        let processes = localRanksVariables.lazy.compactMap { environment[$0].flatMap { Int($0) } }.first { $0 > 0 } ?? 1
        let inProcess = max(1, ranksInProcess), localRanks = processes * inProcess
        if environment[boundAtLaunchVariable] == "1" {
            // A bound set may still be shared (--bind-to socket), so never above the node's share.
            let threads = max(1, min(usable / inProcess, cpu.cores / localRanks))
            return BLASThreadPlan(threads: threads, source: "CPUs bound to this rank = \(usable), local ranks = \(localRanks)")
        }
        let threads = max(1, usable / localRanks)
        let source = usable < cpu.cores
            ? "allowed CPUs/local ranks = \(usable)/\(localRanks) (of \(cpu.cores) cores)"
            : "cores/local ranks = \(usable)/\(localRanks)"
        return BLASThreadPlan(threads: threads, source: source)
    }

    /// Verification of a kernel ddp chose. While it runs, the environment already says
    /// "fell back" and an illegal-instruction handler stands ready, so a kernel the CPU cannot
    /// execute restarts the process with OpenBLAS's own choice instead of killing it.
    private static func verifyChosenKernel(from: String, to: String, arguments: [String],
                                           verify: () -> BLASVerification) -> BLASVerification {
        setenv(markerVariable, "fellback:\(from):\(to)", 1)
        unsetenv(coreTypeVariable)
        let check = ProcessRestart.onIllegalInstruction(arguments: arguments, run: verify)
        if !check.passed {
            warn("ddp: warning: OpenBLAS core \(to) gives wrong sgemm results (scaled error \(check.maxError) > \(verificationTolerance) in \(check.worstCase)); restarting with OpenBLAS's own choice \(from)")
            let err = ProcessRestart.reexec(arguments)
            warn("ddp: warning: could not restart (\(errnoText(err))); continuing with the failing core \(to)")
        }
        setenv(coreTypeVariable, to, 1)
        setenv(markerVariable, "corrected:\(from):\(to)", 1)
        return check
    }

    // MARK: Helpers

    private static func unpreparedStatus() -> BLASStatus {
        BLASStatus(
            coreName: runningCore, corrected: false, originalCore: nil, attemptedCore: nil,
            fellBack: false, userSet: getenv(coreTypeVariable) != nil, autoCoreDisabled: false,
            verified: false, verifyMaxError: nil, threads: threads,
            threadsSource: "OpenBLAS default", config: config)
    }

    private static func environmentSnapshot() -> [String: String] {
        var environment: [String: String] = [:]
        for name in [coreTypeVariable, autoCoreVariable, markerVariable, boundAtLaunchVariable] + threadVariables + localRanksVariables {
            if let value = getenv(name) { environment[name] = String(cString: value) }
        }
        return environment
    }

    private static func warn(_ line: String) {
        fputs(line + "\n", stderr)
    }

    private static func errnoText(_ err: Int32) -> String { String(cString: strerror(err)) }
}
