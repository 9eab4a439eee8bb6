import CMPI

/// Facts about the linked MPI library that are available before (and without) `MPI_Init`.
public enum MPILibrary {
    /// The library's own version string, e.g. "Open MPI v4.1.4, package: Debian OpenMPI, ...".
    ///
    /// `MPI_Get_library_version` is one of the few calls the MPI standard allows before
    /// `MPI_Init`, so `ddp info` can report it without starting MPI.
    public static func version() -> String {
        var buffer = [CChar](repeating: 0, count: Int(MPI_MAX_LIBRARY_VERSION_STRING) + 1)
        var length: Int32 = 0
        let rc = MPI_Get_library_version(&buffer, &length)
        guard rc == MPI_SUCCESS else { return "unknown (MPI_Get_library_version returned \(rc))" }
        let end = max(0, min(Int(length), buffer.count - 1))
        let bytes = buffer[..<end].map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self).trimmingTrailingNewlines()
    }
}

private extension String {
    /// Open MPI ends the string with a newline; a one-line report wants it gone.
    func trimmingTrailingNewlines() -> String {
        var s = Substring(self)
        while let last = s.last, last == "\n" || last == "\r" || last == "\0" { s = s.dropLast() }
        return String(s)
    }
}
