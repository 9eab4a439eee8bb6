import Foundation
import Tensor

/// What `DDP_CONV` (or a test, per layer) asks a convolution to run: one algorithm, `winograd`
/// with the tile left to the rule in `ConvolutionChoice.winogradTile`, or `auto`: the fastest on
/// each layer's shape, timed at the start of a run (`ConvolutionTuner`).
public enum ConvolutionRequest: String, Sendable, CaseIterable {
    case direct, winograd, winograd2, winograd4, im2col, auto

    public static let variable = "DDP_CONV"

    /// The request in this process's environment (nil: unset, or not a request: see
    /// `ConvolutionChoice.validateEnvironment`).
    public static let environment: ConvolutionRequest? =
        ProcessInfo.processInfo.environment[variable].flatMap { ConvolutionRequest(rawValue: $0) }
}

/// What one convolution of a model runs, for the tables that show it (`ddp info --model`, the
/// start banner, `ddp bench step --layers`).
public struct ConvolutionRun: Equatable, Sendable {
    /// The convolution's full state-dict name ("3", "layer1.0.conv1").
    public let layer: String
    public let algorithm: Conv2d.Algorithm
    public let reason: String

    /// One cell for a top-level layer `name`: the algorithm of its one convolution, or each
    /// child's ("conv1 direct, conv2 winograd4, shortcut.0 im2col"); empty without any.
    public static func cell(_ runs: [ConvolutionRun], layer name: String) -> String {
        if runs.count == 1 && runs[0].layer == name { return runs[0].algorithm.rawValue }
        return runs.map { run in
            let child = run.layer.hasPrefix(name + ".") ? String(run.layer.dropFirst(name.count + 1)) : run.layer
            return "\(child) \(run.algorithm.rawValue)"
        }.joined(separator: ", ")
    }

    /// One line for a whole model, grouped by algorithm: "direct: 3, 7, 10; im2col: 0".
    public static func line(_ runs: [ConvolutionRun]) -> String {
        Conv2d.Algorithm.allCases.compactMap { algorithm in
            let names = runs.filter { $0.algorithm == algorithm }.map(\.layer)
            return names.isEmpty ? nil : "\(algorithm.rawValue): \(names.joined(separator: ", "))"
        }.joined(separator: "; ")
    }
}

/// Which algorithm a convolution layer runs, chosen once at construction, and why.
///
/// An explicit request (a test's `algorithm:` argument) wins, then `DDP_CONV`, then the default
/// rule (also where `auto` starts, before `ConvolutionTuner` times the layer). A request that
/// cannot run on the layer falls back to the default with the reason: the direct kernels need
/// AVX-512 (`KernelPath`) and output channels in 8s; Winograd needs a 3x3, stride-1, padding-1
/// window (any channels, any image size, any CPU); im2col runs everything.
///
/// The default rule, where the direct kernels run (AVX-512): Winograd F(4x4, 3x3) for the 3x3
/// stride-1 padding-1 layers where it measured faster than they are (`winogradBeatsDirect`), the
/// direct kernels for every other 3x3 padding-1 layer they can run, of stride 1, or 2 on even
/// sides (`StridedConvolution`), im2col + BLAS for the rest. Without AVX-512: im2col + BLAS
/// everywhere (Winograd was measured against the direct kernels only, on AVX-512 machines).
/// Winograd's rounding differs from the direct sum's (about 1e-6 relative for F(4x4, 3x3)),
/// not its accuracy (2 ranks, 10 epochs of fmnist-cnn: 93.86% against the direct kernels' 93.85%,
/// docs/RESULTS.md). F(2x2, 3x3) lost everywhere and is opt-in, as is every algorithm:
/// `DDP_CONV`, or `auto`, which times the candidates on each layer at the start of a run.
/// Against im2col + BLAS F(4x4, 3x3) was about 10-30% faster on the layers of 32 channels or
/// more and slower below. Under `--precision bf16` the direct kernels take half the FP32 time
/// and lead every shape (`withPrecision` moves the rule's Winograd layers back to them).
public enum ConvolutionChoice {
    public struct Layer: Sendable {
        public var kernelSize: Int, stride: Int, padding: Int
        public var inChannels: Int, outChannels: Int, height: Int, width: Int

        public init(kernelSize: Int, stride: Int, padding: Int, inChannels: Int, outChannels: Int, height: Int, width: Int) {
            self.kernelSize = kernelSize; self.stride = stride; self.padding = padding
            self.inChannels = inChannels; self.outChannels = outChannels; self.height = height; self.width = width
        }

        var isSame3x3: Bool { kernelSize == 3 && stride == 1 && padding == 1 }
        /// What the direct kernels run: 3x3 stride-1 padding-1, or stride 2 on even sides
        /// (`StridedConvolution`).
        var isDirectShape: Bool {
            isSame3x3 || (kernelSize == 3 && stride == 2 && padding == 1 && height % 2 == 0 && width % 2 == 0)
        }
    }

