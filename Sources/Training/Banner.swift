import Foundation
import Layers
import Tensor

/// The start banner rank 0 prints: what is trained, on what, with which kernel, how fast it can go.
enum Banner {
    static func text(config: TrainConfig, model: Model, data: TrainingData, ranks: Int, stepsPerEpoch: Int,
                     kernelPaths: [KernelPath]) -> String {
        let g = config.batchSize * ranks
        return """
        ddp train: \(config.model) (\(model.parameterCount) parameters) on \(config.dataset) \
        (\(data.train.count) train / \(data.test.count) test, \(data.inputShape.map(String.init).joined(separator: "x")), \(data.classes) classes)
          ranks \(ranks) x batch \(config.batchSize) = global batch \(g), \(stepsPerEpoch) steps/epoch, \(config.epochs) epochs
          \(config.optimizer.rawValue) lr \(config.effectiveLR(ranks: ranks))\(config.scaleLR ? " (scaled x\(ranks))" : "") \
        schedule \(config.schedule.rawValue) momentum \(config.momentum)\(config.nesterov ? " nesterov" : "") wd \(config.weightDecay)\
        \(config.syncBN ? " sync-bn" : "")\(config.augment ? " augment" : "") seed \(config.seed)
          BLAS: \(BLASRuntime.describe())
          kernels: \(kernels(kernelPaths))
          convolutions: \(DirectConvolution.describe())
        """
    }

    /// This process's kernel path, or which ranks run which when they differ.
    static func kernels(_ paths: [KernelPath]) -> String {
        guard Set(paths).count > 1 else { return KernelPath.describe() }
        let groups = KernelPath.allCases.map { path in
            let ranks = paths.indices.filter { paths[$0] == path }.map(String.init)
            return "\(path.rawValue) on rank\(ranks.count == 1 ? "" : "s") \(ranks.joined(separator: ", "))"
        }
        return "mixed: \(groups.joined(separator: "; ")). Each rank's share of the gradient rounds its own way; "
            + "the parameters stay identical (one allreduced gradient, an update that is bit-identical on both paths)"
    }
}
