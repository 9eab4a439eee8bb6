import Layers
import Platform
import Tensor

/// `ddp bench conv`: forward and backward time of single 3x3, padding-1 convolution layers with
/// each algorithm (`Conv2d.Algorithm`), on the shapes of the models' such layers (stride 1, and
/// resnet20's stride-2 ones): what decides `ConvolutionChoice`'s default. Each layer is timed alone on random data
/// (weights Kaiming-normal), its input gradient included unless it is a first layer (one
/// input channel); each figure is the median of the timed passes after two untimed ones.
public enum ConvolutionBenchmark {
    public struct Shape: Sendable {
        public var label: String
        public var inChannels: Int, outChannels: Int, side: Int, stride: Int

        public init(label: String, inChannels: Int, outChannels: Int, side: Int, stride: Int = 1) {
            self.label = label; self.inChannels = inChannels; self.outChannels = outChannels; self.side = side
            self.stride = stride
        }

        /// The output's side.
        var outSide: Int { (side - 1) / stride + 1 }
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
                // direct-bf16 is the direct request under --precision bf16.
                let bf16 = algorithm == .directBF16
                let conv = try Conv2d(name: shape.label, input: .map(channels: shape.inChannels, height: shape.side, width: shape.side),
                                      outChannels: shape.outChannels, kernelSize: 3, stride: shape.stride, padding: 1, bias: false,
                                      algorithm: bf16 ? .direct : ConvolutionRequest(rawValue: algorithm.rawValue))
                if bf16 { conv.setPrecision(.bf16) }
                guard conv.algorithm == algorithm else { continue }
                let (forward, backward) = time(conv, shape: shape, batch: batch, minTime: minTime)
                rows.append(Row(shape: shape, algorithm: algorithm, reason: conv.algorithmReason,
                                forwardSeconds: forward, backwardSeconds: backward))
            }
        }
        return rows
    }

    /// Median seconds of one forward and one backward pass.
    private static func time(_ conv: Conv2d, shape: Shape, batch: Int, minTime: Double) -> (Double, Double) {
        // Binds the layer to its weights (kept alive by the layer's views) and a workspace.
        _ = ParameterStore(layers: [conv], seed: 7)
        var rng = SeededRNG(seed: 3)
        let pixels = batch * shape.side * shape.side
        let x = Tensor(shape: [shape.inChannels, batch, shape.side, shape.side])
        let dy = Tensor(shape: [shape.outChannels, batch, shape.outSide, shape.outSide])
        for i in 0..<x.count { x[i] = rng.normal() }
        for i in 0..<dy.count { dy[i] = rng.normal() }
        let dx = shape.inChannels == 1 ? nil : Tensor(shape: [shape.inChannels, pixels])
        var forward: [Double] = [], backward: [Double] = []
        var spent = 0.0, passes = 0
        while passes < 5 || spent < minTime {
            let t0 = MonotonicClock.seconds()
            _ = conv.forward(x, training: true)
            let t1 = MonotonicClock.seconds()
            conv.backward(dy, inputGradient: dx)
            let t2 = MonotonicClock.seconds()
            passes += 1
            guard passes > 2 else { continue }
            forward.append(t1 - t0); backward.append(t2 - t1)
            spent += t2 - t0
        }
        return (Median.of(forward), Median.of(backward))
    }
}
