/// A file a data set left out under `--skip-bad`, and why (the error it would have stopped with).
public struct SkippedFile: Sendable, Equatable {
    public let path: String
    public let reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    /// The file and the error it gave, without the path the error's line starts with.
    public init(path: String, error: Error) {
        let line = "\(error)"
        self.init(path: path, reason: line.hasPrefix(path + ": ") ? String(line.dropFirst(path.count + 2)) : line)
    }
}
