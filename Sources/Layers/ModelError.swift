/// A problem with a model the user described or loaded (bad spec, input too small, state that
/// does not fit): one line saying what, where and what was expected.
public struct ModelError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
