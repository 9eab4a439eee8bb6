/// Reader for the binary version of CIFAR-10 (`cifar-10-batches-bin`).
///
/// Each file is a sequence of 3073-byte records: one label byte (0...9), then the 32x32 image
/// as 1024 red, 1024 green and 1024 blue bytes, row-major: already the CHW layout the dataset
/// keeps. The standard files hold 10000 records each; any positive multiple of the record size
/// is accepted. Sizes are checked before anything is allocated.
public enum CIFAR10Reader {
    public static let channels = 3
    public static let height = 32
    public static let width = 32
    public static let classes = 10
    public static let imageBytes = channels * height * width
    public static let recordBytes = 1 + imageBytes

    /// The five training batches, in order.
    public static let trainFiles = (1...5).map { "data_batch_\($0).bin" }
    /// The test batch.
    public static let testFiles = ["test_batch.bin"]

    /// The records of `paths`, concatenated in order: images `[N, 3, 32, 32]` and labels `[N]`.
    public static func read(paths: [String]) throws -> (images: [UInt8], labels: [UInt8]) {
        try read(sources: paths.map { try FileSource(path: $0, expected: "a CIFAR-10 binary batch") })
    }

    /// Reads raw sources with known sizes (files, or memory in tests).
    static func read(sources: [any ByteSource]) throws -> (images: [UInt8], labels: [UInt8]) {
        var total = 0
        for source in sources {
            let size = source.exactByteCount ?? 0
            if size == 0 || size % recordBytes != 0 {
                throw DataError.badRecordSize(path: source.name, size: size, recordSize: recordBytes)
            }
            total += size / recordBytes
        }
        if total > IDXReader.maximumDataBytes / recordBytes {
            throw DataError.tooLarge(path: sources[0].name, bytes: total * recordBytes, limit: IDXReader.maximumDataBytes)
        }
        var labels = [UInt8](repeating: 0, count: total)
        let images = try [UInt8](unsafeUninitializedCapacity: total * imageBytes) { pixels, initialized in
            try labels.withUnsafeMutableBufferPointer { labelsOut in
                // Records are read a chunk at a time and split into labels and pixels.
                let chunkRecords = 512
                let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkRecords * recordBytes, alignment: 16)
                defer { chunk.deallocate() }
                var record = 0
                for source in sources {
                    let records = source.exactByteCount! / recordBytes
                    var done = 0
                    while done < records {
                        let want = min(chunkRecords, records - done)
                        let got = try source.readFully(into: UnsafeMutableRawBufferPointer(rebasing: chunk[..<(want * recordBytes)]))
                        if got < want * recordBytes {
                            throw DataError.truncated(
                                path: source.name, detail: "the file shrank while being read: \(done * recordBytes + got) of \(records * recordBytes) bytes")
                        }
                        for i in 0..<want {
                            let r = chunk.baseAddress! + i * recordBytes
                            let label = r.load(as: UInt8.self)
                            if label >= classes {
                                throw DataError.labelOutOfRange(path: source.name, index: done + i, label: Int(label), classes: classes)
                            }
                            labelsOut[record] = label
                            (pixels.baseAddress! + record * imageBytes).initialize(from: (r + 1).assumingMemoryBound(to: UInt8.self), count: imageBytes)
                            record += 1
                        }
                        done += want
                    }
                    if try !source.isAtEnd() {
                        throw DataError.trailingData(path: source.name, detail: "the file grew while being read")
                    }
                }
                initialized = total * imageBytes
            }
        }
        return (images, labels)
    }
}
