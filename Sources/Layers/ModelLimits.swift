/// Bounds on the models ddp builds from input it does not control: a spec string from `--model`
/// or from a checkpoint's metadata, an input shape from a data set or a checkpoint.
///
/// Without them a typo (`c99999999999`) or a crafted file (`input_shape "1,100000,100000"`)
/// reaches an allocation of hundreds of gigabytes, and the process dies of a failed allocation
/// (signal 6) or an integer overflow instead of saying what is wrong. The model is checked
/// layer by layer as it is built, before any parameter, activation or kernel buffer is
/// allocated. Each bound is far above what a CPU trainer can train in useful time, so no real
/// network meets them.
public enum ModelLimits {
    /// Any one size: channels, features, classes, image height and width, kernel, stride,
    /// padding, pooling window. 2^16 = 65536 is 16x the widest layer of the common CNNs
    /// (VGG's 4096-wide classifier, ResNet's 2048 channels). Bounding every factor also keeps
    /// the products below (C*H*W, out*in*k*k) from overflowing before they are checked.
    public static let maxSize = 1 << 16

    /// Trainable parameters of the whole model: 2^28 = 268M, 1 GiB of Float32 (3 GiB with the
    /// gradients and SGD's momentum, 4 GiB with Adam's moments). VGG-16 (138M) fits.
    public static let maxParameters = 1 << 28

    /// Floats one sample needs: every layer's output (each is kept for backward) plus the
    /// largest scratch a layer uses (im2col columns, a residual block's gradients). 2^27 = 134M
    /// floats, 512 MiB per sample. VGG-16 at 224x224, whose ReLUs are layers of their own here,
    /// needs 29M of outputs and 29M of columns on the im2col path; fmnist-cnn on 28x28 0.2M.
    public static let maxActivationsPerSample = 1 << 27

    /// Elements of a tensor of `shape`, or nil when the product does not fit in an Int
    /// (a crafted shape must give an error, not an overflow trap).
    public static func elements(_ shape: [Int]) -> Int? {
        var n = 1
        for d in shape {
            let (p, overflow) = n.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            n = p
        }
        return n
    }

    /// Checks the input a model is built for: three sizes each in 1...maxSize, one sample
    /// within the activation budget, classes in 1...maxSize.
    static func checkInput(_ shape: [Int], classes: Int) throws {
        guard shape.count == 3, shape.allSatisfy({ (1...maxSize).contains($0) }) else {
            throw ModelError("model input shape must be [channels, height, width], each between 1 and \(maxSize), got \(shape)")
        }
        let values = shape[0] * shape[1] * shape[2]
        guard values <= maxActivationsPerSample else {
            throw ModelError("model input \(shape.map(String.init).joined(separator: "x")) is \(values) values per sample, "
                + "above the limit of \(maxActivationsPerSample)")
        }
        guard (1...maxSize).contains(classes) else {
            throw ModelError("model needs between 1 and \(maxSize) classes, got \(classes)")
        }
    }

    /// The running totals of a model being built, one layer at a time.
    struct Budget {
        private(set) var parameters = 0
        private(set) var activations = 0
        private(set) var scratch = 0

        /// Adds `layer` and throws when the model is now over a limit.
        mutating func add(_ layer: any Layer) throws {
            var layerParameters = 0
            for spec in layer.stateSpecs {
                guard case .parameter = spec.role else { continue }
                guard let n = elements(spec.shape) else { layerParameters = Int.max; break }
                layerParameters = layerParameters > Int.max - n ? Int.max : layerParameters + n
            }
            parameters = parameters > Int.max - layerParameters ? Int.max : parameters + layerParameters
            guard parameters <= maxParameters else {
                throw ModelError("the model reaches more than \(maxParameters) parameters (the limit) at this layer, "
                    + "which alone has \(layerParameters == Int.max ? "more than \(Int.max)" : "\(layerParameters)")")
            }
            let output = layer.activationsPerSample
            activations = activations > Int.max - output ? Int.max : activations + output
            scratch = max(scratch, layer.scratchPerSample)
            guard activations <= maxActivationsPerSample - min(scratch, maxActivationsPerSample) else {
                throw ModelError("one sample needs more than \(maxActivationsPerSample) floats of layer outputs and scratch "
                    + "(the limit) at this layer, whose output is \(layer.outputShape)")
            }
        }
    }
}
