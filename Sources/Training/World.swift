import AllReduce
import Foundation
import Layers
import Platform
import Tensor

/// An error every rank reaches together (a collective decision), so only rank 0 reports it and
/// nobody needs to abort anybody.
public protocol CollectiveError: Error, CustomStringConvertible {}
extension TrainError: CollectiveError {}

/// A failure on some ranks that every rank has agreed on: the ranks that failed carry the reason
/// (the lowest of them prints it), the others only know that it happened.
public struct AgreedFailure: CollectiveError {
    public let description: String
    public let printHere: Bool
    public var exitCode: Int32 = 1
}

/// Starting ranks: threads in this process (`--local-ranks P`), MPI processes (under mpirun), or
/// a world of one. The body runs once per rank with that rank's communicator.
public enum World {
    /// Ranks of this launch as the environment tells before any MPI call (1 without mpirun).
    public static var launchedRanks: Int { MPILaunchEnvironment.current?.size ?? 1 }

    /// Most threads `--local-ranks` may start: far more than any test needs, few enough that a
    /// typo cannot exhaust the process's threads and memory.
    public static let maximumLocalRanks = 256

    /// What is wrong with `--local-ranks P` (one line naming the flag), or nil.
    public static func localRanksProblem(_ localRanks: Int) -> String? {
        if !(0...maximumLocalRanks).contains(localRanks) {
            return "--local-ranks must be between 0 and \(maximumLocalRanks) (got \(localRanks))"
        }
        if localRanks > 0 && launchedRanks > 1 {
            return "--local-ranks cannot be combined with mpirun (this process is one of \(launchedRanks) MPI ranks)"
        }
        return nil
    }

    /// Runs `body` on every rank; returns the process exit code after printing any error once.
    /// `threads` (BLAS threads per rank) 0 keeps the default: cores / ranks on this node;
    /// `allreduce` nil keeps the communicator's ($DDP_ALLREDUCE_ALGORITHM, else automatic).
    public static func run(localRanks: Int, threads: Int, timeout: Double, allreduce: AllReduceAlgorithm?,
                           _ rankBody: @escaping (any Communicator) throws -> Void) -> Int32 {
        let body = { (comm: any Communicator) in
            if let allreduce { comm.workspace.algorithm = allreduce }
            try rankBody(comm)
        }
        if threads > 0 { BLASRuntime.setThreads(threads) }
        if localRanks > 0 {
            // The ranks share this process's CPUs: split them between the ranks, unless the
            // user's OPENBLAS_NUM_THREADS (or the like) says how many each rank computes with.
            if threads == 0 {
                let plan = BLASRuntime.planThreads(cpu: CPUInfo.current(), environment: ProcessInfo.processInfo.environment,
                                                   ranksInProcess: localRanks)
                if let split = plan.threads { BLASRuntime.setThreads(split, source: plan.source) }
            }
            // A collective error reaches every rank by itself: it must not abort the world, or a rank
            // still finishing the collective that decided it would see the abort instead.
            let lock = NSLock()
            var collective: Error?
            var reported = false
            do {
                try InProcessWorld.run(size: localRanks, timeoutSeconds: timeout) { comm in
                    do { try body(comm) } catch let e as CollectiveError {
                        report(e, rank: comm.rank)
                        lock.withLock { reported = true; if collective == nil { collective = e } }
                    } catch {
                        report(error, rank: comm.rank)
                        lock.withLock { reported = true }
                        throw error
                    }
                }
                return collective.map(exitCode(for:)) ?? 0
            } catch {
                // An error of the world itself (its set-up: a bad $DDP_ALLREDUCE_ALGORITHM) has
                // no rank to print it.
                if !lock.withLock({ reported }) { report(error, rank: 0) }
                return exitCode(for: error)
            }
        }
        guard MPICommunicator.isLaunchedByMPIRun else {
            do {
                try InProcessWorld.run(size: 1, timeoutSeconds: timeout) { try body($0) }
                return 0
            } catch { report(error, rank: 0); return exitCode(for: error) }
        }
        let comm: MPICommunicator
        do {
            comm = try MPICommunicator()
            comm.timeoutSeconds = timeout
        } catch {
            report(error, rank: 0)
            return 1
        }
        do {
            try body(comm)
            try comm.finalize()
            return 0
        } catch let e as CollectiveError {
            report(e, rank: comm.rank)
            try? comm.finalize()
            return exitCode(for: e)
        } catch {
            // Only this rank knows: take the job down so no peer waits forever.
            report(error, rank: comm.rank)
            comm.abort(message: "ddp: rank \(comm.rank) failed; ending the job")
            return 1
        }
    }

    /// Runs `body` on every rank and agrees on the outcome: when any rank fails, all ranks throw
    /// `AgreedFailure` together (the lowest failing rank carries the message to print, and its
    /// exit status is everybody's).
    public static func agree<T>(_ comm: any Communicator, _ body: () throws -> T) throws -> T {
        var result: Result<T, Error>
        do { result = .success(try body()) } catch { result = .failure(error) }
        var failed = 0.0
        if case .failure(let e) = result { failed = Double(exitCode(for: e)) }
        let all = try comm.allGather([failed])
        guard let first = all.firstIndex(where: { $0[0] != 0 }) else { return try result.get() }
        let code = Int32(all[first][0])
        switch result {
        case .failure(let e as AgreedFailure): throw e
        case .failure(let e): throw AgreedFailure(description: "\(e)", printHere: comm.rank == first, exitCode: code)
        case .success: throw AgreedFailure(description: "rank \(first) failed", printHere: false, exitCode: code)
        }
    }

    private static let printLock = NSLock()

    /// 1 for a failure, 64 for a wrong command line (a flag, or a model spec that does not fit the
    /// data), 128 + signal for a run stopped by a signal.
    public static func exitCode(for error: Error) -> Int32 {
        switch error {
        case let e as TrainError: return e.exitCode
        case let e as AgreedFailure: return e.exitCode
        case is ModelError: return TrainError.usageExitCode
        default: return 1
        }
    }

    /// Prints `error` if this rank is the one to tell it.
    static func report(_ error: Error, rank: Int) {
        let show: Bool
        switch error {
        case let e as AgreedFailure: show = e.printHere
        case is CollectiveError: show = rank == 0
        case let e as CommunicatorError:
            // A peer's failure surfaces here as its consequence; the failing rank tells the cause.
            switch e {
            case .aborted, .peerFailed: show = false
            default: show = true
            }
        default: show = true
        }
        guard show else { return }
        printLock.lock(); defer { printLock.unlock() }
        // A stop the user asked for is reported as what it is, not as an error.
        let kind = exitCode(for: error) > 128 ? "" : "error: "
        FileHandle.standardError.write(Data("ddp: \(kind)\(error)\n".utf8))
    }
}
