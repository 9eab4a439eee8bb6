/// A malformed file or a request the file cannot satisfy. `description` is one line naming the
/// file (or "<memory>"), what is wrong and what was expected.
public struct SafeTensorsError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: Sendable, Equatable {
        /// The file could not be opened, read, written or renamed.
        case io
        /// Shorter than the 8-byte header length, or the header length runs past the end.
        case truncated
        /// The header length is over the 100 MB limit of the reference implementation.
        case headerTooLarge
        /// The header is not valid JSON (or not UTF-8, or nested too deeply).
        case invalidJSON
        /// Valid JSON but not a safetensors header: wrong types, missing or unknown keys.
        case invalidHeader
        case unknownDType
        /// Negative dimension, or an element count that overflows.
        case invalidShape
        /// Offsets out of order, overlapping, leaving gaps or not ending at the end of the file.
        case invalidOffsets
        /// shape x dtype size differs from the byte span (or from the value count given).
        case sizeMismatch
        case duplicateName
        case missingTensor
        /// A typed read of the wrong dtype or shape, or a BOOL byte other than 0 or 1.
        case wrongType
    }

    public let kind: Kind
    public let description: String

    init(_ kind: Kind, _ source: String, _ message: String) {
        self.kind = kind
        self.description = "\(source): \(message)"
    }
}
