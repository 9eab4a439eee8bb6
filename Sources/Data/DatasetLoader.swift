import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Loads a dataset split by name from its files (or makes the synthetic one).
///
/// | name            | files in the data directory                                     | default directory                    |
/// |-----------------|-----------------------------------------------------------------|--------------------------------------|
/// | `fashion-mnist` | `{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`             | /usr/share/datasets/fashion-mnist    |
/// | `mnist`         | the same names                                                  | /usr/share/datasets/mnist            |
/// | `cifar10`       | `data_batch_1..5.bin`, `test_batch.bin` (or in `cifar-10-batches-bin/`) | /usr/share/datasets/cifar10  |
/// | `synthetic`     | none (`SyntheticDataset.Options`)                               |                                      |
/// | `folder`        | `train/<class>/*` and `test/<class>/*` PNG/JPEG, or `<class>/*` (`FolderDataset`) | none: `--data-dir` is required |
/// | `npy`           | `{train,test}_{images,labels}.npy`, or an `.npz` (`NumpyDataset`) | none: `--data-dir` is required     |
/// | `packed`        | one file written by `ddp pack` (`--data FILE`), mapped          | none: `--data` is required           |
///
/// Fashion-MNIST's default is where Debian's `dataset-fashion-mnist` installs it. Debian has no
/// MNIST or CIFAR-10 package; their defaults follow the same layout, and `--data-dir` points
/// elsewhere. IDX files may also be named with a dot (`train-images.idx3-ubyte`), as some mirrors
/// ship them; for each, the `.gz` name is tried first. For `npy`, `--data-dir` is the directory or
/// the `.npz` file itself.
public enum DatasetLoader {
    /// The dataset names `load` accepts.
    public static let names = ["fashion-mnist", "mnist", "cifar10", "synthetic", "folder", "npy", "packed"]

