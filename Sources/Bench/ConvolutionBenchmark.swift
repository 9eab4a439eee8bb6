import Layers

/// `ddp bench conv`: forward and backward time of single 3x3, padding-1 convolution layers with
/// each algorithm (`Conv2d.Algorithm`), on the shapes of the models' such layers (stride 1, and
/// resnet20's stride-2 ones): what decides `ConvolutionChoice`'s default. Each layer is timed
/// alone on random data (weights by the default `WeightInit`), its input gradient included
/// unless it is a first layer (one input channel); each figure is the median of the timed
/// passes after two untimed ones.
public enum ConvolutionBenchmark {
    public struct Shape: Sendable {
        public var label: String
        public var inChannels: Int, outChannels: Int, side: Int, stride: Int

        public init(label: String, inChannels: Int, outChannels: Int, side: Int, stride: Int = 1) {
            self.label = label; self.inChannels = inChannels; self.outChannels = outChannels; self.side = side
            self.stride = stride
        }
    }

    /// fmnist-cnn's 3x3 layers and resnet20's stride-1 3x3 layers on 1x28x28 inputs.
    public static let modelShapes: [Shape] = [
        .init(label: "fmnist-cnn 0", inChannels: 1, outChannels: 32, side: 28),
        .init(label: "fmnist-cnn 3", inChannels: 32, outChannels: 32, side: 28),
        .init(label: "fmnist-cnn 7", inChannels: 32, outChannels: 64, side: 14),
        .init(label: "fmnist-cnn 10", inChannels: 64, outChannels: 64, side: 14),
        .init(label: "resnet20 conv1", inChannels: 1, outChannels: 16, side: 28),
        .init(label: "resnet20 layer1", inChannels: 16, outChannels: 16, side: 28),
        .init(label: "resnet20 layer2", inChannels: 32, outChannels: 32, side: 14),
        .init(label: "resnet20 layer3", inChannels: 64, outChannels: 64, side: 7),
        .init(label: "resnet20 layer2.0.conv1", inChannels: 16, outChannels: 32, side: 28, stride: 2),
        .init(label: "resnet20 layer3.0.conv1", inChannels: 32, outChannels: 64, side: 14, stride: 2),
    ]

    public struct Row: Sendable {
        public var shape: Shape
        /// What the layer ran (a request that cannot run falls back: see `reason`).
        public var algorithm: Conv2d.Algorithm
        public var reason: String
        public var forwardSeconds: Double, backwardSeconds: Double
    }

    /// Every shape with every algorithm that runs on it here, `minTime` seconds of timed passes
    /// each (at least 3).
    public static func run(shapes: [Shape], algorithms: [Conv2d.Algorithm], batch: Int, minTime: Double) throws -> [Row] {
        var rows: [Row] = []
        for shape in shapes {
            for algorithm in algorithms {
                let conv = try ConvolutionTuner.freshLayer(
                    name: shape.label, input: .map(channels: shape.inChannels, height: shape.side, width: shape.side),
                    outChannels: shape.outChannels, kernelSize: 3, stride: shape.stride, padding: 1, bias: false, on: algorithm)
                guard conv.algorithm == algorithm else { continue }
                // Two warm-ups; a first layer (one input channel) is never asked for an input gradient.
                let passes = ConvolutionTuner.passTimes(conv, batch: batch, inputGradient: shape.inChannels != 1, warmUps: 2,
                                                        minTime: minTime)
                let (forward, backward) = (Median.of(passes.map(\.forward)), Median.of(passes.map(\.backward)))
                rows.append(Row(shape: shape, algorithm: algorithm, reason: conv.algorithmReason,
                                forwardSeconds: forward, backwardSeconds: backward))
            }
        }
        return rows
    }
}
