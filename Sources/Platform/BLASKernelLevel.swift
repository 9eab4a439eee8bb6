/// How wide a SIMD an OpenBLAS x86-64 kernel uses, or a CPU supports; the scale on which ddp
/// compares "the core OpenBLAS picked" with "what this CPU can run".
public enum BLASKernelLevel: Int, Comparable, Sendable, CustomStringConvertible {
    /// SSE-era kernels (Prescott, Core2, Nehalem, ...): what DYNAMIC_ARCH falls back to when it
    /// does not recognise a CPU model.
    case generic
    /// AVX kernels (Sandybridge, Bulldozer family).
    case avx
    /// AVX2 + FMA kernels (Haswell, Zen).
    case avx2
    /// AVX-512 kernels (SkylakeX, Cooperlake, SapphireRapids).
    case avx512

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

    public var description: String {
        switch self {
        case .generic: "generic"
        case .avx: "AVX"
        case .avx2: "AVX2"
        case .avx512: "AVX-512"
        }
    }

    /// The level of an OpenBLAS core name as `openblas_get_corename()` reports it or
    /// OPENBLAS_CORETYPE accepts it (case-insensitive). Nil for names ddp does not rank (other
    /// architectures, cores newer than this table): those are never overridden, since an
    /// OpenBLAS that knows such a core knows the CPU better than this table does.
    public init?(coreName: String) {
        switch coreName.lowercased() {
        case "katmai", "coppermine", "northwood", "prescott", "banias", "atom", "core2", "penryn",
             "dunnington", "nehalem", "athlon", "opteron", "opteron_sse3", "barcelona", "nano",
             "bobcat", "unknown":
            self = .generic
        case "sandybridge", "bulldozer", "piledriver", "steamroller", "excavator":
            self = .avx
        case "haswell", "zen":
            self = .avx2
        case "skylakex", "cooperlake", "sapphirerapids":
            self = .avx512
        default:
            return nil
        }
    }

    /// The widest level the CPU's flags allow. The kernel only lists features the OS has
    /// enabled (AVX-512 state saved on context switch), so a listed flag is usable.
    public init(cpu: CPUInfo) {
        let f = cpu.flags
        // OpenBLAS's SkylakeX kernels use the F, DQ, CD, BW and VL subsets.
        if ["avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl"].allSatisfy(f.contains) {
            self = .avx512
        } else if f.contains("avx2") && f.contains("fma") {
            self = .avx2
        } else if f.contains("avx") {
            self = .avx
        } else {
            self = .generic
        }
    }

    /// The OpenBLAS core ddp selects for a CPU at this level.
    ///
    /// AVX-512 picks SkylakeX rather than Cooperlake even when avx512_bf16 is present:
    /// Cooperlake passes verification but measured no faster for sgemm (docs/RESULTS.md,
    /// "OpenBLAS cores"); its additions are bf16 routines ddp does not call, and SkylakeX is the
    /// kernel more OpenBLAS versions know.
    public func selectedCore(vendor: String) -> String? {
        switch self {
        case .generic: nil
        case .avx: "Sandybridge"
        case .avx2: vendor == "AuthenticAMD" || vendor == "HygonGenuine" ? "Zen" : "Haswell"
        case .avx512: "SkylakeX"
        }
    }
}
