/// Scratch memory shared by the layers of one model, in a few independent slots.
///
/// Layers run one at a time, so one im2col column matrix sized to the largest convolution
/// serves all of them (darknet's single workspace), and one set of block-gradient buffers serves
/// every residual block. A slot only grows (to the largest request seen), so after the first
/// step at a batch size nothing is allocated. A slot's memory may move when it grows: users
/// take the pointer when they need it and do not keep it across another layer's work, or check
/// it is still the slot's (BasicBlock's cached views). `generation` counts the reallocations.
public final class Workspace {
    /// The independent scratch areas. Different slots never alias.
    public enum Slot: Int, CaseIterable {
        /// im2col / col2im column matrix, the Winograd block's transformed tiles, or the bf16
        /// path's rounded activations, of the convolution running now.
        case columns
        /// Weight-gradient partial sums of the convolution running its backward now (the direct
        /// kernels' Doubles, or Winograd's transform-domain sums).
        case partials
        /// Gradient scratch of the residual block running its backward now.
        case blockGradient0, blockGradient1, blockGradient2
    }

    private var pointers: [UnsafeMutablePointer<Float>?] = Array(repeating: nil, count: Slot.allCases.count)
    private var capacities: [Int] = Array(repeating: 0, count: Slot.allCases.count)
    /// Increments each time any slot is reallocated.
    public private(set) var generation = 0

    public init() {}

    deinit {
        for p in pointers { p?.deallocate() }
    }

    /// At least `count` floats of `slot` (contents unspecified), growing it if needed.
    public func floats(_ slot: Slot, count: Int) -> UnsafeMutablePointer<Float> {
        let s = slot.rawValue
        if let p = pointers[s], capacities[s] >= count { return p }
        pointers[s]?.deallocate()
        let p = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        p.initialize(repeating: 0, count: max(count, 1))
        pointers[s] = p
        capacities[s] = count
        generation &+= 1
        return p
    }
}
