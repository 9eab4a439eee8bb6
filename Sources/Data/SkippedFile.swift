/// A file a data set left out under `--skip-bad`, and why (the error it would have stopped with).
public struct SkippedFile: Sendable, Equatable {
    public let path: String
    public let reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }
}
