import XCTest
import Layers
import Tensor

/// The spec-string grammar: every token, its defaults, names, and one-line errors.
final class ModelSpecTests: XCTestCase {
    private let input = FeatureShape.map(channels: 3, height: 16, width: 16)

    func testEveryTokenAndItsDefaults() throws {
        let layers = try ModelSpec.layers(
            for: "c8-c4k5s2p1nb-bn-relu-lrelu-lrelu0.2-tanh-sigmoid-mp2-ap2s1-res6s2-drop-gap-drop0.1-fc7-fc",
            input: input, classes: 5)
        func conv(_ i: Int) -> Conv2d { layers[i] as! Conv2d }
        XCTAssertEqual([conv(0).kernelSize, conv(0).stride, conv(0).padding], [3, 1, 1])
        XCTAssertTrue(conv(0).hasBias)
        XCTAssertEqual(conv(0).outputShape, .map(channels: 8, height: 16, width: 16))
        XCTAssertEqual([conv(1).kernelSize, conv(1).stride, conv(1).padding], [5, 2, 1])
        XCTAssertFalse(conv(1).hasBias)
        XCTAssertEqual(conv(1).outputShape, .map(channels: 4, height: 7, width: 7))
        XCTAssertTrue(layers[2] is BatchNorm2d && layers[3] is ReLU)
        XCTAssertEqual((layers[4] as! LeakyReLU).slope, 0.01)
        XCTAssertEqual((layers[5] as! LeakyReLU).slope, 0.2)
        XCTAssertEqual((layers[6] as? SmoothActivation)?.function, .tanh)
        XCTAssertEqual((layers[7] as? SmoothActivation)?.function, .sigmoid)
        XCTAssertEqual((layers[8] as! MaxPool2d).stride, 2)
        XCTAssertEqual(layers[8].outputShape, .map(channels: 4, height: 3, width: 3))
        XCTAssertEqual((layers[9] as! AvgPool2d).stride, 1)
        let block = layers[10] as! BasicBlock
        XCTAssertEqual([block.outChannels, block.stride], [6, 2])
        XCTAssertEqual(block.outputShape, .map(channels: 6, height: 1, width: 1))
        XCTAssertEqual((layers[11] as! Dropout).probability, 0.5)
        XCTAssertTrue(layers[12] is GlobalAvgPool)
        XCTAssertEqual(layers[12].outputShape, .flat(6))
        XCTAssertEqual((layers[13] as! Dropout).probability, 0.1)
        XCTAssertEqual(layers[14].outputShape, .flat(7))
        XCTAssertEqual(layers.map(\.name), (0..<layers.count).map(String.init))
        XCTAssertEqual(layers.last!.outputShape, .flat(5), "fc without a number gives the classes")
    }

    func testFlattenOfMapsAndGapNeedsMaps() throws {
        XCTAssertEqual(try ModelSpec.layers(for: "flatten-fc", input: input, classes: 5)[0].outputShape, .flat(768))
        XCTAssertThrowsError(try ModelSpec.layers(for: "flatten-gap-fc", input: input, classes: 5))
    }

    func testPresetsEqualTheirSpecStrings() throws {
        for name in ModelSpec.presetNames where name != "resnet20" {
            let preset = try Model(spec: name, inputShape: [1, 28, 28], classes: 10, seed: 1)
            let spelled = try Model(spec: ModelSpec.presetSpec(name)!, inputShape: [1, 28, 28], classes: 10, seed: 1)
            XCTAssertEqual(preset.stateDict().map(\.name), spelled.stateDict().map(\.name), name)
            XCTAssertEqual(preset.parameters.array, spelled.parameters.array, name)
            XCTAssertEqual(preset.layerSummaries.map(\.kind), spelled.layerSummaries.map(\.kind), name)
        }
        // resnet20 is the same network under torch-module names.
        let resnet = try Model(spec: "resnet20", inputShape: [3, 32, 32], classes: 10, seed: 1)
        let spelled = try Model(spec: ModelSpec.presetSpec("resnet20")!, inputShape: [3, 32, 32], classes: 10, seed: 1)
        XCTAssertEqual(resnet.parameters.array, spelled.parameters.array)
        XCTAssertEqual(resnet.layers.map(\.name),
                       ["conv1", "bn1", "relu", "layer1.0", "layer1.1", "layer1.2", "layer2.0", "layer2.1", "layer2.2",
                        "layer3.0", "layer3.1", "layer3.2", "avgpool", "fc"])
        XCTAssertEqual(spelled.stateDict()[6].name, "3.conv1.weight")
    }

