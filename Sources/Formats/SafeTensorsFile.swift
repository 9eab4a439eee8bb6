/// A decoded file: its tensors by name, their names in file order, and the metadata.
public struct SafeTensorsFile: Sendable {
    /// Path the file was read from, or "<memory>"; used in error messages.
    public let source: String
    public let entries: [String: SafeTensorEntry]
    /// Tensor names in the order of their data in the file.
    public let names: [String]
    public let metadata: [String: String]

    /// The tensor called `name`, or `.missingTensor`.
    public func entry(_ name: String) throws -> SafeTensorEntry {
        guard let entry = entries[name] else {
            throw SafeTensorsError(.missingTensor, source, "no tensor \(name.debugDescription)")
        }
        return entry
    }

    /// The values of F32 tensor `name`, checking its shape when one is given.
    public func floats(_ name: String, shape: [Int]? = nil) throws -> [Float] {
        try typed(name, .f32, shape).floats()
    }

    /// The values of I64 tensor `name`, checking its shape when one is given.
    public func int64s(_ name: String, shape: [Int]? = nil) throws -> [Int64] {
        try typed(name, .i64, shape).int64s()
    }

    /// Copies F32 tensor `name` of exactly `shape` into `destination`.
    public func copyFloats(_ name: String, shape: [Int], into destination: UnsafeMutableBufferPointer<Float>) throws {
        try typed(name, .f32, shape).copyFloats(into: destination)
    }

    private func typed(_ name: String, _ dtype: SafeTensorDType, _ shape: [Int]?) throws -> SafeTensorEntry {
        let entry = try entry(name)
        guard entry.dtype == dtype else {
            throw SafeTensorsError(.wrongType, source,
                                   "tensor \(name.debugDescription) is \(entry.dtype.rawValue), expected \(dtype.rawValue)")
        }
        if let shape, entry.shape != shape {
            throw SafeTensorsError(.wrongType, source,
                                   "tensor \(name.debugDescription) has shape \(entry.shape), expected \(shape)")
        }
        return entry
    }
}
