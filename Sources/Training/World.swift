import AllReduce
import Foundation
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
}

/// Starting ranks: threads in this process (`--local-ranks P`), MPI processes (under mpirun), or
/// a world of one. The body runs once per rank with that rank's communicator.
public enum World {
    /// Ranks of this launch as the environment tells before any MPI call (1 without mpirun).
    public static var launchedRanks: Int { MPILaunchEnvironment.current?.size ?? 1 }

    /// Runs `body` on every rank; returns the process exit code after printing any error once.
    /// `threads` (BLAS threads per rank) 0 keeps the default: cores / ranks on this node.
    public static func run(localRanks: Int, threads: Int, timeout: Double,
                           _ body: @escaping (any Communicator) throws -> Void) -> Int32 {
        if threads > 0 { BLASRuntime.setThreads(threads) }
        if localRanks > 0 {
            // The ranks share this process's BLAS: split the cores between them.
            if threads == 0 { BLASRuntime.setThreads(max(1, CPUInfo.current().cores / localRanks)) }
            do {
                try InProcessWorld.run(size: localRanks, timeoutSeconds: timeout) { comm in
                    do { try body(comm) } catch { report(error, rank: comm.rank); throw error }
                }
                return 0
            } catch { return 1 }
        }
        guard MPICommunicator.isLaunchedByMPIRun else {
            do {
                try InProcessWorld.run(size: 1, timeoutSeconds: timeout) { try body($0) }
                return 0
            } catch { report(error, rank: 0); return 1 }
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
            return 1
        } catch {
            // Only this rank knows: take the job down so no peer waits forever.
            report(error, rank: comm.rank)
            comm.abort(message: "ddp: rank \(comm.rank) failed; ending the job")
            return 1
        }
    }

    /// Runs `body` on every rank and agrees on the outcome: when any rank fails, all ranks throw
    /// `AgreedFailure` together (the lowest failing rank carries the message to print).
    public static func agree<T>(_ comm: any Communicator, _ body: () throws -> T) throws -> T {
        var result: Result<T, Error>
        do { result = .success(try body()) } catch { result = .failure(error) }
        var failed = 0.0
        if case .failure = result { failed = 1 }
        let all = try comm.allGather([failed])
        guard let first = all.firstIndex(where: { $0[0] != 0 }) else { return try result.get() }
        switch result {
        case .failure(let e as AgreedFailure): throw e
        case .failure(let e): throw AgreedFailure(description: "\(e)", printHere: comm.rank == first)
        case .success: throw AgreedFailure(description: "rank \(first) failed", printHere: false)
        }
    }

    private static let printLock = NSLock()

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
        FileHandle.standardError.write(Data("ddp: error: \(error)\n".utf8))
    }
}
