/// Why a metrics file could not be used: `file:line: reason`, on one line.
public struct MetricsLogError: Error, CustomStringConvertible, Equatable {
    public let file: String
    /// 1-based; nil when the problem is the whole file.
    public let line: Int?
    public let reason: String

    public init(file: String, line: Int?, reason: String) {
        self.file = file
        self.line = line
        self.reason = reason
    }

    public var description: String {
        if let line { return "\(file):\(line): \(reason)" }
        return "\(file): \(reason)"
    }
}