    /// The data set a file or directory holds, judged by what lies there: a packed file, an
    /// `.npz`, IDX files (Fashion-MNIST when the path says "fashion", else MNIST), CIFAR-10
    /// batches, NumPy arrays, or else image folders.
    public static func detect(_ path: String) -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return "folder" }
        if !isDirectory.boolValue { return path.lowercased().hasSuffix(".npz") ? "npy" : "packed" }
        let names = Set((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [])
        if names.contains(where: { $0.hasPrefix("train-images") }) {
            return path.lowercased().contains("fashion") ? "fashion-mnist" : "mnist"
        }
        if names.contains("test_batch.bin") || names.contains("cifar-10-batches-bin") { return "cifar10" }
        if names.contains("train_images.npy") { return "npy" }
        return "folder"
    }

    /// Where `name`'s files are looked for when no directory is given (nil for `synthetic`).
    public static func defaultDataDirectory(for name: String) -> String? {
        switch name {
        case "fashion-mnist": return "/usr/share/datasets/fashion-mnist"
        case "mnist": return "/usr/share/datasets/mnist"
        case "cifar10": return "/usr/share/datasets/cifar10"
        default: return nil
        }
    }

    /// Loads `split` of dataset `name` from `dataDir` (or the default directory), validating
    /// every file; `synthetic` configures the synthetic dataset, `options` how the user's own
    /// files are read (image size, split, the axis order of `npy`'s 4-D images), and each is
    /// ignored otherwise.
    public static func load(name: String, dataDir: String? = nil, split: Split,
                            synthetic: SyntheticDataset.Options = SyntheticDataset.Options(),
                            options: SourceOptions = SourceOptions()) throws -> Dataset {
        switch name {
        case "fashion-mnist", "mnist":
            return try loadIDX(name: name, directory: directory(name, dataDir), split: split)
        case "cifar10":
            return try loadCIFAR10(directory: directory(name, dataDir), split: split)
        case "synthetic":
            return try SyntheticDataset.make(synthetic, split: split)
        case "folder":
            let root = try location(name, dataDir)
            if options.channels != nil { return try FolderDataset.load(root: root, split: split, options: options) }
            let both = try FolderDataset.loadSplits(root: root, options: options)
            return split == .train ? both.train : both.test
        case "npy":
            return try NumpyDataset.load(path: try location(name, dataDir), split: split, layout: options.layout)
        case "packed":
            let both = try PackedDataset.load(path: try location(name, dataDir))
            return split == .train ? both.train : both.test
        default:
            throw DataError.unknownDataset(name: name, known: names)
        }
    }

    /// Loads both splits and checks the test set fits a model trained on the training set.
    public static func loadSplits(name: String, dataDir: String? = nil,
                                  synthetic: SyntheticDataset.Options = SyntheticDataset.Options(),
                                  options: SourceOptions = SourceOptions(),
                                  progress: (@Sendable (Int, Int) -> Void)? = nil) throws -> (train: Dataset, test: Dataset) {
        if name == "packed" {
            // One mapping and one checksum pass for both splits.
            let both = try PackedDataset.load(path: try location(name, dataDir))
            return (both.train, both.test)
        }
        if name == "folder" {
            // One walk and one decoding pass for both splits (a --val-fraction split needs both).
            let both = try FolderDataset.loadSplits(root: try location(name, dataDir), options: options, progress: progress)
            try both.train.checkCompatible(with: both.test)
            return both
        }
        let train = try load(name: name, dataDir: dataDir, split: .train, synthetic: synthetic, options: options)
        let test = try load(name: name, dataDir: dataDir, split: .test, synthetic: synthetic, options: options)
        try train.checkCompatible(with: test)
        return (train, test)
    }

    private static func directory(_ name: String, _ dataDir: String?) -> String {
        dataDir ?? defaultDataDirectory(for: name)!
    }

    /// The file or directory a data set of the user's own lies in: there is no default.
    private static func location(_ name: String, _ dataDir: String?) throws -> String {
        guard let dataDir else {
            throw DataError.invalidArgument("--dataset \(name) needs --data FILE (or --data-dir DIR): where the data is")
        }
        return dataDir
    }

    // MARK: IDX (MNIST, Fashion-MNIST)

    /// Images and labels of one split; both files must agree on the count.
    private static func loadIDX(name: String, directory: String, split: Split) throws -> Dataset {
        let prefix = split == .train ? "train" : "t10k"
        let imagesPath = try findIDX(directory, prefix, "images", "idx3", name: name, split: split)
        let labelsPath = try findIDX(directory, prefix, "labels", "idx1", name: name, split: split)
        let images = try IDXReader.readImages(path: imagesPath)
        let labels = try IDXReader.readLabels(path: labelsPath, classes: 10)
        if images.count != labels.count {
            throw DataError.countMismatch(imagesPath: imagesPath, images: images.count, labelsPath: labelsPath, labels: labels.count)
        }
        return Dataset(name: name, split: split, images: images.pixels, labels: labels,
                       channels: 1, height: images.height, width: images.width, classes: 10)
    }

    /// The first existing candidate among `prefix-kind-idxN-ubyte.gz`, `prefix-kind-idxN-ubyte`,
    /// `prefix-kind.idxN-ubyte.gz`, `prefix-kind.idxN-ubyte`.
    private static func findIDX(_ directory: String, _ prefix: String, _ kind: String, _ idx: String,
                                name: String, split: Split) throws -> String {
        let stems = ["\(prefix)-\(kind)-\(idx)-ubyte", "\(prefix)-\(kind).\(idx)-ubyte"]
        for stem in stems {
            for candidate in ["\(directory)/\(stem).gz", "\(directory)/\(stem)"] where exists(candidate) {
                return candidate
            }
        }
        throw DataError.missingFile(
            path: "\(directory)/\(stems[0])[.gz]",
            expected: "the IDX \(kind) of the \(name) \(split.rawValue) set; give the directory holding them with --data-dir")
    }

    // MARK: CIFAR-10

    private static func loadCIFAR10(directory: String, split: Split) throws -> Dataset {
        // The archive unpacks into cifar-10-batches-bin/; accept that directory or its parent.
        let nested = "\(directory)/cifar-10-batches-bin"
        let base = !exists("\(directory)/test_batch.bin") && exists("\(nested)/test_batch.bin") ? nested : directory
        let files = split == .train ? CIFAR10Reader.trainFiles : CIFAR10Reader.testFiles
        let paths = files.map { "\(base)/\($0)" }
        if let missing = paths.first(where: { !exists($0) }) {
            throw DataError.missingFile(
                path: missing,
                expected: "the CIFAR-10 binary \(split.rawValue) batches \(files.joined(separator: ", ")); give the directory holding them with --data-dir")
        }
        let (images, labels) = try CIFAR10Reader.read(paths: paths)
        return Dataset(name: "cifar10", split: split, images: images, labels: labels,
                       channels: CIFAR10Reader.channels, height: CIFAR10Reader.height, width: CIFAR10Reader.width,
                       classes: CIFAR10Reader.classes)
    }

    /// True when something is at `path` (whether it is readable is the reader's to report).
    private static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }
}
