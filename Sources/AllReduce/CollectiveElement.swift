/// The element types collectives move, as the transports and the fingerprint tag see them.
public enum ElementKind: UInt32, Sendable, CustomStringConvertible {
    case float32 = 1, float64 = 2, int64 = 3, int32 = 4, uint8 = 5

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .float32, .int32: return 4
        case .float64, .int64: return 8
        case .uint8: return 1
        }
    }

    public var description: String {
        switch self {
        case .float32: return "Float"
        case .float64: return "Double"
        case .int64: return "Int64"
        case .int32: return "Int32"
        case .uint8: return "UInt8"
        }
    }
}

/// A plain value type that broadcast and allgather can move as bytes.
public protocol CollectiveElement {
    static var elementKind: ElementKind { get }
}

/// A type allreduce can sum and average: the floating-point types of gradients and metrics.
public protocol ReducibleElement: CollectiveElement, BinaryFloatingPoint {}

extension Float: ReducibleElement { public static var elementKind: ElementKind { .float32 } }
extension Double: ReducibleElement { public static var elementKind: ElementKind { .float64 } }
extension Int64: CollectiveElement { public static var elementKind: ElementKind { .int64 } }
extension Int32: CollectiveElement { public static var elementKind: ElementKind { .int32 } }
extension UInt8: CollectiveElement { public static var elementKind: ElementKind { .uint8 } }

/// How allreduce combines the ranks' values.
public enum ReduceOp: String, Sendable, Equatable {
    /// Element-wise sum over ranks.
    case sum
    /// Element-wise sum divided by the rank count (gradients: the mean over the global batch).
    case average
}

/// The reduction kernels, on raw memory so the collectives stay byte-based and non-generic.
/// The loops are plain and left to the auto-vectorizer; they are memory-bound anyway.
enum ReductionKernel {
    /// `destination[i] = destination[i] + source[i]` for `count` elements of `kind`.
    ///
    /// Two ranks adding each other's values compute `a + b` and `b + a`, which IEEE addition
    /// makes bitwise equal (NaN payloads aside), so recursive doubling stays bitwise identical.
    static func accumulate(_ destination: UnsafeMutableRawPointer, _ source: UnsafeRawPointer,
                           count: Int, kind: ElementKind) {
        switch kind {
        case .float32:
            add(destination.assumingMemoryBound(to: Float.self), source.assumingMemoryBound(to: Float.self), count)
        case .float64:
            add(destination.assumingMemoryBound(to: Double.self), source.assumingMemoryBound(to: Double.self), count)
        case .int64, .int32, .uint8:
            preconditionFailure("allreduce is only defined for Float and Double")
        }
    }

    /// `values[i] = values[i] / divisor`: a true division, so the average is sum / P rounded
    /// once, as PyTorch's `grad / world_size` is (a multiplication by 1/P would round twice).
    static func divide(_ values: UnsafeMutableRawPointer, count: Int, by divisor: Int, kind: ElementKind) {
        switch kind {
        case .float32: scale(values.assumingMemoryBound(to: Float.self), count, Float(divisor))
        case .float64: scale(values.assumingMemoryBound(to: Double.self), count, Double(divisor))
        case .int64, .int32, .uint8:
            preconditionFailure("allreduce is only defined for Float and Double")
        }
    }

    // Concrete per type rather than generic: unspecialized generic arithmetic (debug builds,
    // where the tests run) is an order of magnitude slower.
    private static func add(_ d: UnsafeMutablePointer<Float>, _ s: UnsafePointer<Float>, _ n: Int) {
        var i = 0
        while i < n { d[i] += s[i]; i &+= 1 }
    }

    private static func add(_ d: UnsafeMutablePointer<Double>, _ s: UnsafePointer<Double>, _ n: Int) {
        var i = 0
        while i < n { d[i] += s[i]; i &+= 1 }
    }

    private static func scale(_ v: UnsafeMutablePointer<Float>, _ n: Int, _ divisor: Float) {
        var i = 0
        while i < n { v[i] /= divisor; i &+= 1 }
    }

    private static func scale(_ v: UnsafeMutablePointer<Double>, _ n: Int, _ divisor: Double) {
        var i = 0
        while i < n { v[i] /= divisor; i &+= 1 }
    }
}
