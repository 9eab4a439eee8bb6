#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What ddp needs to know about the processor: its name, how many cores it has, and the
/// instruction-set flags that decide which OpenBLAS kernel it can run.
public struct CPUInfo: Sendable, Equatable {
    /// The flags `ddp info` reports, in the order it reports them.
    public static let relevantFlags = [
        "avx", "avx2", "fma", "avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl",
        "avx512_bf16", "amx_tile",
    ]

    /// e.g. "Intel(R) Xeon(R) Processor"; "unknown" when the system does not say.
    public var modelName: String
    /// e.g. "GenuineIntel", "AuthenticAMD"; empty when unknown.
    public var vendor: String
    /// `cpu family` and `model` as the kernel reports them (x86 only).
    public var family: Int?
    public var model: Int?
    /// Logical processors online on this machine (hyperthreads count separately).
    public var logicalCPUs: Int
    /// Distinct (socket, core) pairs, when /proc/cpuinfo names them.
    public var physicalCores: Int?
    /// Logical processors this process may run on (its affinity mask; mpirun may bind ranks).
    public var allowedCPUs: Int
    /// Every flag the kernel lists (it only lists features the OS has enabled).
    public var flags: Set<String>
    /// Where the facts came from, for reports ("/proc/cpuinfo" or a fallback).
    public var source: String

    /// Cores to count when splitting work: physical cores when known, else logical processors.
    public var cores: Int { physicalCores ?? logicalCPUs }

    /// `relevantFlags` with whether this CPU has each.
    public var relevantFlagStates: [(flag: String, present: Bool)] {
        Self.relevantFlags.map { ($0, flags.contains($0)) }
    }

    /// The processor this process runs on, from /proc/cpuinfo; without it (not Linux, or /proc
    /// not mounted) only the counts are known and the flag set is empty.
    public static func current() -> CPUInfo {
        let online = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        let allowed = affinityCount() ?? online
        if let text = readTextFile("/proc/cpuinfo"), !text.isEmpty {
            return parse(cpuinfo: text, onlineCPUs: online, allowedCPUs: allowed)
        }
        return CPUInfo(modelName: "unknown", vendor: "", family: nil, model: nil, logicalCPUs: online,
                       physicalCores: nil, allowedCPUs: allowed, flags: [],
                       source: "sysconf (no /proc/cpuinfo)")
    }

    /// Parses the text of /proc/cpuinfo. Model, vendor and flags come from the first processor
    /// block (all blocks agree on a homogeneous machine); cores are counted over all blocks.
    public static func parse(cpuinfo text: String, onlineCPUs: Int, allowedCPUs: Int) -> CPUInfo {
        var info = CPUInfo(modelName: "unknown", vendor: "", family: nil, model: nil,
                           logicalCPUs: max(1, onlineCPUs), physicalCores: nil,
                           allowedCPUs: max(1, allowedCPUs), flags: [], source: "/proc/cpuinfo")
        var processors = 0
        var coreIDs = Set<String>()
        var physicalID = "0"
        var pastFirstBlock = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmingCharacters()
            let value = line[line.index(after: colon)...].trimmingCharacters()
            switch key {
            case "processor":
                processors += 1
                pastFirstBlock = processors > 1
            case "physical id":
                physicalID = value
            case "core id":
                coreIDs.insert(physicalID + "/" + value)
            default:
                guard !pastFirstBlock else { continue }
                switch key {
                case "model name": info.modelName = value
                case "vendor_id": info.vendor = value
                case "cpu family": info.family = Int(value)
                case "model": info.model = Int(value)
                case "flags", "Features": info.flags = Set(value.split(separator: " ").map(String.init))
                default: break
                }
            }
        }
        if processors > 0 { info.logicalCPUs = processors }
        if !coreIDs.isEmpty { info.physicalCores = coreIDs.count }
        info.allowedCPUs = min(info.allowedCPUs, info.logicalCPUs)
        return info
    }

    /// Number of CPUs in this process's affinity mask, from the "Cpus_allowed_list:" line of
    /// /proc/self/status (e.g. "0-3,8"); nil where unavailable. (glibc's sched_getaffinity
    /// needs _GNU_SOURCE, which Swift's Glibc module does not define.)
    private static func affinityCount() -> Int? {
        guard let status = readTextFile("/proc/self/status") else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("Cpus_allowed_list:") {
            return countCPUList(line.dropFirst("Cpus_allowed_list:".count).trimmingCharacters())
        }
        return nil
    }

    /// Counts a kernel CPU list such as "0-3,8,10-11" (7); nil if malformed or empty.
    static func countCPUList(_ list: String) -> Int? {
        var count = 0
        for range in list.split(separator: ",") {
            let ends = range.split(separator: "-").map { Int($0) }
            switch ends.count {
            case 1:
                guard ends[0] != nil else { return nil }
                count += 1
            case 2:
                guard let lo = ends[0], let hi = ends[1], hi >= lo else { return nil }
                count += hi - lo + 1
            default:
                return nil
            }
        }
        return count > 0 ? count : nil
    }

    /// The whole file as text, or nil if it cannot be opened. /proc files report size 0, so
    /// read in chunks until end of file.
    static func readTextFile(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension Substring {
    /// Spaces and tabs trimmed from both ends (no Foundation in Tensor).
    fileprivate func trimmingCharacters() -> String {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s = s.dropLast() }
        return String(s)
    }
}
