import Foundation

extension Error {
    /// The system's one-line reason behind a Foundation file error ("No such file or directory",
    /// "Permission denied") rather than its generic text ("The operation could not be
    /// completed") or a multi-line dump; any other error's description, on one line.
    public var systemReason: String {
        let ns = self as NSError
        // On Linux the underlying error is a `POSIXError` value, elsewhere an NSError.
        if let posix = ns.userInfo[NSUnderlyingErrorKey] as? POSIXError { return String(cString: strerror(posix.code.rawValue)) }
        if let posix = ns.userInfo[NSUnderlyingErrorKey] as? NSError, posix.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(posix.code)))
        }
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        let text = ns.domain == NSCocoaErrorDomain ? ns.localizedDescription : "\(self)"
        return text.split(whereSeparator: \.isNewline).joined(separator: "; ")
    }
}
