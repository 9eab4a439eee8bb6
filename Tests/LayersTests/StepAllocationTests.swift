import Platform
import XCTest
import CAllocationCounter
import Tensor
import Layers

/// "The step allocates nothing", measured: CAllocationCounter replaces malloc & co. in the test
/// binary and counts the heap calls of the test's thread while switched on. With one thread the
/// whole step runs on it (OpenBLAS and `Parallel.forEach` run inline), so nothing escapes the count.
///
/// What ddp owns is its own code: that makes no heap call. OpenBLAS's calls are counted apart,
/// by the caller's address: its small-matrix sgemm kernels for SkylakeX and Cooperlake (chosen
/// for small products, e.g. resnet20's strided and 1x1 convolutions at a small batch) malloc
/// and free a packing buffer inside every call, which no caller can prevent. Those must balance
/// (OpenBLAS keeps nothing between steps), and are reported.
final class StepAllocationTests: XCTestCase {
    private var sink: Float = 0

    override class func setUp() {
        super.setUp()
        _ = allocation_counting_attribute_library("libopenblas")
    }

    private func countHeapCalls(_ body: () -> Void) -> AllocationCounts {
        allocation_counting_begin()
        body()
        return allocation_counting_end()
    }

    /// The attribution works: OpenBLAS is found, and a heap call made here is not counted as its.
    func testOpenBLASIsAttributedApart() {
        XCTAssertGreaterThan(allocation_counting_attribute_library("libopenblas"), 0, "libopenblas is not loaded")
        let counts = countHeapCalls {
            let values = [Float](repeating: 1, count: Int.random(in: 1000...2000))
            sink += values[0]
        }
        XCTAssertGreaterThanOrEqual(counts.allocations, 1)
        XCTAssertEqual(counts.libraryAllocations, 0)
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
            let ran = "\(spec) with BLAS core \(BLASRuntime.status.coreName), kernels \(KernelPath.current.rawValue), "
                + "convolutions: \(ConvolutionChoice.describe())"
            print("\(ran): ddp \(counts.allocations) allocations, \(counts.frees) frees; OpenBLAS "
                  + "\(counts.libraryAllocations) allocations, \(counts.libraryFrees) frees in 2 training steps")
            XCTAssertEqual(counts.allocations, 0, "\(ran): heap allocations in ddp's code during a training step")
            XCTAssertEqual(counts.frees, 0, "\(ran): heap frees in ddp's code during a training step")
            XCTAssertEqual(counts.libraryAllocations, counts.libraryFrees, "\(ran): OpenBLAS kept memory across steps")
            XCTAssertTrue(losses.allSatisfy(\.isFinite), "\(spec): losses \(losses)")
        }
    }
}
