import Data
import Foundation
import Tensor

/// The training and test sets of a run, with the normalization computed from the training set.
final class TrainingData {
    let train: Dataset
    let test: Dataset
    let normalization: Normalization
    let augmentation: Augmentation?
    var inputShape: [Int] { [train.channels, train.height, train.width] }
    var classes: Int { train.classes }

    init(config: TrainConfig, ranks: Int) throws {
        var train = try DatasetLoader.load(name: config.dataset, dataDir: config.dataDir, split: .train, seed: config.seed)
        test = try DatasetLoader.load(name: config.dataset, dataDir: config.dataDir, split: .test, seed: config.seed)
        if config.trainSubset > 0 { train = train.prefix(config.trainSubset) }
        self.train = train
        normalization = Normalization.fromTrainingSet(train)
        augmentation = config.augment ? Augmentation.standard(for: train) : nil
    }

    func fillTrainBatch(indices: ArraySlice<Int>, rng: inout SeededRNG,
                        images: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Int32>) {
        train.fillBatch(indices: indices, normalization: normalization, augmentation: augmentation, rng: &rng,
                        images: images, labels: labels)
    }
}
