import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Tensor

/// Image folders, as torchvision's `ImageFolder`, Keras' `image_dataset_from_directory` and
/// Caffe's `convert_imageset` read them:
///
/// ```
/// DIR/train/<class>/<image>      DIR/<class>/<image>        (one tree, split by --val-fraction:
/// DIR/test/<class>/<image>                                   that share of each class, drawn
///                                                            with the seed, is the test set)
/// ```
///
/// Classes are the class folders' names in sorted order (label 0 is the first); the training and
/// the test tree must have the same ones. Images are PNG or JPEG (judged by their bytes, not their
/// names), in class folders or below them, read in sorted path order; hidden files and folders
/// (".name") are ignored. Grayscale images stay one channel unless another image of the set is
/// in colour (then all are RGB). With an image size every image is resized to cover it and
/// centre-cropped (`ImageResize.fit`); without, all images must have the first one's size.
/// Decoding runs on every core.
public enum FolderDataset {
    /// Both splits of the tree at `root`. `progress` sees (images decoded, images found).
    public static func loadSplits(root: String, options: SourceOptions,
                                  progress: (@Sendable (Int, Int) -> Void)? = nil) throws -> (train: Dataset, test: Dataset) {
        let files = try splitFiles(root: root, options: options)
        try checkMemory(files.train + files.test, options: options, root: root)
        let decoded = try decode(files.train + files.test, options: options, progress: progress)
        let classCount = files.classes.count
        let trainImages = Array(decoded.prefix(classCount)), testImages = Array(decoded.dropFirst(classCount))
        let shape = try commonShape(trainImages + testImages, options: options)
        return (try dataset(trainImages, .train, shape: shape, classNames: files.classes),
                try dataset(testImages, .test, shape: shape, classNames: files.classes))
    }

    /// One split of the tree at `root`, decoding that split's files alone (evaluation needs the
    /// test set, not the training set's thousands of images). Its images take
    /// `options.channels`, which must be given: without it a set's channels depend on the images
    /// of both splits.
    public static func load(root: String, split: Split, options: SourceOptions) throws -> Dataset {
        precondition(options.channels != nil, "FolderDataset.load of one split needs options.channels")
        let files = try splitFiles(root: root, options: options)
        let mine = split == .train ? files.train : files.test
        try checkMemory(mine, options: options, root: root)
        let decoded = try decode(mine, options: options, progress: nil)
        return try dataset(decoded, split, shape: try commonShape(decoded, options: options), classNames: files.classes)
    }

    /// The files of each class in each split, and the class names: from `train/` and `test/`, or
    /// drawn by `--val-fraction` from one tree of class folders.
    static func splitFiles(root: String, options: SourceOptions) throws -> (train: [[String]], test: [[String]], classes: [String]) {
        let trainRoot = root + "/train", testRoot = root + "/test"
        if isDirectory(trainRoot) && isDirectory(testRoot) {
            guard options.valFraction == 0 else {
                throw DataError.invalidArgument("\(root) has train/ and test/ folders, so --val-fraction has nothing to split "
                    + "(leave it out, or point --data-dir at a tree of class folders)")
            }
            let train = try classFolders(trainRoot), test = try classFolders(testRoot)
            try checkSameClasses(train.names, trainRoot, test.names, testRoot)
            return (train.files, test.files, train.names)
        }
        guard isDirectory(root) else {
            throw DataError.missingFile(path: root, expected: "a folder of images: DIR/train/<class>/* and DIR/test/<class>/*, or DIR/<class>/*")
        }
        // A train/ without test/ is the tree to split, never a class named "train".
        let lone = isDirectory(trainRoot) ? "train/ but no test/" : isDirectory(testRoot) ? "test/ but no train/" : nil
        guard options.valFraction > 0 else {
            throw DataError.invalidArgument("\(root) has " + (lone.map { "\($0): add the other, or" } ?? "no train/ and test/ folders:")
                + " give --val-fraction F (e.g. 0.1) to hold out that share of each class folder as the test set")
        }
        if let lone, lone.hasPrefix("test/") {
            throw DataError.invalidArgument("\(root) has \(lone): the training images go in \(trainRoot)/<class>/")
        }
        let tree = try classFolders(lone == nil ? root : trainRoot)
        let split = stratifiedSplit(tree.files, fraction: options.valFraction, seed: options.seed)
        return (split.train, split.test, tree.names)
    }

    /// The images of one class folder after decoding: (path, image) in file order, and the files left out.
    struct DecodedClass {
        var images: [(path: String, image: DecodedImage)] = []
        var skipped: [SkippedFile] = []
    }

