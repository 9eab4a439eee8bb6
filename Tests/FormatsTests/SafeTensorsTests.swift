import Formats
import Foundation
import XCTest
import Tensor

/// The safetensors reader and writer: against a file written by the official `safetensors`
/// package (scripts/fixtures/make_reference_safetensors.py), round trips, atomic files, a corpus
/// of corrupt headers each with its expected error, and a seeded mutation loop.
final class SafeTensorsTests: XCTestCase {
    // MARK: The reference file

    /// Mirrors `tensors()` in make_reference_safetensors.py.
    private let oddName = "odd \"name\"\\\n\t\u{01}/\u{e9}\u{2603}\u{1F600}"
    private let note = "line1\nline2 \"quoted\" \\ \u{1f} \u{e9}"

    private func referenceEntries() throws -> [(name: String, entry: SafeTensorEntry)] {
        [
            ("f32", try SafeTensorEntry(floats: (0..<12).map { (Float($0) - 5.5) * 0.25 }, shape: [3, 4])),
            ("f32_special", try SafeTensorEntry(floats: [0, -0.0, .infinity, -.infinity, Float(bitPattern: 0x7FC0_0000),
                                                         Float(bitPattern: 1), .greatestFiniteMagnitude, -1.5], shape: [8])),
            ("f64", try SafeTensorEntry(doubles: [1.0 / 3, -2.5, 1e300, -0.0], shape: [2, 2])),
            ("i64", try SafeTensorEntry(int64s: [0, -1, 1 << 62, .min, .max], shape: [5])),
            ("i32", try SafeTensorEntry(int32s: [.min, .max, 0, 1, -1, 123_456], shape: [2, 3])),
            ("u8", try SafeTensorEntry(uint8s: [0, 1, 128, 255], shape: [4])),
            ("bool", try SafeTensorEntry(bools: [true, false, true], shape: [3])),
            ("scalar", try SafeTensorEntry(floats: [2.5], shape: [])),
            ("empty", try SafeTensorEntry(floats: [], shape: [0, 3])),
            (oddName, try SafeTensorEntry(floats: [7], shape: [1])),
        ]
    }

    /// Fixtures/reference.safetensors, written by the official `safetensors` package
    /// (scripts/fixtures/make_reference_safetensors.py), as copied into the test bundle.
    private static func referencePath() throws -> String {
        try XCTUnwrap(Bundle.module.url(forResource: "reference", withExtension: "safetensors", subdirectory: "Fixtures")).path
    }

    func testReadsFileWrittenByReferenceImplementation() throws {
        let file = try SafeTensors.read(path: Self.referencePath())
        XCTAssertEqual(file.metadata, ["note": note])
        // The reference writer's order: dtype (I64, F64, F32, I32, U8, BOOL), then name bytes.
        XCTAssertEqual(file.names, ["i64", "f64", "empty", "f32", "f32_special", oddName, "scalar", "i32", "u8", "bool"])
        for (name, want) in try referenceEntries() {
            let got = try file.entry(name)
            XCTAssertEqual(got, want, name.debugDescription)
        }
        XCTAssertEqual(try file.floats("f32", shape: [3, 4])[0], -1.375)
        XCTAssertEqual(try file.entry("f32_special").floats().map(\.bitPattern),
                       [0, 0x8000_0000, 0x7F80_0000, 0xFF80_0000, 0x7FC0_0000, 1, 0x7F7F_FFFF, 0xBFC0_0000])
        XCTAssertEqual(try file.entry("f64").doubles(), [1.0 / 3, -2.5, 1e300, -0.0])
        XCTAssertEqual(try file.int64s("i64"), [0, -1, 1 << 62, .min, .max])
        XCTAssertEqual(try file.entry("i32").int32s(), [.min, .max, 0, 1, -1, 123_456])
        XCTAssertEqual(try file.entry("u8").uint8s(), [0, 1, 128, 255])
        XCTAssertEqual(try file.entry("bool").bools(), [true, false, true])
        XCTAssertEqual(try file.entry("scalar").shape, [])
        XCTAssertEqual(try file.entry("empty").elementCount, 0)
    }

