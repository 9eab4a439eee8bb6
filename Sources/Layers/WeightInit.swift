import Foundation
import Tensor

/// Weight initialization schemes for conv and linear weights. Biases start at zero and BN at
/// gamma 1, beta 0 whatever the scheme.
public enum WeightInit: String, Sendable, CaseIterable {
    /// He et al.: N(0, std^2) with std = sqrt(2 / fan_in), the right scale in front of a ReLU
    /// (PyTorch's `kaiming_normal_(w, nonlinearity="relu")`). The default.
    case kaimingNormal = "kaiming"
    /// Glorot and Bengio: U(-a, a) with a = sqrt(6 / (fan_in + fan_out)) (PyTorch's `xavier_uniform_`).
    case xavierUniform = "xavier"
    /// Glorot and Bengio, normal variant: std = sqrt(2 / (fan_in + fan_out)).
    case xavierNormal = "xavier-normal"

    /// Fills `count` weights at `data` with draws from `rng`, in order.
    public func fill(_ data: UnsafeMutablePointer<Float>, count: Int, fanIn: Int, fanOut: Int,
                     rng: inout SeededRNG) {
        switch self {
        case .kaimingNormal:
            let std = Float((2.0 / Double(fanIn)).squareRoot())
            for i in 0..<count { data[i] = rng.normal() * std }
        case .xavierNormal:
            let std = Float((2.0 / Double(fanIn + fanOut)).squareRoot())
            for i in 0..<count { data[i] = rng.normal() * std }
        case .xavierUniform:
            let a = Float((6.0 / Double(fanIn + fanOut)).squareRoot())
            for i in 0..<count { data[i] = (2 * rng.uniform() - 1) * a }
        }
    }
}
