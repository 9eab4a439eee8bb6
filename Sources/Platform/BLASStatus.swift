/// The BLAS kernel and threading this process runs with, and how they came about.
public struct BLASStatus: Sendable, Equatable {
    /// The core OpenBLAS runs now (`openblas_get_corename()`), e.g. "SkylakeX".
    public var coreName: String
    /// True when ddp overrode OpenBLAS's own choice (and the override passed verification).
    public var corrected: Bool
    /// OpenBLAS's own choice, when ddp corrected it or fell back from a correction.
    public var originalCore: String?
    /// The core a failed correction tried to use (set only when `fellBack`).
    public var attemptedCore: String?
    /// True when a correction failed verification and the process runs OpenBLAS's own choice.
    public var fellBack: Bool
    /// True when OPENBLAS_CORETYPE came from the user (ddp never overrides it).
    public var userSet: Bool
    /// True when the user disabled correction with DDP_BLAS_AUTOCORE=0.
    public var autoCoreDisabled: Bool
    /// True when the start-up check of the running kernel passed.
    public var verified: Bool
    /// Largest scaled error the start-up check saw (see `BLASVerification.run`); nil if not run.
    public var verifyMaxError: Double?
    /// Threads ddp computes with (`BLASRuntime.threads`; OpenBLAS runs one in each).
    public var threads: Int
    /// Where `threads` came from, e.g. "cores/local ranks = 2/1", "OPENBLAS_NUM_THREADS (user)".
    public var threadsSource: String
    /// `openblas_get_config()`, e.g. "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH ...".
    public var config: String

    /// "OpenBLAS 0.3.21" out of `config`.
    public var libraryVersion: String {
        config.split(separator: " ").prefix(2).joined(separator: " ")
    }

    /// The core and its story in one phrase, e.g. "SkylakeX (auto-corrected from Prescott, verified)".
    public var coreSummary: String {
        var notes: [String] = []
        if corrected, let from = originalCore {
            notes.append("auto-corrected from \(from)")
        } else if fellBack {
            notes.append("correction to \(attemptedCore ?? "?") failed verification; fell back")
        } else if userSet {
            notes.append("user-set OPENBLAS_CORETYPE")
        } else if autoCoreDisabled {
            notes.append("auto-correction off")
        } else {
            notes.append("OpenBLAS's choice")
        }
        if let err = verifyMaxError {
            notes.append(verified ? "verified" : "FAILED verification, scaled error \(err)")
        } else {
            notes.append("not verified")
        }
        return "\(coreName) (\(notes.joined(separator: ", ")))"
    }
}
