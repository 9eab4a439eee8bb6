/// The header dict of a `.npy` file, parsed by hand.
///
/// numpy writes it with `repr` of a dict and reads it with `ast.literal_eval`, for example
///
///     {'descr': '<f4', 'fortran_order': False, 'shape': (60000, 28, 28), }
///
/// then pads it with spaces and ends it with a newline. Only the part of Python's literal syntax
/// such a dict uses is accepted, no more:
///
///     header  = dict " "* "\n"
///     dict    = "{" ws [entry (ws "," ws entry)* ws [","]] ws "}"
///     entry   = string ws ":" ws value
///     value   = string | "True" | "False" | tuple
///     tuple   = "(" ws ")" | "(" ws int ws "," ws ")" | "(" ws int (ws "," ws int)+ ws [","] ws ")"
///     string  = "'" printable* "'" | '"' printable* '"'      (no escapes)
///     int     = "0" | [1-9][0-9]* ["L"]                       ("L": Python 2's long, in old files)
///     ws      = (" " | "\t")*
///
/// with exactly the keys `descr` (a string: structured dtypes, which are lists, are refused),
/// `fortran_order` (a bool) and `shape` (a tuple), each once, as numpy requires. `(3)` is not a
/// tuple in Python, so it is refused here too. Every failure names the byte where parsing stopped.
struct NumpyHeader {
    let descr: String
    let fortranOrder: Bool
    let shape: [Int]

    /// Parses `text`, the header after its length field (dict, padding and newline), from `path`.
    init(parsing text: [UInt8], path: String) throws {
        var parser = HeaderParser(text: text, path: path)
        (descr, fortranOrder, shape) = try parser.header()
    }

    /// `shape` as Python prints a tuple: "(60000, 28, 28)", "(10,)", "()".
    static func describe(_ shape: [Int]) -> String {
        shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    }
}

/// A cursor over the header bytes with one method per rule of the grammar above.
private struct HeaderParser {
    /// Each dimension is at most this (2^48): no file backs a larger one, and the bound keeps the
    /// decimal parse from overflowing.
    static let maximumDimension = 1 << 48

    let text: [UInt8]
    let path: String
    var at = 0

    init(text: [UInt8], path: String) {
        self.text = text
        self.path = path
    }

    mutating func header() throws -> (String, Bool, [Int]) {
        var descr: String?, fortranOrder: Bool?, shape: [Int]?
        try expect("{")
        skipBlanks()
        while peek != UInt8(ascii: "}") {
            let keyAt = at
            let key = try string()
            skipBlanks()
            try expect(":")
            skipBlanks()
            switch key {
            case "descr" where descr == nil:
                guard peek == UInt8(ascii: "'") || peek == UInt8(ascii: "\"") else {
                    throw failure("descr is not a type string such as '<f4' (structured dtypes are not supported)")
                }
                descr = try string()
            case "fortran_order" where fortranOrder == nil:
                fortranOrder = try bool()
            case "shape" where shape == nil:
                shape = try tuple()
            case "descr", "fortran_order", "shape":
                at = keyAt
                throw failure("key '\(key)' appears twice")
            default:
                at = keyAt
                throw failure("unexpected key '\(key)' (expected descr, fortran_order and shape)")
            }
            skipBlanks()
            if peek == UInt8(ascii: ",") {
                at += 1
                skipBlanks()
            } else if peek != UInt8(ascii: "}") {
                throw failure("expected ',' or '}'")
            }
        }
        at += 1
        while peek == UInt8(ascii: " ") { at += 1 }
        if peek != UInt8(ascii: "\n") { throw failure("expected spaces then a newline after the dict") }
        at += 1
        if at != text.count { throw failure("expected the header to end after its newline") }
        guard let descr, let fortranOrder, let shape else {
            let missing = zip(["'descr'", "'fortran_order'", "'shape'"], [descr == nil, fortranOrder == nil, shape == nil])
                .filter(\.1).map(\.0)
            at = 0
            throw failure("the dict lacks \(missing.joined(separator: " and "))")
        }
        return (descr, fortranOrder, shape)
    }

    /// The byte under the cursor, or nil at the end.
    private var peek: UInt8? { at < text.count ? text[at] : nil }

    private mutating func skipBlanks() {
        while peek == UInt8(ascii: " ") || peek == UInt8(ascii: "\t") { at += 1 }
    }

    private mutating func expect(_ c: Unicode.Scalar) throws {
        if peek != UInt8(ascii: c) { throw failure("expected '\(c)'") }
        at += 1
    }

    private mutating func string() throws -> String {
        guard let quote = peek, quote == UInt8(ascii: "'") || quote == UInt8(ascii: "\"") else {
            throw failure("expected a quoted string")
        }
        let start = at + 1
        at = start
        while let c = peek, c != quote {
            if c < 0x20 || c > 0x7E || c == UInt8(ascii: "\\") {
                throw failure("unexpected byte in a string (expected printable ASCII without escapes)")
            }
            at += 1
        }
        if peek == nil {
            at = start - 1
            throw failure("unterminated string")
        }
        at += 1
        return String(decoding: text[start..<(at - 1)], as: UTF8.self)
    }

    private mutating func bool() throws -> Bool {
        for (word, value) in [("True", true), ("False", false)] where text[at...].starts(with: word.utf8) {
            at += word.utf8.count
            return value
        }
        throw failure("expected True or False")
    }

    private mutating func tuple() throws -> [Int] {
        if peek == UInt8(ascii: "[") { throw failure("shape is a list (expected a tuple)") }
        try expect("(")
        skipBlanks()
        var values: [Int] = []
        var trailingComma = false
        while peek != UInt8(ascii: ")") {
            values.append(try dimension())
            skipBlanks()
            trailingComma = peek == UInt8(ascii: ",")
            if trailingComma {
                at += 1
                skipBlanks()
            } else if peek != UInt8(ascii: ")") {
                throw failure("expected ',' or ')' in the shape")
            }
        }
        if values.count == 1 && !trailingComma { throw failure("a one-element shape needs its comma, as in (3,)") }
        at += 1
        return values
    }

    private mutating func dimension() throws -> Int {
        let start = at
        if peek == UInt8(ascii: "-") { throw failure("negative dimension") }
        var value = 0
        while let c = peek, c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") {
            if at > start && text[start] == UInt8(ascii: "0") {
                at = start
                throw failure("dimension with a leading zero")
            }
            value = value * 10 + Int(c - UInt8(ascii: "0"))
            if value > Self.maximumDimension {
                at = start
                throw failure("dimension larger than \(Self.maximumDimension)")
            }
            at += 1
        }
        if at == start { throw failure("expected a dimension (a non-negative integer)") }
        if peek == UInt8(ascii: "L") { at += 1 }
        return value
    }

    /// A `badArray` error that shows where in the header parsing stopped.
    private func failure(_ what: String) -> DataError {
        .badArray(path: path, detail: "malformed header: \(what) at byte \(at) of \(Self.quoted(text))")
    }

    /// The header as a one-line literal, cut at 96 bytes.
    private static func quoted(_ bytes: [UInt8]) -> String {
        "\"" + DataError.printable(bytes.prefix(96)) + (bytes.count > 96 ? "...\"" : "\"")
    }
}
