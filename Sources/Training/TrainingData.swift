import AllReduce
import Data
import Layers
import Foundation
import Tensor

/// The training and test sets of a run, with the normalization computed from the training set
/// and the batch assemblers that turn indices into normalized float batches.
public final class TrainingData {
    public let train: Dataset
    public let test: Dataset
    /// Training samples in the data set, before `--train-subset`.
    let availableTrainCount: Int
    let normalization: Normalization
    public let trainBatches: BatchAssembler
    let testBatches: BatchAssembler
    var inputShape: [Int] { [train.channels, train.height, train.width] }
    var classes: Int { train.classes }

    public init(config: TrainConfig) throws {
        let (fullTrain, test) = try DatasetLoader.loadSplits(name: config.dataset, dataDir: config.dataDir,
                                                             synthetic: config.synthetic, options: config.sourceOptions)
        train = config.trainSubset > 0 ? fullTrain.subset(0..<min(config.trainSubset, fullTrain.count)) : fullTrain
        availableTrainCount = fullTrain.count
        self.test = test
        normalization = Normalization.of(fullTrain)
        // By the data set's own name: a packed file keeps the recipe of what it was packed from.
        let augmentation = config.augment ? Augmentation.standard(forDataset: fullTrain.name, height: fullTrain.height,
                                                                      width: fullTrain.width) : .none
        trainBatches = try BatchAssembler(dataset: train, normalization: normalization, augmentation: augmentation)
        testBatches = try BatchAssembler(dataset: test, normalization: normalization)
    }

    /// The model of `config` (spec, init, seed, precision) for these data, built on every rank; a
    /// bad spec, or a precision a rank's CPU cannot run, fails on all of them together.
    func model(_ config: TrainConfig, comm: any Communicator) throws -> Model {
        let spec = config.model
        return try World.agree(comm) {
            if let problem = config.precision.problem { throw ModelError(problem) }
            do {
                return try Model(spec: spec, inputShape: inputShape, classes: classes, seed: config.seed,
                                 options: ModelOptions(weightInit: config.weightInit, precision: config.precision))
            } catch let e as ModelError {
                throw ModelError("--model: " + KnownName.specProblem(spec, e))
            }
        }
    }

    /// `model(_:comm:)` with rank 0's parameters on every rank: identical replicas.
    public func replica(_ config: TrainConfig, comm: any Communicator) throws -> Model {
        let m = try model(config, comm: comm)
        try comm.broadcast(m.parameters.data, count: m.parameterCount, root: 0)
        return m
    }
}
