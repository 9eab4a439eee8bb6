import Foundation

/// ddp's one way to write JSON: one object on one line, keys in the order given (stable output for
/// scripts and tests), or an `Encodable` with its keys sorted. Numbers that are not finite are
/// written as null (JSON has no NaN).
public enum JSONLine {
    public enum Value {
        case string(String), number(Double), bool(Bool), null
        /// An integer a Double cannot hold exactly (a 64-bit seed), written digit for digit.
        case unsigned(UInt64)
        case array([Value])
        /// A nested object, keys in the order given.
        case object([(String, Value)])
    }

    /// `value` as compact JSON, keys sorted, slashes unescaped.
    public static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    public static func object(_ fields: KeyValuePairs<String, Value>) -> String {
        object(fields.map { ($0.key, $0.value) })
    }

    public static func object(_ fields: [(String, Value)]) -> String {
        "{" + fields.map { "\(quote($0.0)):\(encode($0.1))" }.joined(separator: ",") + "}"
    }

    private static func encode(_ v: Value) -> String {
        switch v {
        case .string(let s): return quote(s)
        case .number(let x):
            guard x.isFinite else { return "null" }
            return x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : "\(x)"
        case .unsigned(let n): return String(n)
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .array(let items): return "[" + items.map(encode).joined(separator: ",") + "]"
        case .object(let fields): return object(fields)
        }
    }

    private static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}
