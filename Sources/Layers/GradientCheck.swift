import Tensor

/// Settings of a finite-difference gradient check.
///
/// Per-coordinate checks (layers, the loss) use central differences with step `step` on one
/// input or parameter element at a time; whole-model checks perturb one parameter tensor at a
/// time along random unit directions with step `directionalStep`. Forward passes run in Float32;
/// the objective is accumulated in Double. The error of a coordinate is
/// |analytic - numeric| / max(|analytic|, |numeric|, floor * s), where s is the largest
/// |analytic| entry of that tensor (the norm of its gradient for directions): entries far below
/// their tensor's scale are judged against that scale, not against their own rounding noise.
public struct GradientCheckOptions: Sendable {
    /// Central-difference step for single coordinates (inputs and weights are O(1)).
    public var step: Float = 1e-2
    /// Step along a unit direction for whole-model checks (smaller: many ReLUs sit in the way).
    public var directionalStep: Float = 1e-3
    /// Largest acceptable relative error.
    public var tolerance: Double = 1e-2
    /// Fraction of the tensor's gradient scale below which errors count as absolute.
    public var floor: Double = 1e-3
    /// Coordinates checked per tensor (all of them when the tensor is smaller).
    public var maxCoordinates: Int = 48
    /// Random directions per parameter tensor in whole-model checks.
    public var directions: Int = 2

    public init() {}
}

/// One line of a gradient-check report.
public struct GradientCheckRow: Sendable, Equatable {
    /// Layer name ("3", "layer2.0"), "loss" or "model".
    public let name: String
    /// Layer kind ("Conv2d(32->64, 3x3, s1, p1, no bias)").
    public let kind: String
    /// Largest relative error over the checked input coordinates (nil: none checked).
    public let inputError: Double?
    /// Largest relative error over the checked parameter coordinates or directions (nil: none).
    public let parameterError: Double?
    /// Finite differences compared.
    public let checked: Int
    /// Finite differences skipped because the step crossed a kink (ReLU at 0, max-pool choice).
    public let skipped: Int
    public let tolerance: Double

    /// Both errors within tolerance (NaN fails) and at least one comparison made.
    public var passed: Bool {
        checked > 0 && (inputError.map { $0 <= tolerance } ?? true) && (parameterError.map { $0 <= tolerance } ?? true)
    }
}

/// The one finite-difference gradient checker, used by the tests on every layer and preset and
/// by `ddp gradcheck`.
///
/// A layer is checked through the scalar objective sum(output * r) with fixed random weights r
/// (so backward receives dy = r): its input gradient and every parameter gradient, coordinate by
/// coordinate, against central differences. Dropout masks repeat because the model's dropout
/// generator is rewound before every forward; BN running statistics and counters are restored
/// afterwards, so a check leaves the model as it found it. A difference whose +step or -step
/// forward changes a layer's `kinkSignature` (a ReLU unit or max-pool choice flipped) is skipped
/// and counted. Whole models are checked through the loss: every parameter tensor along random
/// directions, the step shrunk (up to 3 times by 4) until no kink flips.
public enum GradientCheck {
    /// Checks one unbound layer on a random batch: binds it to fresh storage initialized from
    /// `seed`, draws an input (standard normal unless given, memory order of `inputShape`).
    public static func check(layer: any Layer, batch: Int, seed: UInt64, input: Tensor? = nil,
                             options: GradientCheckOptions = GradientCheckOptions()) -> GradientCheckRow {
        let store = ParameterStore(layers: [layer], seed: seed)
        var rng = SeededRNG(seed: seed &+ 1)
        let x = input ?? randomTensor(layer.inputShape.tensorShape(batch: batch), rng: &rng)
        return checkLayer(layer, parameters: store.parameterViews(ofLayer: 0), store: store, input: x,
                          rng: &rng, options: options)
    }

    /// Checks every top-level layer of `model`, each at the input it sees in a training forward
    /// of a random batch (standard normal NCHW).
    public static func checkLayers(of model: Model, batch: Int, seed: UInt64,
                                   options: GradientCheckOptions = GradientCheckOptions()) -> [GradientCheckRow] {
        var rng = SeededRNG(seed: seed)
        let input = randomTensor([batch] + model.inputShape, rng: &rng)
        let saved = SavedState(model.store)
        var inputs: [Tensor] = []
        var x = model.enter(input)
        for layer in model.layers {
            inputs.append(copyOf(x))
            x = layer.forward(x, training: true)
        }
        saved.restore(model.store)
        return model.layers.indices.map { i in
            checkLayer(model.layers[i], parameters: model.store.parameterViews(ofLayer: i), store: model.store,
                       input: inputs[i], rng: &rng, options: options)
        }
    }

