import Foundation
import Layers
import Tensor

/// The start banner rank 0 prints: what is trained, on what, with which kernel, how fast it can go.
enum Banner {
    static func text(config: TrainConfig, model: Model, data: TrainingData, ranks: Int, stepsPerEpoch: Int) -> String {
        let g = config.batchSize * ranks
        return """
        ddp train: \(config.model) (\(model.parameterCount) parameters) on \(config.dataset) \
        (\(data.train.count) train / \(data.test.count) test, \(data.inputShape.map(String.init).joined(separator: "x")), \(data.classes) classes)
          ranks \(ranks) x batch \(config.batchSize) = global batch \(g), \(stepsPerEpoch) steps/epoch, \(config.epochs) epochs
          \(config.optimizer.rawValue) lr \(config.effectiveLR(ranks: ranks))\(config.scaleLR ? " (scaled x\(ranks))" : "") \
        schedule \(config.schedule.rawValue) momentum \(config.momentum)\(config.nesterov ? " nesterov" : "") wd \(config.weightDecay)\
        \(config.syncBN ? " sync-bn" : "")\(config.augment ? " augment" : "") seed \(config.seed)
          BLAS: \(BLASRuntime.describe())
          convolutions: \(DirectConvolution.describe())
        """
    }
}
