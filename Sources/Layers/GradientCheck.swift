import Tensor

/// Settings of a finite-difference gradient check.
///
/// Per-coordinate checks (layers, the loss) use central differences with step `step` on one
/// input or parameter element at a time; the error of a coordinate is
/// |analytic - numeric| / max(|analytic|, |numeric|, floor * s), s the largest |analytic| entry
/// of that tensor. The floor is there because forward passes run in Float32 (the objective is
/// summed in Double): a step moves every output a layer's batch statistics touch, so the
/// difference carries rounding noise of about 1e-3 * s at step 1e-2 (measured on residual blocks
/// at 28x28; it falls as 1/step), which would swamp the relative error of small entries. Entries
/// above floor * s are held to the full relative tolerance, and half of the checked coordinates
/// are the largest ones.
///
/// Whole-model checks move each parameter tensor along a unit direction (the gradient itself,
/// then the gradient on random halves of the tensor) by `directionalStep` and compare the change
/// of the loss with the directional derivative, relative error without floor. Kinks are frozen
/// there (see `GradientCheck`), so the loss is smooth along the direction and Richardson
/// extrapolation of the differences at step s and s/2 removes the s^2 curvature term; that allows
/// a step large enough to keep Float32 noise (~ 1/s) small. Measured at s = 1e-2: below 2e-3 on
/// the presets and a 12x12 test net (a plain difference gives 1e-2 there: curvature at 1e-2,
/// noise at 1e-3).
public struct GradientCheckOptions: Sendable {
    /// Central-difference step for single coordinates (inputs and weights are O(1)).
    public var step: Float = 1e-2
    /// Step along a unit direction for whole-model checks (Richardson over this and half of it).
    public var directionalStep: Float = 1e-2
    /// Largest acceptable relative error.
    public var tolerance: Double = 1e-2
    /// Fraction of the tensor's largest gradient entry below which errors count as absolute.
    public var floor: Double = 0.1
    /// Coordinates checked per tensor (all of them when the tensor is smaller).
    public var maxCoordinates: Int = 48
    /// Directions per parameter tensor in whole-model checks (the gradient, then random halves of it).
    public var directions: Int = 2
    /// Parameter tensors checked in whole-model checks, evenly spread over the model (nil: all).
    public var maxTensors: Int?

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
/// afterwards, so a check leaves the model as it found it (a synchronized-BN reducer is detached
/// during the check: it is local to the rank). A difference whose +step or -step
/// forward changes a layer's `kinkSignature` (a ReLU unit or max-pool choice flipped) is skipped
/// and counted; more candidates are tried so that up to `maxCoordinates` per tensor are compared.
/// Whole models are checked through the loss, every parameter tensor along gradient directions.
/// There, skipping does not work: in a deep net with batch norm every direction flips some of
/// the many ReLU units, and each flip bends the difference quotient by O(step) (measured: 2-5%
/// error on resnet20 at steps 1e-3..1e-2, shrinking with the step). So the model's kinks are
/// frozen instead (`KinkedLayer.freezeKinks`): the perturbed forwards reuse the base forward's ReLU
/// patterns and max-pool choices, a function that is smooth around the base point and has the
/// same derivative there, which is what backward computes.
///
/// Convolutions in bf16 (`Precision`) are held to the FP32 function: their finite differences
/// run in FP32 (`Conv2d.runsInFP32`), their analytic gradients are the bf16 passes'. The check
/// of a convolution, and of the whole model, then measures how far mixed precision's gradients
/// are from the true ones. A residual block is checked in FP32 throughout (its kind says so):
/// a convolution followed by batch norm has a weight gradient orthogonal to its weights (batch
/// norm undoes any scaling of them), a sum that cancels almost to nothing, against which bf16's
/// rounding is large (measured 5% of the mean entry against random output gradients, while the
/// same rounding moves the model's gradients by 0.1-0.25%). The block's own composition is what
/// its row checks; the bf16 passes are checked alone and through the model.
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
        let reducer = model.batchNormReducer
        model.batchNormReducer = nil // a check is local: no rank waits for this one's statistics
        defer { model.batchNormReducer = reducer }
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
        for i in candidates(analytic, limit: options.maxCoordinates, rng: &rng).prefix(options.maxCoordinates) {
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
    /// parameter tensor along `options.directions` unit directions (see `GradientCheckOptions`).
    public static func checkModel(_ model: Model, batch: Int, seed: UInt64,
                                  options: GradientCheckOptions = GradientCheckOptions()) -> GradientCheckRow {
        var rng = SeededRNG(seed: seed)
        let input = randomTensor([batch] + model.inputShape, rng: &rng)
        let labels = (0..<batch).map { _ in Int32(rng.below(model.classes)) }
        let loss = SoftmaxCrossEntropy(classes: model.classes)
        let saved = SavedState(model.store)
        let reducer = model.batchNormReducer
        model.batchNormReducer = nil
        defer { saved.restore(model.store); model.batchNormReducer = reducer }

        func evaluate() -> Double {
            saved.restore(model.store)
            let logits = model.forward(input, training: true)
            return loss.forward(logits: logits, labels: labels, computeGradient: false).loss
        }
        saved.restore(model.store)
        let logits = model.forward(input, training: true)
        model.backward(outputGradient: loss.forward(logits: logits, labels: labels).gradient)
        let analytic = model.gradients.array
        let probesInFP32 = ProbesInFP32(model.layers.flatMap(\.convolutions))
        probesInFP32.begin()
        defer { probesInFP32.end() }
        model.layers.forEach { ($0 as? KinkedLayer)?.freezeKinks(true) }
        defer { model.layers.forEach { ($0 as? KinkedLayer)?.freezeKinks(false) } }

        var worst = 0.0, checked = 0
        let tensors = model.layers.indices.flatMap { model.store.parameterViews(ofLayer: $0) }
        let chosen = options.maxTensors.map { limit in
            (0..<min(limit, tensors.count)).map { $0 * tensors.count / min(limit, tensors.count) }
        } ?? Array(tensors.indices)
        do {
            for (_, value, _) in chosen.map({ tensors[$0] }) {
                let offset = value.data - model.parameters.data
                let original = value.array
                let g = analytic[offset ..< offset + value.count].map(Double.init)
                for d in 0..<options.directions {
                    // Direction 0: the gradient itself; then the gradient on a random half of the
                    // coordinates, so a wrong part of the tensor cannot hide behind the rest.
                    var v = d == 0 ? g : g.map { rng.next() & 1 == 0 ? 0 : $0 }
                    let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
                    guard norm > 0 else { continue }
                    v = v.map { $0 / norm }
                    let directional = zip(g, v).reduce(0) { $0 + $1.0 * $1.1 }
                    // Richardson: the step^2 term of the two central differences cancels.
                    let step = Double(options.directionalStep)
                    let numeric = (4 * centralDifference(value, original, along: v, step: step / 2, evaluate)
                        - centralDifference(value, original, along: v, step: step, evaluate)) / 3
                    worst = max(worst, relativeError(directional, numeric, floor: 0))
                    checked += 1
                }
            }
        }
        return GradientCheckRow(name: "model", kind: "\(model.spec) through the loss", inputError: nil,
                                parameterError: worst, checked: checked, skipped: 0, tolerance: options.tolerance)
    }

    /// (loss(theta + s v) - loss(theta - s v)) / 2s for the tensor `value` (whose values are
    /// `original`), with the realized Float step; leaves `value` as it found it.
    private static func centralDifference(_ value: Tensor, _ original: [Float], along v: [Double], step: Double,
                                          _ evaluate: () -> Double) -> Double {
        var realized = 0.0
        for j in 0..<value.count {
            let up = original[j] + Float(step * v[j]), down = original[j] - Float(step * v[j])
            realized += (Double(up) - Double(down)) * v[j]
            value[j] = up
        }
        let fp = evaluate()
        for j in 0..<value.count { value[j] = original[j] - Float(step * v[j]) }
        let fm = evaluate()
        for j in 0..<value.count { value[j] = original[j] }
        return (fp - fm) / realized
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
        let inFP32 = ProbesInFP32(layer.convolutions)
        defer { inFP32.end() }
        let composite = !(layer is Conv2d) && !inFP32.switched.isEmpty
        if composite { inFP32.begin() }

        // Analytic gradients for dy = r.
        work.copy(from: x0)
        let y0 = layer.forward(work, training: true)
        let kinked = layer as? KinkedLayer
        var base = kinked?.kinkSignature ?? 0
        let r = randomTensor(y0.shape, rng: &rng)
        let dx = Tensor(shape: x0.shape)
        layer.backward(r, inputGradient: dx)
        let analyticInput = dx.array
        let analyticParameters = parameters.map { $0.gradient.array }
        if !inFP32.switched.isEmpty && !composite {
            inFP32.begin()
            // The probes' own kinks at the base point: in FP32 a unit near zero may fall on the
            // other side than in the bf16 pass, and every probe would seem to cross it.
            saved.restore(store)
            _ = layer.forward(work, training: true)
            base = kinked?.kinkSignature ?? 0
        }

        /// sum(output * r) in Double for the current input and parameters, and whether the
        /// forward made the same non-differentiable choices as the base forward.
        func objective() -> (Double, Bool) {
            saved.restore(store)
            let y = layer.forward(work, training: true)
            var s = 0.0
            for i in 0..<y.count { s += Double(y[i]) * Double(r[i]) }
            return (s, (kinked?.kinkSignature ?? 0) == base)
        }

        var tally = Tally()
        let inputError = compare(analytic: analyticInput, set: { i, v in work.copy(from: x0); work[i] = v },
                                 original: { x0[$0] }, objective: objective, options: options, rng: &rng, tally: &tally)
        work.copy(from: x0)
        var parameterError: Double?
        for (p, entry) in parameters.enumerated() {
            let value = entry.value
            if let e = compare(analytic: analyticParameters[p], set: { i, v in work.copy(from: x0); value[i] = v },
                               original: { value[$0] }, objective: objective, options: options, rng: &rng,
                               tally: &tally) {
                parameterError = max(parameterError ?? 0, e)
            }
        }
        return GradientCheckRow(name: layer.name, kind: layer.kind + (composite ? " [in FP32]" : ""),
                                inputError: inputError, parameterError: parameterError,
                                checked: tally.checked, skipped: tally.skipped, tolerance: options.tolerance)
    }

    /// Comparisons made, and skipped because a nudge crossed a kink.
    private struct Tally { var checked = 0, skipped = 0 }

    /// The worst relative error between `analytic` and central differences of `objective` over
    /// up to `options.maxCoordinates` coordinates (nudged through `set`, restored from
    /// `original`); nil when none could be compared.
    private static func compare(analytic: [Float], set: (Int, Float) -> Void, original: (Int) -> Float,
                                objective: () -> (Double, Bool), options: GradientCheckOptions,
                                rng: inout SeededRNG, tally: inout Tally) -> Double? {
        let scale = analytic.map { abs(Double($0)) }.max() ?? 0
        var worst: Double?
        var done = 0
        for i in candidates(analytic, limit: options.maxCoordinates, rng: &rng) where done < options.maxCoordinates {
            let x = original(i)
            let up = x + options.step, down = x - options.step
            set(i, up)
            let (fp, samePlus) = objective()
            set(i, down)
            let (fm, sameMinus) = objective()
            set(i, x)
            guard samePlus && sameMinus else { tally.skipped += 1; continue }
            let numeric = (fp - fm) / (Double(up) - Double(down))
            let error = relativeError(Double(analytic[i]), numeric, floor: options.floor * scale)
            worst = max(worst ?? 0, error.isNaN ? .infinity : error)
            tally.checked += 1
            done += 1
        }
        return worst
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

    /// Coordinates to try, in order: all when there are at most `limit`; else the `limit / 2`
    /// largest |analytic| entries (where a wrong backward shows most), then random ones, enough
    /// to make up for coordinates skipped at kinks.
    private static func candidates(_ analytic: [Float], limit: Int, rng: inout SeededRNG) -> [Int] {
        let count = analytic.count
        if count <= limit { return Array(0..<count) }
        let largest = analytic.indices.sorted { abs(analytic[$0]) > abs(analytic[$1]) }.prefix(limit / 2)
        return Array(largest) + (0..<(2 * limit)).map { _ in rng.below(count) }
    }

    /// The bf16 convolutions among `convolutions`, switched to FP32 from `begin` to `end`.
    private struct ProbesInFP32 {
        let switched: [Conv2d]
        init(_ convolutions: [Conv2d]) { switched = convolutions.filter { $0.algorithm == .directBF16 } }
        func begin() { for conv in switched { conv.runsInFP32 = true } }
        func end() { for conv in switched { conv.runsInFP32 = false } }
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
