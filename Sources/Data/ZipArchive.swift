/// The directory of a zip archive, as `numpy.savez` and `savez_compressed` write an `.npz`
/// (Python's zipfile: one `.npy` member per array, stored or deflated).
///
/// A zip is read from its end (PKWARE's APPNOTE; all fields little-endian):
///
///     [local header 1][data 1] ... [local header n][data n]   members
///     [central header 1] ... [central header n]               the directory
///     [ZIP64 end record][ZIP64 locator]                       only when a count or offset overflows
///     [end of central directory record][comment]              found by scanning back from the end
///
/// The central headers give each member's name, method, CRC-32, sizes and the offset of its
/// local header, after which (past the local name and extra field, whose lengths may differ
/// from the central ones) the data begins. ZIP64 stores 64-bit sizes and offsets in an extra
/// field (id 1) of the central header when the 32-bit ones read 0xFFFFFFFF, and the directory's
/// own size, place and count in the ZIP64 end record; numpy asks zipfile for ZIP64 headers, which
/// it writes in full only past 4 GiB or 65535 members, so both forms are read.
///
/// Nothing is trusted: the directory must lie inside the file before it is read, every header
/// inside the directory, every member's data inside the file. Sizes are checked when a member is
/// opened (`ZipMemberSource`), its CRC-32 when its data has been read. Split archives, encrypted
/// members and methods other than stored (0) and deflated (8) are refused.
final class ZipArchive {
    /// What the directory says about one member.
    struct Member {
        /// The name as printable ASCII (`DataError.printable`): what lookups compare and messages
        /// show, the same as the stored name for every name numpy writes.
        let name: String
        let flags: UInt16
        let method: UInt16
        let crc: UInt32
        let compressedSize: Int
        let size: Int
        let localHeaderOffset: Int
    }

    let file: any RandomAccessByteSource
    /// The members in directory order.
    let members: [Member]

    var path: String { file.name }

    private static let endSignature: UInt32 = 0x0605_4B50
    private static let zip64LocatorSignature: UInt32 = 0x0706_4B50
    private static let zip64EndSignature: UInt32 = 0x0606_4B50
    private static let centralSignature: UInt32 = 0x0201_4B50
    static let localSignature: UInt32 = 0x0403_4B50
    /// The end record's fixed part; a comment of up to 65535 bytes may follow it.
    private static let endRecordBytes = 22
    private static let centralHeaderBytes = 46

    /// Reads the directory of the archive in `file`.
    init(_ file: any RandomAccessByteSource) throws {
        self.file = file
        let (count, offset, size) = try Self.directoryPlace(in: file)
        let directory = try file.readBytes(at: offset, count: size)
        if directory.count < size {
            throw DataError.truncated(path: file.name, detail: "the file shrank while its zip directory was read")
        }
        var members: [Member] = []
        var at = 0
        for index in 0..<count {
            let (member, next) = try Self.member(in: directory, at: at, index: index, path: file.name)
            if member.localHeaderOffset >= offset {
                throw DataError.badArray(path: file.name, detail: "zip member \(member.name) starts at \(member.localHeaderOffset), inside or past the directory at \(offset)")
            }
            members.append(member)
            at = next
        }
        self.members = members
    }

    /// The member called `name` (the last one if several are, as Python's zipfile does).
    func member(named name: String) -> Member? {
        members.last { $0.name == name }
    }

    /// Number of members, offset and size of the central directory, from the end record (and
    /// the ZIP64 end record when the end record's fields overflow).
    private static func directoryPlace(in file: any RandomAccessByteSource) throws -> (count: Int, offset: Int, size: Int) {
        let path = file.name
        let tailStart = max(0, file.byteCount - endRecordBytes - 0xFFFF)
        let tail = try file.readBytes(at: tailStart, count: file.byteCount - tailStart)
        // The end record is the last signature whose comment runs exactly to the end of the file.
        var found: Int?
        var at = tail.count - endRecordBytes
        while at >= 0 && found == nil {
            if le32(tail, at) == endSignature && Int(le16(tail, at + 20)) == tail.count - at - endRecordBytes { found = at }
            at -= 1
        }
        guard let end = found else {
            if try file.readBytes(at: 0, count: 4) == [0x50, 0x4B, 0x03, 0x04] {
                throw DataError.truncated(path: path, detail: "the zip archive has no end-of-directory record: it was cut short")
            }
            throw DataError.badArray(
                path: path, detail: "not a zip archive (.npz): it starts with \(NumpyArray.hexBytes(try file.readBytes(at: 0, count: 4))), not PK\\x03\\x04")
        }
        let endOffset = tailStart + end
        var disks = [le16(tail, end + 4), le16(tail, end + 6)].map(UInt64.init)
        var entries = (UInt64(le16(tail, end + 8)), UInt64(le16(tail, end + 10)))
        var size = UInt64(le32(tail, end + 12))
        var offset = UInt64(le32(tail, end + 16))
        var directoryEnd = endOffset
        // As Python's zipfile does, a ZIP64 end record, when present, has the final word.
        if let zip64 = try zip64End(in: file, before: endOffset) {
            disks = [UInt64(le32(zip64.record, 16)), UInt64(le32(zip64.record, 20))]
            entries = (le64(zip64.record, 24), le64(zip64.record, 32))
            size = le64(zip64.record, 40)
            offset = le64(zip64.record, 48)
            directoryEnd = zip64.offset
        } else if size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF {
            throw DataError.badArray(path: path, detail: "the zip end record asks for ZIP64 but no ZIP64 locator precedes it")
        }
        if disks != [0, 0] || entries.0 != entries.1 {
            throw DataError.badArray(path: path, detail: "the zip archive is split over several disks (not supported)")
        }
        guard offset <= UInt64(directoryEnd), size <= UInt64(directoryEnd) - offset else {
            throw DataError.truncated(path: path, detail: "the zip directory (\(size) bytes at \(offset)) does not fit before its end record at \(directoryEnd)")
        }
        if entries.1 > size / UInt64(centralHeaderBytes) {
            throw DataError.badArray(path: path, detail: "the zip directory of \(size) bytes cannot hold the \(entries.1) members it declares")
        }
        return (Int(entries.1), Int(offset), Int(size))
    }

