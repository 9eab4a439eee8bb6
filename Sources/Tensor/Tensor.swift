/// A Float32 tensor in NCHW (row-major, contiguous) layout.
///
/// A tensor either owns its storage (allocated once, zeroed, freed on deinit) or is a view into
/// storage owned by someone else (e.g. a parameter inside the model's one flat buffer); a view
/// keeps its owner alive. Storage is mutated in place: there is no copy on write, so passing a
/// tensor around never copies its numbers.
public final class Tensor {
    /// Dimensions, outermost first (N, C, H, W for images).
    public private(set) var shape: [Int]
    /// First element; valid for `capacity` elements.
    public let data: UnsafeMutablePointer<Float>
    /// Elements the storage can hold; `count` may be smaller after `reshape`.
    public let capacity: Int
    private let owned: Bool
    private let owner: AnyObject?
    /// Number of elements of the current shape. Stored, not recomputed from `shape`: the layers
    /// ask for it in every forward and backward, and the step must not allocate (an
    /// unspecialized `reduce` over the shape does, in debug builds).
    public private(set) var count: Int

    /// A zero-filled tensor that owns its storage.
    public init(shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        let n = shape.reduce(1, *)
        self.shape = shape
        self.count = n
        self.capacity = n
        self.data = UnsafeMutablePointer<Float>.allocate(capacity: max(n, 1))
        self.data.initialize(repeating: 0, count: max(n, 1))
        self.owned = true
        self.owner = nil
    }

    /// A tensor with the given values (row-major); convenient for tests and fixtures.
    public convenience init(shape: [Int], values: [Float]) {
        self.init(shape: shape)
        precondition(values.count == count, "\(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: values.count) }
    }

    /// A view of `shape.product` elements starting at `data`, kept alive by `owner`.
    public init(viewing data: UnsafeMutablePointer<Float>, shape: [Int], owner: AnyObject?) {
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.capacity = count
        self.data = data
        self.owned = false
        self.owner = owner
    }

    deinit {
        if owned { data.deallocate() }
    }

    /// Changes the shape without moving data; the new shape must fit the storage.
    public func reshape(_ newShape: [Int]) {
        let n = newShape.reduce(1, *)
        precondition(n <= capacity, "reshape \(shape) -> \(newShape) exceeds capacity \(capacity)")
        shape = newShape
        count = n
    }

    /// The elements of the current shape.
    public var buffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: data, count: count)
    }

    /// A copy of the elements as an array (tests, serialization; not for hot paths).
    public var array: [Float] { Array(buffer) }

    public func fill(_ value: Float) {
        data.update(repeating: value, count: count)
    }

    public func copy(from other: Tensor) {
        precondition(other.count == count, "copy of \(other.shape) into \(shape)")
        data.update(from: other.data, count: count)
    }

    public subscript(i: Int) -> Float {
        get { data[i] }
        set { data[i] = newValue }
    }
}