    func testEncodesByteIdenticallyToReferenceImplementation() throws {
        let path = try Self.referencePath()
        let reference = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var rng = SeededRNG(seed: 5)
        let entries = try referenceEntries().shuffled(using: &rng) // input order must not matter
        XCTAssertEqual(try SafeTensors.encode(entries, metadata: ["note": note]), reference)
    }

    // MARK: Round trips and files

    private func randomEntries(_ rng: inout SeededRNG) throws -> [(name: String, entry: SafeTensorEntry)] {
        func shape() -> [Int] { (0..<Int(rng.below(4))).map { _ in Int(rng.below(5)) } }
        var entries: [(name: String, entry: SafeTensorEntry)] = []
        for index in 0..<12 {
            let s = shape(), n = s.reduce(1, *), name = "t\(rng.below(1000)).\(index)"
            let entry: SafeTensorEntry
            switch index % 6 {
            case 0: entry = try SafeTensorEntry(floats: (0..<n).map { _ in rng.normal() }, shape: s)
            case 1: entry = try SafeTensorEntry(doubles: (0..<n).map { _ in Double(rng.normal()) / 3 }, shape: s)
            case 2: entry = try SafeTensorEntry(int64s: (0..<n).map { _ in Int64(bitPattern: rng.next()) }, shape: s)
            case 3: entry = try SafeTensorEntry(int32s: (0..<n).map { _ in Int32(truncatingIfNeeded: rng.next()) }, shape: s)
            case 4: entry = try SafeTensorEntry(uint8s: (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, shape: s)
            default: entry = try SafeTensorEntry(bools: (0..<n).map { _ in rng.next() & 1 == 1 }, shape: s)
            }
            entries.append((name, entry))
        }
        return entries
    }

    func testRoundTripIsExactAndDeterministic() throws {
        var rng = SeededRNG(seed: 9)
        for _ in 0..<20 {
            let entries = try randomEntries(&rng)
            let metadata = ["spec": "fmnist-cnn", "mean": "0.2860", "std": "0.3530", "empty": ""]
            let bytes = try SafeTensors.encode(entries, metadata: metadata)
            XCTAssertEqual(try SafeTensors.encode(entries.reversed(), metadata: metadata), bytes)
            let file = try SafeTensors.decode(bytes)
            XCTAssertEqual(file.metadata, metadata)
            XCTAssertEqual(Set(file.names), Set(entries.map(\.name)))
            for (name, entry) in entries {
                XCTAssertEqual(file.entries[name], entry, name)
            }
            XCTAssertEqual(try SafeTensors.encode(file.names.map { ($0, file.entries[$0]!) }, metadata: file.metadata), bytes)
        }
    }

    /// The data section starts 8-byte aligned: the header is padded with at most 7 spaces.
    func testHeaderIsPaddedToEightBytes() throws {
        for length in 1...9 {
            let name = String(repeating: "a", count: length)
            let bytes = try SafeTensors.encode([(name, try SafeTensorEntry(uint8s: [1, 2, 3], shape: [3]))])
            let headerLength = bytes[0..<8].reversed().reduce(0) { $0 << 8 | Int($1) }
            XCTAssertEqual(headerLength % 8, 0)
            XCTAssertEqual(bytes.count, 8 + headerLength + 3)
            let header = String(decoding: bytes[8 ..< 8 + headerLength], as: UTF8.self)
            let json = "{\"\(name)\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]}}"
            XCTAssertEqual(header, json + String(repeating: " ", count: headerLength - json.utf8.count))
            XCTAssertLessThan(headerLength - json.utf8.count, 8)
        }
    }

    func testWriteIsAtomicAndReadReportsMissingFiles() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("safetensors-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("model.safetensors").path
        var rng = SeededRNG(seed: 4)
        let first = try randomEntries(&rng), second = try randomEntries(&rng)
        try SafeTensors.write(first, metadata: ["run": "1"], to: path)
        try SafeTensors.write(second, metadata: ["run": "2"], to: path) // replaces the first
        let file = try SafeTensors.read(path: path)
        XCTAssertEqual(file.metadata, ["run": "2"])
        XCTAssertEqual(file.entries.count, second.count)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["model.safetensors"],
                       "no temporary file is left behind")

        let missingDirectory = directory.appendingPathComponent("absent/model.safetensors").path
        XCTAssertThrowsError(try SafeTensors.write(first, to: missingDirectory)) { error in
            expect(error, .io, source: missingDirectory, contains: "No such file or directory")
        }
        let missing = directory.appendingPathComponent("nothing.safetensors").path
        XCTAssertThrowsError(try SafeTensors.read(path: missing)) { error in
            expect(error, .io, source: missing, contains: "cannot open: No such file or directory")
        }
        XCTAssertThrowsError(try SafeTensors.read(path: directory.path)) { error in
            expect(error, .io, source: directory.path, contains: "not a regular file")
        }
    }

