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

    /// The model of `config` (spec, init, seed, precision, convolution plan) for these data,
    /// built on every rank; a bad spec, or a precision a rank's CPU cannot run, fails on all of
    /// them together. Under `request` `auto` the convolutions run `config.convolutionPlan`, or,
    /// for a run that has none yet, a plan timed here (`tunedPlan`); the model keeps it
    /// (`Model.convolutionPlan`) for the run to record. A resume runs its recorded plan unless
    /// `request` names an algorithm.
    func model(_ config: TrainConfig, comm: any Communicator,
               request: ConvolutionRequest? = ConvolutionRequest.environment) throws -> Model {
        let spec = config.model
        var options = ModelOptions(weightInit: config.weightInit, precision: config.precision)
        if request == .auto || request == nil {
            options.convolutionPlan = config.convolutionPlan
        }
        let build = {
            try World.agree(comm) {
                if let problem = config.precision.problem { throw ModelError(problem) }
                do {
                    return try Model(spec: spec, inputShape: self.inputShape, classes: self.classes, seed: config.seed,
                                     options: options)
                } catch let e as ModelError {
                    throw ModelError("--model: " + KnownName.specProblem(spec, e))
                }
            }
        }
        if request == .auto && options.convolutionPlan == nil {
            options.convolutionPlan = try tunedPlan(for: build(), precision: config.precision, batch: config.batchSize, comm: comm)
        }
        return try build()
    }

    /// `ConvolutionTuner` on the shapes of `model`'s convolutions, on every rank at once (the
    /// contention of the run itself). Each rank times the algorithms it can run (ranks of a mixed
    /// cluster differ: `KernelPath`) and leaves the others infinite; the sums over ranks keep an
    /// algorithm some rank cannot run infinite, and every rank takes rank 0's picks among them:
    /// one plan everywhere, which every rank can run.
    private func tunedPlan(for model: Model, precision: Precision, batch: Int, comm: any Communicator) throws -> ConvolutionPlan {
        let convolutions = model.layers.flatMap(\.convolutions)
        let candidates = convolutions.map { ConvolutionChoice.candidates($0.choiceLayer, precision: precision) }
        let measured = try ConvolutionTuner.measure(convolutions, candidates: candidates, first: model.layers.first as? Conv2d,
                                                    batch: batch)
        let all = Conv2d.Algorithm.allCases
        var seconds = [Double](repeating: .infinity, count: convolutions.count * all.count)
        for (i, row) in candidates.enumerated() {
            for (j, algorithm) in row.enumerated() { seconds[i * all.count + all.firstIndex(of: algorithm)!] = measured[i][j] }
        }
        try comm.allReduce(&seconds)
        let rows = convolutions.indices.map { i in seconds[i * all.count..<(i + 1) * all.count].map { $0 / Double(comm.size) } }
        var picks = rows.map { Int32(ConvolutionTuner.fastest($0)) }
        try comm.broadcast(&picks, root: 0)
        return ConvolutionPlan(convolutions: convolutions, candidates: rows.map { _ in all }, seconds: rows,
                               picks: picks.map(Int.init))
    }

    /// `model(_:comm:)` with rank 0's parameters on every rank: identical replicas.
    public func replica(_ config: TrainConfig, comm: any Communicator) throws -> Model {
        let m = try model(config, comm: comm)
        try comm.broadcast(m.parameters.data, count: m.parameterCount, root: 0)
        return m
    }
}
