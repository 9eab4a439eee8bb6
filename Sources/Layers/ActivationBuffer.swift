import Tensor

/// A layer-owned activation tensor for the current batch size.
///
/// The storage grows to the largest batch seen and is never shrunk; the returned view has the
/// exact shape of the current batch and is rebuilt only when the batch size changes, so a step
/// at an unchanged batch size allocates nothing.
final class ActivationBuffer {
    private var storage: Tensor?
    private var view: Tensor?
    private var batch = -1

    /// The tensor for `batch` samples of `shape` (contents unspecified).
    @inline(__always)
    func tensor(batch: Int, shape: FeatureShape) -> Tensor {
        if batch == self.batch, let view { return view }
        return rebuild(count: batch * shape.elementsPerSample, batch: batch, tensorShape: shape.tensorShape(batch: batch))
    }

    private func rebuild(count: Int, batch: Int, tensorShape: [Int]) -> Tensor {
        if storage == nil || storage!.capacity < count { storage = Tensor(shape: [count]) }
        let v = Tensor(viewing: storage!.data, shape: tensorShape, owner: storage)
        view = v
        self.batch = batch
        return v
    }
}

/// A growable raw buffer of plain values (max-pool argmax indices), grown to the largest request.
final class ScratchBuffer<Element> {
    private(set) var pointer: UnsafeMutablePointer<Element>
    private(set) var capacity: Int

    init(zero: Element) {
        pointer = .allocate(capacity: 1)
        pointer.initialize(to: zero)
        capacity = 1
        self.zero = zero
    }

    private let zero: Element

    deinit { pointer.deallocate() }

    /// At least `count` elements (contents unspecified after growth).
    @inline(__always)
    func reserve(_ count: Int) -> UnsafeMutablePointer<Element> {
        if count > capacity {
            pointer.deallocate()
            pointer = .allocate(capacity: count)
            pointer.initialize(repeating: zero, count: count)
            capacity = count
        }
        return pointer
    }
}
