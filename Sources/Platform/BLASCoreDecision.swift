/// What ddp does about the OpenBLAS kernel at process start (see `BLASRuntime.decide`).
public enum BLASCoreDecision: Equatable, Sendable {
    /// OpenBLAS's own choice stands (it matches the CPU, or ddp cannot rank it); `reason` says why.
    case keep(reason: String)
    /// The user set OPENBLAS_CORETYPE: it always wins, whatever it says.
    case userSet(core: String)
    /// The user turned automatic correction off (DDP_BLAS_AUTOCORE=0).
    case optedOut
    /// OpenBLAS picked a kernel weaker than the CPU supports: set OPENBLAS_CORETYPE=`to` and
    /// re-exec, so the library loads again and picks `to`.
    case override(from: String, to: String)
    /// This process is that re-exec: it runs `to` instead of OpenBLAS's own `from`.
    case corrected(from: String, to: String)
    /// A correction to `attempted` failed verification; this process runs OpenBLAS's own
    /// choice `from` again and must not try to correct it a second time.
    case fellBack(from: String, attempted: String)
}
