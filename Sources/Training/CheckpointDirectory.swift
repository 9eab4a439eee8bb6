import Formats
import Foundation
import Layers

/// The checkpoints of one run: `DIR/step-00001234/` directories plus a `latest` symlink.
///
/// A checkpoint is written into a temporary sibling, every file and the directory fsynced, then
/// renamed to its final name, and only then is `latest` swung over by renaming a fresh symlink
/// onto it (rename is atomic). A crash at any point leaves `latest` naming a complete
/// checkpoint; the previous ones stay until `keep` newer ones exist.
public final class CheckpointDirectory {
    public let path: String
    public let keep: Int
    /// Another run's checkpoints that --overwrite replaces: removed once this run's first
    /// checkpoint is in place, so a run that fails before that leaves them as they were.
    private var replaced: [String] = []

    public init(path: String, keep: Int) {
        self.path = path; self.keep = max(keep, 1)
    }

    /// The checkpoint `latest` names, if any.
    public func latest() -> String? { Self.resolve(path) }

    /// Resolves what a user passed to --resume / --checkpoint: a run directory (its `latest`) or a
    /// checkpoint directory itself.
    public static func resolve(_ given: String) -> String? { try? locate(given, flag: "") }

    /// `resolve`, or one line saying why `given` (the value of `flag`) is not a checkpoint.
    public static func locate(_ given: String, flag: String) throws -> String {
        let fm = FileManager.default
        let what = flag.isEmpty ? given : "\(flag) \(given)"
        if fm.fileExists(atPath: given + "/" + Checkpoint.modelFile) { return given }
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: given, isDirectory: &isDirectory) else {
            throw TrainError.checkpoint("\(what): no such file or directory (expected a checkpoint directory or a run directory with a 'latest' link)")
        }
        guard isDirectory.boolValue else {
            throw TrainError.checkpoint("\(what) is a file; expected a checkpoint directory (holding \(Checkpoint.modelFile)) or a run directory with a 'latest' link")
        }
        let link = given + "/latest"
        guard let target = try? fm.destinationOfSymbolicLink(atPath: link) else {
            throw TrainError.checkpoint("\(what) holds neither \(Checkpoint.modelFile) nor a 'latest' link: not a checkpoint")
        }
        let full = target.hasPrefix("/") ? target : given + "/" + target
        guard fm.fileExists(atPath: full + "/" + Checkpoint.modelFile) else {
            throw TrainError.checkpoint("\(what): 'latest' points to \(target), which holds no \(Checkpoint.modelFile)")
        }
        return full
    }

    /// The `step-*` checkpoints in `path` (sorted) and the name `latest` points to; both empty
    /// when there are none (or no directory).
    static func held(in path: String) -> (steps: [String], latest: String?) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return (names.filter { $0.hasPrefix("step-") }.sorted(),
                try? FileManager.default.destinationOfSymbolicLink(atPath: path + "/latest"))
    }

    /// One run per directory: a run that starts in `path` (a new run, or a resume writing to a
    /// directory other than its own) refuses one that holds checkpoints, which would otherwise
    /// mix with its own and move `latest`, unless `overwrite` lets it replace them.
    public static func requireUnused(_ path: String, overwrite: Bool) throws {
        let (steps, latest) = held(in: path)
        guard !overwrite, !steps.isEmpty || latest != nil else { return }
        let what = latest.map { "latest \($0)" } ?? steps.last!
        let count = steps.count == 1 ? "1 checkpoint" : "\(steps.count) checkpoints"
        throw TrainError.badFlag("--checkpoint-dir \(path) already holds another run (\(count), \(what)): continue that run "
            + "with --resume \(path), or give a new directory (--overwrite replaces that run)")
    }

    /// Whether `path` is the run directory `checkpoint` belongs to (the same directory, however
    /// either is spelt).
    public static func isRunDirectory(_ path: String, of checkpoint: String) -> Bool {
        func real(_ p: String) -> String { URL(fileURLWithPath: p).resolvingSymlinksInPath().standardizedFileURL.path }
        return real(path) == real(URL(fileURLWithPath: checkpoint).deletingLastPathComponent().path)
    }

    /// Makes sure checkpoints can be written here before any training time is spent: the
    /// directory exists (or is created) and is a writable directory. `replacing`: it is a new
    /// run's with --overwrite, so the checkpoints of the run it held before go (with the first
    /// checkpoint this run writes).
    public func prepare(replacing: Bool = false) throws {
        var info = stat()
        if stat(path, &info) != 0 {
            guard errno == ENOENT else { throw Self.failure("--checkpoint-dir \(path)", errno) }
            do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
                throw TrainError.checkpoint("--checkpoint-dir \(path): cannot create it: \(error.systemReason)")
            }
        } else if (info.st_mode & S_IFMT) != S_IFDIR {
            throw TrainError.checkpoint("--checkpoint-dir \(path) exists and is not a directory")
        }
        guard access(path, W_OK | X_OK) == 0 else { throw Self.failure("--checkpoint-dir \(path) is not writable", errno) }
        recoverInterruptedWrites()
        if replacing { replaced = Self.held(in: path).steps }
    }

    /// Cleans up after a writer that died mid-write (its pid ends the names of its temporaries):
    /// a checkpoint it had moved aside to replace (`.old-step-N-pid`) goes back to `step-N` if the
    /// replacement never landed (`latest` may name it); half-written `.tmp-` directories and
    /// `.latest-` links are removed. Temporaries of a live process are left alone.
    private func recoverInterruptedWrites() {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: path) else { return }
        for name in names where name.hasPrefix(".old-") || name.hasPrefix(".tmp-") || name.hasPrefix(".latest-") {
            guard let pidText = name.split(separator: "-").last, let pid = Int32(pidText), pid != getpid(),
                  kill(pid, 0) != 0 && errno == ESRCH else { continue }
            let full = path + "/" + name
            if name.hasPrefix(".old-") {
                // ".old-step-00000012-4242" -> "step-00000012"
                let step = path + "/" + String(name.dropFirst(".old-".count).dropLast(pidText.count + 1))
                if fm.fileExists(atPath: step + "/" + Checkpoint.modelFile) {
                    try? fm.removeItem(atPath: full)
                } else {
                    try? fm.moveItem(atPath: full, toPath: step)
                }
            } else {
                try? fm.removeItem(atPath: full)
            }
        }
    }

    /// Where the checkpoint of `globalStep` is written.
    public func checkpointPath(globalStep: Int) -> String { path + "/" + String(format: "step-%08d", globalStep) }

    /// Writes one checkpoint through `fill(tempDir)`, publishes it, prunes old ones; returns its path.
    public func write(globalStep: Int, _ fill: (String) throws -> Void) throws -> String {
        let fm = FileManager.default
        try fm.createDirectory(atPath: path, withIntermediateDirectories: true)
        let final = checkpointPath(globalStep: globalStep)
        let name = String(final.dropFirst(path.count + 1))
        let tmp = path + "/.tmp-\(name)-\(getpid())"
        try? fm.removeItem(atPath: tmp)
        try fm.createDirectory(atPath: tmp, withIntermediateDirectories: false)
        do {
            try fill(tmp)
            for file in try fm.contentsOfDirectory(atPath: tmp) { try Self.fsync(tmp + "/" + file) }
            try Self.fsync(tmp)
            if fm.fileExists(atPath: final) {
                // Same step written again (e.g. after a resume): move the old one aside first, so
                // there is never a moment without a complete copy.
                let old = path + "/.old-\(name)-\(getpid())"
                try fm.moveItem(atPath: final, toPath: old)
                try fm.moveItem(atPath: tmp, toPath: final)
                try? fm.removeItem(atPath: old)
            } else {
                try fm.moveItem(atPath: tmp, toPath: final)
            }
            let newLink = path + "/.latest-\(getpid())"
            try? fm.removeItem(atPath: newLink)
            try fm.createSymbolicLink(atPath: newLink, withDestinationPath: name)
            guard rename(newLink, path + "/latest") == 0 else {
                throw TrainError.checkpoint("cannot update \(path)/latest: \(String(cString: strerror(errno)))")
            }
            for old in replaced where old != name { try? fm.removeItem(atPath: path + "/" + old) }
            replaced = []
            try Self.fsync(path)
        } catch {
            try? fm.removeItem(atPath: tmp)
            if error is TrainError || error is SafeTensorsError { throw error }
            throw TrainError.checkpoint("cannot write \(final): \(error.systemReason)")
        }
        prune(current: name)
        return final
    }

    private static func failure(_ what: String, _ code: Int32) -> TrainError {
        .checkpoint("\(what): \(String(cString: strerror(code)))")
    }

    /// Keeps the newest `keep` checkpoints (and always the one `latest` names).
    private func prune(current: String) {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: path) else { return }
        let steps = names.filter { $0.hasPrefix("step-") }.sorted()
        for name in steps.dropLast(keep) where name != current {
            try? fm.removeItem(atPath: path + "/" + name)
        }
    }

    static func fsync(_ path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw TrainError.checkpoint("cannot open \(path) to sync it: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard Foundation.fsync(fd) == 0 else {
            throw TrainError.checkpoint("fsync \(path) failed: \(String(cString: strerror(errno)))")
        }
    }
}
