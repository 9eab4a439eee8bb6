import CZlib
import Foundation

/// The packed data file (`ddp pack`): a data set decoded once into one file that every rank of
/// a node maps (`--dataset packed --data FILE`), so nothing is decoded per epoch and the node
/// holds one copy in its page cache.
///
/// ```
/// offset 0    magic  89 'D' 'D' 'P' 'A' 'C' 'K' 0A     (8 bytes; the high first byte and the
///                                                       newline catch text-mode transfers)
///        8    format version, UInt32 little-endian     (1)
///       12    header length H, UInt32 little-endian
///       16    header: H bytes of JSON (`PackedDataHeader`), then zeros up to `dataOffset`
/// dataOffset  train images | train labels | test images | test labels
///             each section starts at a multiple of 4096 (a page) and is zero-padded to the next;
///             images are uint8, sample-major, each sample C x H x W; labels one uint8 each
/// ```
///
/// The checksum is the CRC-32 (zlib's) of the four sections' bytes in that order, padding
/// excluded. The file is written atomically (a temporary file, fsynced, renamed).
public enum PackedData {
    public static let magic: [UInt8] = [0x89, 0x44, 0x44, 0x50, 0x41, 0x43, 0x4B, 0x0A]
    public static let version: UInt32 = 1
    /// Sections start on page boundaries, so the mapped images are page-aligned.
    public static let alignment = 4096
    /// A header longer than this is not one of ours (class names of 100,000 classes fit).
    public static let maximumHeaderLength = 16 << 20

    /// Why a packed file cannot be read or written; one line naming the file.
    public struct Failure: Error, CustomStringConvertible, Equatable, Sendable {
        public let path: String
        public let problem: String
        public var description: String { "\(path): \(problem)" }
    }

    /// The four sections of a data set to pack.
    public struct Sections {
        public var trainImages: UnsafeRawBufferPointer
        public var trainLabels: UnsafeRawBufferPointer
        public var testImages: UnsafeRawBufferPointer
        public var testLabels: UnsafeRawBufferPointer

        public init(trainImages: UnsafeRawBufferPointer, trainLabels: UnsafeRawBufferPointer,
                    testImages: UnsafeRawBufferPointer, testLabels: UnsafeRawBufferPointer) {
            self.trainImages = trainImages; self.trainLabels = trainLabels
            self.testImages = testImages; self.testLabels = testLabels
        }

        var inOrder: [UnsafeRawBufferPointer] { [trainImages, trainLabels, testImages, testLabels] }
    }

    /// Writes `sections` to `path` under `header` (whose layout fields and checksum are filled
    /// in here); returns the header as written.
    @discardableResult
    public static func write(to path: String, header: PackedDataHeader, sections: Sections) throws -> PackedDataHeader {
        var header = header
        header.train.count = sections.trainLabels.count
        header.test.count = sections.testLabels.count
        header.checksum = checksumText(sections.inOrder.reduce(crc32(0, nil, 0)) { crc, part in
            update(crc, part)
        })
        // The header's length depends on the offsets, which depend on the header's length:
        // settle both by laying out with room for the header, growing until it fits.
        var room = alignment
        var json: [UInt8]
        while true {
            var offset = room
            var starts: [Int] = []
            for part in sections.inOrder {
                starts.append(offset)
                offset = aligned(offset + part.count)
            }
            header.train.imagesOffset = starts[0]; header.train.labelsOffset = starts[1]
            header.test.imagesOffset = starts[2]; header.test.labelsOffset = starts[3]
            header.dataOffset = room
            header.fileSize = starts[3] + sections.testLabels.count
            json = Array(try JSONLine.encode(header).utf8)
            if 16 + json.count <= room { break }
            room = aligned(16 + json.count)
        }
        var prefix = magic + littleEndian(version) + littleEndian(UInt32(json.count)) + json
        prefix += [UInt8](repeating: 0, count: room - prefix.count)
        let zeros = [UInt8](repeating: 0, count: alignment)
        do {
            try prefix.withUnsafeBytes { head in
                try zeros.withUnsafeBytes { pad in
                    var parts = [head]
                    for (i, part) in sections.inOrder.enumerated() {
                        parts.append(part)
                        let padding = i == 3 ? 0 : aligned(part.count) - part.count
                        if padding > 0 { parts.append(UnsafeRawBufferPointer(rebasing: pad[..<padding])) }
                    }
                    try DurableFile.write(parts: parts, to: path)
                }
            }
        } catch let failure as DurableFile.Failure {
            throw Failure(path: path, problem: failure.message)
        }
        return header
    }

    /// The header of the packed file whose bytes are `file`, checked against the file: magic,
    /// version, JSON, shapes, and every section inside the file. The checksum is `verify`'s.
    public static func header(of file: UnsafeRawBufferPointer, path: String) throws -> PackedDataHeader {
        func fail(_ problem: String) -> Failure { Failure(path: path, problem: problem) }
        guard file.count >= 16, Array(file[0..<8]) == magic else {
            throw fail(file.count < 8 ? "not a packed data file (\(file.count) bytes, shorter than its magic)"
                : "not a packed data file (it does not start with ddp's packed-file magic)")
        }
        let fileVersion = file.loadUnaligned(fromByteOffset: 8, as: UInt32.self).littleEndian
        guard fileVersion == version else {
            throw fail("packed format version \(fileVersion); this ddp reads version \(version) (pack the data again)")
        }
        let length = Int(file.loadUnaligned(fromByteOffset: 12, as: UInt32.self).littleEndian)
        guard length <= maximumHeaderLength, 16 + length <= file.count else {
            throw fail("truncated or damaged: its header claims \(length) bytes, the file has \(file.count - 16) after the prefix")
        }
        let header: PackedDataHeader
        do {
            header = try JSONDecoder().decode(PackedDataHeader.self, from: Data(file[16..<(16 + length)]))
        } catch {
            throw fail("damaged header: \(error.systemReason)")
        }
        if let problem = header.problem(fileSize: file.count) { throw fail(problem) }
        return header
    }

    /// Throws unless the sections' CRC-32 is the header's.
    public static func verify(_ file: UnsafeRawBufferPointer, header: PackedDataHeader, path: String) throws {
        var crc = crc32(0, nil, 0)
        for (offset, count) in header.sections {
            crc = update(crc, UnsafeRawBufferPointer(rebasing: file[offset..<(offset + count)]))
        }
        guard checksumText(crc) == header.checksum else {
            throw Failure(path: path, problem: "checksum mismatch: the data's CRC-32 is \(checksumText(crc)), the header "
                + "says \(header.checksum) (the file is damaged: pack it again)")
        }
    }

    static func aligned(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }

    static func checksumText(_ crc: UInt) -> String {
        let hex = String(crc, radix: 16)
        return "crc32:" + String(repeating: "0", count: max(0, 8 - hex.count)) + hex
    }

    /// zlib takes at most UInt32.max bytes per call.
    private static func update(_ crc: UInt, _ bytes: UnsafeRawBufferPointer) -> UInt {
        var crc = crc, offset = 0
        while offset < bytes.count {
            let n = min(bytes.count - offset, 1 << 30)
            crc = crc32(crc, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self) + offset, UInt32(n))
            offset += n
        }
        return crc
    }

    private static func littleEndian(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
}
