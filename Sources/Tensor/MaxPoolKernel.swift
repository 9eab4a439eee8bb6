import CKernels

/// 2x2, stride-2 max pooling on the AVX-512 kernel path (`KernelPath`, CKernels): the windows of a row pair eight
/// at a time, with PyTorch's choice of maximum (first on ties, NaN wins), the same choices as
/// MaxPool2d's scalar loop.
public enum MaxPoolKernel {
    public static var isAvailable: Bool { KernelPath.usesAVX512 }

    /// y[p][oy][ox] = the window's maximum, argmax = its index within plane p. Even height and width.
    public static func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                               argmax: UnsafeMutablePointer<Int32>, planes: Int, height: Int, width: Int) {
        precondition(height % 2 == 0 && width % 2 == 0, "2x2 max-pool kernel: odd plane \(height)x\(width)")
        ddp_max_pool_2x2(x, y, argmax, planes, Int32(height), Int32(width))
    }

    /// dx = dy at every window's argmax and 0 elsewhere (all of dx is written).
    public static func backward(_ dy: UnsafePointer<Float>, argmax: UnsafePointer<Int32>,
                                _ dx: UnsafeMutablePointer<Float>, planes: Int, height: Int, width: Int) {
        precondition(height % 2 == 0 && width % 2 == 0, "2x2 max-pool kernel: odd plane \(height)x\(width)")
        ddp_max_pool_2x2_backward(dy, argmax, dx, planes, Int32(height), Int32(width))
    }
}
