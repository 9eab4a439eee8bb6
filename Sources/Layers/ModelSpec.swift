/// Model presets and the compact spec string for custom networks.
///
/// A spec is a preset name or layer tokens joined by `-`, applied in order to a C x H x W input:
///
///     c<out>[k<k>][s<s>][p<p>][nb]  Conv2d: out channels, kernel k (3), stride s (1),
///                                   padding p (k/2, "same" at stride 1), bias unless nb
///     bn                            BatchNorm2d
///     relu | lrelu[<slope>] | tanh | sigmoid
///                                   activations (LeakyReLU slope 0.01 by default, in [0, 1))
///     mp<k>[s<s>] | ap<k>[s<s>]     MaxPool2d / AvgPool2d, stride defaults to k, no padding
///     gap                           global average pooling to C features
///     flatten                       C x H x W maps to C*H*W features
///     drop[<p>]                     Dropout (p 0.5 by default)
///     fc[<out>]                     Linear (out defaults to the number of classes)
///     res<out>[s<s>]                residual BasicBlock (3x3 conv-BN-ReLU-3x3 conv-BN + shortcut,
///                                   1x1 conv + BN projection when stride or width changes)
///
/// The last layer must give one logit per class, e.g.
/// `c32k3p1nb-bn-relu-mp2-c64nb-bn-relu-gap-fc10` or `flatten-fc128-relu-drop0.2-fc`.
/// Layers are named like `torch.nn.Sequential` children: token i (from 0) is "i", so its tensors
/// are "i.weight", "i.bias", "i.running_mean", ...; a residual block's are "i.conv1.weight",
/// "i.bn1.weight", ..., "i.shortcut.0.weight", "i.shortcut.1.running_var".
///
/// Presets (each works on 1x28x28 and 3x32x32 inputs):
/// - `mlp`        flatten-fc256-relu-drop0.2-fc
/// - `lenet5`     c6k5p2-relu-mp2-c16k5p0-relu-mp2-flatten-fc120-relu-fc84-relu-fc (LeNet-5 with
///                ReLU and max pooling)
/// - `fmnist-cnn` c32k3p1nb-bn-relu-c32k3p1nb-bn-relu-mp2-c64k3p1nb-bn-relu-c64k3p1nb-bn-relu-mp2-
///                flatten-drop0.25-fc128-relu-drop0.5-fc (the reference Sequential of DESIGN.md)
/// - `resnet20`   He et al.'s CIFAR ResNet-20: c16nb-bn-relu, 3 stages of 3 BasicBlocks (16, 32,
///                64 channels, stride 2 entering stages 2 and 3, projection shortcuts), gap, fc;
///                named like a torch module: conv1, bn1, relu, layer1.0 ... layer3.2, avgpool, fc.
public enum ModelSpec {
    /// Preset names, in the order help lists them.
    public static let presetNames = ["mlp", "lenet5", "fmnist-cnn", "resnet20"]

    /// The grammar in a few lines, for `--help` texts.
    public static let help = """
        MODEL is a preset (mlp, lenet5, fmnist-cnn, resnet20) or layer tokens joined by '-':
          c<out>[k<k>][s<s>][p<p>][nb]  conv (kernel 3, stride 1, padding k/2, bias unless nb)
          bn | relu | lrelu[<slope>] | tanh | sigmoid | flatten | gap | drop[<p>]
          mp<k>[s<s>] | ap<k>[s<s>]     max / average pooling (stride k by default)
          fc[<out>]                     linear (out = number of classes by default)
          res<out>[s<s>]                residual basic block (projection shortcut if shape changes)
        e.g. c32k3p1nb-bn-relu-mp2-c64nb-bn-relu-gap-fc10
        """

    /// The token string of a preset, or nil for a custom spec.
    public static func presetSpec(_ name: String) -> String? {
        switch name {
        case "mlp": return "flatten-fc256-relu-drop0.2-fc"
        case "lenet5": return "c6k5p2-relu-mp2-c16k5p0-relu-mp2-flatten-fc120-relu-fc84-relu-fc"
        case "fmnist-cnn":
            return "c32k3p1nb-bn-relu-c32k3p1nb-bn-relu-mp2-c64k3p1nb-bn-relu-c64k3p1nb-bn-relu-mp2-flatten-drop0.25-fc128-relu-drop0.5-fc"
        case "resnet20":
            return "c16nb-bn-relu-res16-res16-res16-res32s2-res32-res32-res64s2-res64-res64-gap-fc"
        default: return nil
        }
    }

