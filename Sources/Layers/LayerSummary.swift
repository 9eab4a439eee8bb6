/// One row of a model table.
public struct LayerSummary: Equatable, Sendable {
    /// Top-level state-dict prefix ("3", "layer2.0").
    public let name: String
    /// Kind with hyper-parameters ("Conv2d(32->64, 3x3, s1, p1, no bias)").
    public let kind: String
    /// Output shape of one sample as PyTorch prints it: [C, H, W] or [F].
    public let outputShape: [Int]
    public let parameterCount: Int
    /// What its convolutions run (`ConvolutionRun.cell`), empty for a layer without any.
    public let algorithm: String
}
