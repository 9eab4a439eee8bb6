/// An optimizer that updates the model's one flat parameter buffer in place from its one flat
/// gradient buffer (both `count` Floats, the same layout), as `torch.optim` does per tensor.
///
/// Hyperparameters are Doubles, as Python floats are in PyTorch: torch derives its per-step scalars
/// in double precision (`1 - dampening`, Adam's `lr / (1 - beta1^t)`) and rounds each to Float32
/// only when it enters an elementwise kernel. Doing the same here is what makes the updates equal
/// to torch's bit for bit (see `SGD` and `Adam`).
public protocol Optimizer: AnyObject {
    /// Set before each step by the learning-rate schedule.
    var learningRate: Double { get set }
    /// Steps taken so far (restored by `loadState`).
    var stepCount: Int { get }
    /// Number of parameters this optimizer was built for.
    var count: Int { get }
    /// One update: reads `gradients[0..<count]`, updates `parameters[0..<count]` and the state.
    /// Allocates nothing. `count` must equal the count the optimizer was built for.
    func step(parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>, count: Int)
    /// Named state buffers in the layout of the parameter buffer (e.g. "momentum_buffer"), exact
    /// copies, for checkpoints. Empty when the optimizer keeps no state.
    func stateTensors() -> [(name: String, values: [Float])]
    /// Restores what `stateTensors()` and `stepCount` returned; throws, changing nothing, when a
    /// buffer is missing, unexpected or of the wrong length.
    func loadState(_ tensors: [String: [Float]], stepCount: Int) throws
}

/// A bad optimizer hyperparameter or checkpointed state; the description is one line.
public struct OptimizerError: Error, CustomStringConvertible, Equatable {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }

    /// Validates the buffers passed to `loadState` against the names and length expected.
    static func checkState(_ tensors: [String: [Float]], stepCount: Int, expected names: [String],
                           count: Int, optimizer: String) throws {
        guard stepCount >= 0 else {
            throw OptimizerError("\(optimizer) state: step count \(stepCount) is negative")
        }
        for name in names {
            guard let values = tensors[name] else {
                throw OptimizerError("\(optimizer) state: missing buffer \"\(name)\" (expected \(names))")
            }
            guard values.count == count else {
                throw OptimizerError("\(optimizer) state: buffer \"\(name)\" has \(values.count) values, expected \(count)")
            }
        }
        if let extra = tensors.keys.sorted().first(where: { !names.contains($0) }) {
            throw OptimizerError("\(optimizer) state: unexpected buffer \"\(extra)\" (expected \(names))")
        }
    }
}
