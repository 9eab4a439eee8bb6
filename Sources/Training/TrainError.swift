import Formats
/// Errors a run ends with; each description is the one line the user sees.
public enum TrainError: Error, CustomStringConvertible {
    /// The command line is wrong, by itself or for the run, directory or file it names.
    case badFlag(String)
    case nonFinite(epoch: Int, step: Int, lr: Double, loss: Double, checkpoint: String?)
    case checkpoint(String)
    /// A file the run writes besides its checkpoints (the metrics) cannot be written.
    case output(String)
    case desync(String)
    /// A `StopSignal` stopped the run after `step` of `epoch` (both 1-based); `resume` is the
    /// command that continues it.
    case stopped(signal: Int32, epoch: Int, step: Int, checkpoint: String?, resume: String?)

    public var description: String {
        switch self {
        case .badFlag(let s): return s
        case let .nonFinite(epoch, step, lr, loss, checkpoint):
            let kept = checkpoint.map { "; the last good checkpoint is kept at \($0) (start again from it with a lower --lr: "
                + "--init-from \($0))" } ?? "; no checkpoint was written yet"
            let what = loss.isFinite ? "a gradient became non-finite" : "the loss became \(loss.printable)"
            return "\(what) at epoch \(epoch), step \(step) with lr \(lr): a learning rate that is too high is the "
                + "usual cause: lower --lr (try `ddp lr-find`), add --warmup-epochs or --clip-grad-norm" + kept
        case .checkpoint(let s): return "checkpoint: " + s
        case .output(let s): return s
        case .desync(let s): return "ranks out of sync: " + s
        case let .stopped(signal, epoch, step, checkpoint, resume):
            let saved = checkpoint.map { "; checkpoint \($0)" + (resume.map { " (continue with: \($0))" } ?? "") }
                ?? "; no checkpoint (no --checkpoint-dir)"
            return "stopped by \(StopSignal.name(signal)) at epoch \(epoch) step \(step)" + saved
        }
    }

    /// The exit status of a command line that is wrong (BSD's EX_USAGE, as ArgumentParser's own
    /// validation errors), the same for every command and for scripts/launch.sh.
    public static let usageExitCode: Int32 = 64

    /// The process exit status this error ends with: 128 + signal for a stop on a signal (the
    /// shell's convention: 130 for SIGINT, 143 for SIGTERM, 138 for SIGUSR1), 64 for a wrong
    /// command line, 1 for a run that failed.
    public var exitCode: Int32 {
        switch self {
        case let .stopped(signal, _, _, _, _): return 128 + signal
        case .badFlag: return Self.usageExitCode
        default: return 1
        }
    }
}
