/// An int64 state entry (BN num_batches_tracked), shared by reference between the layer that
/// counts and the store that saves and loads it.
public final class Counter {
    public var value: Int64
    public init(_ value: Int64 = 0) { self.value = value }
}
