#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// SIGINT, SIGTERM and SIGUSR1 as a request to stop training at the next step boundary.
///
/// The handler does one async-signal-safe thing: it stores the signal number in an atomic. The
/// trainer hands that number to each step, which counts it across ranks in the allreduce it makes
/// anyway (loss, correct, samples), so every rank learns of a signal that reached any rank in the
/// same step, completes that step, and stops with the others: checkpoint, one message, exit
/// 128 + signal. A signal sent to one rank is enough. The handler is one-shot (SA_RESETHAND): a
/// second signal ends the process at once.
///
/// Under mpirun (Open MPI 4.1): on a SIGINT or SIGTERM of its own, mpirun sends the ranks
/// SIGCONT, waits `odls_base_sigkill_timeout` seconds, sends SIGTERM, waits as long again, and
/// sends SIGKILL. Its default of 1 s can be too short for a step and a checkpoint;
/// scripts/launch.sh sets 5 (`--sigkill-timeout`). mpirun forwards SIGUSR1 as it is, without
/// killing anybody: `kill -USR1 <mpirun>` stops a job cleanly at once, however long its steps are.
public enum StopSignal {
    /// The signals that request a stop, in the order one is reported when ranks got different ones.
    public static let handled: [Int32] = [SIGTERM, SIGINT, SIGUSR1]

    private static let received = Atomic<Int32>(0)

    /// Swift initializes a global on first use, which is not async-signal-safe: touch `received`
    /// before any handler can run, and install once per process (threads as ranks call `install`
    /// each; re-installing after a signal would re-arm the one-shot handler).
    private static let installation: Void = {
        _ = received.load(ordering: .relaxed)
        for signal in handled {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { StopSignal.received.store($0, ordering: .relaxed) }
            action.sa_flags = SA_RESTART | Int32(bitPattern: UInt32(SA_RESETHAND))
            sigemptyset(&action.sa_mask)
            sigaction(signal, &action, nil)
        }
    }()

    /// Routes the `handled` signals to the stop request (idempotent).
    public static func install() { _ = installation }

    /// The signal received so far, or 0.
    public static var pending: Int32 { received.load(ordering: .relaxed) }

    /// "SIGINT", "SIGTERM", "SIGUSR1", or "signal N".
    public static func name(_ signal: Int32) -> String {
        switch signal {
        case SIGINT: return "SIGINT"
        case SIGTERM: return "SIGTERM"
        case SIGUSR1: return "SIGUSR1"
        default: return "signal \(signal)"
        }
    }
}