    /// Checks dloss/dlogits of softmax cross-entropy on random logits and labels.
    public static func checkLoss(classes: Int, batch: Int, seed: UInt64,
                                 options: GradientCheckOptions = GradientCheckOptions()) -> GradientCheckRow {
        var rng = SeededRNG(seed: seed)
        let logits = randomTensor([batch, classes], rng: &rng, scale: 3)
        let labels = (0..<batch).map { _ in Int32(rng.below(classes)) }
        let loss = SoftmaxCrossEntropy(classes: classes)
        let analytic = loss.forward(logits: logits, labels: labels).gradient.array
        let probe = Tensor(shape: logits.shape)
        var worst = 0.0, checked = 0
        let scale = analytic.map { abs(Double($0)) }.max() ?? 0
        for i in sampleIndices(count: logits.count, limit: options.maxCoordinates, rng: &rng) {
            probe.copy(from: logits)
            let (up, down) = (logits[i] + options.step, logits[i] - options.step)
            probe[i] = up
            let fp = loss.forward(logits: probe, labels: labels, computeGradient: false).loss
            probe[i] = down
            let fm = loss.forward(logits: probe, labels: labels, computeGradient: false).loss
            let numeric = (fp - fm) / (Double(up) - Double(down))
            worst = max(worst, relativeError(Double(analytic[i]), numeric, floor: options.floor * scale))
            checked += 1
        }
        return GradientCheckRow(name: "loss", kind: "SoftmaxCrossEntropy", inputError: worst, parameterError: nil,
                                checked: checked, skipped: 0, tolerance: options.tolerance)
    }

    /// Checks the whole model's parameter gradients through the loss on a random batch: each
    /// parameter tensor along `options.directions` random unit directions.
    public static func checkModel(_ model: Model, batch: Int, seed: UInt64,
                                  options: GradientCheckOptions = GradientCheckOptions()) -> GradientCheckRow {
        var rng = SeededRNG(seed: seed)
        let input = randomTensor([batch] + model.inputShape, rng: &rng)
        let labels = (0..<batch).map { _ in Int32(rng.below(model.classes)) }
        let loss = SoftmaxCrossEntropy(classes: model.classes)
        let saved = SavedState(model.store)
        defer { saved.restore(model.store) }

        func evaluate() -> (Double, UInt64) {
            saved.restore(model.store)
            let logits = model.forward(input, training: true)
            let value = loss.forward(logits: logits, labels: labels, computeGradient: false).loss
            return (value, model.layers.reduce(0xcbf2_9ce4_8422_2325) { hashCombine($0, $1.kinkSignature) })
        }
        saved.restore(model.store)
        let logits = model.forward(input, training: true)
        let base = model.layers.reduce(0xcbf2_9ce4_8422_2325) { hashCombine($0, $1.kinkSignature) }
        model.backward(outputGradient: loss.forward(logits: logits, labels: labels).gradient)
        let analytic = model.gradients.array

        var worst = 0.0, checked = 0, skipped = 0
        for i in model.layers.indices {
            for (_, value, _) in model.store.parameterViews(ofLayer: i) {
                let offset = value.data - model.parameters.data
                let original = value.array
                let g = analytic[offset ..< offset + value.count].map(Double.init)
                let gradientNorm = g.reduce(0) { $0 + $1 * $1 }.squareRoot()
                for _ in 0..<options.directions {
                    var v = (0..<value.count).map { _ in Double(rng.normal()) }
                    let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
                    v = v.map { $0 / norm }
                    let directional = zip(g, v).reduce(0) { $0 + $1.0 * $1.1 }
                    var step = Double(options.directionalStep)
                    var numeric: Double?
                    for _ in 0..<4 {
                        // The realized step of each coordinate is what Float can represent.
                        var realized = 0.0
                        for j in 0..<value.count {
                            let up = original[j] + Float(step * v[j]), down = original[j] - Float(step * v[j])
                            realized += (Double(up) - Double(down)) * v[j]
                            value[j] = up
                        }
                        let (fp, sp) = evaluate()
                        for j in 0..<value.count { value[j] = original[j] - Float(step * v[j]) }
                        let (fm, sm) = evaluate()
                        for j in 0..<value.count { value[j] = original[j] }
                        if sp == base && sm == base {
                            numeric = (fp - fm) / realized
                            break
                        }
                        step /= 4
                    }
                    guard let numeric else { skipped += 1; continue }
                    worst = max(worst, relativeError(directional, numeric, floor: options.floor * gradientNorm))
                    checked += 1
                }
            }
        }
        return GradientCheckRow(name: "model", kind: "\(model.spec) through the loss", inputError: nil,
                                parameterError: worst, checked: checked, skipped: skipped, tolerance: options.tolerance)
    }

