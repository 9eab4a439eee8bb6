import Layers
import Platform
import Tensor

/// What a ddp process does before anything else, for the command line (which talks to Training
/// only).
public enum ProcessStartup {
    /// Checks OpenBLAS's kernel against the CPU, corrects it (re-executing this binary with
    /// `arguments`: so first thing in `main`, before MPI_Init, any BLAS call or any output),
    /// verifies the kernel that runs on a small product and sets the default threads.
    public static func prepareBLAS(arguments: [String]) {
        BLASRuntime.prepareProcess(arguments: arguments, verify: { BLASVerification.run() })
    }

    /// Refuses a DDP_KERNELS setting this CPU cannot run (`KernelPath`) and a DDP_CONV that names
    /// no algorithm (`ConvolutionChoice`).
    public static func checkKernelPath() throws {
        try KernelPath.validateEnvironment()
        try ConvolutionChoice.validateEnvironment()
    }
}
