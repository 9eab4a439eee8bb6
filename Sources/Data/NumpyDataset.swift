#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A dataset split from NumPy arrays (`--dataset npy`): a directory of four `.npy` files, or one
/// `.npz` archive with the keys of Keras' `mnist.npz`:
///
/// | split | in a directory                        | in an `.npz`             |
/// |-------|---------------------------------------|--------------------------|
/// | train | `train_images.npy`, `train_labels.npy`| `x_train`, `y_train`     |
/// | test  | `test_images.npy`, `test_labels.npy`  | `x_test`, `y_test`       |
///
/// Images are read by `NumpyImages` (uint8 or float32 in [0, 1]; (N, H, W), NCHW or NHWC).
/// Labels are integers of any little-endian integer type, shaped (N) or (N, 1) (Keras'
/// CIFAR-10 labels come as a column), each in 0...255 since ddp holds labels as bytes. Unless
/// given, the number of classes is the largest label of either split plus one, so both splits
/// agree on it whichever is loaded and a class the test set lacks still has its output.
public enum NumpyDataset {
    /// Loads `split` from `path`, a directory of `.npy` files or an `.npz` archive; `layout`
    /// orders 4-D image arrays; `classes`, when given, is the number of classes (1...256) the
    /// labels must fit instead of the one read from both splits.
    public static func load(path: String, split: Split, layout: ImageLayout = .auto, classes: Int? = nil) throws -> Dataset {
        if let classes, !(1...256).contains(classes) {
            throw DataError.invalidArgument("npy dataset with \(classes) classes (expected 1...256: labels are held as bytes)")
        }
        let origin = try Origin(path: path)
        let imagesSource = try origin.open(.images, of: split)
        let labelsSource = try origin.open(.labels, of: split)
        let labels = try readLabels(from: labelsSource)
        let images = try NumpyImages.read(from: imagesSource, layout: layout)
        if images.count != labels.count {
            throw DataError.countMismatch(imagesPath: imagesSource.name, images: images.count, labelsPath: labelsSource.name, labels: labels.count)
        }
        let classCount: Int
        if let classes {
            try IDXReader.checkLabels(labels, classes: classes, path: labelsSource.name)
            classCount = classes
        } else {
            let other = try readLabels(from: origin.open(.labels, of: split == .train ? .test : .train))
            classCount = Int(max(labels.max()!, other.max()!)) + 1
        }
        return Dataset(name: "npy", split: split, images: images.pixels, labels: labels,
                       channels: images.channels, height: images.height, width: images.width, classes: classCount)
    }

    /// The images of one `.npy` array of images (`ddp predict`), each as its own image.
    public static func images(path: String, layout: ImageLayout = .auto) throws -> [DecodedImage] {
        let images = try NumpyImages.read(from: FileSource(path: path, expected: "a NumPy .npy array of images"), layout: layout)
        let size = images.channels * images.height * images.width
        return (0..<images.count).map { i in
            DecodedImage(channels: images.channels, height: images.height, width: images.width,
                         pixels: Array(images.pixels[(i * size)..<((i + 1) * size)]))
        }
    }

    /// The labels of a `.npy` array as bytes: an integer type, shape (N) or (N, 1) with N >= 1,
    /// every value in 0...255.
    static func readLabels(from source: any ByteSource) throws -> [UInt8] {
        let path = source.name
        let array = try NumpyArray.read(from: source)
        if array.elementType == .float32 {
            throw DataError.badArray(path: path, detail: "labels of element type '<f4' (expected an integer type)")
        }
        let shape = array.shape
        if shape.isEmpty || shape.count > 2 || (shape.count == 2 && shape[1] != 1) || shape[0] == 0 {
            throw DataError.badArray(path: path, detail: "labels of shape \(NumpyHeader.describe(shape)) (expected (N,) or (N, 1) with N at least 1)")
        }
        return try array.data.withUnsafeBytes { raw in
            try (0..<shape[0]).map { i in
                guard let value = integer(raw, at: i, array.elementType) else {
                    let big = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))
                    throw DataError.badArray(path: path, detail: "label \(big) of sample \(i) is out of range (expected 0...255)")
                }
                if !(0...255).contains(value) {
                    throw DataError.labelOutOfRange(path: path, index: i, label: value, classes: 256)
                }
                return UInt8(value)
            }
        }
    }

    /// Element `i` of little-endian integers of `type`; nil for a uint64 beyond Int.max.
    private static func integer(_ raw: UnsafeRawBufferPointer, at i: Int, _ type: NumpyArray.ElementType) -> Int? {
        switch type {
        case .uint8: return Int(raw[i])
        case .int8: return Int(Int8(bitPattern: raw[i]))
        case .uint16: return Int(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
        case .int16: return Int(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self)))
        case .uint32: return Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
        case .int32: return Int(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)))
        case .uint64: return Int(exactly: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))
        case .int64: return Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)))
        case .float32: preconditionFailure("float32 labels are refused before decoding")
        }
    }

    private enum Kind: String {
        case images, labels
    }

    /// Where the arrays are: a directory of `.npy` files or an `.npz` archive.
    private enum Origin {
        case directory(String)
        case archive(ZipArchive)

        static let expected = "a directory holding train_images.npy, train_labels.npy, test_images.npy and test_labels.npy, "
            + "or an .npz archive holding x_train, y_train, x_test and y_test; give it with --data-dir"

        init(path: String) throws {
            var info = stat()
            if stat(path, &info) != 0 {
                let code = errno
                if code == ENOENT { throw DataError.missingFile(path: path, expected: Self.expected) }
                throw DataError.unreadable(path: path, reason: String(cString: strerror(code)))
            }
            if (info.st_mode & S_IFMT) == S_IFDIR {
                self = .directory(path)
            } else {
                self = .archive(try ZipArchive(FileSource(path: path, expected: Self.expected)))
            }
        }

        /// The images or labels of `split`, opened.
        func open(_ kind: Kind, of split: Split) throws -> any ByteSource {
            let what = "the \(split.rawValue) \(kind.rawValue) of the npy dataset"
            switch self {
            case let .directory(directory):
                return try FileSource(path: "\(directory)/\(split.rawValue)_\(kind.rawValue).npy", expected: "\(what), a NumPy .npy array")
            case let .archive(archive):
                let key = (kind == .images ? "x_" : "y_") + split.rawValue
                guard let member = archive.member(named: key + ".npy") else {
                    let names = archive.members.prefix(10).map(\.name).joined(separator: ", ")
                    throw DataError.missingFile(
                        path: "\(archive.path):\(key).npy",
                        expected: "\(what), array \(key); the archive holds \(names.isEmpty ? "nothing" : names)\(archive.members.count > 10 ? ", ..." : "")")
                }
                return try ZipMemberSource(archive, member)
            }
        }
    }
}
