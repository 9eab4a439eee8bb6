/// Errors a run ends with; each description is the one line the user sees.
public enum TrainError: Error, CustomStringConvertible {
    case badFlag(String)
    case nonFinite(epoch: Int, step: Int, lr: Double, loss: Double, checkpoint: String?)
    case checkpoint(String)
    case desync(String)

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
        }
    }
}
