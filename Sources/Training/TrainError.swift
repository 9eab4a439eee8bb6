/// Errors a run ends with; each description is the one line the user sees.
public enum TrainError: Error, CustomStringConvertible {
    case badFlag(String)
    case nonFinite(epoch: Int, step: Int, lr: Double, loss: Double, checkpoint: String?)
    case checkpoint(String)
    case desync(String)
    /// A `StopSignal` stopped the run after `step` of `epoch` (both 1-based).
    case stopped(signal: Int32, epoch: Int, step: Int, checkpoint: String?, runDirectory: String?)

    public var description: String {
        switch self {
        case .badFlag(let s): return s
        case let .nonFinite(epoch, step, lr, loss, checkpoint):
            let kept = checkpoint.map { "; the last good checkpoint is kept at \($0) (--resume it with a lower --lr)" }
                ?? "; no checkpoint was written yet"
            let what = loss.isFinite ? "a gradient became non-finite" : "the loss became \(loss)"
            return "\(what) at epoch \(epoch), step \(step) with lr \(lr): a learning rate that is too high is the "
                + "usual cause: lower --lr (try `ddp lr-find`), add --warmup-epochs or --clip-grad-norm" + kept
        case .checkpoint(let s): return "checkpoint: " + s
        case .desync(let s): return "ranks out of sync: " + s
        case let .stopped(signal, epoch, step, checkpoint, runDirectory):
            let saved = checkpoint.map { "; checkpoint \($0) (continue with --resume \(runDirectory ?? $0))" }
                ?? "; no checkpoint (no --checkpoint-dir)"
            return "stopped by \(StopSignal.name(signal)) at epoch \(epoch) step \(step)" + saved
        }
    }

    /// The process exit status this error ends with: 128 + signal for a stop on a signal (the
    /// shell's convention: 130 for SIGINT, 143 for SIGTERM, 138 for SIGUSR1), 1 otherwise.
    public var exitCode: Int32 {
        if case let .stopped(signal, _, _, _, _) = self { return 128 + signal }
        return 1
    }
}
