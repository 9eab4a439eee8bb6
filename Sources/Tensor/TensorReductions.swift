/// Whole-tensor reductions the training loop needs between backward and the update.
extension Tensor {
    /// True when no element is NaN or infinite. One pass; the sum of a non-finite value is
    /// non-finite, so a single accumulator decides (inf - inf gives NaN, also caught).
    public func allFinite() -> Bool {
        let p = data, n = count
        var acc: Float = 0
        var i = 0
        while i < n { acc += p[i] * 0; i &+= 1 }
        return acc == 0
    }

    /// Scales the tensor so its L2 norm is at most `maxNorm` (torch.nn.utils.clip_grad_norm_ with
    /// one tensor: scale by maxNorm / (norm + 1e-6) when that is below 1). Returns the norm before.
    @discardableResult
    public func clipNorm(to maxNorm: Float) -> Float {
        let p = data, n = count
        var sum: Double = 0
        var i = 0
        while i < n { sum += Double(p[i]) * Double(p[i]); i &+= 1 }
        let norm = Float(sum.squareRoot())
        let scale = maxNorm / (norm + 1e-6)
        if scale < 1 {
            i = 0
            while i < n { p[i] *= scale; i &+= 1 }
        }
        return norm
    }
}