    /// The algorithm for `layer` and the reason, given the request and whether the direct kernels
    /// run in this process.
    public static func choose(_ layer: Layer, request: ConvolutionRequest?,
                              directAvailable: Bool = DirectConvolution.isAvailable) -> (algorithm: Conv2d.Algorithm, reason: String) {
        let fallback = directRule(layer, directAvailable: directAvailable).algorithm
        guard let request else {
            if directAvailable && winogradBeatsDirect(layer) { return (.winograd4, winogradRuleReason) }
            return directRule(layer, directAvailable: directAvailable)
        }
        let asked = "\(ConvolutionRequest.variable)=\(request.rawValue)"
        switch request {
        case .auto:
            return (fallback, "\(asked), not timed yet: the default rule")
        case .im2col:
            return (.im2col, asked)
        case .direct:
            if fallback == .direct { return (.direct, asked) }
            let why = !directAvailable ? "no AVX-512 kernels in this process"
                : !layer.isDirectShape ? "not a 3x3 padding-1 window of stride 1, or 2 on even sides"
                : "output channels not in 8s"
            return (fallback, "\(asked) cannot run here (\(why))")
        case .winograd, .winograd2, .winograd4:
            guard layer.isSame3x3 else { return (fallback, "\(asked) cannot run here (not a 3x3 stride-1 padding-1 window)") }
            let tile: WinogradConvolution.Tile = request == .winograd2 ? .f2x2
                : request == .winograd4 ? .f4x4 : winogradTile(height: layer.height, width: layer.width)
            return (tile == .f2x2 ? .winograd2 : .winograd4, asked)
        }
    }

    /// The default rule without Winograd: the direct kernels where they run, im2col elsewhere.
    private static func directRule(_ layer: Layer, directAvailable: Bool) -> (algorithm: Conv2d.Algorithm, reason: String) {
        let directFits = directAvailable && layer.isDirectShape && layer.outChannels % 8 == 0
        let shape = layer.isSame3x3 ? "3x3 stride-1 padding-1" : "3x3 stride-2 padding-1 on even sides"
        return (directFits ? .direct : .im2col, directFits ? "default: \(shape), output channels in 8s"
            : layer.isDirectShape && directAvailable ? "default: output channels not in 8s" : "default")
    }

    static let winogradRuleReason = "default: 3x3 stride-1 padding-1 with many channels, where F(4x4, 3x3) beats the direct kernels"

    /// Whether F(4x4, 3x3) beat the direct kernels on `layer`'s shape (FP32, batch 64, forward +
    /// backward, `ddp bench conv` on a 2-core Zen 4 at 1 and 2 threads, 2026-12-07, with the
    /// AVX-512 passes over the tiles). Per output pixel the direct sum does 9 C K multiply-adds
    /// (C inputs, K outputs); Winograd does 36/16 C K in its GEMMs, over the area its 4x4 tiles
    /// cover (the image's, rounded up to 4s), plus transforms that grow as C + K. So it wins where
    /// C K / (C + K) is large against that coverage; the threshold, 10, lies between the shapes
    /// measured:
    ///
    ///     shape (C->K, image)     C K/(C+K) / coverage   F(4x4) / direct time (1 thread; 2)
    ///     fmnist-cnn 32->32 28x28     16.0 / 1.00 = 16.0     0.67; 0.70    Winograd
    ///     fmnist-cnn 32->64 14x14     21.3 / 1.31 = 16.3     0.74; 0.76    Winograd
    ///     fmnist-cnn 64->64 14x14     32.0 / 1.31 = 24.5     0.57; 0.64    Winograd
    ///     resnet20   32->32 14x14     16.0 / 1.31 = 12.3     0.86; 0.90    Winograd
    ///     resnet20   64->64  7x7      32.0 / 1.31 = 24.5     0.57; 0.74    Winograd
    ///     resnet20   16->16 28x28      8.0 / 1.00 =  8.0     1.11; 1.31    direct
    ///     fmnist-cnn  1->32 28x28      1.0 / 1.00 =  1.0     2.6;  3.8     direct
    ///
    /// Images under 7 pixels a side, smaller than any measured, stay direct.
    static func winogradBeatsDirect(_ layer: Layer) -> Bool {
        guard layer.isSame3x3, layer.height >= 7, layer.width >= 7 else { return false }
        let covered = Double(((layer.height + 3) / 4 * 4) * ((layer.width + 3) / 4 * 4)) / Double(layer.height * layer.width)
        let c = Double(layer.inChannels), k = Double(layer.outChannels)
        return c * k / (c + k) >= 10 * covered
    }

    /// The algorithms that can run `layer` under `precision` (what `auto` times), the default
    /// rule's first: each single-algorithm request that `choose` grants, moved by `withPrecision`.
    public static func candidates(_ layer: Layer, precision: Precision,
                                  directAvailable: Bool = DirectConvolution.isAvailable,
                                  bf16Available: Bool = BF16DirectConvolution.isAvailable) -> [Conv2d.Algorithm] {
        let requests: [(ConvolutionRequest, Conv2d.Algorithm)] = [(.direct, .direct), (.winograd4, .winograd4),
                                                                  (.winograd2, .winograd2), (.im2col, .im2col)]
        var found: [Conv2d.Algorithm] = []
        for (request, algorithm) in requests where choose(layer, request: request, directAvailable: directAvailable).algorithm == algorithm {
            let run = withPrecision((algorithm, ""), precision, layer: layer, bf16Available: bf16Available).algorithm
            if !found.contains(run) { found.append(run) }
        }
        let rule = withPrecision(choose(layer, request: nil, directAvailable: directAvailable), precision,
                                 layer: layer, bf16Available: bf16Available).algorithm
        return [rule] + found.filter { $0 != rule }
    }