    /// The ZIP64 end record (56 bytes) and its offset, through the locator just before
    /// `endOffset`; nil when there is no locator.
    private static func zip64End(in file: any RandomAccessByteSource, before endOffset: Int) throws -> (record: [UInt8], offset: Int)? {
        let path = file.name
        let locator = endOffset >= 20 ? try file.readBytes(at: endOffset - 20, count: 20) : []
        guard locator.count == 20, le32(locator, 0) == zip64LocatorSignature else { return nil }
        let recordOffset = le64(locator, 8)
        guard recordOffset <= UInt64(endOffset - 20), endOffset - 20 - Int(recordOffset) >= 56 else {
            throw DataError.badArray(path: path, detail: "the ZIP64 end record at \(recordOffset) does not fit before its locator")
        }
        let record = try file.readBytes(at: Int(recordOffset), count: 56)
        guard record.count == 56, le32(record, 0) == zip64EndSignature else {
            throw DataError.badArray(path: path, detail: "no ZIP64 end record at \(recordOffset), where the locator points")
        }
        return (record, Int(recordOffset))
    }

    /// The central header at `at` in `directory` and the offset of the next one.
    private static func member(in directory: [UInt8], at: Int, index: Int, path: String) throws -> (Member, Int) {
        guard directory.count - at >= centralHeaderBytes, le32(directory, at) == centralSignature else {
            throw DataError.badArray(path: path, detail: "zip directory entry \(index) at byte \(at) of the directory is not a central header")
        }
        let nameLength = Int(le16(directory, at + 28))
        let extraLength = Int(le16(directory, at + 30))
        let commentLength = Int(le16(directory, at + 32))
        let next = at + centralHeaderBytes + nameLength + extraLength + commentLength
        if next > directory.count {
            throw DataError.badArray(path: path, detail: "zip directory entry \(index) runs past the end of the directory")
        }
        let nameStart = at + centralHeaderBytes
        let name = DataError.printable(directory[nameStart..<(nameStart + nameLength)])
        // The 32-bit fields that read 0xFFFFFFFF are in the ZIP64 extra field, in this order.
        var wide = [UInt64(le32(directory, at + 24)), UInt64(le32(directory, at + 20)), UInt64(le32(directory, at + 42))]
        let needed = wide.indices.filter { wide[$0] == 0xFFFF_FFFF }
        if !needed.isEmpty {
            let extra = Array(directory[(nameStart + nameLength)..<(nameStart + nameLength + extraLength)])
            guard let values = zip64Values(extra, count: needed.count) else {
                throw DataError.badArray(path: path, detail: "zip member \(name) lacks the ZIP64 sizes its header asks for")
            }
            for (field, value) in zip(needed, values) { wide[field] = value }
        }
        // Sizes and offsets are checked against the file when the member is opened; here they
        // only need to fit an Int.
        if !wide.allSatisfy({ $0 <= UInt64(Int.max) }) {
            throw DataError.badArray(path: path, detail: "zip member \(name) declares a size or offset beyond 2^63")
        }
        let member = Member(name: name, flags: le16(directory, at + 8), method: le16(directory, at + 10), crc: le32(directory, at + 16),
                            compressedSize: Int(wide[1]), size: Int(wide[0]), localHeaderOffset: Int(wide[2]))
        return (member, next)
    }

    /// The first `count` 64-bit values of the ZIP64 extra block (id 1) in `extra`, or nil if
    /// there is no such block or it is too short.
    private static func zip64Values(_ bytes: [UInt8], count: Int) -> [UInt64]? {
        var at = 0
        while bytes.count - at >= 4 {
            let id = le16(bytes, at), length = Int(le16(bytes, at + 2))
            if bytes.count - at - 4 < length { return nil }
            if id == 1 {
                if length < 8 * count { return nil }
                return (0..<count).map { le64(bytes, at + 4 + 8 * $0) }
            }
            at += 4 + length
        }
        return nil
    }

    static func le16(_ b: [UInt8], _ at: Int) -> UInt16 { UInt16(b[at]) | UInt16(b[at + 1]) << 8 }
    static func le32(_ b: [UInt8], _ at: Int) -> UInt32 { UInt32(le16(b, at)) | UInt32(le16(b, at + 2)) << 16 }
    static func le64(_ b: [UInt8], _ at: Int) -> UInt64 { UInt64(le32(b, at)) | UInt64(le32(b, at + 4)) << 32 }
}
