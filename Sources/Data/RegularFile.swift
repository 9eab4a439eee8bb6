#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Opening a data file the way every reader does: only a regular file is accepted. A named
/// pipe would block `open` or `read` until a writer came (a training run hanging on a typo), and a
/// directory or device is never a data set; both are refused before anything is read.
enum RegularFile {
    /// An open, read-only descriptor of the regular file at `path` and its size; the caller
    /// closes it. `expected` says what the file should hold, for the error.
    static func open(_ path: String, expected: String) throws -> (fd: Int32, size: Int) {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let code = errno
            if code == ENOENT { throw DataError.missingFile(path: path, expected: expected) }
            throw DataError.unreadable(path: path, reason: reason(code))
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw DataError.unreadable(path: path, reason: "\(kind(info.st_mode)) (expected \(expected))")
        }
        // O_NONBLOCK: should the path have become a pipe since the check, open still returns
        // (reads of a regular file ignore the flag).
        #if canImport(Glibc)
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        #else
        let fd = Darwin.open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        #endif
        guard fd >= 0 else { throw DataError.unreadable(path: path, reason: reason(errno)) }
        var opened = stat()
        guard fstat(fd, &opened) == 0, opened.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw DataError.unreadable(path: path, reason: "is not a regular file (expected \(expected))")
        }
        return (fd, Int(opened.st_size))
    }

    static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: return "is a directory"
        case S_IFIFO: return "is a named pipe, not a regular file"
        case S_IFCHR, S_IFBLK: return "is a device, not a regular file"
        case S_IFSOCK: return "is a socket, not a regular file"
        default: return "is not a regular file"
        }
    }

    static func reason(_ code: Int32) -> String { String(cString: strerror(code)) }
}
