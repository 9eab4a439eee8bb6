/// The cross-rank sum that synchronized batch normalization needs, injected by Training.
///
/// Layers never talk to MPI: when a model's `batchNormReducer` is set, every BatchNorm2d hands
/// its per-channel partial sums (with the local sample count) to `sumAcrossRanks`, which must
/// replace them in place by their sum over all ranks (every rank calls it in the same order with
/// the same count). Then P ranks with B samples each normalize exactly as one rank with P*B.
public protocol BatchNormReducer: AnyObject {
    /// In place: values[i] = sum over ranks of values[i], for i in 0..<count.
    func sumAcrossRanks(_ values: UnsafeMutablePointer<Float>, count: Int)
}
