/// A layer with non-differentiable points (ReLU at 0, a max-pool window's choice), as the
/// gradient checker sees it: smooth layers do not adopt it, and training never asks.
public protocol KinkedLayer: Layer {
    /// A hash of the layer's non-differentiable decisions in the last forward (which ReLU units
    /// were active, which element each max-pool window chose). The gradient
    /// checker skips a finite difference whose two sides disagree with the base on it: the step
    /// crossed a kink.
    var kinkSignature: UInt64 { get }
    /// true: keep the non-differentiable decisions of the last forward (the ReLU pattern, the
    /// max-pool choices) and apply them in the following forwards instead of deciding afresh,
    /// which makes the layer smooth around that point; false: decide afresh again. Used by the
    /// whole-model gradient check.
    func freezeKinks(_ frozen: Bool)
}

extension ReLU: KinkedLayer {}
extension LeakyReLU: KinkedLayer {}
extension MaxPool2d: KinkedLayer {}
extension BatchNorm2d: KinkedLayer {}
extension BasicBlock: KinkedLayer {}

/// FNV-1a over the sign pattern (x > 0) of a buffer: the kink signature of ReLU-like layers.
func positivePatternHash(_ x: UnsafePointer<Float>, count: Int, seed: UInt64 = 0xcbf2_9ce4_8422_2325) -> UInt64 {
    var h = seed
    var word: UInt64 = 0
    var bits = 0
    for i in 0..<count {
        word = (word << 1) | (x[i] > 0 ? 1 : 0)
        bits &+= 1
        if bits == 64 || i == count - 1 {
            h = (h ^ word) &* 0x0000_0100_0000_01B3
            word = 0; bits = 0
        }
    }
    return h
}

/// The sign pattern (x > 0) of a buffer, kept while a layer's kinks are frozen.
func positivePattern(_ x: UnsafePointer<Float>, count: Int) -> [Bool] {
    (0..<count).map { x[$0] > 0 }
}

/// Folds integers into an FNV-1a hash (max-pool argmax patterns, composite signatures).
func hashCombine(_ h: UInt64, _ value: UInt64) -> UInt64 {
    (h ^ value) &* 0x0000_0100_0000_01B3
}
