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
