import Foundation
import Tensor

/// How conv and linear weights and their biases start (`--init`). BatchNorm starts at gamma 1,
/// beta 0 whatever the scheme.
///
/// A good start asks for two things at once: He initialization, so that activations keep their
/// scale through a stack of ReLUs, and a first loss near ln(classes), a softmax that is sure of
/// nothing yet. He-normal on the classifier breaks the second: a softmax over random logits of
/// standard deviation s costs about ln(C) + s^2 / 2, and He's logits started fmnist-cnn at
/// 4.4 against ln 10 = 2.3. The classifier (the last weight: its outputs are the logits) is not
/// followed by a ReLU, so He's argument does not reach it; `kaiming` draws it small instead,
/// N(0, 0.01^2), the scale Caffe's reference nets gave their last layer.
///
///     scheme    weights before a ReLU              classifier weight   conv/linear biases
///     kaiming   N(0, 2 / fan_in)                   N(0, 0.01^2)        0
///     torch     U(-b, b), b = 1 / sqrt(fan_in)     U(-b, b)            U(-b, b)
///     xavier    U(-a, a), a = sqrt(6 / (fan_in + fan_out)), all        0
///
/// `torch` is what a freshly built PyTorch `Conv2d` or `Linear` holds (`kaiming_uniform_` with
/// a = sqrt(5) has exactly the bound 1 / sqrt(fan_in); the bias is uniform in the same bound), so
/// a run moved from PyTorch can start where it started there.
///
/// The default is `torch` because it trains best (docs/RESULTS.md, "Initialization compared"):
/// fmnist-cnn with train.sh's recipe ended 0.13 to 0.35 points above `kaiming` on each of three
/// seeds at 2 ranks and at 4 ranks, while its first loss stays within 15% of ln(classes) on every
/// preset (`ddp sanity`). `kaiming` keeps the first loss there on any net, by construction.
public enum WeightInit: String, Codable, Sendable, CaseIterable {
    case kaiming
    case torch
    case xavier

    /// The scheme of `ddp train` and of a model built without one.
    public static let standard = WeightInit.torch

    /// `kaiming`'s classifier standard deviation.
    static let classifierStd: Float = 0.01

    /// Fills `count` weights at `data` with draws from `rng`, in order. `isClassifier`: this
    /// weight produces the logits.
    public func fillWeight(_ data: UnsafeMutablePointer<Float>, count: Int, fanIn: Int, fanOut: Int,
                           isClassifier: Bool, rng: inout SeededRNG) {
        switch self {
        case .kaiming:
            let std = isClassifier ? Self.classifierStd : Float((2.0 / Double(fanIn)).squareRoot())
            for i in 0..<count { data[i] = rng.normal() * std }
        case .torch:
            Self.fillUniform(data, count: count, bound: Self.torchBound(fanIn: fanIn), rng: &rng)
        case .xavier:
            Self.fillUniform(data, count: count, bound: Float((6.0 / Double(fanIn + fanOut)).squareRoot()), rng: &rng)
        }
    }

    /// Fills the `count` biases of a conv or linear layer whose weight has `fanIn` inputs per output.
    public func fillBias(_ data: UnsafeMutablePointer<Float>, count: Int, fanIn: Int, rng: inout SeededRNG) {
        switch self {
        case .torch: Self.fillUniform(data, count: count, bound: Self.torchBound(fanIn: fanIn), rng: &rng)
        case .kaiming, .xavier: data.update(repeating: 0, count: count)
        }
    }

    private static func torchBound(fanIn: Int) -> Float { Float(1 / Double(fanIn).squareRoot()) }

    private static func fillUniform(_ data: UnsafeMutablePointer<Float>, count: Int, bound: Float, rng: inout SeededRNG) {
        for i in 0..<count { data[i] = (2 * rng.uniform() - 1) * bound }
    }
}
