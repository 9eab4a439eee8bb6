#if canImport(Glibc)
import Glibc
private let systemRead = Glibc.read
private let systemWrite = Glibc.write
#elseif canImport(Darwin)
import Darwin
private let systemRead = Darwin.read
private let systemWrite = Darwin.write
#endif

/// Whole-file reads and crash-safe writes with the system calls themselves, so every failure
/// names its step (create, write, fsync, rename) and errno's reason.
public enum DurableFile {
    /// What went wrong, as "<step>: <reason>" (the caller adds the path it was asked for).
    public struct Failure: Error, Equatable, Sendable {
        public let message: String
    }

    /// Writes atomically: a temporary file beside `path`, fsynced, renamed over `path`, then the
    /// directory fsynced; a crash leaves either the old file or the new one, never half of one.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        try bytes.withUnsafeBytes { try write(parts: [$0], to: path) }
    }

    /// `write(_:to:)` of the concatenation of `parts`, written one after the other (no copy).
    public static func write(parts: [UnsafeRawBufferPointer], to path: String) throws {
        let temporary = "\(path).tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure("cannot create \(temporary)") }
        var problem: Failure?
        for raw in parts where problem == nil {
            var done = 0
            while done < raw.count {
                let n = systemWrite(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { problem = failure("cannot write \(temporary)"); break }
                done += n
            }
        }
        if problem == nil && fsync(fd) != 0 { problem = failure("cannot fsync \(temporary)") }
        if close(fd) != 0 && problem == nil { problem = failure("cannot close \(temporary)") }
        if problem == nil && rename(temporary, path) != 0 { problem = failure("cannot rename \(temporary) to \(path)") }
        if let problem {
            unlink(temporary)
            throw problem
        }
        syncDirectory(of: path)
    }

    /// The bytes of the regular file at `path`.
    public static func read(_ path: String) throws -> [UInt8] {
        // Checked before opening: opening a named pipe would wait for a writer.
        var before = stat()
        if stat(path, &before) == 0 && (before.st_mode & S_IFMT) != S_IFREG { throw Failure(message: "not a regular file") }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw failure("cannot open") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw failure("cannot stat") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw Failure(message: "not a regular file") }
        let size = Int(info.st_size)
        var problem: Failure?
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            while initialized < size {
                let n = systemRead(fd, buffer.baseAddress! + initialized, size - initialized)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    problem = n == 0 ? Failure(message: "file shrank while being read") : failure("cannot read")
                    return
                }
                initialized += n
            }
        }
        if let problem { throw problem }
        return bytes
    }

    /// Makes the rename durable. Best effort: some filesystems cannot fsync a directory, and the
    /// file itself is already complete and in place.
    private static func syncDirectory(of path: String) {
        let directory = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        let fd = open(directory.isEmpty ? "/" : directory, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }

    private static func failure(_ what: String) -> Failure {
        Failure(message: "\(what): \(String(cString: strerror(errno)))")
    }
}
