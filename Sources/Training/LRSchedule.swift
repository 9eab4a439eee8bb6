import Foundation

/// Learning-rate (and, for one-cycle, momentum) as a function of the global step.
///
/// Steps count optimizer updates from 0. Each shape follows the PyTorch scheduler of the same
/// name stepped once per batch, so curves can be compared with torch runs:
/// - constant: `lr` throughout.
/// - step: StepLR, `lr * gamma^floor(epoch / stepEpochs)`.
/// - cosine: CosineAnnealingLR with T_max = all steps and eta_min = 0.
/// - onecycle: OneCycleLR defaults (pct_start 0.3, cosine annealing, div_factor 25,
///   final_div_factor 1e4, momentum cycled between 0.85 and 0.95).
/// Warmup, when asked, multiplies the shape by a linear ramp (s+1)/W over the first W steps
/// (Goyal et al.'s gradual warmup for large global batches).
public struct LRSchedule: Sendable, Equatable {
    public enum Kind: String, CaseIterable, Codable, Sendable { case constant, step, cosine, onecycle }

    public let kind: Kind
    public let baseLR: Double
    public let totalSteps: Int
    public let stepsPerEpoch: Int
    public let warmupSteps: Int
    public let stepEpochs: Int
    public let gamma: Double

    public static let oneCyclePctStart = 0.3, oneCycleDivFactor = 25.0, oneCycleFinalDivFactor = 1e4
    public static let oneCycleBaseMomentum = 0.85, oneCycleMaxMomentum = 0.95

    public init(kind: Kind, baseLR: Double, totalSteps: Int, stepsPerEpoch: Int,
                warmupSteps: Int = 0, stepEpochs: Int = 1, gamma: Double = 0.1) {
        self.kind = kind; self.baseLR = baseLR; self.totalSteps = max(totalSteps, 1)
        self.stepsPerEpoch = max(stepsPerEpoch, 1); self.warmupSteps = max(warmupSteps, 0)
        self.stepEpochs = max(stepEpochs, 1); self.gamma = gamma
    }

    /// Learning rate for the update at `step`.
    public func learningRate(at step: Int) -> Double {
        var lr: Double
        switch kind {
        case .constant:
            lr = baseLR
        case .step:
            lr = baseLR * pow(gamma, Double((step / stepsPerEpoch) / stepEpochs))
        case .cosine:
            let t = Double(min(step, totalSteps))
            lr = baseLR * (1 + cos(Double.pi * t / Double(totalSteps))) / 2
        case .onecycle:
            lr = oneCycle(step).lr
        }
        if step < warmupSteps { lr *= Double(step + 1) / Double(warmupSteps) }
        return lr
    }

    /// Momentum for the update at `step`: cycled by one-cycle, otherwise `fixed`.
    public func momentum(at step: Int, fixed: Double) -> Double {
        kind == .onecycle && fixed > 0 ? oneCycle(step).momentum : fixed
    }

    /// torch.optim.lr_scheduler.OneCycleLR's two-phase cosine schedule.
    private func oneCycle(_ step: Int) -> (lr: Double, momentum: Double) {
        let maxLR = baseLR
        let initialLR = maxLR / Self.oneCycleDivFactor
        let minLR = initialLR / Self.oneCycleFinalDivFactor
        let phase1End = Self.oneCyclePctStart * Double(totalSteps) - 1
        let phase2End = Double(totalSteps - 1)
        let s = Double(min(step, totalSteps - 1))
        func anneal(_ start: Double, _ end: Double, _ pct: Double) -> Double {
            end + (start - end) / 2 * (cos(Double.pi * pct) + 1)
        }
        if s <= phase1End {
            let pct = phase1End > 0 ? s / phase1End : 1
            return (anneal(initialLR, maxLR, pct),
                    anneal(Self.oneCycleMaxMomentum, Self.oneCycleBaseMomentum, pct))
        }
        let span = phase2End - phase1End
        let pct = span > 0 ? (s - phase1End) / span : 1
        return (anneal(maxLR, minLR, pct), anneal(Self.oneCycleBaseMomentum, Self.oneCycleMaxMomentum, pct))
    }
}
