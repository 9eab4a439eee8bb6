import Platform

/// Wall time per top-level layer of a model, forward and backward, summed over the passes made
/// while it is attached (`Model.profile`; `ddp bench step --layers` prints it).
public final class LayerProfile {
    public let names: [String]
    public private(set) var forwardSeconds: [Double]
    public private(set) var backwardSeconds: [Double]
    public private(set) var forwardPasses = 0
    public private(set) var backwardPasses = 0

    public init(names: [String]) {
        self.names = names
        forwardSeconds = Array(repeating: 0, count: names.count)
        backwardSeconds = Array(repeating: 0, count: names.count)
    }

    /// Forgets every pass so far (after warm-up steps).
    public func reset() {
        forwardSeconds = Array(repeating: 0, count: names.count)
        backwardSeconds = Array(repeating: 0, count: names.count)
        forwardPasses = 0
        backwardPasses = 0
    }

    func addForward(layer: Int, since start: Double) {
        forwardSeconds[layer] += MonotonicClock.seconds() - start
        if layer == names.count - 1 { forwardPasses += 1 }
    }

    func addBackward(layer: Int, since start: Double) {
        backwardSeconds[layer] += MonotonicClock.seconds() - start
        if layer == 0 { backwardPasses += 1 }
    }
}
