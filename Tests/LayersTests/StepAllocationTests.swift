import XCTest
import CAllocationCounter
import Tensor
import Layers

/// "The step allocates nothing", measured: CAllocationCounter replaces malloc & co. in the test
/// binary and counts the heap calls of the test's thread while switched on. With one thread the
/// whole step runs on it (OpenBLAS and `Parallel.forEach` run inline), so nothing escapes the count.
final class StepAllocationTests: XCTestCase {
    private var sink: Float = 0

    private func countHeapCalls(_ body: () -> Void) -> AllocationCounts {
        allocation_counting_begin()
        body()
        return allocation_counting_end()
    }

    /// The counter sees Swift's own allocations; without this a zero below would prove nothing.
    func testCounterSeesAllocations() {
        let count = Int.random(in: 1000...2000)
        let counts = countHeapCalls {
            let values = [Float](repeating: 1, count: count)
            sink += values[count - 1]
        }
        XCTAssertGreaterThanOrEqual(counts.allocations, 1)
        XCTAssertGreaterThanOrEqual(counts.frees, 1)
    }

    /// After one warm-up step (which sizes every buffer), forward, loss, backward and the SGD step
    /// (momentum, Nesterov, weight decay) make no heap call at all, with dropout active.
    func testTrainingStepAllocatesNothing() throws {
        let savedThreads = BLASRuntime.threads
        BLASRuntime.setThreads(1)
        XCTAssertEqual(Parallel.workers(count: 1000, threads: BLASRuntime.threads), 1)
        defer { BLASRuntime.setThreads(savedThreads) }
        for spec in ["fmnist-cnn", "resnet20"] {
            let model = try Model(spec: spec, inputShape: [1, 28, 28], classes: 10, seed: 3)
            let loss = SoftmaxCrossEntropy(classes: 10)
            let sgd = try SGD(count: model.parameterCount, learningRate: 0.01, momentum: 0.9, weightDecay: 5e-4, nesterov: true)
            var rng = SeededRNG(seed: 4)
            let input = Tensor(shape: [4, 1, 28, 28])
            for i in 0..<input.count { input[i] = rng.normal() }
            let labels: [Int32] = [0, 1, 2, 3]
            var losses: [Double] = []
            losses.reserveCapacity(4)
            func step() {
                let result = loss.forward(logits: model.forward(input, training: true), labels: labels)
                model.backward(outputGradient: result.gradient)
                sgd.step(parameters: model.parameters.data, gradients: model.gradients.data, count: model.parameterCount)
                losses.append(result.loss)
            }
            step()
            let counts = countHeapCalls { for _ in 0..<2 { step() } }
            print("\(spec): \(counts.allocations) allocations, \(counts.frees) frees in 2 training steps")
            XCTAssertEqual(counts.allocations, 0, "\(spec): heap allocations in a training step")
            XCTAssertEqual(counts.frees, 0, "\(spec): heap frees in a training step")
            XCTAssertTrue(losses.allSatisfy(\.isFinite), "\(spec): losses \(losses)")
        }
    }
}