    /// The state-dict names of a preset's top-level layers where its torch module is not a
    /// Sequential (whose layers are named 0, 1, 2, ...).
    static func layerNames(ofPreset name: String) -> [String]? {
        guard name == "resnet20" else { return nil }
        var names = ["conv1", "bn1", "relu"]
        for stage in 1...3 { for block in 0..<3 { names.append("layer\(stage).\(block)") } }
        return names + ["avgpool", "fc"]
    }

    /// Builds the layers of a preset or spec string for `input` and `classes`.
    public static func layers(for spec: String, input: FeatureShape, classes: Int) throws -> [any Layer] {
        let text = presetSpec(spec) ?? spec
        let tokens = text.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        guard !text.isEmpty, !tokens.contains(where: \.isEmpty) else {
            throw ModelError("model spec '\(spec)' is empty or has an empty token (layers are joined by single '-'; see --help)")
        }
        let names = layerNames(ofPreset: spec) ?? tokens.indices.map(String.init)
        var shape = input
        var layers: [any Layer] = []
        var budget = ModelLimits.Budget()
        for (index, token) in tokens.enumerated() {
            let layer: any Layer
            do {
                layer = try makeLayer(token.lowercased(), name: names[index], input: shape, classes: classes)
                try budget.add(layer)
            } catch let error as ModelError {
                // The layer names itself; here the token and its position say where.
                let message = reason(error, layer: names[index])
                if tokens.count == 1 {
                    throw ModelError("model '\(spec)' is not a preset (\(presetNames.joined(separator: ", "))) and not a layer spec: \(message)")
                }
                // Counted from 1, as a reader counts the tokens (the layer's state-dict name,
                // like torch's, counts from 0).
                throw ModelError("model spec '\(spec)', token \(index + 1) '\(token)': \(message)")
            }
            layers.append(layer)
            shape = layer.outputShape
        }
        guard shape == .flat(classes) else {
            throw ModelError("model spec '\(spec)' ends with \(shape) \(shapeNoun(shape)), but the model needs \(classes) class logits (end with fc or fc\(classes))")
        }
        return layers
    }

    /// Builds the single layer of one spec token (`c8k3p1`, `bn`, `fc10`, ...) on `input`,
    /// named after the token: what `ddp gradcheck --layer` checks. A layer added to `makeLayer`
    /// is reachable here, and so checked, with no other change.
    public static func layer(token: String, input: FeatureShape, classes: Int) throws -> any Layer {
        guard !token.isEmpty, !token.contains("-") else {
            throw ModelError("'\(token)' is not one layer token (one token, no '-'; e.g. c8k3p1, bn, fc10)")
        }
        do {
            switch input {
            case let .map(c, h, w): try ModelLimits.checkInput([c, h, w], classes: classes)
            case let .flat(f): try ModelLimits.checkInput([f, 1, 1], classes: classes)
            }
            let layer = try makeLayer(token.lowercased(), name: token, input: input, classes: classes)
            var budget = ModelLimits.Budget()
            try budget.add(layer)
            return layer
        } catch let error as ModelError {
            throw ModelError("layer token '\(token)' on a \(input) input: \(reason(error, layer: token))")
        }
    }

    /// A layer's error without the "layer NAME: " it starts with, for a caller that says where.
    private static func reason(_ error: ModelError, layer name: String) -> String {
        let own = "layer \(name): "
        return error.message.hasPrefix(own) ? String(error.message.dropFirst(own.count)) : error.message
    }

    private static func shapeNoun(_ shape: FeatureShape) -> String {
        if case .map = shape { return "feature maps" }
        return "features"
    }

