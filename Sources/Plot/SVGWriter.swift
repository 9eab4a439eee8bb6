import Foundation

/// Builds SVG markup as text, one element at a time.
///
/// Attributes are written in the order given and numbers with a fixed number of decimals,
/// so the same chart always produces the same bytes (a chart can be diffed and tested).
/// Every text and attribute value goes through `escape`, so labels taken from user input
/// (file names, series names) cannot break the XML.
struct SVGWriter {
    private(set) var markup = ""
    private var depth = 0

    /// Escapes the five XML special characters; drops control characters XML 1.0 forbids.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
            default:
                // XML 1.0 allows no other C0 control characters, not even escaped.
                if scalar.value >= 0x20 { out.unicodeScalars.append(scalar) }
            }
        }
        return out
    }

    /// A coordinate with at most two decimals and no trailing zeros ("12.5", "3", "-0.25").
    /// Hundredths of a pixel are below what any renderer shows; fewer digits keep files small.
    static func number(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        let hundredths = (value * 100).rounded()
        if hundredths == 0 { return "0" }  // never "-0"
        var text = String(format: "%.2f", hundredths / 100)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    /// A document begun: the XML declaration, the `svg` element of `width` x `height` pixels with
    /// its title, and a white background. The caller draws and closes "svg".
    static func document(width: Double, height: Double, title: String, fontFamily: String) -> SVGWriter {
        var svg = SVGWriter()
        svg.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        svg.open("svg", [("xmlns", "http://www.w3.org/2000/svg"), ("version", "1.1"),
                         ("width", number(width)), ("height", number(height)),
                         ("viewBox", "0 0 \(number(width)) \(number(height))"), ("font-family", fontFamily)])
        svg.text("title", [], title)
        svg.leaf("rect", [("x", "0"), ("y", "0"), ("width", number(width)), ("height", number(height)), ("fill", "#ffffff")])
        return svg
    }

    mutating func raw(_ line: String) {
        markup += String(repeating: "  ", count: depth) + line + "\n"
    }

    /// `<name a="1" b="2">` and indents what follows until `close`.
    mutating func open(_ name: String, _ attributes: [(String, String)] = []) {
        raw("<\(name)\(Self.attributeText(attributes))>")
        depth += 1
    }

    mutating func close(_ name: String) {
        depth -= 1
        raw("</\(name)>")
    }

    /// An empty element: `<name a="1"/>`.
    mutating func leaf(_ name: String, _ attributes: [(String, String)]) {
        raw("<\(name)\(Self.attributeText(attributes))/>")
    }

    /// An element holding only text: `<name a="1">text</name>`.
    mutating func text(_ name: String, _ attributes: [(String, String)], _ content: String) {
        raw("<\(name)\(Self.attributeText(attributes))>\(Self.escape(content))</\(name)>")
    }

    private static func attributeText(_ attributes: [(String, String)]) -> String {
        attributes.map { " \($0.0)=\"\(escape($0.1))\"" }.joined()
    }
}