    // MARK: Finding the files

    public static func isDirectory(_ path: String) -> Bool {
        var flag: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &flag) && flag.boolValue
    }

    /// Byte order, as Python's `sorted` orders ASCII names: the same labels on every machine.
    static func sorted(_ names: [String]) -> [String] { names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) } }

    /// The class folders of `dir` (sorted) and each one's files (sorted, recursively).
    static func classFolders(_ dir: String) throws -> (names: [String], files: [[String]]) {
        let entries: [String]
        do { entries = try FileManager.default.contentsOfDirectory(atPath: dir) } catch {
            throw DataError.unreadable(path: dir, reason: error.localizedDescription)
        }
        let names = sorted(entries.filter { !$0.hasPrefix(".") && isDirectory(dir + "/" + $0) })
        guard !names.isEmpty else {
            throw DataError.invalidArgument("\(dir) holds no class folders (expected \(dir)/<class>/<images>)")
        }
        guard names.count <= 256 else {
            throw DataError.invalidArgument("\(dir) holds \(names.count) class folders; ddp takes at most 256 classes")
        }
        let files = try names.map { name -> [String] in
            let folder = dir + "/" + name
            let found = imageFiles(below: folder)
            guard !found.isEmpty else {
                throw DataError.invalidArgument("\(folder) is an empty class folder (no files): remove it or add its images")
            }
            return found
        }
        return (names, files)
    }

    /// Every regular, non-hidden file below `folder`, in sorted path order. Symbolic links are
    /// followed (to images and to folders, as torchvision's `ImageFolder` follows them); a folder
    /// met again through a link is not walked twice.
    public static func imageFiles(below folder: String) -> [String] {
        var found: [String] = []
        var seen = Set<[UInt64]>()
        func walk(_ dir: String, _ relative: String) {
            var info = stat()
            guard stat(dir, &info) == 0, seen.insert([UInt64(info.st_dev), UInt64(info.st_ino)]).inserted,
                  let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
            for name in names where !name.hasPrefix(".") {
                let path = dir + "/" + name, rel = relative.isEmpty ? name : relative + "/" + name
                guard stat(path, &info) == 0 else { continue }
                switch info.st_mode & S_IFMT {
                case S_IFREG: found.append(rel)
                case S_IFDIR: walk(path, rel)
                default: continue
                }
            }
        }
        walk(folder, "")
        return sorted(found).map { folder + "/" + $0 }
    }

    static func checkSameClasses(_ train: [String], _ trainRoot: String, _ test: [String], _ testRoot: String) throws {
        guard train != test else { return }
        let onlyTrain = train.filter { !test.contains($0) }, onlyTest = test.filter { !train.contains($0) }
        var parts: [String] = []
        if !onlyTrain.isEmpty { parts.append("only in \(trainRoot): \(onlyTrain.joined(separator: ", "))") }
        if !onlyTest.isEmpty { parts.append("only in \(testRoot): \(onlyTest.joined(separator: ", "))") }
        throw DataError.invalidArgument("the training and test folders have different classes (\(parts.joined(separator: "; "))); "
            + "both need the same class folders")
    }

    /// Per class, `fraction` of its files (rounded, at least one and never all when it has two
    /// or more) drawn by a generator seeded with `seed` for the test set; both kept in file order.
    static func stratifiedSplit(_ classes: [[String]], fraction: Double, seed: UInt64) -> (train: [[String]], test: [[String]]) {
        var rng = SeededRNG(seed: seed)
        var train: [[String]] = [], test: [[String]] = []
        for files in classes {
            var order = Array(files.indices)
            for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, rng.below(i + 1)) }
            let n = files.count
            let held = n < 2 ? 0 : min(n - 1, max(1, Int((Double(n) * fraction).rounded())))
            let chosen = Set(order.prefix(held))
            train.append(files.indices.filter { !chosen.contains($0) }.map { files[$0] })
            test.append(files.indices.filter { chosen.contains($0) }.map { files[$0] })
        }
        return (train, test)
    }

    // MARK: Decoding

    /// The decoded set is held in memory (and `ddp pack` writes it from there): refuse, before
    /// decoding anything, an image size whose set would take more than half the machine's memory.
    static func checkMemory(_ classes: [[String]], options: SourceOptions, root: String) throws {
        guard let size = options.imageSize else { return }
        let count = classes.reduce(0) { $0 + $1.count }
        let bytes = Double(count) * 3 * Double(size.height) * Double(size.width)
        let budget = Double(ProcessInfo.processInfo.physicalMemory) / 2
        guard bytes <= budget else {
            throw DataError.invalidArgument(String(format: "%d images of %@ under %@ would take up to %.1f GB in memory, more than half "
                + "of this machine's %.1f GB: give a smaller --image-size", count, size.description, root, bytes / 1e9, budget * 2 / 1e9))
        }
    }

    /// Decodes (and fits, with an image size) every file of every class, on all cores; the
    /// first failure in file order stops it unless `skipBad`.
    static func decode(_ classes: [[String]], options: SourceOptions,
                       progress: (@Sendable (Int, Int) -> Void)?) throws -> [DecodedClass] {
        let paths = classes.flatMap { $0 }
        let results = UnsafeMutableBufferPointer<Result<DecodedImage, Error>?>.allocate(capacity: paths.count)
        results.initialize(repeating: nil)
        defer { results.deinitialize(); results.deallocate() }
        let counter = NSLock()
        nonisolated(unsafe) var done = 0
        nonisolated(unsafe) let shared = results
        let chunk = 64
        DispatchQueue.concurrentPerform(iterations: (paths.count + chunk - 1) / chunk) { c in
            for i in (c * chunk)..<min(paths.count, (c + 1) * chunk) {
                shared[i] = Result {
                    let image = try ImageDecoder.decode(path: paths[i])
                    return options.imageSize.map { ImageResize.fit(image, height: $0.height, width: $0.width) } ?? image
                }
            }
            counter.lock()
            done += min(paths.count, (c + 1) * chunk) - c * chunk
            let now = done
            counter.unlock()
            progress?(now, paths.count)
        }
        var out: [DecodedClass] = []
        var index = 0
        var failures: [(path: String, error: Error)] = []
        for files in classes {
            var decodedClass = DecodedClass()
            for path in files {
                switch results[index]! {
                case .success(let image): decodedClass.images.append((path, image))
                case .failure(let error):
                    failures.append((path, error))
                    decodedClass.skipped.append(SkippedFile(path: path, error: error))
                }
                index += 1
            }
            out.append(decodedClass)
        }
        if let first = failures.first, !options.skipBad {
            let more = failures.count > 1 ? " (and \(failures.count - 1) more bad file\(failures.count == 2 ? "" : "s"))" : ""
            throw DataError.invalidArgument("\(first.error)\(more); --skip-bad leaves such files out and names them")
        }
        return out
    }

    /// Channels (`options.channels`, else 3 when any image is in colour) and the size every image
    /// must have.
    static func commonShape(_ classes: [DecodedClass], options: SourceOptions) throws -> (channels: Int, height: Int, width: Int) {
        let all = classes.flatMap(\.images)
        guard let first = all.first else { throw DataError.invalidArgument("no image could be decoded") }
        let channels = options.channels ?? (all.contains { $0.image.channels == 3 } ? 3 : 1)
        if let size = options.imageSize { return (channels, size.height, size.width) }
        if let other = all.first(where: { ($0.image.height, $0.image.width) != (first.image.height, first.image.width) }) {
            throw DataError.invalidArgument("\(other.path) is \(other.image.height)x\(other.image.width) but \(first.path) is "
                + "\(first.image.height)x\(first.image.width): give --image-size HxW to resize the images to one size")
        }
        return (channels, first.image.height, first.image.width)
    }

    static func dataset(_ classes: [DecodedClass], _ split: Split, shape: (channels: Int, height: Int, width: Int),
                        classNames: [String]) throws -> Dataset {
        let size = shape.channels * shape.height * shape.width
        var images: [UInt8] = []
        images.reserveCapacity(classes.reduce(0) { $0 + $1.images.count } * size)
        var labels: [UInt8] = []
        for (label, decodedClass) in classes.enumerated() {
            if decodedClass.images.isEmpty && split == .train {
                throw DataError.invalidArgument("class \(classNames[label]) has no image left in the \(split.rawValue) set "
                    + "after leaving out \(decodedClass.skipped.count) bad file\(decodedClass.skipped.count == 1 ? "" : "s")")
            }
            for entry in decodedClass.images {
                images += entry.image.converted(toChannels: shape.channels).pixels
                labels.append(UInt8(label))
            }
        }
        return Dataset(name: "folder", split: split, images: images, labels: labels, channels: shape.channels,
                       height: shape.height, width: shape.width, classes: classNames.count, classNames: classNames)
            .with(skipped: classes.flatMap(\.skipped))
    }
}
