/// One tensor: dtype, shape and its little-endian bytes, always consistent with each other.
public struct SafeTensorEntry: Equatable, Sendable {
    public let dtype: SafeTensorDType
    public let shape: [Int]
    public let bytes: [UInt8]

    /// Throws `.invalidShape` for a negative dimension and `.sizeMismatch` when `bytes` does not
    /// hold exactly `shape.product` elements.
    public init(dtype: SafeTensorDType, shape: [Int], bytes: [UInt8]) throws {
        let needed = try Self.byteCount(dtype: dtype, shape: shape, source: "<memory>")
        guard needed == bytes.count else {
            throw SafeTensorsError(.sizeMismatch, "<memory>",
                                   "shape \(shape) of \(dtype.rawValue) needs \(needed) bytes, got \(bytes.count)")
        }
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// Elements (the product of `shape`; 1 for a scalar).
    public var elementCount: Int { shape.reduce(1, *) }

    public init(floats: [Float], shape: [Int]) throws {
        self = try floats.withUnsafeBufferPointer { try SafeTensorEntry(floats: $0, shape: shape) }
    }

    /// Copies `floats` (e.g. a parameter view of the model's flat buffer).
    public init(floats: UnsafeBufferPointer<Float>, shape: [Int]) throws {
        try self.init(dtype: .f32, shape: shape, values: floats.count) { raw, i in
            raw.storeBytes(of: floats[i].bitPattern.littleEndian, toByteOffset: i &* 4, as: UInt32.self)
        }
    }

    public init(doubles: [Double], shape: [Int]) throws {
        try self.init(dtype: .f64, shape: shape, values: doubles.count) { raw, i in
            raw.storeBytes(of: doubles[i].bitPattern.littleEndian, toByteOffset: i &* 8, as: UInt64.self)
        }
    }

    public init(int64s: [Int64], shape: [Int]) throws {
        try self.init(dtype: .i64, shape: shape, values: int64s.count) { raw, i in
            raw.storeBytes(of: int64s[i].littleEndian, toByteOffset: i &* 8, as: Int64.self)
        }
    }

    public init(int32s: [Int32], shape: [Int]) throws {
        try self.init(dtype: .i32, shape: shape, values: int32s.count) { raw, i in
            raw.storeBytes(of: int32s[i].littleEndian, toByteOffset: i &* 4, as: Int32.self)
        }
    }

    public init(uint8s: [UInt8], shape: [Int]) throws {
        try self.init(dtype: .u8, shape: shape, bytes: uint8s)
    }

    public init(bools: [Bool], shape: [Int]) throws {
        try self.init(dtype: .bool, shape: shape, bytes: bools.map { $0 ? 1 : 0 })
    }

    private init(dtype: SafeTensorDType, shape: [Int], values: Int,
                 store: (UnsafeMutableRawPointer, Int) -> Void) throws {
        let needed = try Self.byteCount(dtype: dtype, shape: shape, source: "<memory>")
        guard needed == values &* dtype.byteSize else {
            throw SafeTensorsError(.sizeMismatch, "<memory>", "\(values) values for shape \(shape)")
        }
        let bytes = [UInt8](unsafeUninitializedCapacity: needed) { buffer, initialized in
            if let raw = UnsafeMutableRawPointer(buffer.baseAddress) {
                for i in 0..<values { store(raw, i) }
            }
            initialized = needed
        }
        try self.init(dtype: dtype, shape: shape, bytes: bytes)
    }

    /// shape.product * dtype size, or a thrown error for a negative dimension or an overflow.
    static func byteCount(dtype: SafeTensorDType, shape: [Int], source: String) throws -> Int {
        var total = dtype.byteSize
        for d in shape {
            guard d >= 0 else {
                throw SafeTensorsError(.invalidShape, source, "negative dimension in shape \(shape)")
            }
            let (product, overflow) = total.multipliedReportingOverflow(by: d)
            guard !overflow else {
                throw SafeTensorsError(.invalidShape, source, "shape \(shape) has too many elements")
            }
            total = product
        }
        return total
    }

    public func floats() throws -> [Float] {
        try values(.f32) { Float(bitPattern: UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: $1 &* 4, as: UInt32.self))) }
    }

    public func doubles() throws -> [Double] {
        try values(.f64) { Double(bitPattern: UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: $1 &* 8, as: UInt64.self))) }
    }

    public func int64s() throws -> [Int64] {
        try values(.i64) { Int64(littleEndian: $0.loadUnaligned(fromByteOffset: $1 &* 8, as: Int64.self)) }
    }

    public func int32s() throws -> [Int32] {
        try values(.i32) { Int32(littleEndian: $0.loadUnaligned(fromByteOffset: $1 &* 4, as: Int32.self)) }
    }

    public func uint8s() throws -> [UInt8] {
        try checkDType(.u8)
        return bytes
    }

    /// Throws `.wrongType` for a byte other than 0 or 1 (torch and numpy write only those).
    public func bools() throws -> [Bool] {
        try checkDType(.bool)
        guard let bad = bytes.first(where: { $0 > 1 }) else { return bytes.map { $0 == 1 } }
        throw SafeTensorsError(.wrongType, "<memory>", "BOOL tensor holds byte \(bad), expected 0 or 1")
    }

    /// Copies an F32 tensor into `destination` (e.g. a parameter's view of the flat buffer)
    /// without an intermediate array; the element counts must match.
    public func copyFloats(into destination: UnsafeMutableBufferPointer<Float>) throws {
        try checkDType(.f32)
        guard destination.count == elementCount else {
            throw SafeTensorsError(.wrongType, "<memory>",
                                   "F32 tensor of shape \(shape) copied into \(destination.count) Floats")
        }
        bytes.withUnsafeBytes { raw in
            for i in 0..<destination.count {
                destination[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i &* 4, as: UInt32.self)))
            }
        }
    }

    private func checkDType(_ expected: SafeTensorDType) throws {
        guard dtype == expected else {
            throw SafeTensorsError(.wrongType, "<memory>", "tensor is \(dtype.rawValue), expected \(expected.rawValue)")
        }
    }

    private func values<T>(_ expected: SafeTensorDType, _ load: (UnsafeRawBufferPointer, Int) -> T) throws -> [T] {
        try checkDType(expected)
        return bytes.withUnsafeBytes { raw in (0..<elementCount).map { load(raw, $0) } }
    }
}
