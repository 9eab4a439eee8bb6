import Tensor

/// The value of one state-dict entry.
public enum StateValue {
    /// Float32 numbers; from `Model.stateDict()` a view into the model's own storage.
    case float(Tensor)
    /// An int64 scalar (num_batches_tracked).
    case int64(Int64)

    /// "float32" or "int64", as safetensors and error messages name them.
    public var dtypeName: String {
        switch self {
        case .float: return "float32"
        case .int64: return "int64"
        }
    }
}

/// One entry of a model's state dict: PyTorch's name, shape and value.
public struct StateEntry {
    /// PyTorch state_dict key ("0.weight", "layer1.0.bn1.running_var").
    public let name: String
    /// PyTorch shape; [] for the int64 scalars.
    public let shape: [Int]
    public let value: StateValue

    public init(name: String, shape: [Int], value: StateValue) {
        self.name = name; self.shape = shape; self.value = value
    }
}