    func testResidualBlocksInCustomSpecsAreNamedByIndex() throws {
        let model = try Model(spec: "c8nb-bn-relu-res16s2-gap-fc", inputShape: [1, 8, 8], classes: 10, seed: 1)
        let names = model.stateDict().map(\.name)
        XCTAssertTrue(names.contains("3.conv1.weight") && names.contains("3.shortcut.1.running_var"))
    }

    /// Errors name the spec, the token and its position, and say what was expected, on one line.
    func testErrorsAreOneClearLine() {
        let cases: [(String, String)] = [
            ("c8-bogus-fc", "token 2 'bogus': not a layer"),
            ("c8--fc", "empty token"),
            ("", "empty"),
            ("c8-fc", "token 2 'fc': Linear needs flat features, got a 8x16x16 feature map (put flatten or gap before it)"),
            ("flatten-c8-fc", "Conv2d needs a feature map input"),
            ("c8-flatten-fc12", "ends with 12 features, but the model needs 5 class logits"),
            ("c8-gap", "ends with 8 features"),
            ("c8k3s2s2-gap-fc", "option 's' given twice"),
            ("c8q3-gap-fc", "unexpected 'q3'"),
            ("mp32-gap-fc", "smaller than the 32x32 MaxPool2d window"),
            ("c8k40p0-gap-fc", "smaller than the 40x40 Conv2d kernel with padding 0"),
            ("drop1.5-flatten-fc", "dropout probability must be in [0, 1)"),
            ("lrelu-1-flatten-fc", "token 2 '1': not a layer"),
            ("c0-gap-fc", "Conv2d needs out channels"),
            ("res-gap-fc", "res needs an output width"),
        ]
        for (spec, fragment) in cases {
            XCTAssertThrowsError(try ModelSpec.layers(for: spec, input: input, classes: 5), spec) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains(fragment), "'\(spec)': '\(text)' lacks '\(fragment)'")
                XCTAssertFalse(text.contains("\n"))
            }
        }
    }

    /// One token alone, as `ddp gradcheck --layer` builds it: named after the token, shaped by its input.
    func testSingleLayerFromItsToken() throws {
        let maps = FeatureShape.map(channels: 3, height: 8, width: 8)
        let conv = try ModelSpec.layer(token: "c8k3p1", input: maps, classes: 10)
        XCTAssertEqual(conv.name, "c8k3p1")
        XCTAssertEqual(conv.kind, "Conv2d(3->8, 3x3, s1, p1)")
        XCTAssertEqual(conv.outputShape, .map(channels: 8, height: 8, width: 8))
        XCTAssertEqual(try ModelSpec.layer(token: "fc", input: .flat(12), classes: 7).outputShape, .flat(7))
        for (token, fragment) in [("c8-bn", "not one layer token"), ("", "not one layer token"),
                                  ("fc10", "Linear needs flat features"), ("zz", "not a layer")] {
            XCTAssertThrowsError(try ModelSpec.layer(token: token, input: maps, classes: 10), token) { error in
                XCTAssertTrue("\(error)".contains(fragment), "'\(token)': \(error)")
            }
        }
    }

    func testHelpMentionsEveryToken() {
        for token in ["c<out>", "bn", "relu", "lrelu", "tanh", "sigmoid", "flatten", "gap", "drop", "mp<k>", "ap<k>", "fc", "res<out>",
                      "mlp", "lenet5", "fmnist-cnn", "resnet20"] {
            XCTAssertTrue(ModelSpec.help.contains(token), token)
        }
    }
}