    // MARK: Errors

    private func expect(_ error: Error, _ kind: SafeTensorsError.Kind, source: String, contains text: String,
                        file: StaticString = #filePath, line: UInt = #line) {
        guard let error = error as? SafeTensorsError else {
            return XCTFail("not a SafeTensorsError: \(error)", file: file, line: line)
        }
        XCTAssertEqual(error.kind, kind, "\(error)", file: file, line: line)
        XCTAssertTrue(error.description.hasPrefix("\(source): "), "\(error)", file: file, line: line)
        XCTAssertTrue(error.description.contains(text), "\"\(error)\" lacks \"\(text)\"", file: file, line: line)
        XCTAssertFalse(error.description.contains("\n"), "\(error) spans lines", file: file, line: line)
    }

    /// 8-byte length, header, data.
    private func file(_ header: String, data: [UInt8] = [], length: UInt64? = nil) -> [UInt8] {
        let h = Array(header.utf8)
        return withUnsafeBytes(of: (length ?? UInt64(h.count)).littleEndian, Array.init) + h + data
    }

    private func file(_ header: [UInt8]) -> [UInt8] {
        withUnsafeBytes(of: UInt64(header.count).littleEndian, Array.init) + header
    }

    func testCorruptFilesGiveOneLineErrors() {
        let f32x2 = #""dtype":"F32","shape":[2],"data_offsets":[0,8]"#
        let eight = [UInt8](repeating: 0, count: 8)
        let deep = "{\"a\":" + String(repeating: "[", count: 100) + String(repeating: "]", count: 100) + "}"
        let cases: [(bytes: [UInt8], kind: SafeTensorsError.Kind, text: String)] = [
            ([], .truncated, "0 bytes, shorter than the 8-byte header length"),
            ([1, 0, 0], .truncated, "3 bytes"),
            (file("{}", length: 50), .truncated, "header length 50 runs past the end: only 2 bytes follow"),
            (file("{}", length: .max), .headerTooLarge, "header length 18446744073709551615 exceeds the limit"),
            (file("{}", length: 200_000_000), .headerTooLarge, "exceeds the limit of 100000000 bytes"),
            (file(""), .invalidJSON, "does not start with '{'"),
            (file("[]"), .invalidJSON, "does not start with '{'"),
            (file("{\"a\":"), .invalidJSON, "unexpected end"),
            (file("{\"a\":{}} x"), .invalidJSON, "unexpected text after the header object"),
            (file("{\"a\":{},}"), .invalidJSON, "expected a string key"),
            (file("{\"a\":1,\"a\":2}"), .invalidJSON, "duplicate key \"a\""),
            (file([UInt8]("{\"".utf8) + [0xC3, 0x28] + [UInt8]("\":{}}".utf8)), .invalidJSON, "invalid UTF-8"),
            (file("{\"\\ud800\":{}}"), .invalidJSON, "lone surrogate"),
            (file("{\"a\nb\":{}}"), .invalidJSON, "control character in string"),
            (file("{\"a\":01}"), .invalidJSON, "expected '}'"),
            (file(deep), .invalidJSON, "nesting deeper than 64"),
            (file("{\"a\":1}"), .invalidHeader, "tensor \"a\" is not an object"),
            (file("{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", data: eight), .invalidHeader, "lacks a string \"dtype\""),
            (file("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", data: eight), .invalidHeader, "lacks an array \"shape\""),
            (file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", data: eight), .invalidHeader, "lacks \"data_offsets\""),
            (file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4,8]}}", data: eight), .invalidHeader, "lacks \"data_offsets\""),
            (file("{\"a\":{\(f32x2),\"extra\":1}}", data: eight), .invalidHeader, "unknown field \"extra\""),
            (file("{\"__metadata__\":[],\"a\":{\(f32x2)}}", data: eight), .invalidHeader, "\"__metadata__\" is not an object"),
            (file("{\"__metadata__\":{\"k\":1},\"a\":{\(f32x2)}}", data: eight), .invalidHeader, "metadata value for \"k\" is not a string"),
            (file("{\"a\":{\"dtype\":\"F7\",\"shape\":[2],\"data_offsets\":[0,8]}}", data: eight), .unknownDType, "unknown dtype \"F7\" (expected one of BOOL, U8"),
            (file("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", data: eight), .invalidShape, "negative dimension -2"),
            (file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", data: eight), .invalidShape, "not an integer"),
            (file("{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,8]}}", data: eight), .invalidShape, "not an integer"),
            (file("{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,8]}}", data: eight), .invalidShape, "too many elements"),
            (file("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", data: eight), .sizeMismatch, "shape [3] of F32 needs 12 bytes, data_offsets span 8"),
            (file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", data: eight), .invalidOffsets, "expected integers 0 <= begin <= end"),
            (file("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[-1,-1]}}", data: eight), .invalidOffsets, "[-1, -1]"),
            (file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8e0]}}", data: eight), .invalidOffsets, "[0, 8e0]"),
            (file("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", data: eight), .invalidOffsets, "ends at 16, past the 8-byte data section"),
            (file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
                  data: eight + [0, 0, 0, 0]), .invalidOffsets, "tensor \"b\" begins at 8 and leaves a gap after the previous tensor (expected 4)"),
            (file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                  data: eight + [0, 0, 0, 0]), .invalidOffsets, "tensor \"b\" begins at 4 and overlaps the previous tensor (expected 8)"),
            (file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", data: eight), .invalidOffsets, "tensors cover 4 bytes but the data section has 8"),
            (file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", data: eight), .invalidOffsets, "leaves a gap"),
            (file("{\"a\\nb\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", data: eight), .invalidOffsets, "tensor \"a\\nb\" begins at 4"),
        ]
        for (bytes, kind, text) in cases {
            XCTAssertThrowsError(try SafeTensors.decode(bytes, source: "bad.safetensors"), text) { error in
                expect(error, kind, source: "bad.safetensors", contains: text)
            }
        }
    }

    func testTypedAccessAndEncodingErrors() throws {
        let bytes = try SafeTensors.encode([("w", try SafeTensorEntry(floats: [1, 2, 3, 4], shape: [2, 2])),
                                            ("n", try SafeTensorEntry(int64s: [5], shape: []))])
        let file = try SafeTensors.decode(bytes, source: "ckpt.safetensors")
        XCTAssertThrowsError(try file.floats("missing")) { expect($0, .missingTensor, source: "ckpt.safetensors", contains: "no tensor \"missing\"") }
        XCTAssertThrowsError(try file.floats("n")) { expect($0, .wrongType, source: "ckpt.safetensors", contains: "tensor \"n\" is I64, expected F32") }
        XCTAssertThrowsError(try file.floats("w", shape: [4])) { expect($0, .wrongType, source: "ckpt.safetensors", contains: "has shape [2, 2], expected [4]") }
        XCTAssertEqual(try file.int64s("n", shape: []), [5])
        var destination = [Float](repeating: 0, count: 4)
        try destination.withUnsafeMutableBufferPointer { try file.copyFloats("w", shape: [2, 2], into: $0) }
        XCTAssertEqual(destination, [1, 2, 3, 4])
        var short = [Float](repeating: 0, count: 3)
        XCTAssertThrowsError(try short.withUnsafeMutableBufferPointer { try file.entry("w").copyFloats(into: $0) })

        XCTAssertThrowsError(try SafeTensorEntry(dtype: .bool, shape: [2], bytes: [1, 2]).bools()) {
            expect($0, .wrongType, source: "<memory>", contains: "BOOL tensor holds byte 2")
        }
        XCTAssertThrowsError(try SafeTensorEntry(floats: [1, 2, 3], shape: [2, 2])) {
            expect($0, .sizeMismatch, source: "<memory>", contains: "3 values for shape [2, 2]")
        }
        XCTAssertThrowsError(try SafeTensorEntry(dtype: .i32, shape: [2], bytes: [1, 2, 3])) {
            expect($0, .sizeMismatch, source: "<memory>", contains: "shape [2] of I32 needs 8 bytes, got 3")
        }
        XCTAssertThrowsError(try SafeTensorEntry(dtype: .u8, shape: [-1], bytes: [])) {
            expect($0, .invalidShape, source: "<memory>", contains: "negative dimension")
        }
        let one = try SafeTensorEntry(uint8s: [1], shape: [1])
        XCTAssertThrowsError(try SafeTensors.encode([("a", one), ("a", one)])) {
            expect($0, .duplicateName, source: "<memory>", contains: "tensor name \"a\" given twice")
        }
        XCTAssertThrowsError(try SafeTensors.encode([("__metadata__", one)])) {
            expect($0, .duplicateName, source: "<memory>", contains: "\"__metadata__\" is reserved")
        }
    }

    /// Random byte flips, truncations, extensions and header-length rewrites of valid files: the
    /// decoder returns a consistent file or throws a SafeTensorsError, never anything else.
    func testMutatedFilesNeverCrash() throws {
        var rng = SeededRNG(seed: 2024)
        let seeds = [
            [UInt8](try Data(contentsOf: URL(fileURLWithPath: try Self.referencePath()))),
            try SafeTensors.encode(try randomEntries(&rng), metadata: ["a": "b"]),
        ]
        var accepted = 0, rejected = [SafeTensorsError.Kind: Int]()
        for iteration in 0..<4000 {
            var bytes = seeds[iteration % seeds.count]
            let headerEnd = min(bytes.count, 8 + bytes[0..<8].reversed().reduce(0) { $0 << 8 | Int($1) })
            for _ in 0...rng.below(3) {
                switch rng.below(10) {
                case 0:
                    bytes.removeLast(rng.below(bytes.count + 1))
                case 1:
                    bytes += (0..<rng.below(64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                case 2 where bytes.count >= 8: // a random header length, often near the true one
                    let length = rng.below(2) == 0 ? UInt64(headerEnd - 8 + rng.below(17)) &- 8 : rng.next() >> UInt64(rng.below(64))
                    withUnsafeBytes(of: length.littleEndian) { bytes.replaceSubrange(0..<8, with: $0) }
                case 3 where !bytes.isEmpty: // a character that means something to JSON
                    let glyphs = Array("{}[]\",:0123456789-e\\ ".utf8)
                    bytes[rng.below(min(bytes.count, headerEnd))] = glyphs[rng.below(glyphs.count)]
                case 4 where headerEnd > 8 && headerEnd <= bytes.count: // delete a header byte
                    bytes.remove(at: 8 + rng.below(headerEnd - 8))
                case _ where !bytes.isEmpty: // flip bits, mostly in the header
                    let limit = rng.below(4) == 0 ? bytes.count : min(bytes.count, headerEnd)
                    bytes[rng.below(limit)] ^= UInt8(truncatingIfNeeded: rng.next() | 1)
                default:
                    break
                }
            }
            do {
                let file = try SafeTensors.decode(bytes, source: "mutant")
                accepted += 1
                XCTAssertEqual(file.names.count, file.entries.count)
                for name in file.names {
                    let entry = file.entries[name]!
                    XCTAssertEqual(entry.bytes.count, entry.elementCount * entry.dtype.byteSize)
                }
                // Whatever was accepted survives a rewrite unchanged.
                let again = try SafeTensors.decode(try SafeTensors.encode(file.names.map { ($0, file.entries[$0]!) }, metadata: file.metadata))
                XCTAssertEqual(again.entries, file.entries)
                XCTAssertEqual(again.metadata, file.metadata)
            } catch let error as SafeTensorsError {
                rejected[error.kind, default: 0] += 1
                XCTAssertFalse(error.description.contains("\n"), "\(error)")
            }
        }
        print("mutations: \(accepted) accepted, rejected by kind: \(rejected.map { "\($0.key): \($0.value)" }.sorted())")
        XCTAssertGreaterThan(rejected.count, 5, "the mutations reach many different checks")
    }
}