    private static func makeLayer(_ token: String, name: String, input: FeatureShape, classes: Int) throws -> any Layer {
        switch token {
        case "bn": return try BatchNorm2d(name: name, input: input)
        case "relu": return ReLU(name: name, input: input)
        case "tanh": return SmoothActivation(.tanh, name: name, input: input)
        case "sigmoid": return SmoothActivation(.sigmoid, name: name, input: input)
        case "gap": return try GlobalAvgPool(name: name, input: input)
        case "flatten": return Flatten(name: name, input: input)
        default: break
        }
        var scanner = TokenScanner(token)
        if scanner.take("lrelu") {
            let slope = try scanner.decimal() ?? 0.01
            try scanner.finish()
            return try LeakyReLU(name: name, input: input, slope: slope)
        }
        if scanner.take("drop") {
            let p = try scanner.decimal() ?? 0.5
            try scanner.finish()
            return try Dropout(name: name, input: input, probability: p)
        }
        if scanner.take("res") {
            guard let out = try scanner.integer() else { throw ModelError("res needs an output width, e.g. res32") }
            let options = try scanner.options(["s"])
            return try BasicBlock(name: name, input: input, outChannels: out, stride: options["s"] ?? 1)
        }
        if scanner.take("fc") {
            let out = try scanner.integer() ?? classes
            try scanner.finish()
            return try Linear(name: name, input: input, outFeatures: out)
        }
        if scanner.take("mp") || scanner.take("ap") {
            let isMax = token.hasPrefix("mp")
            guard let k = try scanner.integer() else { throw ModelError("pooling needs a window size, e.g. mp2") }
            let options = try scanner.options(["s"])
            if isMax { return try MaxPool2d(name: name, input: input, kernelSize: k, stride: options["s"]) }
            return try AvgPool2d(name: name, input: input, kernelSize: k, stride: options["s"])
        }
        if scanner.take("c") {
            guard let out = try scanner.integer() else { throw ModelError("conv needs output channels, e.g. c32") }
            let noBias = scanner.removeSuffix("nb")
            let options = try scanner.options(["k", "s", "p"])
            let k = options["k"] ?? 3
            return try Conv2d(name: name, input: input, outChannels: out, kernelSize: k, stride: options["s"] ?? 1,
                              padding: options["p"] ?? (k - 1) / 2, bias: !noBias)
        }
        throw ModelError("not a layer (expected c<out>[k][s][p][nb], bn, relu, lrelu, tanh, sigmoid, mp<k>, ap<k>, gap, flatten, drop<p>, fc<out>, res<out>[s])")
    }
}

/// Reads the letters and numbers of one spec token.
private struct TokenScanner {
    private var rest: Substring
    init(_ token: String) { rest = Substring(token) }

    mutating func take(_ prefix: String) -> Bool {
        guard rest.hasPrefix(prefix) else { return false }
        rest = rest.dropFirst(prefix.count)
        return true
    }

    mutating func removeSuffix(_ suffix: String) -> Bool {
        guard rest.hasSuffix(suffix) else { return false }
        rest = rest.dropLast(suffix.count)
        return true
    }

    mutating func integer() throws -> Int? {
        let digits = rest.prefix(while: \.isNumber)
        guard !digits.isEmpty else { return nil }
        rest = rest.dropFirst(digits.count)
        // Every size in a token is bounded: see ModelLimits.
        guard let v = Int(digits), v <= ModelLimits.maxSize else {
            throw ModelError("number \(digits) is above the limit of \(ModelLimits.maxSize)")
        }
        return v
    }

    mutating func decimal() throws -> Float? {
        let text = rest.prefix(while: { $0.isNumber || $0 == "." })
        guard !text.isEmpty else { return nil }
        guard let v = Float(text) else { throw ModelError("'\(text)' is not a number") }
        rest = rest.dropFirst(text.count)
        return v
    }

    /// Letter-number options in any order, each at most once, then the end of the token.
    mutating func options(_ letters: Set<Character>) throws -> [Character: Int] {
        var found: [Character: Int] = [:]
        while let letter = rest.first {
            guard letters.contains(letter) else {
                throw ModelError("unexpected '\(rest)' (options here: \(letters.sorted().map { "\($0)<n>" }.joined(separator: ", ")))")
            }
            rest = rest.dropFirst()
            guard found[letter] == nil else { throw ModelError("option '\(letter)' given twice") }
            guard let v = try integer() else { throw ModelError("option '\(letter)' needs a number") }
            found[letter] = v
        }
        return found
    }

    func finish() throws {
        guard rest.isEmpty else { throw ModelError("unexpected '\(rest)' at the end") }
    }
}
