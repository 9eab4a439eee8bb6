import Platform
import Tensor

/// The Winograd path of one `Conv2d` (3x3, stride 1, padding 1): the tile geometry and the
/// layer's transformed filters, made by `bind` (rewritten on each pass: the weights change every
/// step; the input gradient's turned filters reuse the same memory after forward is done with
/// it). The transformed tiles of a block live in the workspace's `.columns` slot and the weight
/// gradient's transform-domain sums in `.partials`: nothing is allocated in the step.
final class WinogradLayerPath {
    let convolution: WinogradConvolution
    let inChannels: Int, outChannels: Int
    private let filters: UnsafeMutablePointer<Float>

    init(tile: WinogradConvolution.Tile, inChannels: Int, outChannels: Int, height: Int, width: Int) {
        convolution = WinogradConvolution(tile: tile, height: height, width: width)
        self.inChannels = inChannels; self.outChannels = outChannels
        filters = .allocate(capacity: convolution.filterCount(outputs: outChannels, inputs: inChannels))
    }

    deinit { filters.deallocate() }

    /// Tiles per block: the same for the forward and the input gradient (in and out swapped).
    private func block(batch: Int, budget: Int) -> Int {
        convolution.tilesPerBlock(inputs: inChannels, outputs: outChannels, batch: batch, budget: budget)
    }

    private func scratch(_ workspace: Workspace, block: Int) -> UnsafeMutablePointer<Float> {
        workspace.floats(.columns, count: convolution.scratchCount(inputs: inChannels, outputs: outChannels,
                                                                    tilesPerBlock: block, threads: BLASRuntime.threads))
    }

    /// y = x (*) w: x [in][N][H][W], w [out][in][3][3], y [out][N][H][W].
    func forward(input x: UnsafePointer<Float>, weight w: UnsafePointer<Float>, output y: UnsafeMutablePointer<Float>,
                 batch: Int, workspace: Workspace, budget: Int) {
        let block = block(batch: batch, budget: budget)
        convolution.transformFilters(w, outputs: outChannels, inputs: inChannels, flipped: false, into: filters)
        convolution.convolve(input: x, channels: inChannels, filters: filters, output: y, outChannels: outChannels,
                             batch: batch, accumulate: false, block: block, scratch: scratch(workspace, block: block),
                             threads: BLASRuntime.threads)
    }

    /// dw = the weight gradient; dx (+)= dy (*) w turned by 180 degrees, channels swapped, when
    /// `inputGradient` is given (added to when `accumulate`).
    func backward(outputGradient dy: UnsafePointer<Float>, input x: UnsafePointer<Float>, weight w: UnsafePointer<Float>,
                  weightGradient dw: UnsafeMutablePointer<Float>, inputGradient dx: UnsafeMutablePointer<Float>?,
                  accumulate: Bool, batch: Int, workspace: Workspace, budget: Int) {
        let block = block(batch: batch, budget: budget), threads = BLASRuntime.threads
        let sums = workspace.floats(.partials, count: convolution.sumsCount(outChannels: outChannels, inChannels: inChannels))
        let scratch = scratch(workspace, block: block)
        convolution.weightGradient(outputGradient: dy, outChannels: outChannels, input: x, inChannels: inChannels,
                                   batch: batch, block: block, scratch: scratch, sums: sums, into: dw, threads: threads)
        guard let dx else { return }
        convolution.transformFilters(w, outputs: inChannels, inputs: outChannels, flipped: true, into: filters)
        convolution.convolve(input: dy, channels: outChannels, filters: filters, output: dx, outChannels: inChannels,
                             batch: batch, accumulate: accumulate, block: block, scratch: scratch, threads: threads)
    }
}
