import Foundation

/// Everything that can go wrong while reading, checking or sampling a dataset.
///
/// Each description is one line that says what went wrong, where (the file, or the argument) and
/// what was expected, so the command line can print it as is.
public enum DataError: Error, Equatable, CustomStringConvertible, LocalizedError {
    /// A required file does not exist; `expected` says what it should have held.
    case missingFile(path: String, expected: String)
    /// The file exists but cannot be opened or read (permissions, a directory, an I/O error).
    case unreadable(path: String, reason: String)
    /// The first four bytes are not the IDX magic that was expected.
    case wrongMagic(path: String, found: UInt32, expected: UInt32, kind: String)
    /// The file ends before the data its header (or format) promises.
    case truncated(path: String, detail: String)
    /// The file holds more bytes than its header accounts for.
    case trailingData(path: String, detail: String)
    /// The gzip stream is damaged (bad header, bad deflate data, bad checksum).
    case corruptGzip(path: String, detail: String)
    /// The header declares dimensions that cannot be right (zero, not matching another file, or an
    /// image of more pixels than `ImageDecoder.maximumPixels`).
    case wrongDimensions(path: String, detail: String)
    /// The header promises more bytes than the reader accepts (see `IDXReader.maximumDataBytes`).
    case tooLarge(path: String, bytes: Int, limit: Int)
    /// The image file and the label file of one split disagree on the number of samples.
    case countMismatch(imagesPath: String, images: Int, labelsPath: String, labels: Int)
    /// A label is not in `0..<classes`.
    case labelOutOfRange(path: String, index: Int, label: Int, classes: Int)
    /// A CIFAR-10 batch file whose size is not a positive multiple of the record size.
    case badRecordSize(path: String, size: Int, recordSize: Int)
    /// A dataset name that the loader does not know.
    case unknownDataset(name: String, known: [String])
    /// The sampler cannot fill one global batch from the dataset.
    case datasetTooSmall(count: Int, batchSize: Int, ranks: Int, accumulate: Int)
    /// An argument outside its valid range (batch size, rank, normalization, sizes...).
    case invalidArgument(String)
    /// A NumPy `.npy` array or `.npz` archive that cannot serve as a dataset: a malformed header
    /// or archive, an element type or layout that is not supported, values out of range.
    case badArray(path: String, detail: String)
    /// A file handed to the image decoder that is neither PNG nor JPEG by its first bytes, or is
    /// empty; `detail` says which, showing the first bytes (it reads on its own after the path).
    case notAnImage(path: String, detail: String)
    /// A PNG or JPEG file that libpng or TurboJPEG cannot decode completely, or decodes only with
    /// a warning (`detail` is the library's message).
    case corruptImage(path: String, detail: String)

    public var description: String {
        switch self {
        case let .missingFile(path, expected):
            return "\(path): file not found (expected \(expected))"
        case let .unreadable(path, reason):
            return "\(path): cannot read: \(reason)"
        case let .wrongMagic(path, found, expected, kind):
            return "\(path): wrong magic \(Self.hex(found)), expected \(Self.hex(expected)) (\(kind))"
        case let .truncated(path, detail):
            return "\(path): truncated: \(detail)"
        case let .trailingData(path, detail):
            return "\(path): unexpected trailing data: \(detail)"
        case let .corruptGzip(path, detail):
            return "\(path): corrupt gzip data: \(detail)"
        case let .wrongDimensions(path, detail):
            return "\(path): wrong dimensions: \(detail)"
        case let .tooLarge(path, bytes, limit):
            return "\(path): header promises \(bytes) bytes of data, more than the limit of \(limit) bytes"
        case let .countMismatch(imagesPath, images, labelsPath, labels):
            return "\(imagesPath) holds \(images) images but \(labelsPath) holds \(labels) labels (expected equal counts)"
        case let .labelOutOfRange(path, index, label, classes):
            return "\(path): label \(label) of sample \(index) is out of range (expected 0...\(classes - 1) for \(classes) classes)"
        case let .badRecordSize(path, size, recordSize):
            return "\(path): size \(size) bytes is not a positive multiple of the \(recordSize)-byte CIFAR-10 record (1 label byte + 3x32x32 pixels)"
        case let .unknownDataset(name, known):
            return "unknown dataset '\(name)' (expected one of: \(known.joined(separator: ", ")))"
        case let .datasetTooSmall(count, batchSize, ranks, accumulate):
            let (perMicroBatch, overflow) = batchSize.multipliedReportingOverflow(by: ranks)
            let (global, overflowToo) = perMicroBatch.multipliedReportingOverflow(by: accumulate)
            let product = overflow || overflowToo ? "more than \(Int.max)" : "\(global)"
            let factors = "\(batchSize) x \(ranks)" + (accumulate > 1 ? " x \(accumulate)" : "")
            return "dataset of \(count) samples is smaller than one global batch \(factors) = \(product) "
                + "(lower --batch-size\(accumulate > 1 ? ", --accumulate" : "") or the number of ranks)"
        case let .invalidArgument(message):
            return message
        case let .badArray(path, detail):
            return "\(path): bad NumPy array: \(detail)"
        case let .notAnImage(path, detail):
            return "\(path): \(detail)"
        case let .corruptImage(path, detail):
            return "\(path): corrupt image: \(detail)"
        }
    }

    /// The same line, for code that prints `localizedDescription`.
    public var errorDescription: String? { description }

    /// `v` as 0x and eight hex digits.
    static func hex(_ v: UInt32) -> String {
        let digits = String(v, radix: 16, uppercase: true)
        return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }

    /// Bytes from a file (a name, a header) as text that keeps a message on one line: printable
    /// ASCII as it is, a backslash and a double quote escaped, a newline as \n, any other byte
    /// as \xNN.
    static func printable(_ bytes: some Sequence<UInt8>) -> String {
        var out = ""
        for b in bytes {
            switch b {
            case UInt8(ascii: "\n"): out += "\\n"
            case UInt8(ascii: "\\"), UInt8(ascii: "\""): out += "\\" + String(Unicode.Scalar(b))
            case 0x20...0x7E: out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let hex = String(b, radix: 16)
                out += "\\x" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return out
    }
}