    /// Every layer of `model`, then the loss, then the whole model: the `ddp gradcheck` report.
    public static func checkAll(_ model: Model, batch: Int, seed: UInt64,
                                options: GradientCheckOptions = GradientCheckOptions()) -> [GradientCheckRow] {
        checkLayers(of: model, batch: batch, seed: seed, options: options)
            + [checkLoss(classes: model.classes, batch: batch, seed: seed &+ 1, options: options),
               checkModel(model, batch: batch, seed: seed &+ 2, options: options)]
    }

    // MARK: - The per-layer check

    private static func checkLayer(_ layer: any Layer, parameters: [(name: String, value: Tensor, gradient: Tensor)],
                                   store: ParameterStore, input x0: Tensor, rng: inout SeededRNG,
                                   options: GradientCheckOptions) -> GradientCheckRow {
        let saved = SavedState(store)
        defer { saved.restore(store) }
        let work = Tensor(shape: x0.shape)

        // Analytic gradients for dy = r.
        work.copy(from: x0)
        let y0 = layer.forward(work, training: true)
        let base = layer.kinkSignature
        let r = randomTensor(y0.shape, rng: &rng)
        let dx = Tensor(shape: x0.shape)
        layer.backward(r, inputGradient: dx)
        let analyticInput = dx.array
        let analyticParameters = parameters.map { $0.gradient.array }

        /// sum(output * r) in Double for the current input and parameters, and whether the
        /// forward made the same non-differentiable choices as the base forward.
        func objective() -> (Double, Bool) {
            saved.restore(store)
            let y = layer.forward(work, training: true)
            var s = 0.0
            for i in 0..<y.count { s += Double(y[i]) * Double(r[i]) }
            return (s, layer.kinkSignature == base)
        }

        var checked = 0, skipped = 0
        func compare(count: Int, analytic: [Float], set: (Int, Float) -> Void, original: (Int) -> Float) -> Double? {
            let scale = analytic.map { abs(Double($0)) }.max() ?? 0
            var worst: Double?
            for i in sampleIndices(count: count, limit: options.maxCoordinates, rng: &rng) {
                let x = original(i)
                let up = x + options.step, down = x - options.step
                set(i, up)
                let (fp, samePlus) = objective()
                set(i, down)
                let (fm, sameMinus) = objective()
                set(i, x)
                guard samePlus && sameMinus else { skipped += 1; continue }
                let numeric = (fp - fm) / (Double(up) - Double(down))
                let error = relativeError(Double(analytic[i]), numeric, floor: options.floor * scale)
                worst = max(worst ?? 0, error.isNaN ? .infinity : error)
                checked += 1
            }
            return worst
        }

        let inputError = compare(count: x0.count, analytic: analyticInput,
                                 set: { i, v in work.copy(from: x0); work[i] = v },
                                 original: { x0[$0] })
        work.copy(from: x0)
        var parameterError: Double?
        for (p, entry) in parameters.enumerated() {
            let value = entry.value
            if let e = compare(count: value.count, analytic: analyticParameters[p],
                               set: { i, v in work.copy(from: x0); value[i] = v }, original: { value[$0] }) {
                parameterError = max(parameterError ?? 0, e)
            }
        }
        return GradientCheckRow(name: layer.name, kind: layer.kind, inputError: inputError, parameterError: parameterError,
                                checked: checked, skipped: skipped, tolerance: options.tolerance)
    }

    // MARK: - Helpers

    static func relativeError(_ a: Double, _ n: Double, floor: Double) -> Double {
        let denominator = max(abs(a), abs(n), floor)
        return denominator == 0 ? 0 : abs(a - n) / denominator
    }

    static func randomTensor(_ shape: [Int], rng: inout SeededRNG, scale: Float = 1) -> Tensor {
        let t = Tensor(shape: shape)
        for i in 0..<t.count { t[i] = rng.normal() * scale }
        return t
    }

    private static func copyOf(_ t: Tensor) -> Tensor {
        let c = Tensor(shape: t.shape)
        c.copy(from: t)
        return c
    }

    /// All indices when `count <= limit`, else `limit` random ones.
    private static func sampleIndices(count: Int, limit: Int, rng: inout SeededRNG) -> [Int] {
        if count <= limit { return Array(0..<count) }
        return (0..<limit).map { _ in rng.below(count) }
    }

    /// The mutable non-parameter state a training forward changes: running statistics, counters
    /// and the dropout generator.
    private struct SavedState {
        let buffers: [Float], counters: [Int64], rng: SeededRNG
        init(_ store: ParameterStore) {
            buffers = store.buffers.array; counters = store.counterValues; rng = store.context.dropoutRNG
        }
        func restore(_ store: ParameterStore) {
            for (i, v) in buffers.enumerated() { store.buffers[i] = v }
            store.counterValues = counters
            store.context.dropoutRNG = rng
        }
    }
}
