import Formats
import Foundation
import IDXFiles

/// Tiny dataset and checkpoint files, good and deliberately broken, written byte by byte the way
/// the formats define them (independently of ddp's own writers and readers).
enum BadInputFiles {
    // MARK: IDX (MNIST / Fashion-MNIST)

    static let imagesMagic = IDXFile.imagesMagic
    static let labelsMagic = IDXFile.labelsMagic

    static func idx(magic: UInt32, dims: [UInt32], payload: [UInt8]) -> [UInt8] {
        IDXFile.bytes(magic: magic, dims: dims, payload: payload)
    }

    /// `count` images of side x side pixels, deterministic noise.
    static func images(count: Int, side: Int) -> [UInt8] {
        let pixels = (0..<(count * side * side)).map { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761) >> 11) }
        return idx(magic: imagesMagic, dims: [UInt32(count), UInt32(side), UInt32(side)], payload: pixels)
    }

    /// Labels 0...9 cycling, `count` of them.
    static func labels(count: Int) -> [UInt8] {
        idx(magic: labelsMagic, dims: [UInt32(count)], payload: (0..<count).map { UInt8($0 % 10) })
    }

    static let trainImages = "train-images-idx3-ubyte", trainLabels = "train-labels-idx1-ubyte"
    static let testImages = "t10k-images-idx3-ubyte", testLabels = "t10k-labels-idx1-ubyte"

    /// A Fashion-MNIST directory of 64 training and 16 test images of 8x8 pixels, with any file
    /// replaced by `replace[name]` (nil removes it).
    static func fashionDirectory(_ dir: String, replace: [String: [UInt8]?] = [:]) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var files: [String: [UInt8]?] = [
            trainImages: images(count: 64, side: 8), trainLabels: labels(count: 64),
            testImages: images(count: 16, side: 8), testLabels: labels(count: 16),
        ]
        for (name, bytes) in replace { files[name] = bytes }
        for (name, bytes) in files {
            if let bytes { try write(bytes, to: dir + "/" + name) }
        }
    }

    // MARK: CIFAR-10 binary

    static let cifarRecord = 1 + 3 * 32 * 32

    /// `count` records: a label byte (0...9 cycling, or `label` for every record) then 3072 pixels.
    static func cifarBatch(records count: Int, label: UInt8? = nil) -> [UInt8] {
        var bytes: [UInt8] = []
        for i in 0..<count {
            bytes.append(label ?? UInt8(i % 10))
            for p in 0..<(3 * 32 * 32) { bytes.append(UInt8(truncatingIfNeeded: (p &+ i &* 7) &* 31)) }
        }
        return bytes
    }

    static let cifarFiles = (1...5).map { "data_batch_\($0).bin" } + ["test_batch.bin"]

    /// A CIFAR-10 directory with 4 records per file, any file replaced (nil removes it).
    static func cifarDirectory(_ dir: String, replace: [String: [UInt8]?] = [:]) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for name in cifarFiles {
            let bytes = replace.keys.contains(name) ? replace[name]! : cifarBatch(records: 4)
            if let bytes { try write(bytes, to: dir + "/" + name) }
        }
    }

    // MARK: safetensors

    /// A safetensors file taken apart: the JSON header as a dictionary and the data section.
    struct SafeTensorsParts {
        var header: [String: Any]
        var data: [UInt8]

        init(path: String) throws {
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            let n = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
            header = try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + n)])) as! [String: Any]
            data = Array(bytes[(8 + n)...])
        }

        /// Tensor names in data order.
        var tensorNames: [String] {
            header.keys.filter { $0 != "__metadata__" }.sorted { offsets($0).0 < offsets($1).0 }
        }

        func offsets(_ name: String) -> (Int, Int) {
            let o = (header[name] as! [String: Any])["data_offsets"] as! [Int]
            return (o[0], o[1])
        }

        /// Edits one field of a tensor's header entry.
        mutating func set(_ name: String, _ field: String, _ value: Any) {
            var entry = header[name] as! [String: Any]
            entry[field] = value
            header[name] = entry
        }

        /// Drops a tensor and its bytes; the others are re-tiled so the file stays well-formed.
        mutating func remove(_ name: String) {
            var newData: [UInt8] = []
            for other in tensorNames where other != name {
                let (b, e) = offsets(other)
                set(other, "data_offsets", [newData.count, newData.count + e - b])
                newData += data[b..<e]
            }
            header[name] = nil
            data = newData
        }

        /// 8-byte little-endian header length, the header padded with spaces to 8 bytes, data.
        func bytes() throws -> [UInt8] {
            var json = [UInt8](try JSONSerialization.data(withJSONObject: header))
            while json.count % 8 != 0 { json.append(0x20) }
            let n = UInt64(json.count)
            return (0..<8).map { UInt8((n >> (8 * UInt64($0))) & 0xFF) } + json + data
        }
    }

    static func write(_ bytes: [UInt8], to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    static func read(_ path: String) throws -> [UInt8] {
        try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    }
}
