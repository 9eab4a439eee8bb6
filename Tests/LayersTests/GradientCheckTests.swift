import XCTest
@testable import Layers
import Tensor

/// A test double: y = x * w per feature, with a backward that is deliberately wrong in one place
/// (input gradient scaled by `inputScale`, weight gradient by `weightScale`).
private final class MiscalibratedScale: Layer {
    let name = "wrong"
    let features: Int
    let inputScale: Float, weightScale: Float
    private var weight: Tensor!, weightGradient: Tensor!
    private var lastInput: Tensor?

    init(features: Int, inputScale: Float, weightScale: Float) {
        self.features = features; self.inputScale = inputScale; self.weightScale = weightScale
    }

    var kind: String { "MiscalibratedScale(dx*\(inputScale), dw*\(weightScale))" }
    var inputShape: FeatureShape { .flat(features) }
    var outputShape: FeatureShape { .flat(features) }
    var stateSpecs: [StateSpec] { [StateSpec(name: "weight", shape: [features], role: .parameter(.weight(fanIn: 1, fanOut: 1)))] }
    func bind(_ binding: LayerBinding) { weight = binding.parameters[0]; weightGradient = binding.gradients[0] }

    func forward(_ input: Tensor, training: Bool) -> Tensor {
        lastInput = input
        let y = Tensor(shape: input.shape)
        for i in 0..<y.count { y[i] = input[i] * weight[i % features] }
        return y
    }

    func backward(_ outputGradient: Tensor, inputGradient: Tensor?) {
        guard let x = lastInput else { return }
        weightGradient.fill(0)
        for i in 0..<x.count {
            weightGradient[i % features] += outputGradient[i] * x[i] * weightScale
            inputGradient?[i] = outputGradient[i] * weight[i % features] * inputScale
        }
    }
}

/// The checker itself: it must fail wrong backward passes and pass every preset.
final class GradientCheckTests: XCTestCase {
    func testDetectsWrongInputGradient() {
        let row = GradientCheck.check(layer: MiscalibratedScale(features: 6, inputScale: 1.1, weightScale: 1), batch: 3, seed: 131)
        print("  wrong dx: \(row)")
        XCTAssertFalse(row.passed)
        XCTAssertEqual(row.inputError ?? 0, 0.1 / 1.1, accuracy: 1e-3, "relative error of a 10% scale error")
        XCTAssertLessThan(row.parameterError ?? 1, 1e-3, "the weight gradient is right")
    }

    func testDetectsWrongParameterGradient() {
        let row = GradientCheck.check(layer: MiscalibratedScale(features: 6, inputScale: 1, weightScale: 0.98), batch: 3, seed: 132)
        print("  wrong dw: \(row)")
        XCTAssertFalse(row.passed)
        XCTAssertLessThan(row.inputError ?? 1, 1e-3)
        XCTAssertGreaterThan(row.parameterError ?? 0, 0.015)
    }

    func testCorrectDoublePasses() {
        assertPassed(GradientCheck.check(layer: MiscalibratedScale(features: 6, inputScale: 1, weightScale: 1), batch: 3, seed: 133))
    }

    /// The whole-model check fails a model with one wrong backward, whether the layer gets its own
    /// weight gradient wrong or the input gradient it hands to the layers before it; the same
    /// model with a correct backward passes.
    func testWholeModelCheckDetectsAWrongLayer() throws {
        let input = FeatureShape.map(channels: 1, height: 6, width: 6)
        for (inputScale, weightScale, fails) in [(Float(1), Float(0.9), true), (1.1, 1, true), (1, 1, false)] {
            let layers = try ModelSpec.layers(for: "c4nb-bn-relu-flatten-fc", input: input, classes: 3)
                + [MiscalibratedScale(features: 3, inputScale: inputScale, weightScale: weightScale)]
            let model = Model(layers: layers, spec: "c4nb-bn-relu-flatten-fc + wrong", inputShape: [1, 6, 6],
                              classes: 3, seed: 142, weightInit: .kaiming)
            let row = GradientCheck.checkModel(model, batch: 2, seed: 143)
            print("  model with dx*\(inputScale), dw*\(weightScale): \(row)")
            if fails {
                XCTAssertFalse(row.passed, "dx*\(inputScale), dw*\(weightScale)")
                XCTAssertGreaterThan(row.parameterError ?? 0, 0.05, "dx*\(inputScale), dw*\(weightScale)")
            } else {
                assertPassed(row)
            }
        }
    }

    /// Checking every layer, the loss and the whole model changes nothing in the model: not its
    /// parameters, running statistics, dropout generator or batch counter.
    func testCheckLeavesTheModelUntouched() throws {
        let model = try Model(spec: "c4nb-bn-relu-mp2-flatten-drop0.3-fc", inputShape: [1, 6, 6], classes: 3, seed: 134)
        _ = model.forward(Tensor(shape: [2, 1, 6, 6]), training: true)
        let parameters = model.parameters.array, buffers = model.buffers.array
        let rng = model.dropoutRNG, tracked = model.numBatchesTracked
        let rows = GradientCheck.checkAll(model, batch: 2, seed: 135)
        rows.forEach { assertPassed($0) }
        XCTAssertEqual(model.parameters.array, parameters)
        XCTAssertEqual(model.buffers.array, buffers)
        XCTAssertEqual(model.dropoutRNG, rng)
        XCTAssertEqual(model.numBatchesTracked, tracked)
    }

    /// Every layer of every preset, the loss, and each whole preset through the loss, at batch 2
    /// on both input shapes (few coordinates and directions per tensor to keep the debug-build
    /// suite quick; resnet20's layers on 3x32x32 only, its whole model on both, 16 of its 65
    /// parameter tensors spread over the net).
    /// A layer on F(4x4, 3x3) widens the tolerance (`convolutionToleranceFactor`).
    func testPresetsPass() throws {
        for name in ModelSpec.presetNames {
            for shape in [[1, 28, 28], [3, 32, 32]] {
                let model = try Model(spec: name, inputShape: shape, classes: 10, seed: 136)
                var options = GradientCheckOptions()
                options.tolerance *= convolutionToleranceFactor(model)
                options.directions = name == "resnet20" || name == "fmnist-cnn" ? 1 : 2
                options.maxTensors = name == "resnet20" ? 16 : nil
                options.maxCoordinates = name == "resnet20" ? 4 : 6
                var rows = [GradientCheck.checkModel(model, batch: 2, seed: 137, options: options)]
                if name != "resnet20" || shape[0] == 3 {
                    rows += GradientCheck.checkLayers(of: model, batch: 2, seed: 138, options: options)
                    XCTAssertEqual(rows.count, model.layers.count + 1)
                }
                for row in rows { assertPassed(row) }
            }
        }
        assertPassed(GradientCheck.checkLoss(classes: 10, batch: 4, seed: 139))
    }

    /// Without fusion, ReLU and BatchNorm2d are checked as separate layers.
    func testUnfusedLayers() throws {
        var options = GradientCheckOptions()
        options.maxCoordinates = 6
        let unfused = try Model(spec: "c8nb-bn-relu-mp2-c8nb-bn-relu-gap-fc", inputShape: [1, 12, 12], classes: 10, seed: 140,
                                options: ModelOptions(fuseBatchNormReLU: false))
        let rows = GradientCheck.checkAll(unfused, batch: 2, seed: 141, options: options)
        XCTAssertEqual(rows[1].kind, "BatchNorm2d(8)")
        XCTAssertEqual(rows[2].kind, "ReLU")
        rows.forEach { assertPassed($0) }
    }
}
