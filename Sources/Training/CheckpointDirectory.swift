import Foundation

/// The checkpoints of one run: `DIR/step-00001234/` directories plus a `latest` symlink.
///
/// A checkpoint is written into a temporary sibling, every file and the directory fsynced, then
/// renamed to its final name, and only then is `latest` swung over by renaming a fresh symlink
/// onto it (rename is atomic). A crash at any point leaves `latest` naming a complete
/// checkpoint; the previous ones stay until `keep` newer ones exist.
public final class CheckpointDirectory {
    public let path: String
    public let keep: Int

    public init(path: String, keep: Int) {
        self.path = path; self.keep = max(keep, 1)
    }

    /// The checkpoint `latest` names, if any.
    public func latest() -> String? { Self.resolve(path) }

    /// Resolves what a user passed to --resume / --checkpoint: a run directory (its `latest`) or a
    /// checkpoint directory itself.
    public static func resolve(_ given: String) -> String? {
        let fm = FileManager.default
        if fm.fileExists(atPath: given + "/model.safetensors") { return given }
        let link = given + "/latest"
        if let target = try? fm.destinationOfSymbolicLink(atPath: link) {
            let full = target.hasPrefix("/") ? target : given + "/" + target
            if fm.fileExists(atPath: full + "/model.safetensors") { return full }
        }
        return nil
    }

    /// Writes one checkpoint through `fill(tempDir)`, publishes it, prunes old ones; returns its path.
    public func write(globalStep: Int, _ fill: (String) throws -> Void) throws -> String {
        let fm = FileManager.default
        try fm.createDirectory(atPath: path, withIntermediateDirectories: true)
        let name = String(format: "step-%08d", globalStep)
        let final = path + "/" + name
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
            try Self.fsync(path)
        } catch {
            try? fm.removeItem(atPath: tmp)
            throw error
        }
        prune(current: name)
        return final
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
