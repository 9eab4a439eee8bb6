import Foundation
import NumpyFiles
import XCTest
@testable import Data

/// The `.npy` parser on files written by `NumpyFile` from the format's definition: every
/// version and element type, and one broken file per check, each a one-line error naming it.
final class NumpyArrayTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        dir = try TestFiles.temporaryDirectory(self)
    }

    private func file(_ bytes: [UInt8], _ name: String) throws -> String {
        let path = "\(dir)/\(name)"
        try TestFiles.write(bytes, to: path)
        return path
    }

    func testVersionsAndElementTypes() throws {
        let values: [Int64] = [0, 1, 7, 100]
        let cases: [(descr: String, type: NumpyArray.ElementType, data: [UInt8])] = [
            ("|u1", .uint8, values.map { UInt8($0) }), ("|i1", .int8, NumpyFile.littleEndian(values.map { Int8($0) })),
            ("<u2", .uint16, NumpyFile.littleEndian(values.map { UInt16($0) })), ("<i2", .int16, NumpyFile.littleEndian(values.map { Int16($0) })),
            ("<u4", .uint32, NumpyFile.littleEndian(values.map { UInt32($0) })), ("<i4", .int32, NumpyFile.littleEndian(values.map { Int32($0) })),
            ("<u8", .uint64, NumpyFile.littleEndian(values.map { UInt64($0) })), ("<i8", .int64, NumpyFile.littleEndian(values)),
            ("<f4", .float32, NumpyFile.float32([0, 0.25, 0.5, 1])),
            // One-byte types read the same in any byte order; '=' and '|' are native (little-endian).
            (">u1", .uint8, [1, 2, 3, 4]), ("=u1", .uint8, [1, 2, 3, 4]), ("=i4", .int32, NumpyFile.littleEndian([Int32(-1), 2, 3, 4])),
            ("|i2", .int16, NumpyFile.littleEndian([Int16(5), 6, 7, 8])),
        ]
        for version: UInt8 in [1, 2, 3] {
            for (descr, type, data) in cases {
                let path = try file(NumpyFile.npy(descr: descr, shape: [2, 2], data: data, version: version), "a.npy")
                let array = try NumpyArray.read(path: path)
                XCTAssertEqual(array.elementType, type, "\(descr) v\(version)")
                XCTAssertEqual(array.shape, [2, 2], "\(descr) v\(version)")
                XCTAssertEqual(array.data, data, "\(descr) v\(version)")
            }
        }
    }

    func testShapesAndHeaderSpellings() throws {
        let spellings: [(dict: String, shape: [Int])] = [
            ("{'descr': '|u1', 'fortran_order': False, 'shape': (6,), }", [6]),
            ("{\"shape\": (1, 2, 3), \"fortran_order\": False, \"descr\": \"|u1\"}", [1, 2, 3]),
            ("{ 'descr' :'|u1','fortran_order':False,'shape':( 3 , 2 ) }", [3, 2]),
            ("{'descr': '|u1',\t'fortran_order': False, 'shape': (6L, 1L)}", [6, 1]),
        ]
        for (dict, shape) in spellings {
            let path = try file(NumpyFile.npy(dict: dict, data: [1, 2, 3, 4, 5, 6]), "s.npy")
            let array = try NumpyArray.read(path: path)
            XCTAssertEqual(array.shape, shape, dict)
            XCTAssertEqual(array.data, [1, 2, 3, 4, 5, 6], dict)
        }
        // A scalar holds one element; an empty array none, whatever its other dimensions.
        let scalar = try file(NumpyFile.npy(descr: "<i4", shape: [], data: NumpyFile.littleEndian([Int32(9)])), "scalar.npy")
        XCTAssertEqual(try NumpyArray.read(path: scalar).shape, [])
        let empty = try file(NumpyFile.npy(descr: "<f4", shape: [0, 1 << 40], data: []), "empty.npy")
        XCTAssertEqual(try NumpyArray.read(path: empty).data, [])
    }

    func testBadMagicVersionAndLength() throws {
        let good = NumpyFile.npy(descr: "|u1", shape: [4], data: [1, 2, 3, 4])
        let empty = try file([], "empty.npy")
        expectError([empty, "truncated: the file is empty (expected a NumPy .npy array)"]) { _ = try NumpyArray.read(path: empty) }
        let png = try file([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0], "picture.npy")
        expectError([png, "bad NumPy array: not a .npy file: it starts with 89 50 4E 47 0D 0A 1A 0A, not \\x93NUMPY"]) {
            _ = try NumpyArray.read(path: png)
        }
        let zip = try file(NumpyFile.zip([.init("a.npy", good)]), "archive.npy")
        expectError([zip, "not a .npy file", "this is a zip archive, an .npz"]) { _ = try NumpyArray.read(path: zip) }
        let short = try file(Array(good.prefix(5)), "short.npy")
        expectError([short, "truncated: the file ends after 5 bytes, inside the 8-byte magic and version"]) { _ = try NumpyArray.read(path: short) }
        var future = good
        future[6] = 4
        let v4 = try file(future, "v4.npy")
        expectError([v4, "format version 4.0 is not supported (expected 1.0, 2.0 or 3.0)"]) { _ = try NumpyArray.read(path: v4) }
        let noLength = try file(Array(good.prefix(9)), "no-length.npy")
        expectError([noLength, "truncated: the file ends inside the 2-byte header length"]) { _ = try NumpyArray.read(path: noLength) }
        var long = good
        long[8] = 0xFF
        long[9] = 0x0F
        let longHeader = try file(long, "long-header.npy")
        expectError([longHeader, "truncated: the header length promises 4095 bytes but the file ends after"]) {
            _ = try NumpyArray.read(path: longHeader)
        }
        var wide = NumpyFile.npy(descr: "|u1", shape: [4], data: [1, 2, 3, 4], version: 2)
        wide[10] = 0x7F
        let huge = try file(wide, "huge-header.npy")
        expectError([huge, "bytes is over numpy's limit of 10000"]) { _ = try NumpyArray.read(path: huge) }
    }

    func testMalformedDicts() throws {
        let cases: [(dict: String, fragment: String)] = [
            ("'descr': '|u1', 'fortran_order': False, 'shape': (4,)}", "malformed header: expected '{' at byte 0"),
            ("{'descr': '|u1' 'fortran_order': False, 'shape': (4,)}", "expected ',' or '}' at byte 16"),
            ("{'descr': '|u1', 'fortran_order': False, 'shape': (4)}", "a one-element shape needs its comma"),
            ("{'descr': '|u1', 'fortran_order': False, 'shape': [4]}", "shape is a list (expected a tuple)"),
            ("{'descr': '|u1', 'fortran_order': False, 'shape': (-4,)}", "negative dimension"),
            ("{'descr': '|u1', 'fortran_order': False, 'shape': (04,)}", "dimension with a leading zero"),
            ("{'descr': '|u1', 'fortran_order': False, 'shape': (4,,)}", "expected a dimension"),
            ("{'descr': '|u1', 'fortran_order': false, 'shape': (4,)}", "expected True or False"),
            ("{'descr': '|u1', 'fortran_order': False, 'shape': (4,), 'extra': 1}", "unexpected key 'extra'"),
            ("{'descr': '|u1', 'descr': '|u1', 'fortran_order': False, 'shape': (4,)}", "key 'descr' appears twice"),
            ("{'descr': '|u1', 'shape': (4,)}", "the dict lacks 'fortran_order'"),
            ("{}", "the dict lacks 'descr' and 'fortran_order' and 'shape'"),
            ("{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (1,)}", "structured dtypes are not supported"),
            ("{'descr' '|u1', 'fortran_order': False, 'shape': (4,)}", "expected ':' at byte 9"),
            ("{'descr': '|u1', 'fortran_order': False, 'shape': (4,)", "expected ',' or '}'"),
            ("{'descr': '\\x7c', 'fortran_order': False, 'shape': (4,)}", "expected printable ASCII without escapes"),
            ("{'descr': '|u1', 'fortran_order': False, 'shape': (4,)}}", "expected spaces then a newline after the dict"),
            ("{'descr': '|u1', 'fortran_order': False, 'shape': (99999999999999999999,)}", "dimension larger than"),
        ]
        for (dict, fragment) in cases {
            let path = try file(NumpyFile.npy(dict: dict, data: [1, 2, 3, 4]), "dict.npy")
            expectError([path, "bad NumPy array: malformed header: ", fragment]) { _ = try NumpyArray.read(path: path) }
        }
        // Bytes after the newline (its last padding space and newline swapped), and a control
        // byte that must not break the one-line message.
        var swapped = NumpyFile.npy(dict: "{'descr': '|u1', 'fortran_order': False, 'shape': (4,)}", data: [])
        swapped.swapAt(swapped.count - 1, swapped.count - 2)
        let afterNewline = try file(swapped + [1, 2, 3, 4], "after-newline.npy")
        expectError([afterNewline, "expected the header to end after its newline"]) { _ = try NumpyArray.read(path: afterNewline) }
        let control = try file(NumpyFile.npy(dict: "{'descr': '|u1', 'fortran_order': False, 'shape': (4,)}\n\u{1}", data: [1, 2, 3, 4]), "control.npy")
        expectError([control, "(4,)}\\n\\x01"]) { _ = try NumpyArray.read(path: control) }
    }

    func testUnsupportedTypesAndOrder() throws {
        let cases: [(descr: String, fragment: String)] = [
            ("<f8", "element type '<f8' is not supported (expected one of |u1 |i1 <u2 <i2 <u4 <i4 <u8 <i8 <f4)"),
            ("|b1", "element type '|b1' is not supported"),
            ("<U5", "element type '<U5' is not supported"),
            ("|O", "element type '|O' is not supported"),
            ("f4", "element type 'f4' is not supported"),
            (">f4", "element type '>f4' is big-endian (expected little-endian '<f4'; convert with a.astype('<f4'))"),
            (">i8", "element type '>i8' is big-endian"),
        ]
        for (descr, fragment) in cases {
            let path = try file(NumpyFile.npy(descr: descr, shape: [1], data: [UInt8](repeating: 0, count: 8)), "type.npy")
            expectError([path, "bad NumPy array: " + fragment]) { _ = try NumpyArray.read(path: path) }
        }
        let fortran = try file(NumpyFile.npy(descr: "<f4", shape: [2, 2], data: NumpyFile.float32([0, 1, 0, 1]), fortranOrder: true), "fortran.npy")
        expectError([fortran, "fortran_order is True: the data is column-major (expected C order"]) { _ = try NumpyArray.read(path: fortran) }
    }

    func testDataShorterOrLongerThanTheShape() throws {
        let data = NumpyFile.float32((0..<12).map { Float($0) / 12 })
        let short = try file(NumpyFile.npy(descr: "<f4", shape: [3, 4], data: Array(data.dropLast())), "short.npy")
        expectError([short, "truncated: the header promises shape (3, 4) of <f4 = 48 data bytes but the file holds 47"]) {
            _ = try NumpyArray.read(path: short)
        }
        let long = try file(NumpyFile.npy(descr: "<f4", shape: [3, 4], data: data + [0]), "long.npy")
        expectError([long, "unexpected trailing data: the header promises shape (3, 4) of <f4 = 48 data bytes but the file holds 49"]) {
            _ = try NumpyArray.read(path: long)
        }
        let overflow = try file(NumpyFile.npy(descr: "<i8", shape: [1 << 40, 1 << 40], data: []), "overflow.npy")
        expectError([overflow, "more than the limit of 4294967296 bytes"]) { _ = try NumpyArray.read(path: overflow) }
        let big = try file(NumpyFile.npy(descr: "|u1", shape: [60000, 28, 28], data: [1, 2]), "big.npy")
        expectError([big, "truncated: the header promises shape (60000, 28, 28) of |u1 = 47040000 data bytes but the file holds 2"]) {
            _ = try NumpyArray.read(path: big)
        }
    }
}
