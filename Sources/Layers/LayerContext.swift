import Tensor

/// What all layers of one model share: the dropout random stream, the optional cross-rank
/// reducer for synchronized batch norm, and one scratch workspace.
public final class LayerContext {
    /// The stream every Dropout layer draws its masks from, in layer order. Checkpoints save
    /// it; the gradient checker rewinds it before each forward so masks repeat.
    public var dropoutRNG: SeededRNG
    /// nil: each BatchNorm2d normalizes with its own batch. Set: statistics are summed across
    /// ranks (SyncBatchNorm).
    public var batchNormReducer: BatchNormReducer?
    /// Scratch memory shared by all layers of the model (im2col columns, block gradients).
    public let workspace = Workspace()

    public init(dropoutRNG: SeededRNG) {
        self.dropoutRNG = dropoutRNG
    }
}
