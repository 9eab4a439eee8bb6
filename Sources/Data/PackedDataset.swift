import Formats

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Both splits of a packed data file (`PackedData`), their images mapped from the file, not
/// copied: the ranks of a node share one copy in the page cache, and a file larger than the
/// memory still trains (pages come and go as the sampler touches them).
public enum PackedDataset {
    /// Maps `path`, checks its header and checksum, and returns the two splits (labels copied
    /// and range-checked; a few bytes per sample).
    public static func load(path: String) throws -> (train: Dataset, test: Dataset, header: PackedDataHeader) {
        let file = try MappedFile(path: path, expected: "a packed data file (ddp pack)")
        let bytes = file.bytes(0..<file.byteCount)
        let header: PackedDataHeader
        do {
            header = try PackedData.header(of: bytes, path: path)
            try PackedData.verify(bytes, header: header, path: path)
        } catch let failure as PackedData.Failure {
            throw DataError.invalidArgument(failure.description)
        }
        let normalization: Normalization
        do {
            normalization = try Normalization(mean: header.normalizationMean, std: header.normalizationStd)
        } catch {
            throw DataError.invalidArgument("\(path): damaged header: \(error)")
        }
        func split(_ split: Split, _ layout: PackedDataHeader.Split) throws -> Dataset {
            let labels = Array(bytes[layout.labelsOffset..<(layout.labelsOffset + layout.count)])
            if let bad = labels.firstIndex(where: { Int($0) >= header.classNames.count }) {
                throw DataError.labelOutOfRange(path: path, index: bad, label: Int(labels[bad]), classes: header.classNames.count)
            }
            let images = ImageBytes(file, range: layout.imagesOffset..<(layout.imagesOffset + layout.count * header.imageBytes))
            return Dataset(name: header.dataset, split: split, images: images, labels: labels, channels: header.channels,
                           height: header.height, width: header.width, classes: header.classNames.count,
                           classNames: header.classNames)
        }
        var train = try split(.train, header.train)
        train.recordedNormalization = normalization
        return (train, try split(.test, header.test), header)
    }

    /// Whether `path` is a regular file that starts with the packed-file magic.
    public static func isPacked(_ path: String) -> Bool {
        guard let (fd, size) = try? RegularFile.open(path, expected: "a file"), size >= PackedData.magic.count else { return false }
        defer { close(fd) }
        var head = [UInt8](repeating: 0, count: PackedData.magic.count)
        return read(fd, &head, head.count) == head.count && head == PackedData.magic
    }
}
