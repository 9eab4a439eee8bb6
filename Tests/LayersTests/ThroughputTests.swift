import Foundation
import XCTest
import Layers
import Tensor

/// Images per second of forward + loss + backward, and where the time goes per layer. A
/// measurement, not a test: it runs only with DDP_BENCH set, in a release build:
///
///     OPENBLAS_CORETYPE=SkylakeX OPENBLAS_NUM_THREADS=1 DDP_BENCH=1 \
///         swift test -c release --filter ThroughputTests
final class ThroughputTests: XCTestCase {
    func testTrainingStepThroughput() throws {
        let env = ProcessInfo.processInfo.environment
        try XCTSkipUnless(env["DDP_BENCH"] != nil, "set DDP_BENCH=1 (release build) to measure")
        let spec = env["DDP_BENCH_MODEL"] ?? "fmnist-cnn"
        let batch = Int(env["DDP_BENCH_BATCH"] ?? "") ?? 64
        let steps = Int(env["DDP_BENCH_STEPS"] ?? "") ?? 30
        let shape = spec == "resnet20" ? [3, 32, 32] : [1, 28, 28]
        let model = try Model(spec: spec, inputShape: shape, classes: 10, seed: 1)
        if let budget = Int(env["DDP_BENCH_COLUMN_BUDGET"] ?? "") {
            for case let conv as Conv2d in model.layers { conv.columnBudget = budget }
        }
        let loss = SoftmaxCrossEntropy(classes: 10)
        var rng = SeededRNG(seed: 2)
        let input = Tensor(shape: [batch] + shape)
        for i in 0..<input.count { input[i] = rng.normal() }
        let labels = (0..<batch).map { _ in Int32(rng.below(10)) }

        func step() {
            let logits = model.forward(input, training: true)
            model.backward(outputGradient: loss.forward(logits: logits, labels: labels).gradient)
        }
        for _ in 0..<3 { step() }
        // Wall time per step, and the process's CPU time over all steps: on a shared machine the
        // CPU time is what the step costs when it has a core to itself.
        var times: [Double] = []
        let cpuStart = processCPUSeconds()
        for _ in 0..<steps {
            let t = DispatchTime.now().uptimeNanoseconds
            step()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t) * 1e-9)
        }
        let cpu = (processCPUSeconds() - cpuStart) / Double(steps)
        times.sort()
        let median = times[times.count / 2]
        print(String(format: "THROUGHPUT %@ batch %d: median step %.2f ms, %.0f images/s (best %.0f); CPU %.2f ms/step, %.0f images per CPU-second",
                     spec, batch, median * 1e3, Double(batch) / median, Double(batch) / times[0], cpu * 1e3, Double(batch) / cpu))

        // Per layer: forward and backward times, medians over the same number of steps.
        let layers = model.layers
        var forward = Array(repeating: [Double](), count: layers.count), backward = forward
        let gradients = layers.map { Tensor(shape: $0.inputShape.tensorShape(batch: batch)) }
        let first = Tensor(shape: layers[0].inputShape.tensorShape(batch: batch))
        for i in 0..<first.count { first[i] = rng.normal() }
        for _ in 0..<min(steps, 10) {
            var x = first
            for (i, layer) in layers.enumerated() {
                let t = DispatchTime.now().uptimeNanoseconds
                x = layer.forward(x, training: true)
                forward[i].append(Double(DispatchTime.now().uptimeNanoseconds - t) * 1e-9)
            }
            var dy = loss.forward(logits: x, labels: labels).gradient
            for i in stride(from: layers.count - 1, through: 0, by: -1) {
                let t = DispatchTime.now().uptimeNanoseconds
                let dx: Tensor? = i == 0 ? nil : layers[i].passesInputThrough ? dy : gradients[i]
                layers[i].backward(dy, inputGradient: dx)
                backward[i].append(Double(DispatchTime.now().uptimeNanoseconds - t) * 1e-9)
                if let dx { dy = dx }
            }
        }
        for (i, layer) in layers.enumerated() {
            let f = forward[i].sorted()[forward[i].count / 2], b = backward[i].sorted()[backward[i].count / 2]
            print(String(format: "  %-10@ %-45@ fwd %7.2f ms  bwd %7.2f ms", layer.name, layer.kind, f * 1e3, b * 1e3))
        }
    }
}

private func processCPUSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}