    /// `choice` for `layer` under `precision`: bf16 moves the direct kernels (and the layers the
    /// default rule put on Winograd, which it measured in FP32) to their bf16 form;
    /// every other path stays FP32 and says so (the bf16 kernels exist for the direct path
    /// only). So does a layer of one input channel (an image's first layer): the bf16 kernel
    /// reduces channel pairs, half of each would be padding, and it measured 1.5x slower than
    /// FP32 on fmnist-cnn's first layer (`ddp bench step --layers`, Zen 4).
    public static func withPrecision(_ choice: (algorithm: Conv2d.Algorithm, reason: String), _ precision: Precision,
                                     layer: Layer,
                                     bf16Available: Bool = BF16DirectConvolution.isAvailable) -> (algorithm: Conv2d.Algorithm, reason: String) {
        guard precision == .bf16 else { return choice }
        // The rule picks Winograd only where the direct kernels run.
        let choice = choice.reason == winogradRuleReason ? directRule(layer, directAvailable: true) : choice
        guard choice.algorithm == .direct else { return (choice.algorithm, choice.reason + "; FP32: bf16 runs on the direct kernels only") }
        guard layer.inChannels > 1 else { return (choice.algorithm, choice.reason + "; FP32: one input channel (bf16 reduces pairs)") }
        guard bf16Available else { return (choice.algorithm, choice.reason + "; FP32: no AVX512_BF16 kernels in this process") }
        return (.directBF16, choice.reason + "; --precision bf16")
    }

    /// The tile `DDP_CONV=winograd` takes: F(4x4, 3x3) (fewer multiplies per output pixel: 36/16
    /// against 16/4) unless the image is under 4 pixels on a side, where one 4x4 tile would be
    /// mostly padding and 2x2 tiles waste less.
    public static func winogradTile(height: Int, width: Int) -> WinogradConvolution.Tile {
        min(height, width) < 4 ? .f2x2 : .f4x4
    }

    /// Throws the line to print when `DDP_CONV` is set to something that is not a request.
    public static func validateEnvironment() throws {
        guard let value = ProcessInfo.processInfo.environment[ConvolutionRequest.variable], !value.isEmpty,
              ConvolutionRequest(rawValue: value) == nil else { return }
        throw ModelError("\(ConvolutionRequest.variable) must be one of "
            + "\(ConvolutionRequest.allCases.map(\.rawValue).joined(separator: ", ")) (got '\(value)')")
    }

    /// One line for `ddp info` and the start banner: how convolutions are computed here.
    /// `tuned`: the layers run a plan `auto` timed (this run's, or its checkpoint's).
    public static func describe(request: ConvolutionRequest? = ConvolutionRequest.environment,
                                directAvailable: Bool = DirectConvolution.isAvailable, precision: Precision = .fp32,
                                tuned: Bool = false) -> String {
        let line = tuned ? "the fastest per layer, timed at the run's start (DDP_CONV=auto; the layers below)"
            : describeFP32(request: request, directAvailable: directAvailable)
        guard precision == .bf16 else { return line }
        return line + "; --precision bf16: the direct kernels' operands in bf16, sums in FP32 (AVX512_BF16)"
    }

    private static func describeFP32(request: ConvolutionRequest?, directAvailable: Bool) -> String {
        let variable = ConvolutionRequest.variable
        switch request {
        case .im2col?:
            return "im2col + BLAS (\(variable)=im2col)"
        case .winograd?, .winograd2?, .winograd4?:
            let tile = request == .winograd2 ? "F(2x2, 3x3)" : request == .winograd4 ? "F(4x4, 3x3)"
                : "F(4x4, 3x3), F(2x2, 3x3) under 4x4 images"
            return "Winograd \(tile) for 3x3 stride-1 padding-1 layers, im2col + BLAS for others (\(variable)=\(request!.rawValue))"
        case .auto?:
            return "the fastest per layer of direct, Winograd and im2col + BLAS, timed at the start of a run (\(variable)=auto)"
        case nil:
            if directAvailable {
                return "direct AVX-512 kernels for 3x3 padding-1 layers of stride 1 (and 2), Winograd F(4x4, 3x3) "
                    + "for stride-1 layers with many channels, im2col + BLAS for others"
            }
            return "im2col + BLAS (portable kernel path)"
        case .direct?:
            if directAvailable { return "direct AVX-512 kernels for 3x3 padding-1 layers of stride 1 (and 2), im2col + BLAS for others (\(variable)=direct)" }
            return "im2col + BLAS (portable kernel path)"
        }
    }
}
