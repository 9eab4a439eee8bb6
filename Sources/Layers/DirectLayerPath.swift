import Platform
import Tensor

/// The direct path of one `Conv2d` (3x3, padding 1; stride 1, or 2 on even sides), in FP32 or
/// bf16: which of the four kernels runs it (`DirectConvolution`, `StridedConvolution`,
/// `BF16DirectConvolution`, `BF16StridedConvolution`), the output plane's tap masks, and the
/// weights arranged for the kernel, made by `bind` (rewritten on each pass: the weights change
/// every step). Phases and bf16 operands live in the workspace's `.columns` slot and the weight
/// gradient's partial sums in `.partials`: nothing is allocated in the step.
final class DirectLayerPath {
    let inChannels: Int, outChannels: Int
    /// The input's height and width.
    let height: Int, width: Int
    let strided: Bool, bf16: Bool
    private let masks: TapMasks
    private let blocks: UnsafeMutablePointer<Float>?
    private let pairs: UnsafeMutablePointer<UInt32>?

    init(inChannels: Int, outChannels: Int, height: Int, width: Int, stride: Int, bf16: Bool) {
        self.inChannels = inChannels; self.outChannels = outChannels
        self.height = height; self.width = width
        strided = stride == 2
        self.bf16 = bf16
        masks = strided ? TapMasks(height: height / 2, width: width / 2) : TapMasks(height: height, width: width)
        blocks = bf16 ? nil : .allocate(capacity: inChannels * outChannels * 9)
        pairs = bf16 ? .allocate(capacity: BF16DirectConvolution.blockCount(outChannels: outChannels, inChannels: inChannels)) : nil
    }

    deinit { blocks?.deallocate(); pairs?.deallocate() }

    /// Floats of workspace `outPixels` = batch x the output plane take.
    static func scratchFloats(inChannels: Int, outChannels: Int, outPixels: Int, strided: Bool, bf16: Bool) -> Int {
        switch (bf16, strided) {
        case (false, false): return 0
        case (false, true): return StridedConvolution.scratchFloats(inChannels: inChannels, outPixels: outPixels)
        case (true, false): return BF16DirectConvolution.scratchFloats(inChannels: inChannels, outChannels: outChannels, pixels: outPixels)
        case (true, true):
            return BF16StridedConvolution.scratchFloats(inChannels: inChannels, outChannels: outChannels, outPixels: outPixels)
        }
    }

    private func scratch(_ workspace: Workspace, batch: Int) -> UnsafeMutablePointer<Float> {
        workspace.floats(.columns, count: Self.scratchFloats(inChannels: inChannels, outChannels: outChannels,
                                                             outPixels: batch * masks.height * masks.width,
                                                             strided: strided, bf16: bf16))
    }

    /// y = x (*) w: x [in][N][H][W], w [out][in][3][3], y [out][N][the output plane].
    func forward(input x: UnsafePointer<Float>, weight w: UnsafePointer<Float>, output y: UnsafeMutablePointer<Float>,
                 batch: Int, workspace: Workspace) {
        let threads = BLASRuntime.threads
        if let pairs {
            BF16DirectConvolution.arrangeForward(w, outChannels: outChannels, inChannels: inChannels, into: pairs)
            let scratch = scratch(workspace, batch: batch)
            if strided {
                BF16StridedConvolution.forward(input: x, inChannels: inChannels, height: height, width: width, masks: masks,
                                               blocks: pairs, output: y, outChannels: outChannels, batch: batch,
                                               threads: threads, scratch: scratch)
            } else {
                BF16DirectConvolution.forward(input: x, inChannels: inChannels, masks: masks, blocks: pairs, output: y,
                                              outChannels: outChannels, batch: batch, threads: threads, scratch: scratch)
            }
        } else if let blocks {
            DirectConvolution.arrangeForward(w, outChannels: outChannels, inChannels: inChannels, into: blocks)
            if strided {
                StridedConvolution.forward(input: x, inChannels: inChannels, height: height, width: width, masks: masks,
                                           blocks: blocks, output: y, outChannels: outChannels, batch: batch, threads: threads,
                                           scratch: scratch(workspace, batch: batch))
            } else {
                DirectConvolution.forward(input: x, inChannels: inChannels, masks: masks, blocks: blocks, output: y,
                                          outChannels: outChannels, batch: batch, threads: threads)
            }
        }
    }

    /// dw = the weight gradient; dx (+)= the input gradient when `inputGradient` is given (added
    /// to when `accumulate`; input channels in 8s: `DirectConvolution.supportsInputGradient`).
    func backward(outputGradient dy: UnsafePointer<Float>, input x: UnsafePointer<Float>, weight w: UnsafePointer<Float>,
                  weightGradient dw: UnsafeMutablePointer<Float>, inputGradient dx: UnsafeMutablePointer<Float>?,
                  accumulate: Bool, batch: Int, workspace: Workspace) {
        let threads = BLASRuntime.threads
        let partials = workspace.floats(.partials, count: DirectConvolution.partialsCount(
            outChannels: outChannels, inChannels: inChannels, threads: threads))
        if let pairs {
            var gradient: BF16DirectConvolution.InputGradient?
            if let dx {
                if strided {
                    BF16StridedConvolution.arrangeBackward(w, outChannels: outChannels, inChannels: inChannels, into: pairs)
                } else {
                    BF16DirectConvolution.arrangeBackward(w, outChannels: outChannels, inChannels: inChannels, into: pairs)
                }
                gradient = .init(dx: dx, blocks: pairs, accumulate: accumulate)
            }
            let scratch = scratch(workspace, batch: batch)
            if strided {
                BF16StridedConvolution.backward(outputGradient: dy, outChannels: outChannels, input: x, inChannels: inChannels,
                                                height: height, width: width, batch: batch, masks: masks, weightGradient: dw,
                                                partials: partials, inputGradient: gradient, threads: threads, scratch: scratch)
            } else {
                BF16DirectConvolution.backward(outputGradient: dy, outChannels: outChannels, input: x, inChannels: inChannels,
                                               batch: batch, masks: masks, weightGradient: dw, partials: partials,
                                               inputGradient: gradient, threads: threads, scratch: scratch)
            }
        } else if let blocks {
            var gradient: DirectConvolution.InputGradient?
            if let dx {
                if strided {
                    StridedConvolution.arrangeBackward(w, outChannels: outChannels, inChannels: inChannels, into: blocks)
                } else {
                    DirectConvolution.arrangeBackward(w, outChannels: outChannels, inChannels: inChannels, into: blocks)
                }
                gradient = .init(dx: dx, blocks: blocks, accumulate: accumulate)
            }
            if strided {
                StridedConvolution.backward(outputGradient: dy, outChannels: outChannels, input: x, inChannels: inChannels,
                                            height: height, width: width, batch: batch, masks: masks, weightGradient: dw,
                                            partials: partials, inputGradient: gradient, threads: threads,
                                            scratch: scratch(workspace, batch: batch))
            } else {
                DirectConvolution.backward(outputGradient: dy, outChannels: outChannels, input: x, inChannels: inChannels,
                                           batch: batch, masks: masks, weightGradient: dw, partials: partials,
                                           inputGradient: gradient, threads: threads)
            }
        }
    }
}
